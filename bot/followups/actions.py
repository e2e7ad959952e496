"""What the follow-up buttons, selects and the Edit form ask of the job service, found through the client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import discord

from .request import FollowUpChoice

if TYPE_CHECKING:
    from ..store import JobRecord

__all__ = ["FollowUpActions", "follow_up_actions"]


@runtime_checkable
class FollowUpActions(Protocol):
    """The job service's follow-ups (``JobService.follow_ups``)."""

    def check_owner(self, job_id: str, user_id: int) -> JobRecord: ...

    def style_choices(self, record: JobRecord) -> list[tuple[str, str]]: ...

    async def follow_up(
        self, interaction: discord.Interaction[Any], job_id: str, number: int, choice: FollowUpChoice
    ) -> None: ...

    async def edit(
        self,
        interaction: discord.Interaction[Any],
        job_id: str,
        *,
        prompt: str,
        subject: str,
        seed: str,
        style_id: str | None = None,
    ) -> Any: ...


def follow_up_actions(interaction: discord.Interaction[Any]) -> FollowUpActions:
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
