"""Buttons that carry their job id in ``custom_id``, so they keep working after a restart."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Literal

import discord
from discord import ui

from .errors import JobNotFound, NotJobOwner
from .respond import reply_error
from .store import JobRecord, JobStore

if TYPE_CHECKING:
    from .client import PortraitBot

__all__ = ["Action", "JobButton", "parse_custom_id", "check_owner", "status_view", "result_view", "retry_view"]

log = logging.getLogger(__name__)

Action = Literal["reroll", "again", "cancel", "delete"]

CUSTOM_ID = re.compile(r"fact:(?P<action>reroll|again|cancel|delete):(?P<job_id>[0-9a-f]{8,32})")

_LOOKS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("Reroll", "🎲", discord.ButtonStyle.primary),
    "again": ("Same again", "🔁", discord.ButtonStyle.secondary),
    "cancel": ("Cancel", "✖️", discord.ButtonStyle.danger),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.secondary),
}


def parse_custom_id(custom_id: str) -> tuple[Action, str] | None:
    """The action and job id of one of our buttons, or None for anything else."""
    match = CUSTOM_ID.fullmatch(custom_id)
    if match is None:
        return None
    return match["action"], match["job_id"]  # type: ignore[return-value]


def check_owner(store: JobStore, job_id: str, user_id: int) -> JobRecord:
    """The job, if ``user_id`` owns it.

    Raises
    ------
    JobNotFound
        The job was never stored or its owner ran /forget.
    NotJobOwner
        Someone else clicked the button.
    """
    record = store.get(job_id)
    if record is None:
        raise JobNotFound(f"job {job_id} is not in the store")
    if record.user_id != user_id:
        raise NotJobOwner(f"user {user_id} clicked a button of job {job_id} owned by {record.user_id}")
    return record


class JobButton(ui.DynamicItem[ui.Button], template=CUSTOM_ID):
    """One action on one job; the handler lives in ``bot.jobs`` and reads the job from the store."""

    def __init__(self, action: Action, job_id: str, *, label: str | None = None) -> None:
        default_label, emoji, style = _LOOKS[action]
        label = label or default_label
        super().__init__(ui.Button(label=label, emoji=emoji, style=style, custom_id=f"fact:{action}:{job_id}"))
        self.action: Action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> JobButton:
        return cls(match["action"], match["job_id"])  # type: ignore[arg-type]

    async def interaction_check(self, interaction: discord.Interaction[PortraitBot]) -> bool:
        try:
            check_owner(interaction.client.store, self.job_id, interaction.user.id)
        except (JobNotFound, NotJobOwner) as exc:
            await reply_error(interaction, exc)
            return False
        return True

    async def callback(self, interaction: discord.Interaction[PortraitBot]) -> None:
        try:
            await interaction.client.jobs.handle_button(interaction, self.action, self.job_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
            await reply_error(interaction, exc)


def _view(job_id: str, actions: tuple[Action, ...]) -> ui.View:
    view = ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


def status_view(job_id: str) -> ui.View:
    return _view(job_id, ("cancel",))


def result_view(job_id: str) -> ui.View:
    return _view(job_id, ("reroll", "again", "delete"))


def retry_view(job_id: str) -> ui.View:
    # The same action as "Same again", named for what it means after a failure.
    view = ui.View(timeout=None)
    view.add_item(JobButton("again", job_id, label="Try again"))
    return view
