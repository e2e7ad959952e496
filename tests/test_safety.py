"""The optional safety check: a real (tiny) StableDiffusionSafetyChecker aimed at chosen pictures.

What the user reads of a blocked job is in ``test_bot_delivery.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from fact_runtime.catalog import load_styles
from fact_runtime.config import ModelRef, RuntimeConfig, load_runtime_config
from fact_runtime.errors import ContentBlocked, ModelMissing
from fact_runtime.loading.stack import ModelStack
from fact_runtime.loading.tiny import build_tiny_safety_checker, save_tiny_safety_checker
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.finishing import finish
from fact_runtime.pipelines.safety import check_images
from fact_runtime.request import InpaintRequest, PortraitRequest
from tests.tiny_stack import decode_png, png_bytes, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WITHHELD_ONE = "1 image was withheld by the safety filter."


def _embeddings(checker, processor, images: list[np.ndarray]) -> torch.Tensor:
    """The checker's own unit-length image embeddings, the ones it compares with its concepts."""
    pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(checker.device, checker.dtype)
    with torch.no_grad():
        embeds = checker.visual_projection(checker.vision_model(pixels)[1])
    return torch.nn.functional.normalize(embeds.float())


def aim(checker, processor, flagged: np.ndarray, passed: np.ndarray) -> None:
    """Make concept 0 the direction from the ``passed`` picture to the ``flagged`` one, threshold 0.

    Two unit embeddings t and o lie at cosines +|t-o|/2 and -|t-o|/2 from (t-o)/|t-o|: a wide
    margin even when a random tiny CLIP sees two pictures as almost alike.
    """
    target, other = _embeddings(checker, processor, [flagged, passed])
    assert float(torch.linalg.vector_norm(target - other)) > 0.01, "the tiny checker sees the same picture twice"
    with torch.no_grad():
        checker.concept_embeds[0] = torch.nn.functional.normalize(target - other, dim=0).to(checker.dtype)
        checker.concept_embeds_weights[:] = 2.0  # unreachable: a cosine similarity is at most 1
        checker.concept_embeds_weights[0] = 0.0
        checker.special_care_embeds_weights[:] = 2.0


def flag_everything(checker) -> None:
    with torch.no_grad():
        checker.concept_embeds_weights[:] = -1.01  # every cosine similarity is above it


def pass_everything(checker) -> None:
    with torch.no_grad():
        checker.concept_embeds_weights[:] = 2.0
        checker.special_care_embeds_weights[:] = 2.0


def with_checker(config: RuntimeConfig, ref: ModelRef, **generation: object) -> RuntimeConfig:
    """``config`` with config.yaml's models section plus ``ref`` as the safety checker."""
    models = load_runtime_config("config.yaml").models.model_copy(update={"safety_checker": ref})
    return config.model_copy(update={"models": models, "generation": config.generation.model_copy(update=generation)})


# -- check_images --------------------------------------------------------------------------


def test_check_images_flags_only_the_picture_the_checker_is_aimed_at(astronaut_rgb, grace_hopper_rgb) -> None:
    from transformers import CLIPImageProcessorPil

    checker, processor = build_tiny_safety_checker(), CLIPImageProcessorPil()
    pictures = [astronaut_rgb, grace_hopper_rgb]
    # Fresh, the tiny checker flags nothing: tiny runs are never filtered at random.
    assert check_images(checker, processor, pictures, torch.device("cpu"), torch.float32) == [False, False]
    aim(checker, processor, grace_hopper_rgb, astronaut_rgb)
    assert check_images(checker, processor, pictures, torch.device("cpu"), torch.float32) == [False, True]
    assert check_images(checker, processor, pictures[::-1], torch.device("cpu"), torch.float32) == [True, False]
    assert check_images(checker, processor, [], torch.device("cpu"), torch.float32) == []


# -- whole jobs through the engine -----------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> FactEngine:
    """A tiny-preset engine whose safety checker is loaded from a folder, as an admin would configure it."""
    root = tmp_path_factory.mktemp("safety")
    folder = save_tiny_safety_checker(root / "safety-checker")
    # Without the watermark: the posted pictures are compared exactly with the composed ones.
    config = with_checker(tiny_config(root, is_watermarked=False), ModelRef(path=folder))
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    engine.warm_up()
    return engine


def test_a_flagged_image_is_left_out_with_a_note_and_all_flagged_blocks_the_job(guarded, astronaut_png) -> None:
    request = PortraitRequest(user_id="u1", selfie=astronaut_png, style_id="plain", count=2, seed=21)
    safety = guarded.stack.safety_checker()
    assert safety is not None and safety.checker.device.type == guarded.stack.device.type
    assert safety.checker.dtype == guarded.stack.dtype
    pass_everything(safety.checker)

    unfiltered = guarded.run(request, lambda *args: None)
    assert sorted(image.seed for image in unfiltered.images) == [21, 22] and WITHHELD_ONE not in unfiltered.notes
    pictures = {image.seed: decode_png(image.png) for image in unfiltered.images}

    aim(safety.checker, safety.processor, pictures[22], pictures[21])
    filtered = guarded.run(request, lambda *args: None)
    assert [image.seed for image in filtered.images] == [21]
    assert np.array_equal(decode_png(filtered.images[0].png), pictures[21])
    assert filtered.notes[-1] == WITHHELD_ONE
    assert "safety" in filtered.timings

    flag_everything(safety.checker)
    with pytest.raises(ContentBlocked) as caught:
        guarded.run(request, lambda *args: None)
    assert caught.value.kind == "content_blocked"
    assert caught.value.user_message == "The images were withheld by the safety filter; try another style or prompt."


