"""``python -m bot``: start-up errors are one line, secrets never reach the log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import discord
import pytest

from bot.logs import RedactingFilter, setup_logging

REPO = Path(__file__).resolve().parents[1]


def _run_bot(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    if token is not None:
        env["DISCORD_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_missing_token_is_one_line_and_exit_2() -> None:
    done = _run_bot()
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: DISCORD_TOKEN is not set; export the bot's token (Developer Portal → your app → Bot → Reset Token)"
    ]


def test_an_invalid_config_names_the_field_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("runtime:\n  preset: tiny\nbot:\n  health_port: 70000\n")
    done = _run_bot("--config", str(config), token="x")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"error: {config}: bot.health_port: Input should be less than or equal to 65535")


def test_the_filter_redacts_the_token_and_interaction_tokens() -> None:
    token = "MTAx.secret-bot-token.abc"
    record = logging.LogRecord(
        "discord.http",
        logging.WARNING,
        __file__,
        1,
        "POST https://discord.com/api/v10/webhooks/100/aW50ZXJhY3Rpb24tdG9rZW4 with %s failed",
        (token,),
        None,
    )
    RedactingFilter([token]).filter(record)
    message = record.getMessage()
    assert token not in message and "aW50ZXJhY3Rpb24tdG9rZW4" not in message
    assert message == "POST https://discord.com/api/v10/webhooks/100/[redacted] with [redacted] failed"


def test_setup_logging_installs_and_removes_its_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    with setup_logging(token="tok-123"):
        try:
            raise ValueError("boom with tok-123")
        except ValueError:
            logging.getLogger("bot.test").exception("failed using tok-123")
    assert root.handlers == before
    err = capsys.readouterr().err
    assert "failed using [redacted]" in err
    assert "ValueError: boom with [redacted]" in err and "tok-123" not in err


async def test_the_sync_bot_builds_every_command_without_a_runtime() -> None:
    from bot.client import build_sync_bot
    from bot.settings import BotSettings

    bot = build_sync_bot(BotSettings())
    async with bot:
        await bot.setup_hook()
        tree = bot.tree
        assert sorted(c.name for c in tree.get_commands()) == [
            "audit",
            "cancel",
            "forget",
            "identity",
            "inpaint",
            "portrait",
            "queue",
            "settings",
            "styles",
        ]
        settings = tree.get_command("settings").to_dict(tree)
        assert int(settings["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
        assert settings["dm_permission"] is False  # guild only
        portrait = {o["name"]: o for o in tree.get_command("portrait").to_dict(tree)["options"]}
        # The face comes from a selfie or a saved identity (exactly one, checked when the command runs).
        assert portrait["selfie"]["type"] == 11 and not portrait["selfie"].get("required")
        assert portrait["identity"]["autocomplete"] and portrait["style"]["required"]
        assert portrait["style"]["autocomplete"] and portrait["count"]["max_value"] == 10


def test_importing_the_bot_loads_no_model_library() -> None:
    code = (
        "import sys, bot.__main__, bot.client, bot.cogs.portrait, bot.cogs.queue, bot.cogs.styles, bot.cogs.admin,"
        " bot.cogs.retention, bot.jobs\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'transformers'))\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_bot_uses_only_the_runtimes_public_surface() -> None:
    import ast

    import fact_runtime

    used: set[str] = set()
    for path in sorted((REPO / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert not [a.name for a in node.names if a.name.startswith("fact_runtime.")], path
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fact_runtime"):
                assert node.module == "fact_runtime", f"{path}: imports {node.module}"
                used.update(alias.name for alias in node.names)
    assert used and used <= set(fact_runtime.__all__), used - set(fact_runtime.__all__)


def test_invalid_style_files_stop_the_start_with_their_reason(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("runtime:\n  preset: tiny\n  styles_dir: nowhere\nbot:\n  is_health_enabled: false\n")
    done = _run_bot("--config", str(config), token="x")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: the style files are invalid: {tmp_path / 'nowhere'}: styles folder not found; fix them and start again"
    ]


def test_an_unusable_job_store_path_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "styles").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    config = tmp_path / "config.yaml"
    config.write_text("runtime:\n  preset: tiny\nbot:\n  database: a-file/jobs.sqlite3\n  is_health_enabled: false\n")
    done = _run_bot("--config", str(config), token="x")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: {tmp_path / 'a-file/jobs.sqlite3'}: cannot open the job store (")


def test_preset_tiny_overrides_the_config_so_the_bot_starts_without_weights(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    # "full" with no models section is invalid on its own; --preset tiny makes it valid, so the start
    # gets as far as the styles folder.
    config.write_text("runtime:\n  preset: full\n  styles_dir: nowhere\nbot:\n  is_health_enabled: false\n")
    assert (
        "runtime: Value error, preset 'full' needs a models section"
        in _run_bot("--config", str(config), token="x").stderr
    )
    done = _run_bot("--config", str(config), "--preset", "tiny", token="x")
    assert done.returncode == 2
    assert done.stderr.strip().endswith("styles folder not found; fix them and start again")


def test_a_default_count_above_the_runtimes_limit_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("runtime:\n  preset: tiny\n  generation:\n    max_count: 2\nbot:\n  default_count: 3\n")
    done = _run_bot("--config", str(config), token="x")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {config}: bot.default_count: 3 is above runtime.generation.max_count (2)"


def test_redis_chooses_the_redis_backend_through_the_validated_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("runtime:\n  preset: tiny\nbot:\n  is_health_enabled: false\n")
    done = _run_bot("--config", str(config), "--redis", "http://not-redis", token="x")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "runtime.redis_url: String should match pattern" in done.stderr
