"""What users read about a job: the status line, the result embed and the final status."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from fact_runtime import GeneratedImage, Progress

__all__ = [
    "AI_GENERATED",
    "CANCELLED",
    "DELETED",
    "MAX_CONTENT",
    "RESTARTING",
    "STAGE_LABELS",
    "clip_content",
    "done_text",
    "duration",
    "failed_status",
    "identity_note",
    "plural",
    "result_embed",
    "status_text",
]

#: Discord's limit on message content, in characters.
MAX_CONTENT = 2000

#: Final status lines that need no numbers.
CANCELLED = "🛑 Cancelled."
DELETED = "🗑️ Deleted by its owner."
RESTARTING = "⏳ The bot is restarting; your job will carry on when it is back."
#: Every result card says so (EU AI Act Art. 50: deployers disclose generated images).
AI_GENERATED = "🤖 AI-generated"
#: Discord's limits on an embed's parts, in characters.
_TITLE, _FIELD = 256, 1024

STAGE_LABELS = {
    "queued": "⏳ Queued",
    "preparing": "🔎 Finding your face",
    "encoding": "🧬 Reading your features",
    "denoising": "🎨 Painting",
    "finishing": "✨ Finishing touches",
    "done": "✅ Done",
}


def plural(count: int, noun: str) -> str:
    """``1 image``, ``2 images``."""
    return f"{count} {noun}{'s' * (count != 1)}"


def status_text(progress: Progress, *, now: float, queue_depth: int) -> str:
    """The status line for a job: stage, queue position or step i/n, and ETA as a live timestamp."""
    parts = [STAGE_LABELS.get(progress.stage, progress.stage)]
    if progress.stage == "queued" and progress.queue_position > 0:
        parts.append(f"position {progress.queue_position} of {max(queue_depth, progress.queue_position)}")
    elif progress.total_steps:
        parts.append(f"step {progress.step}/{progress.total_steps}")
    if progress.eta_s is not None and progress.stage != "done":
        parts.append(f"ready <t:{int(now + progress.eta_s)}:R>")
    return " · ".join(parts)


def duration(seconds: float) -> str:
    """``8 s``, ``2 min 5 s``, ``1 h 3 min``."""
    total = max(round(seconds), 0)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def result_embed(
    made_with: tuple[str, str],
    images: Sequence[GeneratedImage],
    *,
    notes: Sequence[str] = (),
    elapsed_s: float | None = None,
    job_id: str = "",
) -> discord.Embed:
    """The card the images arrive with: what they were made with, the seeds in image order, the time, notes.

    ``made_with`` is a field name and value, e.g. ``("Style", "Comic Illustration")`` or
    ``("Template", "your template photo")``. Seeds are listed in image order, since image i was
    made with its own seed and can be made again alone. The courier puts the first image in it.
    """
    count = len(images)
    is_ranked = count > 1 and all(image.identity_distance is not None for image in images)
    title = "Here is your portrait" if count == 1 else f"Here are your {count} portraits"
    embed = discord.Embed(
        title=title[:_TITLE],
        description="Closest likeness first." if is_ranked else None,
        colour=discord.Colour.green(),
    )
    embed.set_author(name=AI_GENERATED)
    name, value = made_with
    embed.add_field(name=name, value=value[:_FIELD] or "-", inline=True)
    if images:
        embed.add_field(name="Seed" if count == 1 else "Seeds", value=", ".join(str(i.seed) for i in images)[:_FIELD])
    if elapsed_s is not None:
        embed.add_field(name="Time", value=duration(elapsed_s), inline=True)
    if notes:
        embed.add_field(name="Notes", value="\n".join(f"ℹ️ {note}" for note in notes)[:_FIELD], inline=False)
    if job_id:
        embed.set_footer(text=f"Job {job_id} · 🎲 Reroll: new seeds · 🔁 Same again: these seeds")
    return embed


def failed_status(sentence: str, *, is_private: bool) -> str:
    """The final status of a failed job: why, in one sentence; a private job's reason only reaches its owner."""
    if is_private:
        return "❌ Not finished; the reason was sent only to you."
    return clip_content(f"❌ Not finished: {sentence}")


def identity_note(name: str) -> str:
    """The line beside a result made from a saved identity."""
    return f"Made from your saved identity **{name}**."


def done_text(count: int, *, via: str) -> str:
    """The final status once results are posted; says where they went when it is not next to the status."""
    return f"✅ Done: {plural(count, 'image')} {'sent to you by DM' if via == 'dm' else 'delivered'}."


def clip_content(text: str, limit: int = MAX_CONTENT) -> str:
    """Shorten message content to Discord's character limit, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
