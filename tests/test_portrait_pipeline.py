"""PortraitPipeline on the tiny preset with real face tokens from a real photo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fact_runtime.config import RuntimeConfig
from fact_runtime.errors import InvalidRequest, JobCancelled, ModelMissing, PoseUnavailable
from fact_runtime.face import find_selfie_face, identity_crop
from fact_runtime.fact import to_encoder_input
from fact_runtime.loading.stack import ModelStack
from fact_runtime.pipelines.diffusion import PortraitInputs, denoise_portraits
from fact_runtime.pipelines.stages import pose_map
from fact_runtime.pose import BodyPose, draw_body_poses, fit_pose_map
from tests.faces import FACES
from tests.tiny_stack import tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> ModelStack:
    stack = ModelStack(tiny_config(tmp_path_factory.mktemp("portrait")))
    stack.load()
    return stack


@pytest.fixture(scope="module")
def inputs(stack: ModelStack, astronaut_rgb: np.ndarray) -> PortraitInputs:
    face = find_selfie_face(FACES, astronaut_rgb).face
    faces = to_encoder_input([identity_crop(astronaut_rgb, face)], device=stack.device)
    return PortraitInputs(
        prompt="a portrait photo of a person",
        negative_prompt="lowres, blurry",
        face=stack.base("tiny").encoder.encode(faces),
        seeds=(11, 12, 13),
        width=64,
        height=48,
        num_inference_steps=2,
        guidance_scale=7.0,
        adapter_scale=0.5,
        scheduler="pndm",
    )


def _run(stack: ModelStack, inputs: PortraitInputs, *, max_batch: int = 4, on_step=None) -> list[np.ndarray]:
    on_step = on_step or (lambda done, total: None)
    return denoise_portraits(stack, stack.base("tiny"), inputs, max_batch=max_batch, on_step=on_step)


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_one_image_per_seed_at_the_configured_size(stack, inputs) -> None:
    images = _run(stack, inputs)
    assert len(images) == 3
    assert all(image.shape == (48, 64, 3) and image.dtype == np.uint8 for image in images)
    assert not np.array_equal(images[0], images[1])


def test_same_seed_same_images_and_each_image_reproduces_alone(stack, inputs) -> None:
    batched = _run(stack, inputs)
    again = _run(stack, inputs)
    assert all(np.array_equal(a, b) for a, b in zip(batched, again, strict=True))
    alone = _run(stack, dataclasses.replace(inputs, seeds=(12,)))[0]
    # Batched and single UNet calls may round differently in the last bit; never more.
    assert np.abs(alone.astype(int) - batched[1].astype(int)).max() <= 2


def test_max_batch_splits_the_unet_calls_but_not_the_results(stack, inputs) -> None:
    whole = _run(stack, inputs, max_batch=4)
    steps: list[tuple[int, int]] = []
    split = _run(stack, inputs, max_batch=2, on_step=lambda done, total: steps.append((done, total)))
    assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 2 for a, b in zip(whole, split, strict=True))
    # Two UNet batches, reported as one job: 0 first, then every step up to the total.
    total = steps[0][1]
    assert steps == [(step, total) for step in range(total + 1)]


def test_face_tokens_steer_the_result(stack, inputs) -> None:
    other = dataclasses.replace(inputs.face, cond=torch.randn_like(inputs.face.cond))
    with_face = _run(stack, dataclasses.replace(inputs, seeds=(5,)))[0]
    other_face = _run(stack, dataclasses.replace(inputs, seeds=(5,), face=other))[0]
    assert not np.array_equal(with_face, other_face)


def test_pose_runs_the_controlnet_only_when_given(stack, inputs) -> None:
    plain = _run(stack, dataclasses.replace(inputs, seeds=(5,)))[0]
    controlnet = stack.controlnet()
    calls = _count_calls(controlnet)
    _run(stack, dataclasses.replace(inputs, seeds=(5,)))
    assert calls[0] == 0
    skeleton = np.zeros((96, 64, 3), dtype=np.uint8)
    skeleton[20:80, 30:34] = (255, 0, 0)
    skeleton[30:34, 10:54] = (0, 255, 0)
    posed = _run(stack, dataclasses.replace(inputs, seeds=(5,), pose=fit_pose_map(skeleton, 64, 48)))[0]
    assert calls[0] > 0
    assert not np.array_equal(posed, plain)


def test_pose_map_is_fitted_and_centred() -> None:
    wide = np.full((10, 40, 3), 200, dtype=np.uint8)
    fitted = fit_pose_map(wide, 64, 64)
    assert fitted.shape == (64, 64, 3)
    rows = np.nonzero(fitted[:, 32, 0])[0]
    # Padded evenly above and below (the original padded only at the top).
    assert abs(rows.min() - (63 - rows.max())) <= 1


def test_a_cancel_from_the_callback_stops_at_that_step(stack, inputs) -> None:
    unet_calls = _count_calls(stack.base("tiny").text2img.unet)

    def cancel_at_two(done: int, total: int) -> None:
        if done == 2:
            raise JobCancelled("user cancelled")

    with pytest.raises(JobCancelled):
        _run(stack, dataclasses.replace(inputs, num_inference_steps=10), on_step=cancel_at_two)
    assert unet_calls[0] == 2


def test_check_inputs_rejects_sizes_the_vae_cannot_take(stack, inputs) -> None:
    with pytest.raises(InvalidRequest):
        _run(stack, dataclasses.replace(inputs, width=60))
    with pytest.raises(InvalidRequest):
        _run(stack, dataclasses.replace(inputs, seeds=()))


def test_a_skeleton_map_is_used_as_it_is(stack) -> None:
    points = [(30, 20), (30, 40), (20, 40), (16, 60), (14, 80), (40, 40), (44, 60), (46, 80), (24, 90), (24, 120),
              (24, 150), (36, 90), (36, 120), (36, 150), (27, 16), (33, 16), (24, 18), (36, 18)]  # fmt: skip
    skeleton = draw_body_poses([BodyPose(keypoints=tuple(points), score=18.0, part_count=18)], 160, 64)
    # The tiny stack has no annotator: reaching for it would raise PoseUnavailable.
    assert np.array_equal(pose_map(skeleton, stack, 64, 48), fit_pose_map(skeleton, 64, 48))


def test_a_pose_photo_without_an_annotator_is_refused_not_faked(stack, astronaut_rgb) -> None:
    with pytest.raises(PoseUnavailable) as caught:
        pose_map(astronaut_rgb, stack, 64, 48)
    assert caught.value.user_message == (
        "Pose photos are not available on this server; send an OpenPose skeleton image instead."
    )


def test_a_configured_annotator_that_is_missing_is_named(astronaut_rgb, tmp_path) -> None:
    from fact_runtime.config import load_runtime_config

    full = load_runtime_config("config.yaml").model_copy(update={"cache_dir": tmp_path})
    assert isinstance(full, RuntimeConfig) and full.models.openpose_annotator is not None
    with pytest.raises(ModelMissing) as caught:
        pose_map(astronaut_rgb, ModelStack(full, is_offline=True), 64, 48)
    assert "OpenPose annotator" in str(caught.value) and "model_controlnet/ControlNet" in str(caught.value)


# diffusers' DPM-Solver passes torch tensors to numpy (its own warning, not ours).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("scheduler", ["pndm", "dpmpp_2m", "euler_a", "ddim"])
def test_every_configured_scheduler_runs_and_is_reproducible(stack, inputs, scheduler) -> None:
    chosen = dataclasses.replace(inputs, scheduler=scheduler, seeds=(3, 4))
    first, second = _run(stack, chosen), _run(stack, chosen)
    assert (
        type(stack.base("tiny").text2img.scheduler).__name__
        == {
            "pndm": "PNDMScheduler",
            "dpmpp_2m": "DPMSolverMultistepScheduler",
            "euler_a": "EulerAncestralDiscreteScheduler",
            "ddim": "DDIMScheduler",
        }[scheduler]
    )
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
