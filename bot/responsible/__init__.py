"""Responsible use in the bot: the notice members accept, prompt rules, the age-restricted channel rule."""

from __future__ import annotations

from .gate import JOB_COMMANDS, NOTICE_COMMANDS, PROMPT_OPTIONS, NotAgeRestricted, ResponsibleUse
from .notice import DEFAULT_NOTICE, NoticeButton, load_notice, notice_view
from .rules import BadPromptRule, PromptBlocked, PromptRules, check_pattern, check_word, fold

__all__ = [
    "DEFAULT_NOTICE",
    "JOB_COMMANDS",
    "NOTICE_COMMANDS",
    "PROMPT_OPTIONS",
    "BadPromptRule",
    "NotAgeRestricted",
    "NoticeButton",
    "PromptBlocked",
    "PromptRules",
    "ResponsibleUse",
    "check_pattern",
    "check_word",
    "fold",
    "load_notice",
    "notice_view",
]
