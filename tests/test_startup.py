"""``python -m bot`` as a server owner starts it: each failure is one line and exit 2, in the right order.

The bot process talks to the in-process fake Discord (``bot.api_base_url``/``bot.gateway_url``
from the environment), so the token check, the gateway and the start order are real.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.cli import REPO, arun_cli, cli_env, closed_port, run_cli
from tests.fakediscord import FakeDiscord

TOKEN_REFUSED = (
    "error: Discord refused the token in DISCORD_TOKEN; copy it again from the Developer Portal "
    "(your application → Bot → Reset Token)"
)


def full_config(tmp_path: Path) -> Path:
    """The shipped config (full preset, every model by ModelScope id) with an empty model cache."""
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("cache_dir: cache/models", f"cache_dir: {tmp_path / 'empty-cache'}")
    text = text.replace("styles_dir: styles", f"styles_dir: {REPO / 'styles'}")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "config.yaml"


def tiny_config(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(f"runtime:\n  preset: tiny\n  styles_dir: {REPO / 'styles'}\n")
    return tmp_path / "config.yaml"


def bot_env(fake: FakeDiscord, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A token, the fake Discord as REST and gateway, a job store in ``tmp_path``, no health endpoint."""
    defaults = {
        "DISCORD_TOKEN": "fake-bot-token",
        "FACT_BOT__API_BASE_URL": fake.api_base,
        "FACT_BOT__GATEWAY_URL": fake.ws_url,
        "FACT_BOT__DATABASE": str(tmp_path / "jobs.sqlite3"),
        "FACT_BOT__IS_HEALTH_ENABLED": "false",
    }
    return cli_env(**{**defaults, **extra})


def routes(fake: FakeDiscord) -> list[str]:
    return [request.route for request in fake.requests]


def assert_one_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == [expected]


