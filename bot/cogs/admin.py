"""/settings: per-guild rules (channels, styles, per-user limit, prompt rules, age-restricted channels, speed tiers), Manage Server only."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from fact_runtime import SpeedTier, UnknownStyle

from ..respond import tell
from ..responsible.rules import edit_rules
from ..texts import clip_content, plural

if TYPE_CHECKING:
    from fact_runtime import JobRuntime, RequestLimits, StyleCatalog

    from ..client import PortraitBot
    from ..store import GuildSettings, GuildSettingsStore, PromptRuleStore

log = logging.getLogger(__name__)


#: Enforced on every subcommand: ``default_permissions`` only hides the group and admins can override it.
_manage_guild_only = app_commands.checks.has_permissions(manage_guild=True)


class AdminCog(commands.Cog):
    settings = app_commands.Group(
        name="settings",
        description="Portrait bot rules for this server.",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(
        self,
        guilds: GuildSettingsStore,
        *,
        catalog: StyleCatalog,
        runtime: JobRuntime,
        prompt_rules: PromptRuleStore,
    ) -> None:
        self._guilds = guilds
        self._prompt_rules = prompt_rules
        self._catalog = catalog
        # Read when a command runs, not here: ``python -m bot sync`` builds the commands with no runtime.
        self._runtime = runtime

    @settings.command(name="show", description="Show this server's portrait bot rules.")
    @_manage_guild_only
    async def show(self, interaction: discord.Interaction[PortraitBot]) -> None:
        assert interaction.guild_id is not None
        settings = self._guilds.get(interaction.guild_id)
        channels = ", ".join(f"<#{c}>" for c in sorted(settings.allowed_channels)) or "every channel"
        disabled = ", ".join(sorted(settings.disabled_styles)) or "none"
        limits = self._runtime.limits
        limit = settings.per_member_limit(limits.max_per_user)
        speeds = _speeds_text(settings, limits)
        await tell(
            interaction,
            f"Allowed channels: {channels}\nDisabled styles: {disabled}\nUnfinished jobs per member: {limit}\n"
            f"Speeds: {speeds}",
        )

    @settings.command(name="channel", description="Allow or disallow portraits in a channel.")
    @_manage_guild_only
    @app_commands.describe(channel="The channel", allowed="Allow portraits there")
    async def channel(
        self, interaction: discord.Interaction[PortraitBot], channel: discord.TextChannel, allowed: bool
    ) -> None:
        assert interaction.guild_id is not None
        current = self._guilds.get(interaction.guild_id)
        listed = current.allowed_channels
        updated = listed | {channel.id} if allowed else listed - {channel.id}
        self._guilds.save(dataclasses.replace(current, allowed_channels=frozenset(updated)))
        if updated:
            await tell(
                interaction, f"Portraits are now allowed only in: {', '.join(f'<#{c}>' for c in sorted(updated))}."
            )
        elif listed:
            # An empty list means "everywhere": removing the last channel opens every channel again.
            await tell(interaction, "No channel is listed any more, so portraits are allowed in every channel again.")
        else:
            await tell(
                interaction,
                "Portraits are allowed in every channel until you allow specific ones; "
                "allow the channels you want instead.",
            )

    @settings.command(name="style", description="Turn a style on or off in this server.")
    @_manage_guild_only
    @app_commands.describe(style="The style id", enabled="Offer this style")
    async def style(self, interaction: discord.Interaction[PortraitBot], style: str, enabled: bool) -> None:
        assert interaction.guild_id is not None
        if style not in self._catalog:
            raise UnknownStyle(style)
        current = self._guilds.get(interaction.guild_id)
        disabled = current.disabled_styles - {style} if enabled else current.disabled_styles | {style}
        self._guilds.save(dataclasses.replace(current, disabled_styles=frozenset(disabled)))
        await tell(interaction, f"Style `{style}` is now {'on' if enabled else 'off'} in this server.")

    @style.autocomplete("style")
    async def _styles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        disabled: frozenset[str] = frozenset()
        if interaction.guild_id is not None:
            disabled = self._guilds.get(interaction.guild_id).disabled_styles
        return [
            app_commands.Choice(name=f"{s.name[:94]} (off)" if s.id in disabled else s.name[:100], value=s.id)
            for s in self._catalog.search(current)
        ]

    @settings.command(name="user-limit", description="How many unfinished jobs one member may have.")
    @_manage_guild_only
    @app_commands.describe(limit="Jobs per member (the global limit still applies)")
    async def user_limit(
        self, interaction: discord.Interaction[PortraitBot], limit: app_commands.Range[int, 1, 10]
    ) -> None:
        assert interaction.guild_id is not None
        current = self._guilds.get(interaction.guild_id)
        self._guilds.save(dataclasses.replace(current, max_jobs_per_user=limit))
        cap = self._runtime.limits.max_per_user
        sentence = f"Each member may now have {plural(min(limit, cap), 'unfinished job')}"
        if limit > cap:
            sentence += f" (the bot allows at most {cap} everywhere)"
        await tell(interaction, sentence + ".")

    @settings.command(name="prompt-rules", description="Block words or regular expressions in prompts, or list them.")
    @_manage_guild_only
    @app_commands.describe(
        action="Block, unblock, or show the list",
        word="A whole word or phrase (case and accents ignored)",
        pattern="A regular expression (case and accents ignored)",
    )
    async def prompt_rules(
        self,
        interaction: discord.Interaction[PortraitBot],
        action: Literal["block", "unblock", "show"],
        word: app_commands.Range[str, 1, 100] | None = None,
        pattern: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        rules = self._prompt_rules.get(interaction.guild_id)
        if action != "show":
            words, patterns = edit_rules(
                rules.blocked_words, rules.blocked_patterns, is_block=action == "block", word=word, pattern=pattern
            )
            rules = dataclasses.replace(rules, blocked_words=words, blocked_patterns=patterns)
            self._prompt_rules.save(rules)
        shown_words = ", ".join(f"`{w}`" for w in rules.blocked_words) or "none"
        shown_patterns = ", ".join(f"`{p}`" for p in rules.blocked_patterns) or "none"
        await tell(
            interaction,
            clip_content(
                f"Blocked words: {shown_words}\nBlocked patterns: {shown_patterns}\n"
                "(The bot's configuration may block more in every server.)"
            ),
        )

    @settings.command(
        name="age-restricted", description="Without a safety filter, make pictures only in age-restricted channels."
    )
    @_manage_guild_only
    @app_commands.describe(required="Refuse jobs in channels not marked age-restricted")
    async def age_restricted(self, interaction: discord.Interaction[PortraitBot], required: bool) -> None:
        assert interaction.guild_id is not None
        rules = self._prompt_rules.get(interaction.guild_id)
        self._prompt_rules.save(dataclasses.replace(rules, is_nsfw_channel_required=required))
        if required:
            sentence = "Unless the bot runs a safety filter, pictures are now made only in age-restricted channels."
        else:
            sentence = "Pictures may now be made in any allowed channel."
        await tell(interaction, sentence)

    @settings.command(name="speed", description="Offer a speed tier to members in this server, or stop offering it.")
    @_manage_guild_only
    @app_commands.describe(tier="The speed tier", allowed="Members may choose it")
    async def speed(self, interaction: discord.Interaction[PortraitBot], tier: SpeedTier, allowed: bool) -> None:
        assert interaction.guild_id is not None
        limits = self._runtime.limits
        if tier not in limits.speeds:
            await tell(interaction, _not_run(tier, limits.speeds))
            return
        current = self._guilds.get(interaction.guild_id)
        offered = set(current.speeds(limits))
        chosen = offered | {tier} if allowed else offered - {tier}
        if not chosen:
            await tell(interaction, f"{tier} is the only speed left on; turn another one on first.")
            return
        # Every tier the bot runs is stored as "all": a tier the operator adds later is offered too.
        kept = frozenset() if chosen == set(limits.speeds) else frozenset(chosen)
        updated = dataclasses.replace(current, allowed_speeds=kept)
        self._guilds.save(updated)
        await tell(
            interaction,
            f"Members here may now choose: {_speeds_text(updated, limits)}.",
        )

    @settings.command(name="default-speed", description="The speed tier of a job that names none.")
    @_manage_guild_only
    @app_commands.describe(tier="The speed tier")
    async def default_speed(self, interaction: discord.Interaction[PortraitBot], tier: SpeedTier) -> None:
        assert interaction.guild_id is not None
        limits = self._runtime.limits
        current = self._guilds.get(interaction.guild_id)
        offered = current.speeds(limits)
        if tier not in limits.speeds:
            await tell(interaction, _not_run(tier, limits.speeds))
            return
        if tier not in offered:
            await tell(interaction, f"Turn the {tier} speed on first (/settings speed); now on: {', '.join(offered)}.")
            return
        self._guilds.save(dataclasses.replace(current, default_speed=tier))
        await tell(interaction, f"Jobs that name no speed now run at {tier}.")


def _speeds_text(settings: GuildSettings, limits: RequestLimits) -> str:
    """The tiers a server offers and its default, as /settings says them."""
    return f"{', '.join(settings.speeds(limits))} (default: {settings.speed_default(limits)})"


def _not_run(tier: str, speeds: tuple[str, ...]) -> str:
    # runtime.speed.allowed is the operator's; a server can only narrow it.
    return f"This bot does not run the {tier} speed (its runtime.speed.allowed); it offers {', '.join(speeds)}."


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(
        AdminCog(bot.store.guilds, catalog=bot.catalog, runtime=bot.runtime, prompt_rules=bot.store.prompt_rules)
    )
