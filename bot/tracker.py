"""Follow accepted jobs: one status message edited every few seconds, then the results delivered."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING

import discord

from fact_runtime import ContentBlocked, FactError, InputError, JobCancelled, JobResult

from .delivery import clip_content, fit_images
from .errors import explain
from .store import JobRecord
from .texts import done_text, result_text, status_text
from .views import result_view, retry_view, status_view

if TYPE_CHECKING:
    from fact_runtime import JobHandle

    from .client import PortraitBot

__all__ = ["JobTracker", "Courier", "status_text"]

log = logging.getLogger(__name__)

_MAX_REFITS = 3
_NO_MENTIONS = discord.AllowedMentions.none()


class Courier:
    """Reaches a job's owner: the interaction webhook while its token is valid, then channel or DM."""

    def __init__(self, bot: PortraitBot) -> None:
        self.bot = bot
        #: Jobs whose status message answered 404/403: never edited again (Discord counts invalid requests).
        self._gone: set[str] = set()

    def webhook(self, record: JobRecord) -> discord.Webhook | None:
        """The interaction's followup webhook, or None once the 15-minute token is (nearly) spent."""
        if record.interaction_token is None or record.token_expires_at is None or record.application_id is None:
            return None
        if self.bot.clock() >= record.token_expires_at - self.bot.settings.token_margin_s:
            return None
        payload = {"id": record.application_id, "type": 3, "token": record.interaction_token}
        # Interaction.followup builds the same webhook; from_state lets a recovered job rebuild it.
        return discord.Webhook.from_state(data=payload, state=self.bot._connection)  # type: ignore[arg-type]

    def forget_status(self, job_id: str) -> None:
        self._gone.discard(job_id)

    async def edit_status(self, record: JobRecord, content: str, *, view: discord.ui.View | None = None) -> bool:
        """Edit the job's status message; False when it cannot be edited any more (gone or expired).

        Never raises for HTTP errors: the status is cosmetic, the job's outcome does not depend on it.
        """
        if record.status_message_id is None or record.job_id in self._gone:
            return False
        try:
            webhook = self.webhook(record)
            if webhook is not None:
                await webhook.edit_message(record.status_message_id, content=content, view=view)
            elif record.is_private or record.channel_id is None:
                return False  # an ephemeral message can only be edited with the token
            else:
                channel = self.bot.get_partial_messageable(record.channel_id)
                await channel.get_partial_message(record.status_message_id).edit(content=content, view=view)
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("status message of job %s is gone or not editable: %s", record.job_id, exc)
            self._gone.add(record.job_id)
            self.bot.store.set_status_message(record.job_id, None)
            return False
        except discord.HTTPException as exc:
            # A status edit is cosmetic: a server error must not fail the job; the next edit retries.
            log.warning("status edit for job %s failed: %s", record.job_id, exc)
        return True

    async def send(
        self,
        record: JobRecord,
        content: str,
        *,
        files: list[discord.File] | None = None,
        view: discord.ui.View | None = None,
        is_private: bool | None = None,
    ) -> tuple[str, discord.Message | None]:
        """Post a new message to the job's owner; returns how (followup, channel or dm) and the message."""
        is_private = record.is_private if is_private is None else is_private
        kwargs = {"content": clip_content(content), "files": files or [], "allowed_mentions": _mention(record)}
        if view is not None:
            kwargs["view"] = view
        webhook = self.webhook(record)
        if webhook is not None:
            try:
                message = await webhook.send(ephemeral=is_private, wait=True, **kwargs)
                return "followup", None if is_private else message
            except discord.HTTPException as exc:
                if exc.status not in (401, 403, 404):
                    raise
                # The token was refused early (e.g. the interaction was removed): use the bot's own routes.
                log.info("followup for job %s refused (%s); falling back", record.job_id, exc.status)
                for file in kwargs["files"]:
                    file.reset()
        if not is_private and record.channel_id is not None:
            try:
                return "channel", await self.bot.get_partial_messageable(record.channel_id).send(**kwargs)
            except discord.Forbidden:
                log.info("cannot post in channel %s; sending job %s by DM", record.channel_id, record.job_id)
                for file in kwargs["files"]:
                    file.reset()  # the refused upload read them to the end
        user = self.bot.get_user(record.user_id) or await self.bot.fetch_user(record.user_id)
        # A mention of the reader in their own DMs is noise.
        kwargs["content"] = kwargs["content"].removeprefix(f"<@{record.user_id}> ")
        return "dm", await user.send(**kwargs)

    async def notify(self, record: JobRecord, sentence: str, *, view: discord.ui.View | None = None) -> None:
        """Tell the owner alone (ephemeral followup or DM); failures are logged, not raised."""
        try:
            await self.send(record, sentence, view=view, is_private=True)
        except discord.HTTPException as exc:
            log.warning("could not tell user %s about job %s: %s", record.user_id, record.job_id, exc)


def _mention(record: JobRecord) -> discord.AllowedMentions:
    return _NO_MENTIONS if record.is_private else discord.AllowedMentions(users=[discord.Object(record.user_id)])


