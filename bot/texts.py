"""What users read about a job: the status line, the result message and the final status."""

from __future__ import annotations

from collections.abc import Sequence

from fact_runtime import GeneratedImage, Progress

__all__ = [
    "CANCELLED",
    "DELETED",
    "MAX_CONTENT",
    "NOT_FINISHED",
    "RESTARTING",
    "STAGE_LABELS",
    "clip_content",
    "done_text",
    "identity_note",
    "plural",
    "result_text",
    "status_text",
]

#: Discord's limit on message content, in characters.
MAX_CONTENT = 2000

#: Final status lines that need no numbers.
CANCELLED = "🛑 Cancelled."
NOT_FINISHED = "❌ This job did not finish."
DELETED = "🗑️ Deleted by its owner."
RESTARTING = "⏳ The bot is restarting; your job will carry on when it is back."

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


def result_text(subject: str, images: Sequence[GeneratedImage], *, notes: Sequence[str] = (), mention: str = "") -> str:
    """The message the images arrive with.

    ``subject`` names what was made with ``{s}`` where the plural goes, e.g. ``your **Comic** portrait{s}``.
    Seeds are listed in image order, since image i was made with its own seed and can be made again alone.
    """
    count = len(images)
    first = f"{mention}Here {'is' if count == 1 else 'are'} {subject.replace('{s}', 's' * (count != 1))}"
    is_ranked = count > 1 and all(image.identity_distance is not None for image in images)
    lines = [first + (", closest likeness first." if is_ranked else ".")]
    if images:
        seeds = ", ".join(str(image.seed) for image in images)
        lines.append(f"{'Seed' if count == 1 else 'Seeds'}: {seeds}")
    lines.extend(f"ℹ️ {note}" for note in notes)
    return "\n".join(lines)


def identity_note(name: str) -> str:
    """The line beside a result made from a saved identity."""
    return f"Made from your saved identity **{name}**."


def done_text(count: int, *, via: str) -> str:
    """The final status once results are posted; says where they went when it is not next to the status."""
    return f"✅ Done: {plural(count, 'image')} {'sent to you by DM' if via == 'dm' else 'delivered'}."


def clip_content(text: str, limit: int = MAX_CONTENT) -> str:
    """Shorten message content to Discord's character limit, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
