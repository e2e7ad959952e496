"""The real ``python -m bot`` process (tiny preset) against the fake Discord: killed mid-download, restarted, logs."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.client import build_sync_bot
from bot.errors import JobInterrupted
from bot.settings import BotSettings
from bot.texts import failed_status
from tests.fakediscord import Driver, FakeDiscord, FakeInteraction, StoredMessage
from tests.fakediscord.messages import LOADING
from tests.fakediscord.process import BotProcess
from tests.tiny_stack import write_style

TOKEN = "MTAx.fake-bot-token.s3cret"
CONFIG = """runtime:
  preset: tiny
  cache_dir: cache
  styles_dir: styles
  templates_dir: templates
  generation: {width: 64, height: 64, num_inference_steps: 3}
bot:
  database: data/jobs.sqlite3
  is_health_enabled: false
  status_interval_s: 0.5
  is_notice_enabled: false
"""


@pytest.fixture
async def driver(fake_discord: FakeDiscord) -> AsyncIterator[Driver]:
    """Acts as Discord users; the command schema comes from the bot's own tree (a sync bot, never connected)."""
    schema = build_sync_bot(BotSettings())
    async with schema:
        await schema.setup_hook()
        yield Driver(fake_discord, schema)


def job_rows(tmp_path: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(tmp_path / "data" / "jobs.sqlite3") as db:
        return db.execute("SELECT state, error_kind FROM jobs ORDER BY created_at").fetchall()


def reply(fake: FakeDiscord, interaction: FakeInteraction, *, has_files: bool = False) -> StoredMessage | None:
    """The message the bot answered `interaction` with: its images, or (without files) its private sentence."""
    for message in fake.messages.values():
        is_kind = bool(message.files) if has_files else message.is_ephemeral and not message.files
        if message.token == interaction.token and message.content and is_kind:
            return message
    return None


async def test_a_bot_killed_mid_download_tells_the_member_after_the_restart_and_logs_no_secret(
    fake_discord: FakeDiscord, driver: Driver, tmp_path: Path, astronaut_png: bytes
) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    write_style(tmp_path / "styles", "studio")
    first = BotProcess(fake_discord, tmp_path / "config.yaml", log=tmp_path / "first.log", token=TOKEN, is_verbose=True)
    await first.start()

    fake_discord.stall_downloads()
    selfie = driver.attach(astronaut_png, "me.png")
    lost = await driver.send_command("portrait", {"selfie": selfie, "style": "studio"})
    await fake_discord.wait_for_request(lambda r: r.route == "cdn")
    assert lost.callback_type == 5  # the member sees "thinking..."
    await first.kill()
    fake_discord.release_downloads()
    assert job_rows(tmp_path) == [("accepted", None)]  # recorded before the download

    second = BotProcess(
        fake_discord, tmp_path / "config.yaml", log=tmp_path / "second.log", token=TOKEN, is_verbose=True
    )
    await second.start()
    sorry = await fake_discord.wait_for(lambda: reply(fake_discord, lost))
    assert sorry.content == JobInterrupted.user_message
    status = fake_discord.messages[lost.original_message_id]
    assert status.content == failed_status(JobInterrupted.user_message, is_private=False)
    assert not status.payload["flags"] & LOADING  # the "thinking..." ended
    assert job_rows(tmp_path) == [("failed", "interrupted")]

    # The restarted bot works: a portrait through the tiny model stack is delivered.
    again = await driver.send_command("portrait", {"selfie": driver.attach(astronaut_png, "me.png"), "style": "studio"})
    result = await fake_discord.wait_for(lambda: reply(fake_discord, again, has_files=True), timeout=120)
    assert len(result.files) == 1
    assert await second.stop() == 0

    logs = first.output() + second.output()
    assert "WebSocket Event" in logs and "INTERACTION_CREATE" in logs  # -v logged the gateway payloads ...
    assert TOKEN not in logs and "/attachments/" not in logs  # ... without the bot token or selfie addresses
    for interaction in fake_discord.interactions.values():
        assert interaction.token not in logs, "an interaction token (a webhook credential) reached the log"
