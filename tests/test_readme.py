"""The README tells the truth about the code: the configuration table, the invite link, the install line."""

from __future__ import annotations

from bot.client import BOT_PERMISSIONS
from bot.config_reference import END, START, reference_table, with_reference
from bot.settings import BotSettings
from fact_runtime import RuntimeConfig
from fact_runtime.config_doc import config_keys
from tests.cli import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_the_configuration_table_is_the_one_the_models_generate() -> None:
    assert with_reference(README) == README, "run: python -m bot.config_reference --write README.md"
    table = README.split(START, 1)[1].split(END, 1)[0]
    assert table.strip() == reference_table().strip()


def test_every_key_has_its_default_and_its_variable_in_the_readme() -> None:
    keys = config_keys({"runtime": RuntimeConfig, "bot": BotSettings})
    assert len(keys) > 40
    for key in keys:
        assert f"| `{key.key}` | `{key.default}` | `{key.env}` |" in README, key.key
    listed = {key.key for key in keys}
    assert {"runtime.queue.max_queued", "bot.health_host", "bot.admin_channel_id", "runtime.cache_dir"} <= listed
    by_key = {key.key: key for key in keys}
    assert by_key["runtime.queue.max_queued"].env == "FACT_RUNTIME__QUEUE__MAX_QUEUED"
    assert by_key["bot.health_port"].default == "8080"


def test_the_invite_link_asks_for_exactly_the_scopes_and_permissions_the_bot_uses() -> None:
    assert f"scope=bot+applications.commands&permissions={BOT_PERMISSIONS.value}" in README
    granted = {name for name, value in BOT_PERMISSIONS if value}
    # read_messages is View Channel; read_message_history finds results posted just before a crash.
    assert granted == {"read_messages", "send_messages", "embed_links", "attach_files", "read_message_history"}


def test_the_quick_start_is_two_make_targets_that_exist() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("## ", 1)[0]
    block = quick_start.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert all(f"\n{target}: venv\n" in makefile for target in ("demo", "test", "lock"))
    assert "make lock" in README and "requirements/cpu.txt" in README
