"""After a restart: jobs the previous process left unfinished are re-queued, or ended and their owners told."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from fact_runtime import FactError

from ..errors import BotError, DeliveryInterrupted, JobInterrupted
from ..texts import done_text, failed_status
from .group_request import members_of
from .request import build_request, identity_of
from .views import retry_view

if TYPE_CHECKING:
    from fact_runtime import JobRuntime

    from ..store import JobRecord, JobStore
    from .courier import Courier
    from .tracker import JobTracker

__all__ = ["recover_jobs"]

log = logging.getLogger(__name__)


async def recover_jobs(*, store: JobStore, runtime: JobRuntime, tracker: JobTracker, courier: Courier) -> int:
    """Re-queue every stored job with its inputs; report the ones cut off mid-download or mid-post; how many re-queued."""
    recovered = 0
    for record in store.unfinished():
        if record.state == "delivering" and await _record_if_posted(record, store, courier):
            continue
        if record.state in ("accepted", "delivering"):
            await _report_interrupted(record, store, courier)
            continue
        try:
            identity, members = identity_of(store, record), members_of(store, record)
            request = build_request(record, store.inputs(record.job_id), identity, members)
            handle = runtime.submit(request, job_id=record.job_id)
        except (FactError, BotError) as exc:
            store.set_state(record.job_id, "failed", error_kind=exc.kind, has_retry=False)
            log.warning("job %s could not be re-queued after a restart: %s", record.job_id, exc)
            sentence = f"The bot restarted and your job could not be resumed: {exc.user_message}"
            await courier.notify(record, sentence)
            continue
        store.set_state(record.job_id, "queued")
        tracker.follow(replace(record, state="queued"), handle)
        recovered += 1
    if recovered:
        log.info("re-queued %d unfinished jobs from the previous run", recovered)
    return recovered


async def _record_if_posted(record: JobRecord, store: JobStore, courier: Courier) -> bool:
    """A job cut off while posting whose images Discord has: delivered, and its owner is not bothered."""
    delivery = await courier.find_posted(record)
    if delivery is None:
        return False
    store.set_state(record.job_id, "delivered")
    if delivery.message is not None:
        store.set_result_message(record.job_id, delivery.message.channel.id, delivery.message.id)
    log.info("job %s was posted before the restart; recorded as delivered", record.job_id)
    await courier.edit_status(record, done_text(delivery.file_count, via=delivery.route))
    return True


async def _report_interrupted(record: JobRecord, store: JobStore, courier: Courier) -> None:
    """A job the previous process left mid-download or mid-post: ended, and its owner told why."""
    if record.state == "accepted":  # its photos never arrived: there is nothing to run
        error: BotError = JobInterrupted(f"job {record.job_id} stopped before its inputs were stored")
        store.set_state(record.job_id, "failed", error_kind=error.kind, has_retry=False)
        view = None
    else:  # "delivering" and not found: they may still be out where the bot cannot look, so never posted unasked
        error = DeliveryInterrupted(f"job {record.job_id} stopped while posting its images")
        store.set_state(record.job_id, "failed", error_kind=error.kind)
        view = retry_view(record.job_id)
    log.warning("%s; its owner is told", error)
    await courier.edit_status(record, failed_status(error.user_message, is_private=record.is_private))
    await courier.notify(record, error.user_message, view=view)
