"""/styles browse (paginated, with previews) and /styles reload (admins)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands, ui
from discord.ext import commands

from fact_runtime import Style, StyleError

from ..respond import defer, tell
from ..texts import clip_content

if TYPE_CHECKING:
    from fact_runtime import StyleCatalog

    from ..client import PortraitBot
    from ..store import GuildSettingsStore

log = logging.getLogger(__name__)

_BROWSE_TIMEOUT_S = 300.0


def style_page(style: Style, index: int, total: int) -> tuple[discord.Embed, discord.File | None]:
    """The embed for one style, with its preview attached when it has a readable one."""
    embed = discord.Embed(title=style.name, description=style.description or None, colour=discord.Colour.blurple())
    if style.tags:
        embed.add_field(name="Tags", value=", ".join(style.tags))
    embed.set_footer(text=f"Style {index + 1} of {total} · use it with /portrait style:{style.id}")
    if style.preview is None or not style.preview.is_file():
        return embed, None
    file = discord.File(style.preview, filename=f"preview{style.preview.suffix.lower()}")
    embed.set_image(url=file.uri)
    return embed, file


class StylePager(ui.View):
    """Previous/next through a list of styles; only the person who opened it can turn pages."""

    def __init__(self, styles: list[Style], owner_id: int) -> None:
        super().__init__(timeout=_BROWSE_TIMEOUT_S)
        self.styles = styles
        self.owner_id = owner_id
        self.index = 0
        #: The /styles browse interaction, whose token can edit the (ephemeral) pages message.
        self.opened_by: discord.Interaction | None = None
        self._refresh_buttons()

    async def on_timeout(self) -> None:
        # Dead buttons would answer "This interaction failed"; greyed-out ones say the pages are closed.
        if self.opened_by is None:
            return
        self.previous.disabled = self.next.disabled = True
        try:
            await self.opened_by.edit_original_response(view=self)
        except discord.HTTPException as exc:
            log.debug("could not close style pages: %s", exc)

    def page(self) -> tuple[discord.Embed, discord.File | None]:
        return style_page(self.styles[self.index], self.index, len(self.styles))

    def _refresh_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.styles) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await tell(interaction, "Run /styles browse to get your own pages.")
            return False
        return True

    async def _show(self, interaction: discord.Interaction, step: int) -> None:
        self.index = max(0, min(len(self.styles) - 1, self.index + step))
        self._refresh_buttons()
        embed, file = self.page()
        await interaction.response.edit_message(embed=embed, attachments=[file] if file else [], view=self)

    @ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: ui.Button[StylePager]) -> None:
        await self._show(interaction, -1)

    @ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: ui.Button[StylePager]) -> None:
        await self._show(interaction, +1)


class StylesCog(commands.Cog):
    styles = app_commands.Group(name="styles", description="Browse and manage portrait styles.")

    def __init__(self, catalog: StyleCatalog, *, guilds: GuildSettingsStore) -> None:
        self._catalog = catalog
        self._guilds = guilds

    @styles.command(name="browse", description="Page through the styles, with previews.")
    @app_commands.describe(query="Only styles whose name or tags match")
    async def browse(self, interaction: discord.Interaction[PortraitBot], query: str | None = None) -> None:
        found = self._catalog.search(query or "", limit=len(self._catalog))
        if interaction.guild_id is not None:
            disabled = self._guilds.get(interaction.guild_id).disabled_styles
            found = [style for style in found if style.id not in disabled]
        if not found:
            await tell(interaction, "No style matches that; try another word.")
            return
        pager = StylePager(found, interaction.user.id)
        pager.opened_by = interaction
        embed, file = pager.page()
        await interaction.response.send_message(
            embed=embed, view=pager, ephemeral=True, file=file if file is not None else discord.utils.MISSING
        )

    @styles.command(name="reload", description="Re-read the style files (admins).")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def reload(self, interaction: discord.Interaction[PortraitBot]) -> None:
        # Reading and validating a folder of YAML can take seconds: acknowledge first, then parse on
        # a thread of the loop's default executor so every other command keeps its 3-second window.
        # (Only the runtime's executor runs the GPU; this thread touches nothing but the files.)
        await defer(interaction, is_private=True)
        try:
            report = await asyncio.to_thread(self._catalog.reload)
        except StyleError as exc:
            log.warning("style reload by %s refused: %s", interaction.user.id, exc)
            await tell(interaction, clip_content(f"The styles were NOT reloaded; the old set stays.\n```\n{exc}\n```"))
            return
        parts = [f"{report.count} styles loaded"]
        for label, ids in (("added", report.added), ("removed", report.removed), ("changed", report.changed)):
            if ids:
                parts.append(f"{label}: {', '.join(ids)}")
        await tell(interaction, clip_content("; ".join(parts) + "."))


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(StylesCog(bot.catalog, guilds=bot.store.guilds))
