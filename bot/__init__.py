"""Discord front end of the FACT portrait bot. asyncio only; never imports torch."""

from __future__ import annotations

#: Nothing is re-exported: ``python -m bot`` is the entry point, and modules are imported by name.
__all__: list[str] = []
