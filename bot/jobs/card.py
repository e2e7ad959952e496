"""The result card: what a delivered job's embed says (what made it, its notes, its tier)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord

from fact_runtime import FactError, JobResult

from ..followups.request import FOLLOW_UP_KINDS, follow_up_note
from ..texts import group_note, identity_note, result_embed

if TYPE_CHECKING:
    from fact_runtime import StyleCatalog

    from ..store import JobRecord, JobStore

__all__ = ["result_card"]

log = logging.getLogger(__name__)


def result_card(
    record: JobRecord, result: JobResult, *, store: JobStore, catalog: StyleCatalog, clock: Callable[[], float]
) -> discord.Embed:
    """The embed posted with a job's images."""
    notes = result.notes
    if record.kind in FOLLOW_UP_KINDS:
        parent = store.get(record.parent_id) if record.parent_id else None
        notes = (follow_up_note(record, parent), *notes)
    if record.options.identity_name:
        notes = (identity_note(record.options.identity_name), *notes)
    if seats := record.options.seats:
        notes = (group_note([(seat.face_index, seat.user_id, seat.identity_name) for seat in seats]), *notes)
    return result_embed(
        _made_with(record, catalog),
        result.images,
        notes=notes,
        elapsed_s=clock() - record.created_at if record.created_at else None,
        job_id=record.job_id,
        # The runtime's word on the tier; a result kept in the store ("Try again") has only the job's.
        speed=result.speed or record.options.speed,
    )


def _made_with(record: JobRecord, catalog: StyleCatalog) -> tuple[str, str]:
    """What the result card says the images were made with: the style's name, or the template."""
    options = record.options
    if options.is_template:  # /inpaint, /group and their follow-ups
        return "Template", options.template_id or "your template photo"
    try:
        name = catalog.get(options.style_id or "").name
    except FactError:
        name = options.style_id or ""  # the style was removed since; its id still says what it was
    return "Style", name
