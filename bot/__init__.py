"""Discord front end of the FACT portrait bot. asyncio only; never imports torch."""
