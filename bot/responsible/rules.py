"""Prompt rules: blocked words and regular expressions, matched case- and accent-insensitively.

Text and rules are compared in one folded form: NFKD, combining marks dropped, casefolded, so
"Nüde", "NUDE" and "ｎｕｄｅ" all read "nude". A word matches whole words only; a pattern is a
Python regular expression searched in the folded text. Patterns come from admins, so each is
checked when it is set (and the config's when the bot starts), never when a job runs: at most
``MAX_PATTERN_LENGTH`` characters, it must compile, and it may not repeat a group that itself
repeats (``(a+)+``, ``(\\w*)*``): Python's engine backtracks, and such nesting can take
exponential time on a short prompt.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import BotError

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_RULES",
    "MAX_WORD_LENGTH",
    "BadPromptRule",
    "PromptBlocked",
    "PromptRules",
    "check_pattern",
    "check_word",
    "edit_rules",
    "fold",
]

log = logging.getLogger(__name__)

MAX_PATTERN_LENGTH = 100
MAX_WORD_LENGTH = 50
#: Words and patterns per guild, each.
MAX_RULES = 100

# A group closed by ")" and repeated by "*", "+" or "{", whose body repeats something too.
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[*+]|\{\d*,?\d*\})(?:[^()\\]|\\.)*\)(?:[*+]|\{\d*,?\d*\})")


class PromptBlocked(BotError):
    kind = "prompt_blocked"
    user_message = "Your prompt contains words this server does not allow; please rephrase it."


class BadPromptRule(BotError):
    """A word or pattern an admin (or the config) tried to set; ``user_message`` says what is wrong with it."""

    kind = "bad_prompt_rule"


def _without_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """``text`` without case or accents: NFKD, combining marks dropped, casefolded."""
    return _without_marks(text).casefold()


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    # Accents are dropped from the pattern too, but it is not casefolded (that would turn \D into \d).
    return re.compile(_without_marks(pattern), re.IGNORECASE)


def _compile_word(word: str) -> re.Pattern[str]:
    # Whole words only; any run of spaces between a phrase's words.
    body = r"\s+".join(re.escape(part) for part in fold(word).split())
    return re.compile(rf"(?<!\w){body}(?!\w)")


def check_word(word: str) -> str:
    """The word as it will be stored (trimmed).

    Raises
    ------
    BadPromptRule
        Empty, too long, or containing no letter or digit.
    """
    word = word.strip()
    if not word or len(word) > MAX_WORD_LENGTH:
        raise BadPromptRule(
            f"word {word!r}", user_message=f"A blocked word must be 1 to {MAX_WORD_LENGTH} characters long."
        )
    if not any(c.isalnum() for c in word):
        raise BadPromptRule(f"word {word!r}", user_message="A blocked word needs at least one letter or digit.")
    return word


def check_pattern(pattern: str) -> str:
    """The pattern as it will be stored, once it is known to compile and to be safe to search with.

    Raises
    ------
    BadPromptRule
        Too long, not a valid regular expression, matching the empty string, or with nested repetition.
    """
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise BadPromptRule(
            f"pattern {pattern!r}", user_message=f"A pattern must be 1 to {MAX_PATTERN_LENGTH} characters long."
        )
    try:
        compiled = _compile_pattern(pattern)
    except re.error as exc:
        raise BadPromptRule(
            f"pattern {pattern!r}: {exc}", user_message=f"That is not a valid regular expression ({exc})."
        ) from exc
    if _NESTED_REPEAT.search(pattern):
        raise BadPromptRule(
            f"pattern {pattern!r} nests repetition",
            user_message="That pattern repeats a group that itself repeats, which can stall the bot; "
            "simplify it (e.g. `(ab)+` instead of `(a+b)+`).",
        )
    if compiled.search("") is not None:
        raise BadPromptRule(
            f"pattern {pattern!r} matches nothing", user_message="That pattern matches every prompt; make it specific."
        )
    return pattern


def edit_rules(
    words: tuple[str, ...],
    patterns: tuple[str, ...],
    *,
    is_block: bool,
    word: str | None,
    pattern: str | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A guild's (words, patterns) with ``word`` and ``pattern`` blocked or unblocked; a new rule is checked here.

    Raises
    ------
    BadPromptRule
        Neither given, a rule that ``check_word``/``check_pattern`` refuses, or more than ``MAX_RULES``.
    """
    if word is None and pattern is None:
        raise BadPromptRule("no rule given", user_message="Give a word or a pattern to block or unblock.")
    return _edited(words, word, is_block=is_block, check=check_word), _edited(
        patterns, pattern, is_block=is_block, check=check_pattern
    )


def _edited(
    listed: tuple[str, ...], value: str | None, *, is_block: bool, check: Callable[[str], str]
) -> tuple[str, ...]:
    if value is None:
        return listed
    if not is_block:
        return tuple(rule for rule in listed if rule != value.strip())
    value = check(value)
    if value in listed:
        return listed
    if len(listed) >= MAX_RULES:
        raise BadPromptRule("too many rules", user_message=f"A server may block at most {MAX_RULES} of each.")
    return (*listed, value)


@dataclass(frozen=True, slots=True)
class PromptRules:
    """Compiled words and patterns; ``check`` refuses a text that matches any of them."""

    words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    @classmethod
    def combine(cls, *sources: tuple[Iterable[str], Iterable[str]]) -> PromptRules:
        """The union of several (words, patterns) pairs, e.g. the config's and a guild's."""
        words: dict[str, None] = {}
        patterns: dict[str, None] = {}
        for source_words, source_patterns in sources:
            words.update(dict.fromkeys(source_words))
            patterns.update(dict.fromkeys(source_patterns))
        return cls(tuple(words), tuple(patterns))

    def first_match(self, text: str) -> str | None:
        """The rule ``text`` breaks (a word or a pattern as set), or None."""
        folded = fold(text)
        for word in self.words:
            if _compile_word(word).search(folded):
                return word
        for pattern in self.patterns:
            if _compile_pattern(pattern).search(folded):
                return pattern
        return None

    def check(self, text: str) -> None:
        """Raises ``PromptBlocked`` when ``text`` breaks a rule."""
        rule = self.first_match(text)
        if rule is not None:
            raise PromptBlocked(f"prompt matched blocked rule {rule!r}")
