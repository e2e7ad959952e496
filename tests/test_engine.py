"""FactEngine on the tiny preset: whole portrait jobs from selfie bytes to PNG bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fact_runtime.catalog import load_styles
from fact_runtime.config import load_runtime_config
from fact_runtime.errors import (
    InvalidRequest,
    JobCancelled,
    ModelMissing,
    NoFaceFound,
    OutOfMemory,
    UnknownStyle,
    UnsupportedImage,
)
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.finishing import finish
from fact_runtime.pipelines.portrait import PortraitPipeline
from fact_runtime.request import PortraitRequest
from tests.tiny_stack import decode_png, png_bytes, tiny_config, write_kohya_lora, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    root = tmp_path_factory.mktemp("engine")
    config = tiny_config(root, max_batch=2)
    write_kohya_lora(config.styles_dir / "loras" / "film.safetensors", seed=4)
    write_style(config.styles_dir, "plain")
    write_style(config.styles_dir, "filmic", lora="loras/film.safetensors", weight=1.0)
    write_style(config.styles_dir, "lost", lora="loras/not-there.safetensors", weight=1.0)
    engine = FactEngine(config, load_styles(config.styles_dir))
    engine.warm_up()
    return engine


class Recorder:
    """A StepReporter that records every call and can cancel at a given step."""

    def __init__(self, cancel_at: int | None = None) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.cancel_at = cancel_at

    def __call__(self, stage: str, step: int = 0, total: int = 0) -> None:
        self.calls.append((stage, step, total))
        if stage == "denoising" and step == self.cancel_at:
            raise JobCancelled("cancelled by the test")


def _request(selfie: bytes, **fields) -> PortraitRequest:
    return PortraitRequest(**{"user_id": "u1", "style_id": "plain", "seed": 21, **fields, "selfie": selfie})


def test_a_portrait_job_returns_n_pngs_with_their_seeds(engine, astronaut_png) -> None:
    recorder = Recorder()
    result = engine.run(_request(astronaut_png, count=3), recorder)
    assert sorted(image.seed for image in result.images) == [21, 22, 23]
    assert all(decode_png(image.png).shape == (64, 64, 3) for image in result.images)
    stages = [call[0] for call in recorder.calls]
    assert stages[:2] == ["preparing", "encoding"] and stages[-1] == "finishing"
    steps = [call[1:] for call in recorder.calls if call[0] == "denoising"]
    total = steps[-1][1]
    assert steps == [(step, total) for step in range(total + 1)]
    assert {"prepare", "encode", "denoise", "png"} <= set(result.timings)


def test_same_seed_same_pngs(engine, grace_hopper_jpeg) -> None:
    first = engine.run(_request(grace_hopper_jpeg, count=2), Recorder())
    second = engine.run(_request(grace_hopper_jpeg, count=2), Recorder())

    # The pixels, not the bytes: each PNG carries its own C2PA signature.
    def pixels(result):
        return {image.seed: decode_png(image.png).tobytes() for image in result.images}

    assert pixels(first) == pixels(second)


def test_a_reroll_skips_face_detection_and_encoding(engine, astronaut_png, monkeypatch) -> None:
    import fact_runtime.pipelines.stages as stages_module

    engine.run(_request(astronaut_png), Recorder())
    encoder = engine.stack.base("tiny").encoder
    calls = []
    original_encode, original_find = encoder.encode, stages_module.find_selfie_face
    monkeypatch.setattr(encoder, "encode", lambda faces: calls.append("encode") or original_encode(faces))
    monkeypatch.setattr(
        stages_module, "find_selfie_face", lambda models, rgb: calls.append("detect") or original_find(models, rgb)
    )
    engine.run(_request(astronaut_png, seed=99), Recorder())
    assert calls == []
    # A different photo is analysed and encoded as usual.
    engine.run(_request(_other_bytes(astronaut_png)), Recorder())
    assert calls == ["detect", "encode"]


def _other_bytes(png: bytes) -> bytes:
    """The same picture in different bytes (JPEG), so it hashes differently."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_the_style_lora_is_applied_and_a_missing_local_one_is_skipped(engine, astronaut_png) -> None:
    plain = engine.run(_request(astronaut_png, style_id="plain"), Recorder()).images[0]
    styled = engine.run(_request(astronaut_png, style_id="filmic"), Recorder()).images[0]
    assert not np.array_equal(decode_png(plain.png), decode_png(styled.png))
    assert engine.lora_note("filmic") is None
    assert "without its LoRA" in engine.lora_note("lost")
    # Same prompt template, no LoRA available: the tiny preset runs it as the base model, and says so.
    lost = engine.run(_request(astronaut_png, style_id="lost"), Recorder()).images[0]
    assert np.array_equal(decode_png(lost.png), decode_png(plain.png))


def test_a_cancel_from_the_reporter_stops_the_job(engine, astronaut_png) -> None:
    recorder = Recorder(cancel_at=1)
    with pytest.raises(JobCancelled):
        engine.run(_request(astronaut_png, count=2), recorder)
    assert recorder.calls[-1] == ("denoising", 1, recorder.calls[-1][2])


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"style_id": "no-such-style"}, UnknownStyle),
        ({"count": 0}, InvalidRequest),
        ({"count": 5}, InvalidRequest),
        ({"selfie": b"not an image at all"}, UnsupportedImage),
    ],
)
def test_bad_requests_are_typed_input_errors(engine, astronaut_png, fields, error) -> None:
    with pytest.raises(error) as caught:
        engine.run(_request(**{"selfie": astronaut_png, **fields}), Recorder())
    assert caught.value.user_message


