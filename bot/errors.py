"""Bot-side errors and the one mapping from any exception to the sentence a user reads."""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Sequence

from discord import app_commands

from fact_runtime import FactError

__all__ = [
    "BotError",
    "ChannelNotAllowed",
    "ConsentExpired",
    "DeliveryInterrupted",
    "DownloadFailed",
    "FaceChoice",
    "FormUnreadable",
    "GroupEnded",
    "GroupRefused",
    "IdentityGone",
    "IdentityLimitReached",
    "IdentityNameInvalid",
    "IdentityNameTaken",
    "IdentityNotFound",
    "ImageExpired",
    "InputsExpired",
    "JobInterrupted",
    "JobNotFound",
    "NoTemplates",
    "NotAskedMember",
    "NotInGuild",
    "NotJobOwner",
    "NotSaveOwner",
    "SpeedNotAllowed",
    "StyleDisabled",
    "UploadFailed",
    "explain",
    "with_hint",
]

log = logging.getLogger(__name__)

_REF_ALPHABET = string.ascii_uppercase + string.digits


class BotError(Exception):
    """A request the bot refuses before it reaches the runtime; ``user_message`` is shown as is."""

    kind: str = "bot_error"
    user_message: str = "That request could not be handled."

    def __init__(self, detail: str | None = None, *, user_message: str | None = None) -> None:
        super().__init__(detail or user_message or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class NotInGuild(BotError):
    kind = "not_in_guild"
    user_message = "This command only works in a server."


class ChannelNotAllowed(BotError):
    kind = "channel_not_allowed"
    user_message = "Portraits are not enabled in this channel; please use one the admins allowed."


class StyleDisabled(BotError):
    kind = "style_disabled"
    user_message = "That style is turned off in this server; please pick another one."


class SpeedNotAllowed(BotError):
    kind = "speed_not_allowed"
    user_message = "That speed is not offered in this server; please pick another one."

    @classmethod
    def offering(cls, tier: str, offered: Sequence[str]) -> SpeedNotAllowed:
        return cls(
            f"speed {tier!r} is not one of {list(offered)}",
            user_message=f"This server offers these speeds: {', '.join(offered)}; please pick one of them.",
        )


class JobNotFound(BotError):
    kind = "job_not_found"
    user_message = "That job no longer exists."


class NotJobOwner(BotError):
    kind = "not_job_owner"
    user_message = "Only the person who started that job can use this button."


class InputsExpired(BotError):
    kind = "inputs_expired"
    user_message = "The selfie from that job has expired and was deleted; please run the command again with a photo."


class ImageExpired(BotError):
    kind = "image_expired"
    user_message = "That image has expired and was deleted; please make a new portrait to take further."


class FormUnreadable(BotError):
    kind = "form_unreadable"
    user_message = "That form arrived incomplete; please press Edit again and submit it."


class FaceChoice(BotError):
    kind = "face_choice"
    user_message = "Give either a selfie or one of your saved identities, not both and not neither."


class IdentityNotFound(BotError):
    """Also the answer for another member's identity: ids and names never reveal other people's identities."""

    kind = "identity_not_found"
    user_message = "You have no saved identity by that name; /identity list shows yours."


class IdentityGone(BotError):
    kind = "identity_gone"
    user_message = (
        "The saved identity that job used was deleted; run the command again with a selfie or another identity."
    )


class IdentityNameTaken(BotError):
    kind = "identity_name_taken"
    user_message = "You already have an identity with that name; pick another name or delete that one first."


class IdentityNameInvalid(BotError):
    kind = "identity_name_invalid"
    user_message = "Identity names are 1 to 32 letters, numbers, spaces, dots, dashes or underscores."


class IdentityLimitReached(BotError):
    kind = "identity_limit"
    user_message = "You have the most saved identities allowed; delete one with /identity delete first."

    @classmethod
    def at(cls, limit: int) -> IdentityLimitReached:
        saved = f"{limit} saved identit{'y' if limit == 1 else 'ies'}"
        return cls(
            f"the user has {saved}",
            user_message=f"You already have {saved}, the most allowed; delete one with /identity delete first.",
        )


class ConsentExpired(BotError):
    kind = "consent_expired"
    user_message = "That request has expired and nothing was saved; please run /identity save again."


class NotSaveOwner(BotError):
    kind = "not_save_owner"
    user_message = "Only the person who asked to save those photos can use this button."


class DownloadFailed(BotError):
    kind = "download_failed"
    user_message = "That attachment could not be downloaded; please try again."


class JobInterrupted(BotError):
    """The bot stopped after acknowledging a command but before its photos were stored."""

    kind = "interrupted"
    user_message = "The bot restarted before your photo had arrived; please run the command again."


class UploadFailed(BotError):
    """Discord refused the finished images on every route; they are kept for "Try again"."""

    kind = "upload_failed"
    user_message = "Your portraits are ready but could not be posted; press Try again to post them."


class DeliveryInterrupted(BotError):
    """The bot stopped while posting a job's images: they may or may not have arrived."""

    kind = "delivery_interrupted"
    user_message = "The bot restarted while posting your portraits; if they did not arrive, press Try again."


class GroupRefused(BotError):
    """A /group request that cannot go ahead: who is named, who lacks an identity, who declined; the sentence says."""

    kind = "group_refused"
    user_message = "That group photo cannot be made."


class GroupEnded(BotError):
    kind = "group_ended"
    user_message = "That group photo request has ended; whoever asked can run /group again."


class NotAskedMember(BotError):
    kind = "not_asked_member"
    user_message = "Only the member this question is for can answer it."


class NoTemplates(BotError):
    kind = "no_templates"
    user_message = "This server has no built-in templates; please attach a template photo instead."


#: What a member can do in Discord about runtime refusals whose sentence leaves that to the front end.
DISCORD_HINTS = {
    "unknown_style": "pick one from the list that appears as you type, or see /styles browse",
    "unknown_template": "pick one from the list that appears as you type, or attach a template photo",
}


def with_hint(sentence: str, hint: str) -> str:
    """``"There is no style called 'x'."`` + hint -> ``"There is no style called 'x'; <hint>."``."""
    return f"{sentence.rstrip().rstrip('.')}; {hint}."


def _permission_names(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ").replace("guild", "server").title() for name in names)


def _discord_sentence(exc: app_commands.AppCommandError) -> str | None:
    if isinstance(exc, app_commands.MissingPermissions):
        return f"You need the {_permission_names(exc.missing_permissions)} permission to use this command."
    if isinstance(exc, app_commands.BotMissingPermissions):
        return f"I need the {_permission_names(exc.missing_permissions)} permission in this channel."
    if isinstance(exc, app_commands.NoPrivateMessage):
        return NotInGuild.user_message
    if isinstance(exc, app_commands.CommandOnCooldown):
        return f"Slow down a little; try again in {exc.retry_after:.0f} s."
    if isinstance(exc, app_commands.TransformerError):
        return f"'{exc.value}' is not a valid value for that option."
    if isinstance(exc, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


def new_reference() -> str:
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def explain(exc: BaseException) -> str:
    """The one sentence a user sees for ``exc``.

    Runtime and bot errors carry their own ``user_message``; Discord check failures get a sentence
    naming what is missing; anything else is logged with its traceback under a short reference
    that the sentence quotes, so a user's report can be matched to the log.
    """
    if isinstance(exc, app_commands.CommandInvokeError):
        exc = exc.original
    if isinstance(exc, FactError):
        hint = DISCORD_HINTS.get(exc.kind)
        return exc.user_message if hint is None else with_hint(exc.user_message, hint)
    if isinstance(exc, BotError):
        return exc.user_message
    if isinstance(exc, app_commands.AppCommandError):
        sentence = _discord_sentence(exc)
        if sentence is not None:
            return sentence
    reference = new_reference()
    log.error("unexpected error (ref %s): %r", reference, exc, exc_info=(type(exc), exc, exc.__traceback__))
    return f"Something went wrong (ref {reference})."
