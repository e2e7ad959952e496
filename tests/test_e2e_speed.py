"""End to end: the speed option, a server's speed settings, and a job's tier kept by rerolls and a restart."""

from __future__ import annotations

from fact_runtime import (
    GroupRequest,
    JobRuntime,
    RequestLimits,
    Runtime,
    SpeedTier,
    StyleCatalog,
    UpscaleRequest,
    VaryRequest,
)
from fact_runtime.config import QueueConfig
from tests.fakediscord import ADMIN, BOB, GUILD_ID
from tests.fakes import FakeEngine
from tests.follow_ups_e2e import engine as follow_up_engine
from tests.follow_ups_e2e import press, result_of
from tests.portrait_e2e import PortraitWorld, WorldFactory, gated_engine, result_card
from tests.test_e2e_group import ask_group, group_world

_EVERY_TIER: tuple[SpeedTier, ...] = ("original", "fast", "turbo")


class SpeedRuntime:
    """Builds the world's runtime with the speed tiers it runs (``runtime.speed``) over a FakeEngine it keeps."""

    def __init__(self, *, speeds: tuple[SpeedTier, ...] = _EVERY_TIER, default_speed: SpeedTier = "original") -> None:
        self.limits = RequestLimits(speeds=speeds, default_speed=default_speed)
        self.engine = FakeEngine()

    def __call__(self, catalog: StyleCatalog) -> JobRuntime:
        return Runtime(self.engine, QueueConfig(max_queued=5, max_per_user=2), limits=self.limits, default_steps=4)


async def _settings(world: PortraitWorld, command: str, **options: object) -> str:
    return await world.reply_to(await world.driver.send_command(f"settings {command}", options, user=ADMIN))


async def test_the_chosen_tier_reaches_the_request_and_the_card_names_it(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, speed="Turbo")  # a typed name in any case counts as the choice
    card = result_card(await world.result_message())
    assert world.engine.requests[0].speed == "turbo" and card.fields["Speed"] == "Turbo"

    selfie = world.driver.attach(astronaut_png, "me.png")
    template = world.driver.attach(grace_hopper_jpeg, "template.jpg")
    await world.driver.send_command("inpaint", {"selfie": selfie, "template": template, "speed": "fast"})
    await world.fake.wait_for(lambda: len(world.engine.requests) == 2)
    assert world.engine.requests[1].speed == "fast"


async def test_a_job_naming_no_tier_runs_at_the_servers_default(make_world: WorldFactory, astronaut_png: bytes) -> None:
    runtime = SpeedRuntime(default_speed="fast")
    world = await make_world(make_runtime=runtime)
    await world.portrait(astronaut_png)
    assert result_card(await world.result_message()).fields["Speed"] == "Fast"  # the runtime's speed.default

    assert await _settings(world, "default-speed", tier="turbo") == "Jobs that name no speed now run at turbo."
    interaction = await world.portrait(astronaut_png)
    await world.result_message(interaction)
    assert [request.speed for request in runtime.engine.requests] == ["fast", "turbo"]


