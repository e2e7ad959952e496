"""/group: several members' saved faces into one template, each member's own consent first."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from fact_runtime import MAX_SEED

from ..attachments import check_attachment
from ..builtin_templates import BuiltinTemplates
from ..groups import GroupPlan, plan_seats, shown_name
from ..jobs import choose_speed, new_seed, speed_choices

if TYPE_CHECKING:
    from fact_runtime import InpaintRecipe, JobRuntime

    from ..client import PortraitBot
    from ..groups import GroupConsent
    from ..identities import IdentityService
    from ..jobs import JobService
    from ..settings import BotSettings
    from ..store import GuildSettingsStore

log = logging.getLogger(__name__)

_Face = discord.User | discord.Member
_RECIPES = [
    app_commands.Choice(name="Original: five passes per face, closest to the template", value="original"),
    app_commands.Choice(name="Fast: one pass per face", value="fast"),
]
#: How often open questions are checked for their deadline.
_EXPIRY_CHECK_S = 15.0


class GroupCog(commands.Cog):
    """The group photo command; its questions are answered through ``GroupConsentButton``."""

    def __init__(
        self,
        consent: GroupConsent,
        jobs: JobService,
        identities: IdentityService,
        *,
        runtime: JobRuntime,
        settings: BotSettings,
        guilds: GuildSettingsStore,
        templates_dir: Path | None,
    ) -> None:
        self._consent = consent
        self._jobs = jobs
        self._identities = identities
        # Read when a command runs, not here: ``python -m bot sync`` builds the commands with no runtime.
        self._runtime = runtime
        self._settings = settings
        self._guilds = guilds
        self._templates = BuiltinTemplates(templates_dir)

    async def cog_load(self) -> None:
        if self._runtime is not None:  # ``python -m bot sync`` builds the commands only: nothing is ever asked there
            self.expire.start()

    async def cog_unload(self) -> None:
        self.expire.cancel()

    @tasks.loop(seconds=_EXPIRY_CHECK_S)
    async def expire(self) -> None:
        try:
            await self._consent.expire()
        except Exception:
            log.exception("closing expired group questions failed")

    @commands.Cog.listener()
    async def on_member_forgotten(self, user_id: int) -> None:
        await self._consent.forget(user_id)

    @commands.Cog.listener()
    async def on_identity_deleted(self, user_id: int) -> None:
        await self._consent.identity_deleted(user_id)

    @app_commands.command(name="group", description="Put several members' saved faces into one template photo.")
    @app_commands.guild_only()
    @app_commands.describe(
        face1="Who goes into face 1, counted from the left (1 = leftmost)",
        face2="Who goes into face 2",
        face3="Who goes into face 3",
        face4="Who goes into face 4",
        face5="Who goes into face 5",
        face6="Who goes into face 6",
        face7="Who goes into face 7",
        face8="Who goes into face 8",
        template="A photo with the faces to replace",
        template_id="Or one of the built-in templates",
        identity="Which of your own saved identities to use (default: your newest)",
        count="How many images to make",
        seed="Optional number to reproduce a result",
        private="Only you see the results",
        recipe="Original (five passes per face) or fast (one pass per face)",
        speed="How fast: original (the reference recipe), fast or turbo; unset: this server's default",
    )
    @app_commands.choices(recipe=_RECIPES)
    async def group(
        self,
        interaction: discord.Interaction[PortraitBot],
        face1: _Face,
        face2: _Face,
        face3: _Face | None = None,
        face4: _Face | None = None,
        face5: _Face | None = None,
        face6: _Face | None = None,
        face7: _Face | None = None,
        face8: _Face | None = None,
        template: discord.Attachment | None = None,
        template_id: str | None = None,
        identity: str | None = None,
        count: app_commands.Range[int, 1, 10] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        private: bool = False,
        recipe: app_commands.Choice[str] | None = None,
        speed: str | None = None,
    ) -> None:
        limits = self._runtime.limits
        assert interaction.guild_id is not None  # guild_only
        tier = choose_speed(speed, self._guilds.get(interaction.guild_id), limits)
        count = limits.check_count(self._settings.default_count if count is None else count)
        self._templates.check_choice(has_template=template is not None, template_id=template_id)
        picked = dict(enumerate((face1, face2, face3, face4, face5, face6, face7, face8), start=1))
        seats = plan_seats(
            picked, asker=interaction.user, own_identity=identity, identities=self._identities, limits=limits
        )
        self._jobs.admit(interaction)
        if template is not None:
            check_attachment(template, limits, content_types=self._settings.content_types)
        chosen: InpaintRecipe | None = None if recipe is None else recipe.value  # type: ignore[assignment]
        plan = GroupPlan(
            asker_id=interaction.user.id,
            asker_name=shown_name(interaction.user),
            guild_id=interaction.guild_id,
            seats=seats,
            template=template,
            template_id=template_id,
            count=count,
            seed=new_seed() if seed is None else seed,
            recipe=chosen,
            is_private=private,
            speed=tier,
        )
        await self._consent.request(interaction, plan)

    @group.autocomplete("identity")
    async def _own_identities(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return self._identities.choices(interaction.user.id, current)

    @group.autocomplete("speed")
    async def _speed_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        guild = None if interaction.guild_id is None else self._guilds.get(interaction.guild_id)
        return speed_choices(current, guild, self._runtime.limits)

    @group.autocomplete("template_id")
    async def _template_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return self._templates.choices(current)


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(
        GroupCog(
            bot.group_consent,
            bot.jobs,
            bot.identities,
            runtime=bot.runtime,
            settings=bot.settings,
            guilds=bot.store.guilds,
            templates_dir=bot.templates_dir,
        )
    )
