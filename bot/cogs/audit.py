"""/audit [member]: the server's recent jobs for its admins (Manage Server); never photos or images."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..respond import tell
from ..texts import clip_content

if TYPE_CHECKING:
    from ..client import PortraitBot
    from ..settings import BotSettings
    from ..store import AuditEntry, AuditLog

log = logging.getLogger(__name__)

#: Lines per answer: what fits one message comfortably.
_LINES = 20
FORGOTTEN = "a member who used /forget"


def audit_line(entry: AuditEntry) -> str:
    """One job: when, who, kind, style or template, whose face, outcome."""
    who = FORGOTTEN if entry.user_id is None else f"<@{entry.user_id}>"
    if entry.job_id.startswith("refused-"):  # refused before a job was recorded: nothing more is known
        return f"<t:{int(entry.created_at)}:f> {who} · /{entry.kind} · refused ({entry.error_kind})"
    made_with = f"style `{entry.style_id}`" if entry.style_id else f"template `{entry.template or '?'}`"
    if not entry.has_identity:
        face = "uploaded photo"
    elif entry.identity_owner_id is None:
        face = "saved identity (owner gone)"
    elif entry.identity_owner_id == entry.user_id:
        face = "own saved identity"
    else:
        face = f"saved identity of <@{entry.identity_owner_id}>, with their consent"
    outcome = entry.outcome if entry.error_kind is None else f"{entry.outcome} ({entry.error_kind})"
    return f"<t:{int(entry.created_at)}:f> {who} · {entry.kind} · {made_with} · {face} · {outcome}"


def audit_text(entries: list[AuditEntry], *, member: discord.abc.User | None, retention_days: float) -> str:
    whose = f" by {member.mention}" if member is not None else ""
    if not entries:
        return f"No jobs{whose} in the last {retention_days:g} days."
    head = f"The {len(entries)} most recent jobs{whose} (kept {retention_days:g} days):"
    return clip_content("\n".join([head, *(audit_line(entry) for entry in entries)]))


class AuditCog(commands.Cog):
    def __init__(self, audit: AuditLog, *, settings: BotSettings) -> None:
        self._audit = audit
        self._settings = settings

    @app_commands.command(name="audit", description="Recent portrait jobs in this server (admins).")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    # Enforced, not only hinted: default_permissions can be overridden by the server.
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(member="Only this member's jobs")
    async def audit(self, interaction: discord.Interaction[PortraitBot], member: discord.User | None = None) -> None:
        assert interaction.guild_id is not None
        if not self._settings.is_audit_enabled:
            await tell(interaction, "The audit log is off on this bot (`bot.is_audit_enabled`).")
            return
        entries = self._audit.entries(interaction.guild_id, user_id=None if member is None else member.id, limit=_LINES)
        log.info("admin %s read the audit of guild %s", interaction.user.id, interaction.guild_id)
        await tell(
            interaction,
            audit_text(entries, member=member, retention_days=self._settings.audit_retention_days),
        )


async def setup(bot: PortraitBot) -> None:
    await bot.add_cog(AuditCog(bot.store.audit, settings=bot.settings))
