"""One mapping from any exception to the user's sentence."""

from __future__ import annotations

import logging
import re

import pytest
from discord import app_commands

import fact_runtime.errors as runtime_errors
from bot import errors as bot_errors
from bot.errors import explain, with_hint

_RUNTIME_LEAVES = [getattr(runtime_errors, name) for name in runtime_errors.__all__]
_BOT_LEAVES = [getattr(bot_errors, name) for name in bot_errors.__all__ if name not in ("explain", "with_hint")]


@pytest.mark.parametrize("error_class", _RUNTIME_LEAVES + _BOT_LEAVES, ids=lambda c: c.__name__)
def test_every_typed_error_shows_its_own_sentence(error_class: type[Exception]) -> None:
    error = error_class("internal detail that users must not see")
    sentence = explain(error)
    # Refusals whose remedy differs between Discord and a terminal get Discord's remedy added.
    hint = bot_errors.DISCORD_HINTS.get(error_class.kind)
    assert sentence == (error_class.user_message if hint is None else with_hint(error_class.user_message, hint))
    assert "internal detail" not in sentence
    assert sentence.endswith(".")


def test_a_custom_user_message_wins() -> None:
    assert explain(runtime_errors.UnknownStyle("x", user_message="There is no style called 'x'.")) == (
        "There is no style called 'x'; pick one from the list that appears as you type, or see /styles browse."
    )


def test_no_sentence_claims_that_someone_was_told() -> None:
    for error_class in _RUNTIME_LEAVES + _BOT_LEAVES:
        assert "have been told" not in error_class.user_message, error_class


def test_missing_permissions_names_the_permission() -> None:
    sentence = explain(app_commands.MissingPermissions(["manage_guild"]))
    assert sentence == "You need the Manage Server permission to use this command."


def test_a_wrapped_runtime_error_is_unwrapped() -> None:
    wrapped = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    wrapped.original = runtime_errors.QueueFull("52 queued")
    assert explain(wrapped) == runtime_errors.QueueFull.user_message


def test_an_unexpected_error_gets_a_reference_and_a_logged_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise KeyError("secret internals")

    with pytest.raises(KeyError) as caught:
        fail()
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        sentence = explain(caught.value)

    match = re.fullmatch(r"Something went wrong \(ref ([A-Z0-9]{6})\)\.", sentence)
    assert match is not None, sentence
    record = next(r for r in caplog.records if match.group(1) in r.getMessage())
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert "in fail" in caplog.text  # the traceback itself is in the log
    assert explain(caught.value) != sentence  # every occurrence gets its own reference


def test_the_same_limit_always_has_the_same_sentence() -> None:
    from fact_runtime import ImageTooLarge, RequestLimits, UserLimitReached

    # Over the pixel cap: the same sentence whether Discord's metadata or the decoded file told the size.
    declared = ImageTooLarge.by_pixels(4_000_000, (3000, 3000), name="me.png")
    decoded = ImageTooLarge.by_pixels(4_000_000, (3000, 3000))
    assert (
        declared.user_message
        == decoded.user_message
        == ("That image has too many pixels (3000x3000); please send one under 4 megapixels.")
    )
    # The member limit, whether the bot's guild rule or the runtime's queue refuses.
    assert RequestLimits(max_per_user=2).user_limit_reached().user_message == UserLimitReached.at(2).user_message
    assert explain(UserLimitReached.at(2)) == (
        "You already have 2 unfinished jobs, the most allowed; wait for one to finish or /cancel one."
    )
