"""/portrait and /inpaint: validate, defer, record, download, then hand the job to the service.

Each takes the member's face from exactly one of a ``selfie`` upload or a saved ``identity``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import discord
from discord import app_commands
from discord.ext import commands

from fact_runtime import MAX_SEED

from ..attachments import check_attachment, download
from ..builtin_templates import BuiltinTemplates
from ..jobs import choose_speed, new_seed, speed_choices
from ..respond import defer
from ..store import JobOptions

if TYPE_CHECKING:
    from fact_runtime import InpaintRecipe, JobRuntime, StyleCatalog

    from ..client import PortraitBot
    from ..identities import IdentityService
    from ..jobs import JobService
    from ..settings import BotSettings
    from ..store import GuildSettings, GuildSettingsStore, JobKind, StoredIdentity

log = logging.getLogger(__name__)

SubjectChoice = Literal["person", "man", "woman", "boy", "girl"]
_SEED = app_commands.Range[int, 0, MAX_SEED]
# The schema allows up to 10, Discord's files per message; runtime.limits decides per run.
_COUNT = app_commands.Range[int, 1, 10]


#: How /inpaint puts the face in (``InpaintRequest.recipe``); the names are what members read.
_RECIPES = [
    app_commands.Choice(name="Original: five passes, closest to the template", value="original"),
    app_commands.Choice(name="Fast: one pass", value="fast"),
]


class PortraitCog(commands.Cog):
    """The two commands that make pictures."""

    def __init__(
        self,
        jobs: JobService,
        identities: IdentityService,
        *,
        runtime: JobRuntime,
        catalog: StyleCatalog,
        guilds: GuildSettingsStore,
        settings: BotSettings,
        templates_dir: Path | None,
    ) -> None:
        self._jobs = jobs
        self._identities = identities
        # Read when a command runs, not here: ``python -m bot sync`` builds the commands with no runtime.
        self._runtime = runtime
        self._catalog = catalog
        self._guilds = guilds
        self._settings = settings
        self._templates = BuiltinTemplates(templates_dir)

    def _count(self, count: int | None) -> int:
        return self._runtime.limits.check_count(self._settings.default_count if count is None else count)

    def _guild(self, interaction: discord.Interaction) -> GuildSettings | None:
        return None if interaction.guild_id is None else self._guilds.get(interaction.guild_id)

    def _speed_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return speed_choices(current, self._guild(interaction), self._runtime.limits)

    async def _begin(
        self,
        interaction: discord.Interaction,
        files: dict[str, discord.Attachment | None],
        *,
        kind: JobKind,
        options: JobOptions,
        is_private: bool,
        identity: StoredIdentity | None,
    ) -> None:
        """Check the attachments' declared type and size, acknowledge, record the job, download, hand it on."""
        limits = self._runtime.limits
        present = {name: attachment for name, attachment in files.items() if attachment is not None}
        for attachment in present.values():
            check_attachment(attachment, limits, content_types=self._settings.content_types)
        status_message_id = await defer(interaction, is_private=is_private)
        # Recorded before the download: a restart during it finds the job and tells the member.
        record = self._jobs.accept(
            interaction, kind=kind, options=options, is_private=is_private, status_message_id=status_message_id
        )
        try:
            inputs = {name: await download(attachment, limits) for name, attachment in present.items()}
        except Exception as exc:
            self._jobs.abandon(record, exc)
            raise
        await self._jobs.start(record, inputs, identity=identity)

    def _identity(
        self, interaction: discord.Interaction, selfie: discord.Attachment | None, identity: str | None
    ) -> tuple[StoredIdentity | None, JobOptions]:
        """The saved identity a command names (or None for its selfie) and job options that record it."""
        saved = self._identities.for_job(interaction.user.id, has_selfie=selfie is not None, identity=identity)
        if saved is None:
            return None, JobOptions()
        return saved, JobOptions(identity_id=saved.record.identity_id, identity_name=saved.record.name)

    @app_commands.command(
        name="portrait", description="Portraits of you in a style, from a selfie or a saved identity."
    )
    @app_commands.describe(
        selfie="A clear, front-facing photo of your face (JPEG, PNG or WebP)",
        identity="Or one of your saved identities (/identity save)",
        style="The look of the portraits",
        count="How many images to make",
        pose="A photo (or OpenPose skeleton) whose body pose the portraits copy",
        prompt="Optional extra words for the picture",
        subject="How the prompt should describe you",
        seed="Optional number to reproduce a result",
        private="Only you see the results",
        speed="How fast: original (the reference recipe), fast or turbo; unset: this server's default",
    )
    async def portrait(
        self,
        interaction: discord.Interaction[PortraitBot],
        style: str,
        selfie: discord.Attachment | None = None,
        identity: str | None = None,
        count: _COUNT | None = None,
        pose: discord.Attachment | None = None,
        prompt: app_commands.Range[str, 1, 300] | None = None,
        subject: SubjectChoice = "person",
        seed: _SEED | None = None,
        private: bool = False,
        speed: str | None = None,
    ) -> None:
        count = self._count(count)
        tier = choose_speed(speed, self._guild(interaction), self._runtime.limits)
        # A display name or an id in any case names the style as well as the autocomplete's choice.
        style = self._catalog.find(style).id
        # Everything checkable without I/O is checked before the 3-second acknowledgement.
        saved, identity_options = self._identity(interaction, selfie, identity)
        self._jobs.admit(interaction, style_id=style)
        options = replace(
            identity_options,
            style_id=style,
            count=count,
            seed=new_seed() if seed is None else seed,
            prompt=prompt or "",
            subject=subject,
            speed=tier,
        )
        files = {"selfie": selfie, "pose": pose}
        await self._begin(interaction, files, kind="portrait", options=options, is_private=private, identity=saved)

    @portrait.autocomplete("style")
    async def _style_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        disabled: frozenset[str] = frozenset()
        if interaction.guild_id is not None:
            disabled = self._guilds.get(interaction.guild_id).disabled_styles
        styles = [s for s in self._catalog.search(current, limit=25 + len(disabled)) if s.id not in disabled]
        return [app_commands.Choice(name=s.name[:100], value=s.id) for s in styles[:25]]

    @portrait.autocomplete("speed")
    async def _portrait_speeds(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return self._speed_choices(interaction, current)

    @portrait.autocomplete("identity")
    async def _portrait_identities(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._identities.choices(interaction.user.id, current)

    @app_commands.command(name="inpaint", description="Put your face into a template photo.")
    @app_commands.describe(
        selfie="A clear, front-facing photo of your face",
        identity="Or one of your saved identities (/identity save)",
        template="A photo with the face to replace",
        template_id="Or one of the built-in templates",
        face="Which face to replace, counted from the left (1 = leftmost)",
        count="How many images to make",
        subject="How the prompt should describe you",
        seed="Optional number to reproduce a result",
        private="Only you see the results",
        recipe="Original (five passes, keeps the template's pose and light) or fast (one pass, about 3x quicker)",
        speed="How fast: original (the reference recipe), fast or turbo; unset: this server's default",
    )
    @app_commands.choices(recipe=_RECIPES)
    async def inpaint(
        self,
        interaction: discord.Interaction[PortraitBot],
        selfie: discord.Attachment | None = None,
        identity: str | None = None,
        template: discord.Attachment | None = None,
        template_id: str | None = None,
        face: app_commands.Range[int, 1, 20] = 1,
        count: _COUNT | None = None,
        subject: SubjectChoice = "person",
        seed: _SEED | None = None,
        private: bool = False,
        recipe: app_commands.Choice[str] | None = None,
        speed: str | None = None,
    ) -> None:
        count = self._count(count)
        tier = choose_speed(speed, self._guild(interaction), self._runtime.limits)
        self._templates.check_choice(has_template=template is not None, template_id=template_id)
        saved, identity_options = self._identity(interaction, selfie, identity)
        self._jobs.admit(interaction)
        options = replace(
            identity_options,
            template_id=template_id,
            has_template=template is not None,
            face_index=face,
            count=count,
            seed=new_seed() if seed is None else seed,
            subject=subject,
            # None: the server's generation.inpaint_recipe.
            recipe=None if recipe is None else cast("InpaintRecipe", recipe.value),  # one of _RECIPES' values
            speed=tier,
        )
        files = {"selfie": selfie, "template": template}
        await self._begin(interaction, files, kind="inpaint", options=options, is_private=private, identity=saved)

    @inpaint.autocomplete("speed")
    async def _inpaint_speeds(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return self._speed_choices(interaction, current)

    @inpaint.autocomplete("identity")
    async def _inpaint_identities(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._identities.choices(interaction.user.id, current)

    @inpaint.autocomplete("template_id")
    async def _template_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return self._templates.choices(current)


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(
        PortraitCog(
            bot.jobs,
            bot.identities,
            runtime=bot.runtime,
            catalog=bot.catalog,
            guilds=bot.store.guilds,
            settings=bot.settings,
            templates_dir=bot.templates_dir,
        )
    )
