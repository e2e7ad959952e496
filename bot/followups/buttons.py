"""The follow-up buttons under a result: Upscale 2x, Vary (subtle), Vary (strong) for each image, and Edit.

One row per action, one button per image, so a member reads a row as "upscale which one?". With
the three action rows under the result's own row a message uses 4 of Discord's 5 rows; images
after the fifth get no buttons (a row holds 5). The custom id carries the job id, the image's
number and the action, so the buttons keep working after a restart. Edit (in the result's own
row) opens a form; an open form is answered only by the process that opened it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args, runtime_checkable

import discord
from discord import ui

from fact_runtime import Subject

from ..respond import reply_error
from .request import FollowUpChoice

if TYPE_CHECKING:
    from ..store import JobRecord

__all__ = ["EditButton", "EditForm", "FollowUpActions", "FollowUpButton", "add_follow_up_rows"]

log = logging.getLogger(__name__)

#: Images per row: a Discord action row holds 5 buttons.
MAX_IMAGES = 5

EDIT_ID = re.compile(r"fact:edit:(?P<job_id>[0-9a-f]{8,32})")
#: The longest extra prompt, as /portrait takes it.
MAX_PROMPT = 300
CUSTOM_ID = re.compile(r"fact:(?P<choice>upscale|subtle|strong):(?P<job_id>[0-9a-f]{8,32}):(?P<number>[1-9])")

#: Per action: its label under a single image, its label before an image's number, emoji, colour.
_LOOKS: dict[FollowUpChoice, tuple[str, str, str, discord.ButtonStyle]] = {
    "upscale": ("Upscale 2x", "Upscale", "🔍", discord.ButtonStyle.primary),
    "subtle": ("Vary (subtle)", "Subtle", "🌱", discord.ButtonStyle.secondary),
    "strong": ("Vary (strong)", "Strong", "🌪️", discord.ButtonStyle.secondary),
}


@runtime_checkable
class FollowUpActions(Protocol):
    """What the follow-up buttons and the edit form ask of the job service (``JobService.follow_ups``)."""

    def check_owner(self, job_id: str, user_id: int) -> JobRecord: ...

    async def follow_up(
        self, interaction: discord.Interaction[Any], job_id: str, number: int, choice: FollowUpChoice
    ) -> None: ...

    async def edit(
        self, interaction: discord.Interaction[Any], job_id: str, *, prompt: str, subject: str, seed: str
    ) -> Any: ...


def _label(choice: FollowUpChoice, number: int, image_count: int) -> str:
    alone, short, _, _ = _LOOKS[choice]
    # One image: the action alone; several: the image's number says which one.
    return alone if image_count == 1 else f"{short} {number}"


class FollowUpButton(ui.DynamicItem[ui.Button[ui.View]], template=CUSTOM_ID):
    """One follow-up of one image; only the job's owner may press it."""

    def __init__(self, choice: FollowUpChoice, job_id: str, number: int, *, image_count: int = 1) -> None:
        _, _, emoji, style = _LOOKS[choice]
        super().__init__(
            ui.Button(
                label=_label(choice, number, image_count),
                emoji=emoji,
                style=style,
                custom_id=f"fact:{choice}:{job_id}:{number}",
                row=1 + tuple(_LOOKS).index(choice),
            )
        )
        self.choice: FollowUpChoice = choice
        self.job_id = job_id
        self.number = number

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> FollowUpButton:
        return cls(cast(FollowUpChoice, match["choice"]), match["job_id"], int(match["number"]))

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        try:
            _actions(interaction).check_owner(self.job_id, interaction.user.id)
        except Exception as exc:  # noqa: BLE001 - a refused press gets the user's one sentence
            await reply_error(interaction, exc)
            return False
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await _actions(interaction).follow_up(interaction, self.job_id, self.number, self.choice)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
            await reply_error(interaction, exc)


def _actions(interaction: discord.Interaction[Any]) -> FollowUpActions:
    """The follow-ups of the job service of the client that received the press (``client.jobs.follow_ups``).

    Raises
    ------
    TypeError
        The client offers no follow-ups (a button of ours reached another client).
    """
    actions = getattr(getattr(interaction.client, "jobs", None), "follow_ups", None)
    if not isinstance(actions, FollowUpActions):
        raise TypeError(f"{type(interaction.client).__name__} offers no follow-ups to the follow-up buttons")
    return actions


class EditButton(ui.DynamicItem[ui.Button[ui.View]], template=EDIT_ID):
    """Opens the edit form of a job for its owner: the same job again with another prompt, subject or seed."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            ui.Button(label="Edit", emoji="✏️", style=discord.ButtonStyle.secondary, custom_id=f"fact:edit:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> EditButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            record = _actions(interaction).check_owner(self.job_id, interaction.user.id)
            await interaction.response.send_modal(EditForm(record))
        except Exception as exc:  # noqa: BLE001 - a refused press gets the user's one sentence
            await reply_error(interaction, exc)


class EditForm(ui.Modal):
    """The job's free-text prompt, subject and seed, filled in; submitting runs the job again with the changes."""

    def __init__(self, record: JobRecord) -> None:
        super().__init__(title="Edit and run again", timeout=None, custom_id=f"fact:editform:{record.job_id}")
        self.job_id = record.job_id
        options = record.options
        self.prompt: ui.TextInput[EditForm] = ui.TextInput(
            label="Extra words for the picture",
            style=discord.TextStyle.paragraph,
            default=options.prompt,
            required=False,
            max_length=MAX_PROMPT,
        )
        self.subject: ui.TextInput[EditForm] = ui.TextInput(
            label=f"Subject ({', '.join(get_args(Subject))})", default=options.subject, required=False, max_length=16
        )
        self.seed: ui.TextInput[EditForm] = ui.TextInput(
            label="Seed (blank: a new one)",
            default="" if options.seed is None else str(options.seed),
            required=False,
            max_length=10,
        )
        for field in (self.prompt, self.subject, self.seed):
            self.add_item(field)

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        try:
            # A new prompt meets the server's prompt rules, as the commands' prompt options do.
            responsible = getattr(interaction.client, "responsible", None)
            if responsible is not None:
                rules = responsible.rules_for(interaction.guild_id)
                for text in (self.prompt.value, self.subject.value):
                    rules.check(text)
            await _actions(interaction).edit(
                interaction, self.job_id, prompt=self.prompt.value, subject=self.subject.value, seed=self.seed.value
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
            await reply_error(interaction, exc)


def add_follow_up_rows(view: ui.View, job_id: str, image_count: int, *, is_editable: bool = True) -> ui.View:
    """Add Edit to the first row, then a row per follow-up (upscale, subtle, strong) with a button per
    image, up to ``MAX_IMAGES``; a job with no images to take further (``image_count`` 0) gets none."""
    if image_count < 1:
        return view
    if is_editable:  # a template photo has no prompt to edit
        view.add_item(EditButton(job_id))
    shown = min(image_count, MAX_IMAGES)
    if shown < image_count:
        log.debug("job %s: follow-up buttons for the first %d of %d images", job_id, shown, image_count)
    for choice in _LOOKS:
        for number in range(1, shown + 1):
            view.add_item(FollowUpButton(choice, job_id, number, image_count=image_count))
    return view
