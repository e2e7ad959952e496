"""The fake Discord itself: a throwaway bot goes through discord.py's real wire code and meets Discord's rules."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import ALICE, CHANNEL_ID, BotRunner, Driver, FakeDiscord
from tests.fakediscord.harness import buttons

MiB = 1024 * 1024


class PressView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Press", custom_id="demo:press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button[PressView]) -> None:
        await interaction.response.edit_message(content=f"pressed by {interaction.user.name}", view=None)


class DemoBot(commands.Bot):
    """A minimal slash-command bot: defer, edit, followup with a file, a button, autocomplete."""

    def __init__(self) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=discord.Intents.default())
        self.gate = asyncio.Event()
        self.gate.set()
        self.kept: discord.Interaction | None = None
        self.received: list[bytes] = []

    async def setup_hook(self) -> None:
        self.add_view(PressView())
        tree = self.tree

        @tree.command(name="render", description="Read a photo and answer with a file")
        async def render(interaction: discord.Interaction, photo: discord.Attachment, count: int = 1) -> None:
            await self.gate.wait()
            await interaction.response.defer(thinking=True)
            self.received.append(await photo.read())
            await interaction.edit_original_response(content=f"working on {count}")
            await interaction.followup.send(content="done", file=discord.File(io.BytesIO(b"png" * 10), "out.png"))

        @tree.command(name="keep", description="Defer and keep the interaction for the test")
        async def keep(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            self.kept = interaction

        @tree.command(name="card", description="Answer at once with a file")
        async def card(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("your card", file=discord.File(io.BytesIO(b"card"), "card.png"))

        @tree.command(name="buttons", description="Show a button")
        async def show_buttons(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("press it", view=PressView())

        @tree.command(name="pick", description="Autocomplete")
        async def pick(interaction: discord.Interaction, flavour: str) -> None:
            await interaction.response.send_message(flavour, ephemeral=True)

        @pick.autocomplete("flavour")
        async def flavours(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            names = ["vanilla", "vinegar", "chocolate"]
            return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]


@pytest.fixture
async def demo(fake_discord: FakeDiscord) -> AsyncIterator[tuple[DemoBot, Driver]]:
    bot = DemoBot()
    runner = BotRunner(bot)
    await runner.start()
    try:
        yield bot, Driver(fake_discord, bot)
    finally:
        await runner.stop()


async def test_slash_command_defers_edits_and_sends_a_file(demo: tuple[DemoBot, Driver], astronaut_png: bytes) -> None:
    bot, driver = demo
    photo = driver.attach(astronaut_png, "me.png")
    interaction = await driver.send_command("render", {"photo": photo, "count": 2})
    followup = await driver.fake.wait_for_request(lambda r: r.route == "followup_send" and r.status == 200)
    assert bot.received == [astronaut_png]
    assert interaction.callback_type == 5
    routes = [r.route for r in driver.requests_for(interaction)]
    assert routes == ["interaction_callback", "webhook_edit", "followup_send"]
    assert driver.original(interaction).content == "working on 2"
    assert [(f.filename, f.data) for f in followup.files] == [("out.png", b"png" * 10)]
    assert followup.params["wait"] == "1"


async def test_command_sync_multipart_reply_and_reads(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    synced = await bot.tree.sync()
    assert sorted(c.name for c in synced) == ["buttons", "card", "keep", "pick", "render"]
    assert {c.id for c in synced} == {int(c["id"]) for c in driver.fake.synced_commands["global"]}
    await bot.tree.sync(guild=discord.Object(200))
    assert driver.fake.synced_commands["200"] == []

    command = await driver.send_command("card")
    await driver.wait_for_ack(command)
    (callback,) = driver.fake.requests_to("interaction_callback")
    assert callback.json["type"] == 4 and [f.data for f in callback.files] == [b"card"]
    (attachment,) = driver.original(command).payload["attachments"]
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as response:
        assert await response.read() == b"card"

    await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    await bot.kept.edit_original_response(content="kept")
    assert (await bot.kept.original_response()).content == "kept"
    fetched = await bot.get_channel(CHANNEL_ID).fetch_message(driver.original(command).id)
    assert fetched.content == "your card" and fetched.attachments[0].filename == "card.png"


async def test_the_gateway_numbers_dispatches_and_answers_heartbeats(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    assert bot.ws.sequence == 3  # READY, GUILD_CREATE, INTERACTION_CREATE
    assert bot.get_guild(200).get_channel(CHANNEL_ID).name == "portraits"
    await bot.ws.send_heartbeat(bot.ws._keep_alive.get_payload())
    await driver.fake.wait_for(lambda: bot.ws._keep_alive._last_ack > bot.ws._keep_alive._last_send)


async def test_a_reconnect_resumes_the_session_on_the_resume_url(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    gateway = driver.fake.gateway
    await gateway.reconnect()
    await driver.fake.wait_for(lambda: gateway.resume_count == 1 and gateway.sessions)
    await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    assert gateway.identify_count == 1  # resumed, not re-identified
    assert bot.ws.sequence == 4  # READY, GUILD_CREATE, then RESUMED and INTERACTION_CREATE continue the sequence


async def test_autocomplete_returns_the_bots_choices(demo: tuple[DemoBot, Driver]) -> None:
    _, driver = demo
    choices = await driver.send_autocomplete("pick", {"flavour": "v"}, focused="flavour")
    assert [c["value"] for c in choices] == ["vanilla", "vinegar"]


async def test_a_button_click_edits_its_message(demo: tuple[DemoBot, Driver]) -> None:
    _, driver = demo
    command = await driver.send_command("buttons")
    await driver.wait_for_ack(command)
    message = driver.original(command)
    assert [b["custom_id"] for b in buttons(message)] == ["demo:press"]
    click = await driver.click_button("demo:press", message=message)
    assert await driver.wait_for_ack(click) == 7
    assert message.content == "pressed by alice" and buttons(message) == []


async def test_a_late_acknowledgement_is_refused_and_recorded(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    bot.gate.clear()
    interaction = await driver.send_command("render", {"photo": driver.attach(b"x", "x.png")})
    driver.fake.clock.advance(3.5)
    bot.gate.set()
    callback = await driver.fake.wait_for_request(lambda r: r.route == "interaction_callback")
    assert (callback.status, callback.response["code"]) == (404, 10062)
    assert not interaction.is_acknowledged
    assert [v.kind for v in driver.fake.take_violations("late_ack")] == ["late_ack"]


async def test_a_second_acknowledgement_gets_40060(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    bot.kept.response._response_type = None  # get past discord.py's own guard to reach the server's
    with pytest.raises(discord.HTTPException) as caught:
        await bot.kept.response.defer()
    assert (caught.value.status, caught.value.code) == (400, 40060)
    assert len(driver.fake.take_violations("double_ack")) == 1


async def test_a_followup_while_thinking_replaces_the_thinking_message(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    command = await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    first = await bot.kept.followup.send("meant to be private", ephemeral=True, wait=True)
    second = await bot.kept.followup.send("a second one", ephemeral=True, wait=True)
    original = driver.original(command)
    assert first.id == original.id and original.content == "meant to be private"
    assert not original.is_ephemeral  # the public defer decided that
    assert second.id != original.id and driver.fake.messages[second.id].is_ephemeral


async def test_an_expired_token_is_refused(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    await bot.kept.followup.send("still fresh")
    driver.fake.clock.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as caught:
        await bot.kept.followup.send("too late")
    assert (caught.value.status, caught.value.code) == (401, 50027)
    assert len(driver.fake.take_violations("expired_token")) == 1


async def test_upload_limits_and_content_length(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    with pytest.raises(discord.HTTPException) as too_big:
        await bot.kept.followup.send(file=discord.File(io.BytesIO(b"\0" * (10 * MiB + 1)), "big.png"))
    assert (too_big.value.status, too_big.value.code) == (413, 40005)
    with pytest.raises(discord.HTTPException) as too_long:
        await bot.kept.followup.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    # discord.py refuses 11 files itself, so a raw client checks the server's own rule.
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", "{}", content_type="application/json")
    for index in range(11):
        form.add_field(f"files[{index}]", b"png", filename=f"{index}.png")
    url = f"{driver.fake.api_base}/webhooks/100/{bot.kept.token}?wait=1"
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        assert (response.status, (await response.json())["code"]) == (400, 50035)
    kinds = sorted(v.kind for v in driver.fake.violations)
    assert kinds == ["content_too_long", "file_too_large", "too_many_files"]
    driver.fake.violations.clear()


async def test_injected_rate_limit_is_waited_out(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    await driver.send_command("keep")
    await driver.fake.wait_for(lambda: bot.kept is not None)
    driver.fake.fail_next(429, route="followup_send", retry_after=0.2)
    sent = await bot.kept.followup.send("after the wait", wait=True)
    statuses = [r.status for r in driver.fake.requests_to("followup_send")]
    assert statuses == [429, 200]
    assert driver.fake.messages[sent.id].content == "after the wait"


async def test_injected_errors_and_channel_messages(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    channel = bot.get_channel(CHANNEL_ID)
    sent = await channel.send("by bot token")
    driver.fake.fail_next(404, route="channel_edit")
    with pytest.raises(discord.NotFound) as gone:
        await channel.get_partial_message(sent.id).edit(content="edited")
    assert gone.value.code == 10008
    await channel.get_partial_message(sent.id).edit(content="edited")
    assert driver.fake.messages[sent.id].content == "edited"
    driver.fake.fail_next(413, route="channel_send")
    with pytest.raises(discord.HTTPException) as too_large:
        await channel.send(file=discord.File(io.BytesIO(b"png"), "a.png"))
    assert (too_large.value.status, too_large.value.code) == (413, 40005)
    dm = await (await bot.fetch_user(ALICE.id)).send("hello in private")
    assert driver.fake.messages[dm.id].channel_id == driver.fake.dm_channels[ALICE.id]


async def test_a_callback_type_the_interaction_cannot_take_is_refused(demo: tuple[DemoBot, Driver]) -> None:
    bot, driver = demo
    bot.gate.clear()  # the bot holds /render, so the raw client answers first
    interaction = await driver.send_command("render", {"photo": driver.attach(b"x", "x.png")})
    url = f"{driver.fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
    async with aiohttp.ClientSession() as session, session.post(url, json={"type": 6}) as response:
        assert response.status == 400  # "deferred update" exists only for component clicks
    assert not interaction.is_acknowledged
    assert [v.kind for v in driver.fake.take_violations("invalid_callback_type")] == ["invalid_callback_type"]
    bot.gate.set()
    assert await driver.wait_for_ack(interaction) == 5
