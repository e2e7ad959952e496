"""/identity save, list, delete and rename: a member's saved faces; and the purge when a member leaves."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..identities import texts
from ..respond import tell
from ..texts import clip_content

if TYPE_CHECKING:
    from fact_runtime import JobRuntime

    from ..client import PortraitBot
    from ..identities import IdentitySaver, IdentityService
    from ..settings import BotSettings

log = logging.getLogger(__name__)

_NAME = app_commands.Range[str, 1, 32]


class IdentityCog(commands.Cog):
    """Saved identities: each is private to its member, and every answer is ephemeral."""

    identity = app_commands.Group(
        name="identity", description="Save your face once, then make portraits without uploading it again."
    )

    def __init__(
        self,
        bot: PortraitBot,
        identities: IdentityService,
        saver: IdentitySaver,
        *,
        settings: BotSettings,
        runtime: JobRuntime,
    ) -> None:
        self._bot = bot
        self._identities = identities
        self._saver = saver
        self._settings = settings
        # Read when a command runs, not here: ``python -m bot sync`` builds the commands with no runtime.
        self._runtime = runtime

    @identity.command(name="save", description="Save 1 to 4 photos of your face under a name (asks first).")
    @app_commands.describe(
        name="A name for this identity, e.g. 'me' or 'work'",
        photo1="A clear photo of your face (JPEG, PNG or WebP)",
        photo2="Another photo of you (optional; several photos help likeness)",
        photo3="Another photo of you (optional)",
        photo4="Another photo of you (optional)",
    )
    async def save(
        self,
        interaction: discord.Interaction[PortraitBot],
        name: _NAME,
        photo1: discord.Attachment,
        photo2: discord.Attachment | None = None,
        photo3: discord.Attachment | None = None,
        photo4: discord.Attachment | None = None,
    ) -> None:
        photos = [photo for photo in (photo1, photo2, photo3, photo4) if photo is not None]
        await self._saver.ask_consent(interaction, name, photos)

    @identity.command(name="list", description="Your saved identities and when they expire.")
    async def list_identities(self, interaction: discord.Interaction[PortraitBot]) -> None:
        records = self._identities.names(interaction.user.id)
        text = texts.list_text(
            records,
            retention_s=self._settings.identity_retention_s,
            limit=self._settings.max_identities,
            max_photos=min(4, self._runtime.limits.max_photos),
        )
        await tell(interaction, clip_content(text))

    @identity.command(name="delete", description="Delete one of your saved identities and its photos.")
    @app_commands.describe(name="The identity to delete")
    async def delete(self, interaction: discord.Interaction[PortraitBot], name: str) -> None:
        deleted = self._identities.delete(interaction.user.id, name)
        await tell(interaction, texts.deleted_text(deleted))
        # A /group question that waits to use the deleted face ends now (see GroupCog).
        self._bot.dispatch("identity_deleted", interaction.user.id)

    @identity.command(name="rename", description="Rename one of your saved identities.")
    @app_commands.describe(name="The identity to rename", new_name="Its new name")
    async def rename(self, interaction: discord.Interaction[PortraitBot], name: str, new_name: _NAME) -> None:
        old, new = self._identities.rename(interaction.user.id, name, new_name)
        await tell(interaction, f"Renamed **{old}** to **{new}**.")

    @identity.command(
        name="share", description="Let this server's members put your identity in /group photos without asking."
    )
    @app_commands.guild_only()
    @app_commands.describe(
        allow="On: /group uses your face here without asking you each time; off: ask me again",
        identity="Which of your saved identities they get (default: your newest at the time)",
    )
    async def share(
        self, interaction: discord.Interaction[PortraitBot], allow: bool, identity: str | None = None
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        shares, user_id = self._bot.store.groups, interaction.user.id
        if not allow:
            shares.revoke(user_id, interaction.guild_id)
            await tell(interaction, "Sharing is off here: /group asks you before your face goes into a group photo.")
        elif not self._identities.names(user_id):
            await tell(interaction, "You have no saved identity to share; save one with /identity save first.")
        else:
            named = None if identity is None else self._identities.lookup(user_id, identity).record
            shares.share(user_id, interaction.guild_id, None if named is None else named.identity_id)
            which = "your newest saved identity" if named is None else f"your saved identity **{named.name}**"
            await tell(
                interaction,
                f"Sharing is on here: members of this server can put {which} into /group photos without asking you."
                " /identity share allow:False, deleting an identity or /forget turns it off.",
            )

    @delete.autocomplete("name")
    @rename.autocomplete("name")
    @share.autocomplete("identity")
    async def _own_identities(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return self._identities.choices(interaction.user.id, current)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """With ``bot.is_identity_purged_on_leave``, a member gone from every shared server loses their identities."""
        if not self._settings.is_identity_purged_on_leave:
            return
        user_id = payload.user.id
        if any(guild.get_member(user_id) is not None for guild in self._bot.guilds if guild.id != payload.guild_id):
            return
        self._identities.purge_member(user_id)


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(IdentityCog(bot, bot.identities, bot.identity_saver, settings=bot.settings, runtime=bot.runtime))