async def test_the_servers_setting_bounds_the_option(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    reply = await _settings(world, "speed", tier="turbo", allowed=False)
    assert reply == "Members here may now choose: original, fast (default: original)."
    assert world.store.guilds.get(GUILD_ID).allowed_speeds == {"original", "fast"}

    refused = await world.portrait(astronaut_png, speed="turbo")
    assert await world.reply_to(refused) == "This server offers these speeds: original, fast; please pick one of them."
    assert world.fake.requests_to("cdn") == [] and world.engine.runs == []

    choices = await world.driver.send_autocomplete("portrait", {"speed": ""}, focused="speed")
    assert [(c["value"], c["name"].endswith("(this server's default)")) for c in choices] == [
        ("original", True),
        ("fast", False),
    ]
    # The default must be a tier on; the last tier on stays on.
    assert (await _settings(world, "default-speed", tier="turbo")).startswith("Turn the turbo speed on first")
    await _settings(world, "speed", tier="fast", allowed=False)
    assert await _settings(world, "speed", tier="original", allowed=False) == (
        "original is the only speed left on; turn another one on first."
    )
    show = await world.reply_to(await world.driver.send_command("settings show", user=ADMIN))
    assert show.endswith("Speeds: original (default: original)")
    # Turning every tier the bot runs back on stores "all" (a tier the operator adds later is offered too).
    await _settings(world, "speed", tier="fast", allowed=True)
    await _settings(world, "speed", tier="turbo", allowed=True)
    assert world.store.guilds.get(GUILD_ID).allowed_speeds == frozenset()


async def test_a_server_cannot_offer_a_tier_the_bot_does_not_run(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(make_runtime=SpeedRuntime(speeds=("original", "fast")))
    reply = await _settings(world, "speed", tier="turbo", allowed=True)
    assert reply == "This bot does not run the turbo speed (its runtime.speed.allowed); it offers original, fast."
    refused = await world.portrait(astronaut_png, speed="turbo")
    assert (await world.reply_to(refused)).startswith("This server offers these speeds: original, fast;")


async def test_rerolls_keep_the_tier_while_the_server_offers_it(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world()
    await world.portrait(astronaut_png, speed="turbo")
    result = await world.result_message()
    again = await world.driver.click_button(world.button_id(result, "Same again"), message=result)
    assert result_card(await world.result_message(again)).fields["Speed"] == "Turbo"
    assert [request.speed for request in world.engine.requests] == ["turbo", "turbo"]

    await _settings(world, "speed", tier="turbo", allowed=False)
    reroll = await world.driver.click_button(world.button_id(result, "Reroll"), message=result)
    assert (await world.reply_to(reroll)).startswith("This server offers these speeds: original, fast;")
    assert len(world.engine.requests) == 2


async def test_a_job_requeued_after_a_restart_keeps_its_tier(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=gated_engine)
    await world.portrait(astronaut_png)  # at the default when accepted: original
    await world.engine_started()
    # The default changes while the job waits; the job keeps the tier it was accepted at.
    assert await _settings(world, "default-speed", tier="turbo") == "Jobs that name no speed now run at turbo."

    await world.restart()
    world.engine.open()
    card = result_card(await world.result_message())
    (request,) = world.engine.requests  # the new process's engine
    assert request.speed == "original" and card.fields["Speed"] == "Original"
    assert (await world.only_job()).options.speed == "original"


async def test_a_follow_up_runs_at_its_parents_tier(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=follow_up_engine)
    await world.portrait(astronaut_png, speed="turbo")
    result = await world.result_message()
    for label in ("Upscale 2x", "Vary (subtle)"):
        await result_of(world, await press(world, result, label))
    upscale, vary = world.engine.requests[1:]
    assert isinstance(upscale, UpscaleRequest) and isinstance(vary, VaryRequest)
    assert (upscale.speed, vary.speed) == ("turbo", "turbo")


async def test_a_group_photo_runs_at_the_chosen_tier_or_the_servers_default(
    make_world: WorldFactory, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await group_world(make_world, astronaut_png, grace_hopper_jpeg)
    await world.reply_to(await world.driver.send_command("identity share", {"allow": True}, user=BOB))  # no question
    await world.result_message(await ask_group(world, grace_hopper_jpeg, speed="turbo"))
    await _settings(world, "default-speed", tier="fast")
    await world.result_message(await ask_group(world, grace_hopper_jpeg))
    groups = [request for request in world.engine.requests if isinstance(request, GroupRequest)]
    assert [request.speed for request in groups] == ["turbo", "fast"]

    await _settings(world, "speed", tier="turbo", allowed=False)
    refused = await ask_group(world, grace_hopper_jpeg, speed="turbo")
    assert await world.reply_to(refused) == "This server offers these speeds: original, fast; please pick one of them."
    choices = await world.driver.send_autocomplete("group", {"speed": ""}, focused="speed")
    assert [c["value"] for c in choices] == ["original", "fast"]