@pytest.mark.parametrize("flagged", ["composed picture", "generated square"])
def test_inpainting_checks_the_composed_picture_and_the_generated_square(
    guarded, astronaut_rgb, grace_hopper_rgb, monkeypatch, flagged
) -> None:
    """The checker sees a 224 px centre crop, which can miss the generated face in a large template."""
    template = astronaut_rgb[:256, 128:384]
    request = InpaintRequest(
        user_id="u1", selfie=png_bytes(grace_hopper_rgb), template=png_bytes(template), count=2, seed=8
    )
    checked: list[list[np.ndarray]] = []

    def recording(checker, processor, images, device, dtype):
        checked.append(images)
        return check_images(checker, processor, images, device, dtype)

    monkeypatch.setattr("fact_runtime.pipelines.finishing.check_images", recording)
    pass_everything(guarded.stack.safety_checker().checker)
    first = guarded.run(request, lambda *args: None)
    # One batch: the composed pictures, then the generated squares, both in result order.
    seeds = [image.seed for image in first.images]
    composed = dict(zip(seeds, checked[0][:2], strict=True))
    squares = dict(zip(seeds, checked[0][2:], strict=True))
    assert {picture.shape for picture in composed.values()} == {template.shape}
    assert all(np.array_equal(decode_png(image.png), composed[image.seed]) for image in first.images)

    # Which pictures the checker flags is check_images' business (tested above); here, what the
    # engine does with a flag on either view of image 8.
    target = composed[8] if flagged == "composed picture" else squares[8]
    monkeypatch.setattr(
        "fact_runtime.pipelines.finishing.check_images",
        lambda checker, processor, images, device, dtype: [np.array_equal(image, target) for image in images],
    )
    filtered = guarded.run(request, lambda *args: None)
    assert [image.seed for image in filtered.images] == [9] and filtered.notes[-1] == WITHHELD_ONE
    assert np.array_equal(decode_png(filtered.images[0].png), composed[9])


def test_a_disabled_check_loads_no_checker_and_keeps_every_image(
    tmp_path, astronaut_png, astronaut_rgb, grace_hopper_rgb
) -> None:
    checker = build_tiny_safety_checker()
    flag_everything(checker)
    ref = ModelRef(path=save_tiny_safety_checker(tmp_path / "strict", checker))
    plain = tiny_config(tmp_path, is_face_fusion_enabled=False, is_ranking_enabled=False)
    plain.styles_dir.mkdir()
    pictures, seeds = [astronaut_rgb, grace_hopper_rgb], (1, 2)

    enabled = FactEngine(with_checker(plain, ref), load_styles(plain.styles_dir))
    selfie = enabled.selfies.analyse(astronaut_png)
    with pytest.raises(ContentBlocked):
        finish(enabled.stack, pictures, seeds, selfie, {})

    disabled = FactEngine(with_checker(plain, ref, is_safety_check_enabled=False), load_styles(plain.styles_dir))
    assert disabled.stack.safety_checker() is None
    timings: dict[str, float] = {}
    images = finish(disabled.stack, pictures, seeds, selfie, timings).images
    assert [image.seed for image in images] == [1, 2] and "safety" not in timings


def test_without_a_configured_checker_none_is_loaded(tmp_path, caplog) -> None:
    assert ModelStack(tiny_config(tmp_path)).safety_checker() is None
    assert ModelStack(with_checker(tiny_config(tmp_path), None)).safety_checker() is None
    with caplog.at_level(logging.WARNING, logger="fact_runtime.loading.on_demand"):
        assert ModelStack(load_runtime_config("config.yaml")).safety_checker() is None
    assert "no safety check" in caplog.text  # a public bot's admin is told that output is unfiltered


def test_a_configured_but_missing_checker_stops_the_full_preset_at_warm_up(tmp_path) -> None:
    config = load_runtime_config("config.yaml").model_copy(update={"cache_dir": tmp_path / "empty"})
    ref = ModelRef(model_id="someone/safety-checker", revision="v1.0.0")
    config = with_checker(config, ref)
    engine = FactEngine(config, load_styles("styles", base_models=list(config.models.base_models)), is_offline=True)
    with pytest.raises(ModelMissing) as caught:
        engine.warm_up()
    assert "safety checker" in str(caught.value) and "someone/safety-checker@v1.0.0" in str(caught.value)


def test_the_tiny_preset_refuses_a_folder_that_is_missing_or_not_a_checker(tmp_path) -> None:
    missing = ModelStack(with_checker(tiny_config(tmp_path), ModelRef(path=tmp_path / "nowhere")))
    with pytest.raises(ModelMissing, match="safety checker"):
        missing.safety_checker()
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "notes.txt").write_text("not a model", encoding="utf-8")
    wrong = ModelStack(with_checker(tiny_config(tmp_path), ModelRef(path=tmp_path / "wrong")))
    with pytest.raises(ModelMissing, match="not a StableDiffusionSafetyChecker folder"):
        wrong.safety_checker()


def test_a_relative_checker_path_follows_the_config_file(tmp_path) -> None:
    text = Path("config.yaml").read_text(encoding="utf-8")
    text = text.replace("    # safety_checker:\n    #   path:", "    safety_checker:\n      path:", 1)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    config = load_runtime_config(tmp_path / "config.yaml")
    assert config.models.safety_checker.path == tmp_path / "models" / "stable-diffusion-safety-checker"
