"""The bot's command groups and its background work, one extension each (loaded by name)."""

from __future__ import annotations

__all__: list[str] = []