class JobTracker:
    """Owns one task per followed job; cancelling them leaves the jobs themselves untouched."""

    def __init__(self, bot: PortraitBot) -> None:
        self.bot = bot
        self.courier = Courier(bot)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def follow(self, record: JobRecord, handle: JobHandle) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run(record, handle), name=f"track-{record.job_id}")
        self._tasks[record.job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(record.job_id, None))
        return task

    async def close(self) -> None:
        """Stop following (at shutdown); unfinished jobs stay queued in the store for the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, record: JobRecord, handle: JobHandle) -> None:
        try:
            await self._settle(record, handle)
        finally:
            self.courier.forget_status(record.job_id)

    async def _settle(self, record: JobRecord, handle: JobHandle) -> None:
        try:
            await self._follow_progress(record, handle)
            result = await handle.result()
            if self.bot.store.get(record.job_id) is None:
                # The owner ran /forget while the job was finishing: its images must not appear.
                log.info("job %s finished after its owner was forgotten; results dropped", record.job_id)
                await self.courier.edit_status(record, "🛑 Cancelled.")
                return
            await self._deliver(record, result)
        except JobCancelled:
            self.bot.store.set_state(record.job_id, "cancelled", error_kind=JobCancelled.kind)
            await self.courier.edit_status(record, "🛑 Cancelled.")
        except Exception as exc:  # noqa: BLE001 - every job ends in a state and a sentence
            await self._fail(record, exc)

    async def _follow_progress(self, record: JobRecord, handle: JobHandle) -> None:
        interval = self.bot.settings.status_interval_s
        finished = asyncio.ensure_future(handle.result())
        finished.add_done_callback(lambda f: f.cancelled() or f.exception())  # read here, raised by result()
        last_text = None
        is_running = False
        can_edit = True
        try:
            progress = handle.progress
            while not handle.done():
                if not is_running and progress.stage != "queued":
                    is_running = True
                    self.bot.store.set_state(record.job_id, "running")
                text = status_text(progress, now=self.bot.clock(), queue_depth=self.bot.runtime.queue_depth)
                if can_edit and text != last_text:
                    can_edit = await self.courier.edit_status(record, text, view=status_view(record.job_id))
                    last_text = text
                # At most one edit per interval; snapshots in between are dropped (latest wins).
                await asyncio.wait({finished}, timeout=interval)
                if handle.done():
                    break
                progress = await handle.next_progress()
        finally:
            finished.cancel()

    async def _deliver(self, record: JobRecord, result: JobResult) -> None:
        limit = self._upload_limit(record)
        content = self._result_content(record, result)
        for attempt in range(_MAX_REFITS):
            fitted = fit_images([image.png for image in result.images], limit, name=f"portrait-{record.job_id[:6]}")
            files = [discord.File(io.BytesIO(item.data), filename=item.filename) for item in fitted]
            try:
                via, message = await self.courier.send(
                    record, content, files=files, view=result_view(record.job_id)
                )
                break
            except discord.HTTPException as exc:
                if exc.status != 413 or attempt == _MAX_REFITS - 1:
                    raise
                log.warning("upload of job %s refused as too large at %d bytes; fitting smaller", record.job_id, limit)
                limit //= 2
        self.bot.store.set_state(record.job_id, "delivered")
        if message is not None:
            self.bot.store.set_result_message(record.job_id, message.channel.id, message.id)
        self.bot.counters.count("deliveries", via)
        await self.courier.edit_status(record, done_text(len(fitted), via=via))

    async def _fail(self, record: JobRecord, exc: BaseException) -> None:
        sentence = explain(exc)
        kind = getattr(exc, "kind", "unexpected")
        # Input errors fail the same way again, and so would blocked content with the same seed;
        # anything else is worth a retry button.
        has_retry = not isinstance(exc, InputError | ContentBlocked)
        self.bot.store.set_state(record.job_id, "failed", error_kind=kind, has_retry=has_retry)
        self.bot.counters.count("failures", kind)
        view = retry_view(record.job_id) if has_retry else None
        await self.courier.edit_status(record, "❌ This job did not finish.")
        await self.courier.notify(record, sentence, view=view)

    def _upload_limit(self, record: JobRecord) -> int:
        guild = self.bot.get_guild(record.guild_id) if record.guild_id is not None else None
        if guild is not None and not record.is_private:
            return guild.filesize_limit
        return discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    def _result_content(self, record: JobRecord, result: JobResult) -> str:
        options = record.options
        if record.kind == "inpaint":
            template = options.get("template_id")
            place = f"the **{template}** template" if template else "your template photo"
            subject = f"your portrait{{s}} in {place}"
        else:
            try:
                name = self.bot.catalog.get(options["style_id"]).name
            except FactError:
                name = options.get("style_id", "")  # the style was removed since; its id still says what it was
            subject = f"your **{name}** portrait{{s}}"
        mention = "" if record.is_private else f"<@{record.user_id}> "
        return result_text(subject, result.images, notes=result.notes, mention=mention)
