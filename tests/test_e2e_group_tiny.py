"""End to end with the real model stack (tiny preset): two members' saved identities into `two-pioneers` through /group."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fakediscord import ALICE, BOB
from tests.portrait_e2e import REPO
from tests.test_e2e_group_follow_ups import _press, result_of
from tests.test_e2e_tiny_engine import tiny_world

pytestmark = pytest.mark.usefixtures("one_torch_thread")


async def test_two_saved_identities_fill_the_two_pioneers_and_a_one_face_template_is_refused(
    make_world, tmp_path: Path, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await tiny_world(make_world, tmp_path)
    for user, photo in ((ALICE, astronaut_png), (BOB, grace_hopper_jpeg)):
        saved = await world.save_identity("me", photo, user=user, timeout=60)
        assert saved.content.startswith("✅ Saved **me**"), saved.content
    share = await world.driver.send_command("identity share", {"allow": True}, user=BOB)
    assert (await world.reply_to(share)).startswith("Sharing is on here")

    template_bytes = (REPO / "templates" / "two-pioneers.jpg").read_bytes()
    template = world.driver.attach(template_bytes, "two-pioneers.jpg")
    options = {"face1": str(ALICE.id), "face2": str(BOB.id), "template": template, "seed": 4, "recipe": "fast"}
    command = await world.driver.send_command("group", options)
    result = await world.result_message(command, timeout=120)
    (image,) = result.files
    picture = Image.open(io.BytesIO(image.data)).convert("RGB")
    original = Image.open(io.BytesIO(template_bytes)).convert("RGB")
    assert picture.size == original.size  # the filled template at the template's own size
    assert np.abs(np.asarray(picture, dtype=np.int16) - np.asarray(original, dtype=np.int16)).max() > 0
    (job,) = world.store.jobs_of(ALICE.id, states=("delivered",))
    assert job.kind == "group" and [seat.user_id for seat in job.options.seats] == [ALICE.id, BOB.id]

    # Upscale 2x under it: the group photo, twice as wide and tall, its faces painted again.
    upscaled = await result_of(world, await _press(world, result, "Upscale 2x"))
    (twice,) = upscaled.files
    assert Image.open(io.BytesIO(twice.data)).size == (2 * picture.width, 2 * picture.height)

    # Grace Hopper's photo has one face: the job ends with the sentence, before any model runs for it.
    one_face = world.driver.attach(grace_hopper_jpeg, "one-face.jpg")
    await world.driver.send_command("group", {**options, "template": one_face})
    await world.fake.wait_for(
        lambda: any("The template has 1 face, fewer than the 2 asked for" in text for text in world.status_texts()),
        timeout=60,
    )
    (failed,) = world.store.jobs_of(ALICE.id, states=("failed",))
    assert failed.kind == "group" and failed.error_kind == "face_index_out_of_range"