def test_a_photo_without_a_face_is_refused(engine) -> None:
    sky = np.zeros((256, 256, 3), dtype=np.uint8)
    sky[:, :, 2] = np.linspace(80, 250, 256, dtype=np.uint8)[:, None]
    with pytest.raises(NoFaceFound):
        engine.run(_request(png_bytes(sky)), Recorder())


def test_out_of_memory_raises_the_typed_error_and_the_retry_frees_the_cache(engine, astronaut_png, monkeypatch) -> None:
    def exhausted(self, request, report, *, max_batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    emptied: list[bool] = []
    monkeypatch.setattr(PortraitPipeline, "__call__", exhausted)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    with pytest.raises(OutOfMemory) as caught:
        engine.run(_request(astronaut_png, count=3), Recorder())
    # The first attempt ran with the configured batch and reports it, so the retry can halve it.
    assert caught.value.batch == 2 and emptied == []
    with pytest.raises(OutOfMemory) as caught:
        engine.run(_request(astronaut_png), Recorder(), max_batch=1)
    assert caught.value.batch == 1 and emptied == [True]
    # A one-image job ran one image per batch, whatever the configured batch: nothing smaller to retry.
    with pytest.raises(OutOfMemory) as caught:
        engine.run(_request(astronaut_png, count=1), Recorder())
    assert caught.value.batch == 1


def test_forget_user_drops_the_cached_analysis_of_their_photos(engine, astronaut_png, grace_hopper_jpeg) -> None:
    astronaut = engine.selfies.analyse(astronaut_png, user_id="ada").digest
    grace = engine.selfies.analyse(grace_hopper_jpeg, user_id="bob").digest
    engine.selfies.analyse(grace_hopper_jpeg, user_id="ada")  # the same photo sent by both
    engine.forget_user("ada")
    assert astronaut not in engine.selfies and grace not in engine.selfies
    engine.selfies.analyse(grace_hopper_jpeg, user_id="bob")
    engine.forget_user("ada")
    assert grace in engine.selfies


def test_full_preset_offline_with_an_empty_cache_names_the_missing_model(tmp_path) -> None:
    config = load_runtime_config("config.yaml").model_copy(update={"cache_dir": tmp_path / "empty"})
    engine = FactEngine(config, load_styles("styles", base_models=list(config.models.base_models)), is_offline=True)
    with pytest.raises(ModelMissing) as caught:
        engine.warm_up()
    assert "yucheng1996/FaceChain-FACT" in str(caught.value) and "download" in str(caught.value)


def test_post_steps_rank_real_faces_by_identity_and_fuse_only_faces(
    engine, astronaut_png, astronaut_rgb, grace_hopper_rgb, monkeypatch
) -> None:
    from fact_runtime.face import SAME_PERSON_THRESHOLD

    # The invisible watermark touches every pixel of a large image; here only fusion may change any.
    config = engine.stack.config
    unmarked = config.model_copy(
        update={"provenance": config.provenance.model_copy(update={"is_watermark_enabled": False})}
    )
    monkeypatch.setattr(engine.stack, "config", unmarked)
    selfie = engine.selfies.analyse(astronaut_png)
    blank = np.full((128, 128, 3), 40, dtype=np.uint8)
    timings: dict[str, float] = {}
    images = finish(engine.stack, [grace_hopper_rgb, astronaut_rgb, blank], (1, 2, 3), selfie, timings).images
    assert [image.seed for image in images] == [2, 1, 3]
    assert images[0].identity_distance < SAME_PERSON_THRESHOLD
    assert images[0].identity_distance < images[1].identity_distance
    assert images[2].identity_distance is None
    assert np.array_equal(decode_png(images[2].png), blank)
    # Fusion blended the selfie into Grace Hopper's face, and only there.
    fused = decode_png(images[1].png)
    changed = (fused != grace_hopper_rgb).any(axis=2)
    assert changed.any() and not changed[:, :100].any()
    assert {"detect", "fusion", "rank", "png"} <= set(timings)


def test_notes_tell_the_user_what_the_job_did_differently(engine, astronaut_rgb, grace_hopper_rgb) -> None:
    from fact_runtime.pipelines.stages import NO_LORA_NOTE, SEVERAL_FACES_NOTE

    height = astronaut_rgb.shape[0]
    grace = grace_hopper_rgb[:height, : grace_hopper_rgb.shape[1]]
    pair = png_bytes(np.concatenate([astronaut_rgb, grace], axis=1))
    assert engine.run(_request(pair, count=1), Recorder()).notes == (SEVERAL_FACES_NOTE,)
    # A LoRA file that is missing locally cannot apply: the user is told rather than left guessing.
    alone = png_bytes(astronaut_rgb)
    assert engine.run(_request(alone, style_id="lost"), Recorder()).notes == (NO_LORA_NOTE,)
    assert engine.run(_request(alone, style_id="filmic"), Recorder()).notes == ()


def test_every_seed_the_bot_may_pick_is_accepted_and_stays_32_bit() -> None:
    from fact_runtime.limits import MAX_SEED, seeds_for

    assert max(seeds_for(MAX_SEED, 10)) < 2**31
    with pytest.raises(InvalidRequest):
        seeds_for(MAX_SEED + 1, 1)


def test_a_forget_during_the_analysis_of_that_users_photo_leaves_nothing_cached(
    engine, grace_hopper_jpeg, monkeypatch
) -> None:
    import fact_runtime.pipelines.stages as stages_module

    analyse = stages_module.find_selfie_face

    def forgotten_meanwhile(models, rgb):
        engine.forget_user("ada")  # /forget arrives from the event loop while the worker analyses
        return analyse(models, rgb)

    monkeypatch.setattr(stages_module, "find_selfie_face", forgotten_meanwhile)
    digest = engine.selfies.analyse(grace_hopper_jpeg + b"ada", user_id="ada").digest
    assert digest not in engine.selfies
