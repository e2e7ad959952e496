"""/portrait and /inpaint: validate, defer, download, record, submit."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from fact_runtime import MAX_SEED, InvalidRequest

from ..attachments import check_attachment, download
from ..errors import TemplateChoice
from ..jobs import new_seed
from ..respond import defer

if TYPE_CHECKING:
    from ..client import PortraitBot

log = logging.getLogger(__name__)

SubjectChoice = Literal["person", "man", "woman", "boy", "girl"]
_SEED = app_commands.Range[int, 0, MAX_SEED]


def _list_templates(bot: PortraitBot) -> list[str]:
    if bot.templates_dir is None:
        return []
    from fact_runtime import list_templates

    return list_templates(bot.templates_dir)


class PortraitCog(commands.Cog):
    def __init__(self, bot: PortraitBot) -> None:
        self.bot = bot

    def _count(self, count: int | None) -> int:
        settings = self.bot.settings
        count = settings.default_count if count is None else count
        if count > settings.max_count:
            raise InvalidRequest(
                f"count {count} > {settings.max_count}",
                user_message=f"You can ask for at most {settings.max_count} images at a time.",
            )
        return count

    async def _accept_files(
        self, interaction: discord.Interaction[PortraitBot], files: dict[str, discord.Attachment | None], *,
        is_private: bool,
    ) -> dict[str, bytes]:
        """Check every attachment's declared type and size, acknowledge the interaction, then download them."""
        settings = self.bot.settings
        present = {name: attachment for name, attachment in files.items() if attachment is not None}
        for attachment in present.values():
            check_attachment(attachment, settings)
        await defer(interaction, is_private=is_private)
        return {name: await download(attachment, settings) for name, attachment in present.items()}

    @app_commands.command(name="portrait", description="Portraits of you in a style, from one selfie.")
    @app_commands.describe(
        selfie="A clear, front-facing photo of your face (JPEG, PNG or WebP)",
        style="The look of the portraits",
        count="How many images to make",
        pose="A photo (or OpenPose skeleton) whose body pose the portraits copy",
        prompt="Optional extra words for the picture",
        subject="How the prompt should describe you",
        seed="Optional number to reproduce a result",
        private="Only you see the results",
    )
    async def portrait(
        self,
        interaction: discord.Interaction[PortraitBot],
        selfie: discord.Attachment,
        style: str,
        count: app_commands.Range[int, 1, 10] | None = None,
        pose: discord.Attachment | None = None,
        prompt: app_commands.Range[str, 1, 300] | None = None,
        subject: SubjectChoice = "person",
        seed: _SEED | None = None,
        private: bool = False,
    ) -> None:
        count = self._count(count)
        # Everything checkable without I/O is checked before the 3-second acknowledgement.
        self.bot.jobs.admit(interaction, style_id=style)
        inputs = await self._accept_files(interaction, {"selfie": selfie, "pose": pose}, is_private=private)
        options = {
            "style_id": style,
            "count": count,
            "seed": new_seed() if seed is None else seed,
            "prompt": prompt or "",
            "subject": subject,
        }
        await self.bot.jobs.start(interaction, kind="portrait", options=options, inputs=inputs, is_private=private)

    @portrait.autocomplete("style")
    async def _style_choices(
        self, interaction: discord.Interaction[PortraitBot], current: str
    ) -> list[app_commands.Choice[str]]:
        disabled: frozenset[str] = frozenset()
        if interaction.guild_id is not None:
            disabled = self.bot.store.guilds.get(interaction.guild_id).disabled_styles
        styles = [s for s in self.bot.catalog.search(current, limit=25 + len(disabled)) if s.id not in disabled]
        return [app_commands.Choice(name=s.name[:100], value=s.id) for s in styles[:25]]

    @app_commands.command(name="inpaint", description="Put your face into a template photo.")
    @app_commands.describe(
        selfie="A clear, front-facing photo of your face",
        template="A photo with the face to replace",
        template_id="Or one of the built-in templates",
        face="Which face to replace, counted from the left (1 = leftmost)",
        count="How many images to make",
        subject="How the prompt should describe you",
        seed="Optional number to reproduce a result",
        private="Only you see the results",
    )
    async def inpaint(
        self,
        interaction: discord.Interaction[PortraitBot],
        selfie: discord.Attachment,
        template: discord.Attachment | None = None,
        template_id: str | None = None,
        face: app_commands.Range[int, 1, 20] = 1,
        count: app_commands.Range[int, 1, 10] | None = None,
        subject: SubjectChoice = "person",
        seed: _SEED | None = None,
        private: bool = False,
    ) -> None:
        count = self._count(count)
        if (template is None) == (template_id is None):
            raise TemplateChoice("need exactly one of template and template_id")
        if template_id is not None and template_id not in _list_templates(self.bot):
            raise InvalidRequest(
                f"unknown template {template_id!r}",
                user_message="There is no built-in template with that name; pick one from the list.",
            )
        self.bot.jobs.admit(interaction)
        inputs = await self._accept_files(interaction, {"selfie": selfie, "template": template}, is_private=private)
        options = {
            "template_id": template_id,
            "has_template": template is not None,
            "face_index": face,
            "count": count,
            "seed": new_seed() if seed is None else seed,
            "subject": subject,
        }
        await self.bot.jobs.start(interaction, kind="inpaint", options=options, inputs=inputs, is_private=private)

    @inpaint.autocomplete("template_id")
    async def _template_choices(
        self, interaction: discord.Interaction[PortraitBot], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.strip().lower()
        names = [name for name in _list_templates(self.bot) if needle in name.lower()]
        return [app_commands.Choice(name=name[:100], value=name) for name in names[:25]]


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(PortraitCog(bot))
