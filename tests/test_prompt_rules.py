"""Prompt rules and their settings: folding, whole words, patterns checked when set, config validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.responsible import BadPromptRule, PromptBlocked, PromptRules, ResponsibleUse, check_pattern, fold
from bot.responsible.rules import MAX_RULES, edit_rules
from bot.settings import BotSettings, load_bot_settings
from bot.store import GuildPromptRules, JobStore
from fact_runtime import ConfigError


def test_folding_drops_case_accents_and_compatibility_forms() -> None:
    assert fold("NÜDÉ") == fold("nude") == fold("ｎｕｄｅ") == "nude"
    assert fold("Straße") == "strasse"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a NÜDE beach", "nudé"),
        ("Blood   Bath", "blood bath"),
        ("GÔRE", r"g\Sre"),
        ("nudes", None),
        ("denude", None),
        ("g re", None),
    ],
)
def test_words_match_whole_words_and_patterns_search(text: str, rule: str | None) -> None:
    rules = PromptRules(words=("nudé", "blood bath"), patterns=(r"g\Sre",))
    assert rules.first_match(text) == rule


def test_check_raises_the_one_sentence() -> None:
    with pytest.raises(PromptBlocked) as caught:
        PromptRules(words=("gore",)).check("Gore")
    assert caught.value.user_message == "Your prompt contains words this server does not allow; please rephrase it."


@pytest.mark.parametrize("pattern", ["(a+)+", r"(\w*)*", "(x{1,3}){2,}", "(a|aa+)*b", "[z", "", "a" * 101, ".*"])
def test_bad_or_pathological_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(BadPromptRule):
        check_pattern(pattern)


@pytest.mark.parametrize("pattern", ["(ab)+", r"nsfw\d+", r"blood\s*bath", "(red|blue) dress"])
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert check_pattern(pattern) == pattern


def test_a_bad_default_pattern_in_the_config_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("bot:\n  blocked_patterns: ['(a+)+']\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: bot.blocked_patterns:") and "'(a+)+': That pattern repeats a group" in message


def test_the_notice_file_is_read_relative_to_the_config_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("bot:\n  notice_file: texts/notice.md\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(path)
    assert str(caught.value).startswith(f"{path}: bot.notice_file: {tmp_path / 'texts/notice.md'} cannot be read")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts/notice.md").write_text("x" * 1801)
    with pytest.raises(ConfigError, match="shorten it to 1800"):
        load_bot_settings(path)
    (tmp_path / "texts/notice.md").write_text("Only your own face.")
    assert load_bot_settings(path).notice_path == tmp_path / "texts/notice.md"
    path.write_text("bot:\n  notice_file: texts/missing.md\n  is_notice_enabled: false\n")
    assert not load_bot_settings(path).is_notice_enabled  # a notice that is off is never read


def test_every_part_is_on_for_new_installs_except_the_channel_rule() -> None:
    settings = BotSettings()
    assert settings.is_notice_enabled and settings.is_prompt_rules_enabled and settings.is_audit_enabled
    assert not settings.is_nsfw_channel_required


def test_the_channel_rule_never_applies_with_a_safety_checker_and_a_guild_may_choose() -> None:
    store = JobStore(":memory:")
    settings = BotSettings(is_nsfw_channel_required=True)
    without = ResponsibleUse(store, settings, notice=None, has_safety_checker=False)
    with_checker = ResponsibleUse(store, settings, notice=None, has_safety_checker=True)
    assert without.is_nsfw_channel_required(7) and not with_checker.is_nsfw_channel_required(7)
    store.prompt_rules.save(GuildPromptRules(guild_id=7, is_nsfw_channel_required=False))
    assert not without.is_nsfw_channel_required(7) and without.is_nsfw_channel_required(8)


def test_guild_rules_add_to_the_configs_and_the_switch_turns_both_off() -> None:
    store = JobStore(":memory:")
    store.prompt_rules.save(GuildPromptRules(guild_id=7, blocked_words=("gore",)))
    on = ResponsibleUse(store, BotSettings(blocked_words=("nude",)), notice=None, has_safety_checker=False)
    assert on.rules_for(7) == PromptRules(words=("nude", "gore")) and on.rules_for(8).words == ("nude",)
    off = ResponsibleUse(
        store,
        BotSettings(blocked_words=("nude",), is_prompt_rules_enabled=False),
        notice=None,
        has_safety_checker=False,
    )
    assert off.rules_for(7) == PromptRules()


def test_editing_blocks_once_unblocks_and_caps_the_list() -> None:
    words, patterns = edit_rules((), (), is_block=True, word=" gore ", pattern=r"nsfw\d+")
    assert (words, patterns) == (("gore",), (r"nsfw\d+",))
    assert edit_rules(words, patterns, is_block=True, word="gore", pattern=None) == (words, patterns)
    assert edit_rules(words, patterns, is_block=False, word="gore", pattern=None) == ((), patterns)
    with pytest.raises(BadPromptRule, match="no rule given"):
        edit_rules(words, patterns, is_block=True, word=None, pattern=None)
    full = tuple(f"word{n}" for n in range(MAX_RULES))
    with pytest.raises(BadPromptRule) as caught:
        edit_rules(full, (), is_block=True, word="one more", pattern=None)
    assert caught.value.user_message == f"A server may block at most {MAX_RULES} of each."
