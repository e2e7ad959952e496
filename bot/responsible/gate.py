"""The checks every slash command passes before it runs: prompt rules, age-restricted channels, the notice.

They run in the command tree's ``interaction_check``, so a command added later is covered by
its name or its options alone: any ``prompt`` or ``subject`` option is checked against the
prompt rules, the commands in ``JOB_COMMANDS`` against the channel rule, and those in
``NOTICE_COMMANDS`` wait for the member to accept the notice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from ..errors import BotError
from ..respond import reply_error
from .notice import notice_view
from .rules import PromptRules

if TYPE_CHECKING:
    from ..health import BotCounters
    from ..settings import BotSettings
    from ..store import JobStore

__all__ = ["JOB_COMMANDS", "NOTICE_COMMANDS", "PROMPT_OPTIONS", "NotAgeRestricted", "ResponsibleUse"]

log = logging.getLogger(__name__)

#: Commands that make pictures (the age-restricted channel rule applies to them).
JOB_COMMANDS = frozenset({"portrait", "inpaint", "group"})
#: Commands that need the notice accepted first: those that make pictures or keep a face.
NOTICE_COMMANDS = JOB_COMMANDS | {"identity save"}
#: Free-text options checked against the prompt rules, in any command.
PROMPT_OPTIONS = ("prompt", "subject")


class NotAgeRestricted(BotError):
    kind = "channel_not_age_restricted"
    user_message = "This server makes pictures only in age-restricted channels; please run the command in one."


class ResponsibleUse:
    """The rules of issue 21 that the bot enforces, read from the config and the job store.

    Parameters
    ----------
    store:
        Acceptances and per-guild rules.
    settings:
        The config's defaults and switches.
    notice:
        The notice's text; None when ``bot.is_notice_enabled`` is off.
    has_safety_checker:
        Whether the runtime withholds unsafe images (then any channel may be used).
    counters:
        Where refusals are counted (``fact_bot_refusals_total`` by reason); None: not counted.
    """

    def __init__(
        self,
        store: JobStore,
        settings: BotSettings,
        *,
        notice: str | None,
        has_safety_checker: bool,
        counters: BotCounters | None = None,
    ) -> None:
        self._store = store
        self._counters = counters
        self._settings = settings
        self._notice = notice
        self._has_safety_checker = has_safety_checker

    def rules_for(self, guild_id: int | None) -> PromptRules:
        """The config's words and patterns, with the guild's added."""
        defaults = (self._settings.blocked_words, self._settings.blocked_patterns)
        if not self._settings.is_prompt_rules_enabled:
            return PromptRules()
        if guild_id is None:
            return PromptRules.combine(defaults)
        guild = self._store.prompt_rules.get(guild_id)
        return PromptRules.combine(defaults, (guild.blocked_words, guild.blocked_patterns))

    def is_nsfw_channel_required(self, guild_id: int | None) -> bool:
        """Whether jobs here must run in age-restricted channels (only ever without a safety checker)."""
        if self._has_safety_checker or guild_id is None:
            return False
        chosen = self._store.prompt_rules.get(guild_id).is_nsfw_channel_required
        return self._settings.is_nsfw_channel_required if chosen is None else chosen

    def check_prompts(self, interaction: discord.Interaction) -> None:
        """Raises ``PromptBlocked`` when a free-text option breaks a rule."""
        texts = [getattr(interaction.namespace, option, None) for option in PROMPT_OPTIONS]
        rules = self.rules_for(interaction.guild_id)
        for text in texts:
            if isinstance(text, str):
                rules.check(text)

    def check_channel(self, interaction: discord.Interaction) -> None:
        """Raises ``NotAgeRestricted`` when the rule applies and the channel is not marked age-restricted."""
        if not self.is_nsfw_channel_required(interaction.guild_id):
            return
        is_nsfw = getattr(interaction.channel, "is_nsfw", None)
        if not (callable(is_nsfw) and is_nsfw()):
            raise NotAgeRestricted(f"channel {interaction.channel_id} is not age-restricted")

    def accept_notice(self, user_id: int) -> None:
        """The member pressed Accept under the notice; their job commands run from now on."""
        self._store.acceptances.accept(user_id)
        log.info("user %s accepted the responsible-use notice", user_id)

    def needs_notice(self, user_id: int) -> bool:
        return self._notice is not None and not self._store.acceptances.has_accepted(user_id)

    async def check(self, interaction: discord.Interaction) -> bool:
        """True when the command may run; otherwise the member has been answered (a refusal or the notice)."""
        command = interaction.command
        if interaction.type is not discord.InteractionType.application_command or command is None:
            return True
        name = command.qualified_name
        try:
            self.check_prompts(interaction)
            if name in JOB_COMMANDS:
                self.check_channel(interaction)
        except BotError as exc:
            log.info("user %s: /%s refused: %s", interaction.user.id, name, exc)
            if self._counters is not None:
                self._counters.count("refusals", exc.kind)
            if self._settings.is_audit_enabled and interaction.guild_id is not None:
                self._store.audit.note_refusal(
                    f"refused-{interaction.id}",
                    guild_id=interaction.guild_id,
                    user_id=interaction.user.id,
                    kind=name,
                    error_kind=exc.kind,
                )
            await reply_error(interaction, exc)
            return False
        if name in NOTICE_COMMANDS and self.needs_notice(interaction.user.id):
            await interaction.response.send_message(self._notice, view=notice_view(), ephemeral=True)
            return False
        return True
