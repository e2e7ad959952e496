"""Follow submitted jobs: one status message edited every few seconds, then the outcome handed on.

Once a job is followed, the tracker alone writes its state: running, delivering (its images
kept before anything is posted), then delivered, failed or cancelled; it also records a status
message that turned out to be gone. A job whose runtime died stays unfinished in the store: the
restarted process re-queues it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import discord

from fact_runtime import ContentBlocked, InputError, JobCancelled, JobResult, Progress, RuntimeDead

from ..errors import UploadFailed, explain
from ..followups.reply import reply_reference
from ..store import UNFINISHED
from ..texts import (
    CANCELLED,
    RESTARTING,
    done_text,
    failed_status,
    status_text,
)
from .alerts import is_for_admins
from .card import result_card
from .courier import StatusEdit
from .views import result_view, retry_view, status_view

if TYPE_CHECKING:
    from fact_runtime import JobHandle, JobRuntime, StyleCatalog

    from ..health import BotCounters
    from ..store import JobRecord, JobStore
    from .alerts import AdminAlerts
    from .courier import Courier

__all__ = ["JobTracker"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Followed:
    """What the tracker knows of one job while following it."""

    record: JobRecord
    last_text: str | None = None
    is_running: bool = False
    #: False once the status cannot be edited any more (deleted, or ephemeral past its token).
    is_status_editable: bool = True
    #: The newest preview not shown yet, when the last one was shown, and whether one is shown now.
    preview: bytes | None = None
    preview_at: float | None = None
    has_preview: bool = False


class JobTracker:
    """Owns one task per followed job; cancelling them leaves the jobs themselves untouched.

    Parameters
    ----------
    store:
        Where the job's states are written.
    courier:
        Reaches the job's owner.
    runtime:
        Asked for the queue depth shown in the status.
    catalog:
        Names the style in the result message.
    counters:
        Bot-side metrics.
    alerts:
        Where failures the member cannot fix are reported to the admins.
    clock:
        Wall-clock seconds, for the ETA timestamps.
    status_interval_s:
        At most one status edit per job this often.
    preview_interval_s:
        At most one preview of the image forming per job this often (an attachment of the status
        message, edited in place and removed once the job ends); 0: none.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        courier: Courier,
        runtime: JobRuntime,
        catalog: StyleCatalog,
        counters: BotCounters,
        alerts: AdminAlerts,
        clock: Callable[[], float],
        status_interval_s: float,
        preview_interval_s: float = 0.0,
    ) -> None:
        self._store = store
        self._courier = courier
        self._runtime = runtime
        self._catalog = catalog
        self._counters = counters
        self._alerts = alerts
        self._clock = clock
        self._interval_s = status_interval_s
        self._preview_interval_s = preview_interval_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def followed_jobs(self) -> frozenset[str]:
        """Ids of the jobs being followed now."""
        return frozenset(self._tasks)

    def follow(self, record: JobRecord, handle: JobHandle) -> asyncio.Task[None]:
        """Follow a submitted job until its outcome is recorded and told."""
        task = asyncio.create_task(self._settle_or_fail(_Followed(record), handle), name=f"track-{record.job_id}")
        self._tasks[record.job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(record.job_id, None))
        return task

    async def resend(
        self, record: JobRecord, result: JobResult, *, via: discord.Interaction, status_message_id: int
    ) -> None:
        """Post a finished job's kept images again ("Try again" after a failed upload); no GPU time is spent.

        ``via`` is the button's interaction: its token and "thinking" message (``status_message_id``) are
        the ones used now, whatever the job's own token has become.
        """
        reached = replace(
            record,
            application_id=via.application_id,
            interaction_token=via.token,
            token_expires_at=via.expires_at.timestamp(),
            status_message_id=status_message_id,
        )
        job = _Followed(reached)
        try:
            await self._deliver(job, result)
        except Exception as exc:  # noqa: BLE001 - every job ends in a state and a sentence
            await self._fail(job, exc)

    async def wait_idle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until every followed job has recorded and told its outcome."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=timeout)

    async def close(self) -> None:
        """Stop following (at shutdown); unfinished jobs stay queued in the store for the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _settle_or_fail(self, job: _Followed, handle: JobHandle) -> None:
        """``_settle``, and should it crash itself (the store or Discord failing while it records an outcome),
        the crash logged and the job failed for its member, so that the task never dies unseen."""
        try:
            await self._settle(job, handle)
        except Exception as exc:
            log.error("following job %s crashed; failing the job", job.record.job_id, exc_info=True)
            await self._fail_after_crash(job, exc)

    async def _fail_after_crash(self, job: _Followed, exc: Exception) -> None:
        record = job.record
        sentence = explain(exc)
        self._counters.count("failures", "unexpected")
        try:
            stored = self._store.get(record.job_id)
            if stored is None:
                return  # its owner ran /forget meanwhile: nothing more is said to them
            if stored.state in UNFINISHED:
                self._store.set_state(record.job_id, "failed", error_kind="unexpected", has_retry=True)
        except Exception:
            log.exception("job %s: its failure could not be recorded", record.job_id)
        try:
            await self._edit_status(job, failed_status(sentence, is_private=record.is_private))
            await self._courier.notify(record, sentence, view=retry_view(record.job_id))
        except Exception:
            log.exception("job %s: its owner could not be told that it failed", record.job_id)

    async def _settle(self, job: _Followed, handle: JobHandle) -> None:
        job_id = job.record.job_id
        try:
            result = await self._follow(job, handle)
            if self._store.get(job_id) is None:
                # The owner ran /forget while the job was finishing: its images must not appear.
                log.info("job %s finished after its owner was forgotten; results dropped", job_id)
                await self._edit_status(job, CANCELLED)
                return
            await self._deliver(job, result)
        except JobCancelled:
            self._store.set_state(job_id, "cancelled", error_kind=JobCancelled.kind)
            await self._edit_status(job, CANCELLED)
        except RuntimeDead:
            # The worker is gone and the process is about to be restarted: the job stays unfinished
            # in the store, and the next process re-queues it.
            log.warning("job %s left for the next process: the runtime died", job_id)
            await self._edit_status(job, RESTARTING)
        except Exception as exc:  # noqa: BLE001 - every job ends in a state and a sentence
            await self._fail(job, exc)

    async def _follow(self, job: _Followed, handle: JobHandle) -> JobResult:
        """Show progress until the job ends; its result, or its error raised."""
        await self._show(job, handle.progress)
        # At most one edit per interval; snapshots in between are dropped (latest wins). The wait
        # ends early when the job does, so delivery is never delayed.
        await handle.wait(self._interval_s)
        async for update in handle:
            if isinstance(update, Progress):
                await self._show(job, update)
                await handle.wait(self._interval_s)
        return await handle.result()

    async def _show(self, job: _Followed, progress: Progress) -> None:
        if not job.is_running and progress.stage != "queued":
            job.is_running = True
            self._store.set_state(job.record.job_id, "running")
        now = self._clock()
        text = status_text(progress, now=now, queue_depth=self._runtime.queue_depth)
        if progress.preview is not None and self._preview_interval_s > 0:
            job.preview = progress.preview
        preview = None
        if job.preview is not None and (job.preview_at is None or now - job.preview_at >= self._preview_interval_s):
            preview, job.preview, job.preview_at = job.preview, None, now
        if job.is_status_editable and (text != job.last_text or preview is not None):
            job.last_text = text
            edit = await self._edit_status(job, text, view=status_view(job.record.job_id), preview=preview)
            job.is_status_editable = edit is StatusEdit.EDITED
            job.has_preview = job.has_preview or (preview is not None and job.is_status_editable)

    async def _edit_status(
        self, job: _Followed, text: str, *, view: discord.ui.View | None = None, preview: bytes | None = None
    ) -> StatusEdit:
        """Edit the status; an edit without buttons is the job's last, and takes its preview away."""
        is_preview_dropped = view is None and job.has_preview
        edit = await self._courier.edit_status(
            job.record, text, view=view, preview=preview, is_preview_dropped=is_preview_dropped
        )
        if is_preview_dropped:
            job.has_preview = False
        if edit is StatusEdit.GONE:
            self._store.set_status_message(job.record.job_id, None)
            job.record = replace(job.record, status_message_id=None)
        return edit

    async def _deliver(self, job: _Followed, result: JobResult) -> None:
        record = job.record
        # An embed pings nobody: the mention in the content tells the owner a public result is there.
        content = "" if record.is_private else f"<@{record.user_id}>"
        embed = result_card(record, result, store=self._store, catalog=self._catalog, clock=self._clock)
        images = [image.png for image in result.images]
        # Follow-ups redraw with a style, or paint a template's faces again; an edit changes a
        # prompt, which a template photo has none of.
        is_template = record.options.is_template
        follow_ups = len(images) if record.options.style_id or is_template else 0
        # Kept before the upload: a failed upload can be sent again, and a restart in the middle
        # knows the images may already be out (so it never posts them twice on its own).
        self._store.begin_delivery(record.job_id, result)
        try:
            delivery = await self._courier.send_images(
                record,
                content,
                images,
                embed=embed,
                view=result_view(record.job_id, follow_ups=follow_ups, is_editable=not is_template),
                reply_to=reply_reference(record, self._store),
            )
        except discord.HTTPException as exc:
            raise UploadFailed(f"job {record.job_id}: every route refused the images ({exc})") from exc
        self._store.set_state(record.job_id, "delivered")
        if delivery.message is not None:
            self._store.set_result_message(record.job_id, delivery.message.channel.id, delivery.message.id)
        self._counters.count("deliveries", delivery.route)
        await self._edit_status(job, done_text(delivery.file_count, via=delivery.route))

    async def _fail(self, job: _Followed, exc: BaseException) -> None:
        record = job.record
        sentence = explain(exc)
        kind = getattr(exc, "kind", "unexpected")
        # Input errors fail the same way again, and so would blocked content with the same seed;
        # anything else is worth a retry button.
        has_retry = not isinstance(exc, InputError | ContentBlocked)
        self._store.set_state(record.job_id, "failed", error_kind=kind, has_retry=has_retry)
        self._counters.count("failures", kind)
        if is_for_admins(exc):
            await self._alerts.report_failure(record, exc)
        await self._edit_status(job, failed_status(sentence, is_private=record.is_private))
        await self._courier.notify(record, sentence, view=retry_view(record.job_id) if has_retry else None)
