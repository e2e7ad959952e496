"""End to end with the real model stack (tiny preset): identities saved from real photos, and used."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fakediscord import ALICE
from tests.identity_photos import one_person
from tests.portrait_e2e import result_card
from tests.test_e2e_tiny_engine import tiny_world
from tests.tiny_stack import png_bytes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


async def test_three_photos_of_one_person_make_an_identity_for_a_portrait_and_an_inpaint(
    make_world, tmp_path: Path, astronaut_rgb, grace_hopper_jpeg: bytes
) -> None:
    world = await tiny_world(make_world, tmp_path)
    photos = one_person(astronaut_rgb)  # mirrored, brighter, zoomed in: the zoomed face is the best
    saved = await world.save_identity("me", *photos)
    assert saved.content.startswith("✅ Saved **me** (3 photos of one person; photo 3 is the clearest"), saved.content
    identity = world.store.identities.load(ALICE.id, world.store.identities.find(ALICE.id, "me").identity_id)
    assert identity.photos == photos and identity.face.best_index == 2
    assert [tokens.base_id for tokens in identity.face.tokens] == ["tiny"]

    portrait = await world.driver.send_command("portrait", {"identity": "me", "style": "studio", "seed": 3})
    result = await world.result_message(portrait, timeout=30)
    (image,) = result.files
    picture = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"))
    assert picture.shape == (64, 64, 3) and picture.std() > 0
    assert "ℹ️ Made from your saved identity **me**." in result_card(result).fields["Notes"].splitlines()

    template = world.driver.attach(grace_hopper_jpeg, "template.jpg")
    inpaint = await world.driver.send_command("inpaint", {"identity": "me", "template": template, "seed": 3})
    inpainted = await world.result_message(inpaint, timeout=30)
    (image,) = inpainted.files
    assert Image.open(io.BytesIO(image.data)).size == (512, 600)  # Grace Hopper's photo, her face replaced
    assert "saved identity **me**" in result_card(inpainted).fields["Notes"]


async def test_a_set_with_another_person_is_refused_naming_the_photo(
    make_world, tmp_path: Path, astronaut_rgb, astronaut_png: bytes, grace_hopper_jpeg: bytes
) -> None:
    world = await tiny_world(make_world, tmp_path)
    mirrored, brighter, _ = one_person(astronaut_rgb)
    refused = await world.save_identity("mixed", mirrored, grace_hopper_jpeg, brighter)
    assert refused.content == (
        "Photo 2 does not look like the same person as the other photos; please use photos of one person only."
    )
    assert world.store.identities.of(ALICE.id) == []

    single = await world.save_identity("me", astronaut_png)
    assert single.content.startswith("✅ Saved **me** (1 photo)")
    from skimage import data

    faceless = await world.save_identity("coffee", astronaut_png, png_bytes(data.coffee()))
    assert faceless.content.startswith("Photo 2: No face was found in that photo")
    assert [r.name for r in world.store.identities.of(ALICE.id)] == ["me"]
