"""The follow-up controls under a result: Upscale 2x, Vary (subtle), Vary (strong) for each image, and Edit.

One row per action, so a member reads a row as "upscale which one?". Up to 5 images (a row holds
5 buttons) each row has a button per image; past 5, each row is one menu listing "Image 1" to
"Image N" (a menu fills its row alone). With the three action rows under the result's own row a
message uses 4 of Discord's 5 rows. Every custom id carries the job id (and a button's the image's
number), so the controls keep working after a restart. Edit (in the result's own row) opens a
form whose submit is answered by ``form.submit_edit_form``, before or after a restart alike.
"""

from __future__ import annotations

import logging
import re
from typing import Any, cast

import discord
from discord import ui

from ..respond import reply_error
from .actions import follow_up_actions
from .form import EditForm
from .request import FollowUpChoice

__all__ = ["EditButton", "FollowUpButton", "FollowUpSelect", "add_follow_up_rows"]

log = logging.getLogger(__name__)

#: Images that get a button each: a Discord action row holds 5 buttons.
MAX_BUTTON_IMAGES = 5
#: Images a menu can list: a select menu holds 25 options.
MAX_IMAGES = 25

EDIT_ID = re.compile(r"fact:edit:(?P<job_id>[0-9a-f]{8,32})")
CUSTOM_ID = re.compile(r"fact:(?P<choice>upscale|subtle|strong):(?P<job_id>[0-9a-f]{8,32}):(?P<number>[1-9])")
SELECT_ID = re.compile(r"fact:pick:(?P<choice>upscale|subtle|strong):(?P<job_id>[0-9a-f]{8,32})")

#: Per action: its label under a single image, its label before an image's number, emoji, colour.
_LOOKS: dict[FollowUpChoice, tuple[str, str, str, discord.ButtonStyle]] = {
    "upscale": ("Upscale 2x", "Upscale", "🔍", discord.ButtonStyle.primary),
    "subtle": ("Vary (subtle)", "Subtle", "🌱", discord.ButtonStyle.secondary),
    "strong": ("Vary (strong)", "Strong", "🌪️", discord.ButtonStyle.secondary),
}


def _label(choice: FollowUpChoice, number: int, image_count: int) -> str:
    alone, short, _, _ = _LOOKS[choice]
    # One image: the action alone; several: the image's number says which one.
    return alone if image_count == 1 else f"{short} {number}"


def _row(choice: FollowUpChoice) -> int:
    return 1 + tuple(_LOOKS).index(choice)


async def _owner_only(interaction: discord.Interaction[Any], job_id: str) -> bool:
    """True for the job's owner; anyone else (or a job gone) is told why in one sentence."""
    try:
        follow_up_actions(interaction).check_owner(job_id, interaction.user.id)
    except Exception as exc:  # noqa: BLE001 - a refused press gets the user's one sentence
        await reply_error(interaction, exc)
        return False
    return True


async def _start(interaction: discord.Interaction[Any], job_id: str, number: int, choice: FollowUpChoice) -> None:
    try:
        await follow_up_actions(interaction).follow_up(interaction, job_id, number, choice)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
        await reply_error(interaction, exc)


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
                row=_row(choice),
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
        return await _owner_only(interaction, self.job_id)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _start(interaction, self.job_id, self.number, self.choice)


class FollowUpSelect(ui.DynamicItem[ui.Select[ui.View]], template=SELECT_ID):
    """One follow-up, as a menu of the result's images (past 5 images); only the job's owner may choose."""

    def __init__(self, choice: FollowUpChoice, job_id: str, image_count: int) -> None:
        alone, _, emoji, _ = _LOOKS[choice]
        super().__init__(
            ui.Select(
                custom_id=f"fact:pick:{choice}:{job_id}",
                placeholder=f"{alone}: choose an image",
                options=[
                    discord.SelectOption(label=f"Image {number}", value=str(number), emoji=emoji)
                    for number in range(1, image_count + 1)
                ],
                row=_row(choice),
            )
        )
        self.choice: FollowUpChoice = choice
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> FollowUpSelect:
        # The options only label the menu; the chosen value is checked against the kept images.
        count = len(item.options) if isinstance(item, ui.Select) else 1
        return cls(cast(FollowUpChoice, match["choice"]), match["job_id"], max(count, 1))

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        return await _owner_only(interaction, self.job_id)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # Answered by updating the menu's own message: Discord then shows the menu afresh, so the same
        # image can be chosen again (a menu left on its choice sends nothing when it is chosen twice).
        try:
            await interaction.response.edit_message()
        except discord.HTTPException as exc:
            log.info("menu of job %s not reset: %s", self.job_id, exc)
        chosen = self.item.values[0] if self.item.values else ""
        # A value that names no image (only a forged choice can) is refused as an image the job does not keep.
        number = int(chosen) if chosen.isdecimal() and len(chosen) <= 3 else 0
        await _start(interaction, self.job_id, number, self.choice)


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
            actions = follow_up_actions(interaction)
            record = actions.check_owner(self.job_id, interaction.user.id)
            await interaction.response.send_modal(EditForm(record, actions.style_choices(record)))
        except Exception as exc:  # noqa: BLE001 - a refused press gets the user's one sentence
            await reply_error(interaction, exc)


def add_follow_up_rows(view: ui.View, job_id: str, image_count: int, *, is_editable: bool = True) -> ui.View:
    """Add Edit to the first row, then a row per follow-up (upscale, subtle, strong): a button per image
    up to 5 images, a menu of the images past that; a job with no images to take further (0) gets none."""
    if image_count < 1:
        return view
    if is_editable:  # a template photo has no prompt to edit
        view.add_item(EditButton(job_id))
    shown = min(image_count, MAX_IMAGES)
    if shown < image_count:
        log.warning("job %s: follow-ups offered for the first %d of %d images", job_id, shown, image_count)
    for choice in _LOOKS:
        if shown > MAX_BUTTON_IMAGES:
            view.add_item(FollowUpSelect(choice, job_id, shown))
            continue
        for number in range(1, shown + 1):
            view.add_item(FollowUpButton(choice, job_id, number, image_count=image_count))
    return view