async def test_a_refused_token_stops_the_start_before_any_model_is_checked(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake_discord.fail_next(401, route="get_me", code=0, message="401: Unauthorized")
    # No model is on disk: were the models looked at first, that would be the error.
    done = await arun_cli("bot", "--config", str(full_config(tmp_path)), env=bot_env(fake_discord, tmp_path))
    assert done.returncode == 2
    assert_one_line(done.stderr, TOKEN_REFUSED)
    assert routes(fake_discord) == ["get_me"] and fake_discord.gateway.identify_count == 0


async def test_an_unreachable_discord_is_one_line(fake_discord: FakeDiscord, tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{closed_port()}/api/v10"
    env = bot_env(fake_discord, tmp_path, FACT_BOT__API_BASE_URL=api)
    done = await arun_cli("bot", "--config", str(tiny_config(tmp_path)), env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: cannot reach Discord at {api} (") and line.endswith(
        "check the network, DNS or proxy"
    )


async def test_missing_weights_are_named_after_the_login_and_before_the_gateway(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    done = await arun_cli("bot", "--config", str(full_config(tmp_path)), env=bot_env(fake_discord, tmp_path))
    assert done.returncode == 2
    assert_one_line(
        done.stderr,
        "error: 5 models are not downloaded: base model majicmix (ModelScope MAILAND/majicmixRealistic_v6@v1.0.0 "
        "folder 'realistic') and 4 more; run `python -m fact_runtime download` first "
        "(in Docker: `docker compose run --rm bot download`)",
    )
    assert "get_me" in routes(fake_discord) and "gateway_bot" in routes(fake_discord)
    assert fake_discord.gateway.identify_count == 0


def test_a_bad_value_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    env = cli_env(DISCORD_TOKEN="x", FACT_BOT__HEALTH_PORT="eighty")
    done = run_cli("bot", "--config", str(tiny_config(tmp_path)), env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        "error: FACT_BOT__HEALTH_PORT (environment): bot.health_port: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


async def test_a_health_port_in_use_is_one_line_before_discord_is_asked(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = bot_env(fake_discord, tmp_path, FACT_BOT__IS_HEALTH_ENABLED="true", FACT_BOT__HEALTH_PORT=str(port))
        done = await arun_cli("bot", "--config", str(tiny_config(tmp_path)), env=env)
    assert done.returncode == 2
    (line,) = done.error_lines
    assert line.startswith(f"error: the health endpoint cannot listen on 127.0.0.1:{port} (")
    assert line.endswith("free the port or set bot.health_port (FACT_BOT__HEALTH_PORT)")
    assert "Traceback" not in done.stderr and fake_discord.requests == []


async def test_the_bot_logs_in_then_warms_up_then_connects_and_answers_its_healthcheck(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = bot_env(fake_discord, tmp_path, FACT_BOT__IS_HEALTH_ENABLED="true", FACT_BOT__HEALTH_PORT=str(port))
    config = str(tiny_config(tmp_path))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", config, cwd=REPO, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await fake_discord.wait_for(lambda: fake_discord.gateway.identify_count == 1, timeout=120)
        # The image's HEALTHCHECK: the same settings, so the same port, read from the environment.
        health = await arun_cli("bot", "healthcheck", "--config", config, env=env)
        assert health.returncode == 0, health.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()
    assert process.returncode == 0 and "Traceback" not in log and "WARNING" not in log
    steps = ["logged in to Discord as", "warming up the runtime", "runtime started", "has connected to Gateway"]
    assert [log.index(step) for step in steps] == sorted(log.index(step) for step in steps)
    assert routes(fake_discord).index("get_me") < routes(fake_discord).index("gateway_bot")


def test_a_healthcheck_with_nothing_listening_says_unhealthy(tmp_path: Path) -> None:
    env = cli_env(FACT_BOT__HEALTH_PORT=str(closed_port()))
    done = run_cli("bot", "healthcheck", "--config", str(tiny_config(tmp_path)), env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("unhealthy: http://127.0.0.1:") and "Traceback" not in done.stderr


@pytest.mark.parametrize("where", ["flag", "environment"])
def test_a_config_named_but_absent_is_one_line(tmp_path: Path, where: str) -> None:
    absent = tmp_path / "nowhere.yaml"
    args = ("--config", str(absent)) if where == "flag" else ()
    env = cli_env(DISCORD_TOKEN="x", **({"FACT_CONFIG": str(absent)} if where == "environment" else {}))
    for module in ("bot", "fact_runtime"):
        command = () if module == "bot" else ("styles",)
        done = run_cli(module, *command, *args, env=env)
        named_by = "given with --config" if where == "flag" else "named by FACT_CONFIG"
        assert done.returncode == 2, (module, done.stderr)
        assert done.stderr.strip() == f"error: {absent}: no such config file ({named_by})"


async def test_sync_publishes_the_commands_to_one_guild_and_prints_the_invite_link(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    from tests.fakediscord import GUILD_ID
    from tests.fakediscord.payloads import APP_ID

    done = await arun_cli("bot", "sync", "--guild", str(GUILD_ID), "--config", str(tiny_config(tmp_path)),
                          env=bot_env(fake_discord, tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(c["name"] for c in fake_discord.synced_commands[str(GUILD_ID)]) == [
        "audit", "cancel", "forget", "group", "identity", "inpaint", "portrait", "queue", "settings", "styles",
    ]  # fmt: skip
    # View Channel, Send Messages, Embed Links, Attach Files, Read Message History: 1024 + 2048 + 16384 + 32768 + 65536.
    assert done.stdout.splitlines() == [
        f"synced 10 commands to guild {GUILD_ID}",
        f"add the bot to a server: https://discord.com/oauth2/authorize?client_id={APP_ID}"
        "&scope=bot+applications.commands&permissions=117760",
    ]
    assert done.stderr == ""  # no library chatter around the result


async def test_sync_with_a_refused_token_prints_only_its_one_line(fake_discord: FakeDiscord, tmp_path: Path) -> None:
    fake_discord.fail_next(401, route="get_me", code=0, message="401: Unauthorized")
    done = await arun_cli("bot", "sync", "--config", str(tiny_config(tmp_path)), env=bot_env(fake_discord, tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [TOKEN_REFUSED] and done.stdout == ""
