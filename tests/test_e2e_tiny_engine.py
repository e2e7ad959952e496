"""End to end with the real model stack (tiny preset): real decoding, face detection and diffusion behind the bot."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fact_runtime import ImageUnreadable, NoFaceFound, Runtime, StyleCatalog
from tests.fakediscord import ALICE
from tests.portrait_e2e import PortraitWorld, WorldFactory, result_card
from tests.tiny_stack import tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


async def tiny_world(make_world: WorldFactory, tmp_path: Path) -> PortraitWorld:
    """The bot over `Runtime.from_config(preset: tiny)`, with one LoRA-free style the tiny stack can run."""
    write_style(tmp_path / "styles", "studio")
    config = tiny_config(tmp_path)

    def build(catalog: StyleCatalog) -> Runtime:
        return Runtime.from_config(config, catalog)

    return await make_world(make_runtime=build)


async def test_the_tiny_engine_delivers_a_portrait_of_the_astronaut(
    make_world: WorldFactory, tmp_path: Path, astronaut_png: bytes
) -> None:
    world = await tiny_world(make_world, tmp_path)
    interaction = await world.portrait(astronaut_png, style="studio", seed=7)
    await world.driver.wait_for_ack(interaction)
    status = world.driver.original(interaction)
    result = await world.result_message(timeout=20)
    (image,) = result.files
    picture = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"))
    assert picture.shape == (64, 64, 3) and picture.std() > 0  # a real (tiny) diffusion output, not a flat fake
    assert result_card(result).fields["Seed"] == "7" and result.content == f"<@{ALICE.id}>"
    await world.fake.wait_for(lambda: status.content.startswith("✅"))
    texts = [r.content for r in world.fake.requests_to("webhook_edit") if r.content]
    assert texts[-1].startswith("✅") and len(texts) >= 2  # at least one progress edit before the result


async def test_a_corrupt_jpeg_and_a_photo_without_a_face_get_their_sentences(
    make_world: WorldFactory, tmp_path: Path, grace_hopper_jpeg: bytes
) -> None:
    world = await tiny_world(make_world, tmp_path)
    # The header survives, so Discord reports its size and the bot downloads it; the pixels do not.
    truncated = await world.portrait(grace_hopper_jpeg[: len(grace_hopper_jpeg) // 3], "selfie.jpg", style="studio")
    assert (await world.sentence_for(truncated, timeout=20)).content == ImageUnreadable.user_message

    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="PNG")
    faceless = await world.portrait(buffer.getvalue(), "coffee.png", style="studio")
    assert (await world.sentence_for(faceless, timeout=20)).content == NoFaceFound.user_message
    for interaction in (truncated, faceless):
        await world.fake.wait_for(lambda i=interaction: world.driver.original(i).content.startswith("❌"))
    assert not any(m.files for m in world.fake.messages.values())
    assert [r.state for r in world.store.jobs_of(ALICE.id, states=("failed",))] == ["failed", "failed"]
