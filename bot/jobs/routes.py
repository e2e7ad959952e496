"""What became of a post or an edit the courier made: the route a message took, and a status edit's outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

import discord

__all__ = ["Delivery", "Route", "StatusEdit"]

Route = Literal["followup", "channel", "dm"]


class StatusEdit(enum.Enum):
    """What became of a status edit."""

    #: Edited, or refused by a passing error that the next edit may get past.
    EDITED = "edited"
    #: Not possible now: no status message, or an ephemeral one whose token is spent.
    UNREACHABLE = "unreachable"
    #: Deleted or not editable (404/403): never edit it again (Discord counts invalid requests).
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a message went, and the message when it can be found again (not for ephemeral ones)."""

    route: Route
    message: discord.Message | None
    file_count: int = 0
