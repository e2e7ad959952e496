"""End to end through the fake Discord: previews of the image forming on the status message, at most every interval."""

from __future__ import annotations

import io

from PIL import Image

from fact_runtime import JobResult, PreviewReporter, StepReporter
from fact_runtime.request import JobRequest
from fact_runtime.results import Stage
from tests.fakediscord import StoredMessage
from tests.fakes import FakeEngine
from tests.portrait_e2e import PortraitWorld, WorldFactory


def _jpeg(step: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (step * 40, 0, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


class PreviewingEngine(FakeEngine):
    """A gated fake engine that sends a preview after every denoising step, as the real engine's throttle does."""

    def __init__(self) -> None:
        super().__init__(steps=4, is_gated=True)

    def run(self, request: JobRequest, report: StepReporter, *, max_batch: int | None = None) -> JobResult:
        assert isinstance(report, PreviewReporter)  # the runtime's reporter takes previews

        def reporting(stage: Stage, step: int = 0, total: int = 0) -> None:
            report(stage, step, total)
            if stage == "denoising":
                report.preview(_jpeg(step))

        return super().run(request, reporting, max_batch=max_batch)


def _preview_edits(world: PortraitWorld) -> list[bytes]:
    """Each preview Discord accepted on a status message, in order."""
    return [
        file.data
        for request in world.fake.requests_to("webhook_edit", "channel_edit")
        if request.status == 200
        for file in request.files
    ]


async def _step(world: PortraitWorld, status: StoredMessage, step: int) -> None:
    world.engine.release(1)
    await world.fake.wait_for(lambda: f"step {step}/4" in status.content)


async def test_the_status_shows_a_preview_at_most_every_interval_and_drops_it_at_the_end(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=PreviewingEngine, preview_interval_s=5.0)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    await world.driver.wait_for_ack(interaction)
    status = world.driver.original(interaction)

    await _step(world, status, 1)
    await world.fake.wait_for(lambda: _preview_edits(world) == [_jpeg(1)])
    await _step(world, status, 2)  # within the interval: the step shows, the preview waits
    assert _preview_edits(world) == [_jpeg(1)]
    assert [file.filename for file in status.files] == ["preview.jpg"]

    world.fake.clock.advance(5.0)
    await _step(world, status, 3)
    await world.fake.wait_for(lambda: len(_preview_edits(world)) == 2)
    assert _preview_edits(world)[-1] in (_jpeg(2), _jpeg(3))  # the newest one the tracker held
    world.engine.open()
    await world.result_message()
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    assert status.files == []  # the finished status keeps no preview


async def test_a_private_jobs_preview_stays_on_its_private_status(
    make_world: WorldFactory, astronaut_png: bytes
) -> None:
    world = await make_world(engine=PreviewingEngine, preview_interval_s=5.0)
    interaction = await world.portrait(astronaut_png, private=True)
    await world.engine_started()
    await world.driver.wait_for_ack(interaction)
    status = world.driver.original(interaction)
    await _step(world, status, 1)
    await world.fake.wait_for(lambda: _preview_edits(world) == [_jpeg(1)])
    assert status.is_ephemeral and [file.filename for file in status.files] == ["preview.jpg"]
    assert not any(m.files for m in world.fake.messages.values() if not m.is_ephemeral)
    world.engine.open()


async def test_previews_are_off_with_a_zero_interval(make_world: WorldFactory, astronaut_png: bytes) -> None:
    world = await make_world(engine=PreviewingEngine, preview_interval_s=0)
    interaction = await world.portrait(astronaut_png)
    await world.engine_started()
    await world.driver.wait_for_ack(interaction)
    status = world.driver.original(interaction)
    await _step(world, status, 1)
    await _step(world, status, 2)
    world.engine.open()
    await world.result_message()
    assert _preview_edits(world) == []
