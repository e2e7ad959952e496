"""Buttons that carry their job id in ``custom_id``, so they keep working after a restart.

discord.py rebuilds a dynamic item from its ``custom_id`` alone, so a button reaches the job
service through the client that received the click. It asks that client for no more than
``JobButtonServices`` (checked when the click arrives), not for the bot class: the bot builds
these views, so naming it here would tie the two modules in a circle.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

import discord
from discord import ui

from ..followups.buttons import add_follow_up_rows
from ..respond import reply_error

if TYPE_CHECKING:
    from ..store import JobRecord

__all__ = [
    "Action",
    "JobActions",
    "JobButton",
    "JobButtonServices",
    "job_services",
    "parse_custom_id",
    "result_view",
    "retry_view",
    "status_view",
]

log = logging.getLogger(__name__)

Action = Literal["reroll", "again", "cancel", "delete"]

CUSTOM_ID = re.compile(r"fact:(?P<action>reroll|again|cancel|delete):(?P<job_id>[0-9a-f]{8,32})")

_LOOKS: dict[Action, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("Reroll", "🎲", discord.ButtonStyle.primary),
    "again": ("Same again", "🔁", discord.ButtonStyle.secondary),
    "cancel": ("Cancel", "✖️", discord.ButtonStyle.danger),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.secondary),
}


class JobActions(Protocol):
    """What a job button asks of the job service."""

    def check_owner(self, job_id: str, user_id: int) -> JobRecord: ...

    async def press(self, interaction: discord.Interaction[Any], action: Action, job_id: str) -> None: ...


@runtime_checkable
class JobButtonServices(Protocol):
    """The client a job button is clicked on: it offers the job service."""

    @property
    def jobs(self) -> JobActions: ...


def job_services(interaction: discord.Interaction[Any]) -> JobButtonServices:
    """The services of the client that received the click.

    Raises
    ------
    TypeError
        The client offers no job service (a button of ours reached another client).
    """
    client = interaction.client
    if not isinstance(client, JobButtonServices):
        raise TypeError(f"{type(client).__name__} offers no job service to the job buttons")
    return client


def parse_custom_id(custom_id: str) -> tuple[Action, str] | None:
    """The action and job id of one of our buttons, or None for anything else."""
    match = CUSTOM_ID.fullmatch(custom_id)
    if match is None:
        return None
    return cast(Action, match["action"]), match["job_id"]


class JobButton(ui.DynamicItem[ui.Button[ui.View]], template=CUSTOM_ID):
    """One action on one job; the job service checks the owner and runs the action."""

    def __init__(self, action: Action, job_id: str, *, label: str | None = None) -> None:
        default_label, emoji, style = _LOOKS[action]
        super().__init__(
            ui.Button(label=label or default_label, emoji=emoji, style=style, custom_id=f"fact:{action}:{job_id}")
        )
        self.action: Action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        return cls(cast(Action, match["action"]), match["job_id"])

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        try:
            job_services(interaction).jobs.check_owner(self.job_id, interaction.user.id)
        except Exception as exc:  # noqa: BLE001 - a refused click gets the user's one sentence
            await reply_error(interaction, exc)
            return False
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await job_services(interaction).jobs.press(interaction, self.action, self.job_id)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the user's one sentence
            await reply_error(interaction, exc)


def _view(job_id: str, actions: tuple[Action, ...]) -> ui.View:
    view = ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


def status_view(job_id: str) -> ui.View:
    return _view(job_id, ("cancel",))


def result_custom_id(job_id: str) -> str:
    """The custom id of a button only a posted result carries: a restart finds the result by it."""
    return f"fact:reroll:{job_id}"


def result_view(job_id: str, *, follow_ups: int = 0, is_editable: bool = True) -> ui.View:
    """Reroll, Same again and Delete; with ``follow_ups`` images, a row per follow-up below them (and Edit
    beside them where ``is_editable``)."""
    view = _view(job_id, ("reroll", "again", "delete"))
    return add_follow_up_rows(view, job_id, follow_ups, is_editable=is_editable)


def retry_view(job_id: str) -> ui.View:
    # The same action as "Same again", named for what it means after a failure.
    view = ui.View(timeout=None)
    view.add_item(JobButton("again", job_id, label="Try again"))
    return view
