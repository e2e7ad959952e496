"""The original inpainting recipe on the tiny preset: five passes, each with its own conditioning."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.errors import InvalidRequest, JobCancelled
from fact_runtime.face import find_template_faces
from fact_runtime.face.mask import face_hull_mask
from fact_runtime.fact import face_processors
from fact_runtime.limits import RequestLimits, check_request
from fact_runtime.pipelines import control_inpaint, diffusion
from fact_runtime.pipelines import inpaint as inpaint_module
from fact_runtime.pipelines.crop import cut_square, plan_crop
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.inpaint_stages import NO_POSE_NOTE
from fact_runtime.pipelines.recipe_masks import eye_line_mask, grow_mask
from fact_runtime.pipelines.warp import warp_face
from fact_runtime.pose import draw_body_poses, fit_pose_map
from fact_runtime.pose.keypoints import BodyPose
from fact_runtime.request import InpaintRequest
from tests.faces import FACES
from tests.test_openpose import PERSON
from tests.tiny_stack import decode_png, png_bytes, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 64


@dataclass
class Pass:
    """One diffusers call of a job: which pipeline, its FACT scale, and the call's conditioning."""

    pipeline: str
    fact_scale: float
    kwargs: dict


@pytest.fixture(scope="module")
def template(astronaut_rgb, grace_hopper_rgb) -> np.ndarray:
    """Two faces so close that the working square of the right one takes in part of the left one."""
    grace = cv2.resize(grace_hopper_rgb, (256, 300), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.concatenate([astronaut_rgb[20:250, 140:270], grace[15:245, 86:256]], axis=1))


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    config = tiny_config(tmp_path_factory.mktemp("recipe"), num_inference_steps=10)
    write_style(config.styles_dir, "plain")
    assert config.generation.inpaint_recipe == "original"
    return FactEngine(config, load_styles(config.styles_dir))


@pytest.fixture
def passes(monkeypatch) -> list[Pass]:
    """Every denoising call the job makes, recorded on its way into diffusers."""
    recorded: list[Pass] = []
    real = diffusion.run_denoising

    def spy(pipe, seeds, **kwargs):
        scale = next(iter(face_processors(pipe.unet).values())).scale
        recorded.append(Pass(type(pipe).__name__, scale, dict(kwargs)))
        return real(pipe, seeds, **kwargs)

    monkeypatch.setattr(diffusion, "run_denoising", spy)
    monkeypatch.setattr(control_inpaint, "run_denoising", spy)
    return recorded


@pytest.fixture
def pastes(monkeypatch) -> list:
    """The crop plans (with their paste masks) each result is pasted back through."""
    plans = []
    real = inpaint_module.paste_back

    def spy(template, result, plan):
        plans.append(plan)
        return real(template, result, plan)

    monkeypatch.setattr(inpaint_module, "paste_back", spy)
    return plans


def _request(selfie: bytes, template: np.ndarray, **fields) -> InpaintRequest:
    defaults = {"user_id": "u", "selfie": selfie, "template": png_bytes(template), "face_index": 2, "seed": 5}
    return InpaintRequest(**{**defaults, **fields})


def _geometry(template: np.ndarray):
    """The chosen (right) face, its plan, and both faces' boxes in working-square pixels."""
    left, right = find_template_faces(FACES, template)
    plan = plan_crop(template.shape[:2], right, SIZE)
    hull = face_hull_mask((SIZE, SIZE), plan.to_square(right.landmarks68))
    eye_y = int(plan.to_square(right.landmarks)[:2, 1].mean())
    (x0, y0), (x1, y1) = plan.to_square(np.reshape(left.box, (2, 2)))
    # The box's inside in square pixels, one pixel in from its edges (resizing blends the edges).
    inside = (slice(max(int(np.ceil(y0)) + 1, 0), int(y1) - 1), slice(max(int(np.ceil(x0)) + 1, 0), int(x1) - 1))
    return plan, hull, eye_y, inside


def _array(image) -> np.ndarray:
    return np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)


def test_five_passes_each_with_its_own_conditioning(engine, passes, pastes, template, astronaut_png) -> None:
    result = engine.run(_request(astronaut_png, template, count=2), lambda *args: None)
    # The tiny preset has no OpenPose annotator: the pose pass runs on plain text-to-image, and says so.
    assert NO_POSE_NOTE in result.notes
    assert [p.pipeline for p in passes] == [
        "StableDiffusionPipeline",
        *["StableDiffusionControlNetInpaintPipeline"] * 4,
    ]
    pose_pass, inpaints, refines = passes[0], passes[1::2], passes[2::2]
    assert pose_pass.fact_scale == 0.5 and pose_pass.kwargs["guidance_scale"] == 5.0
    assert pose_pass.kwargs["width"] == SIZE and "image" not in pose_pass.kwargs

    plan, hull, eye_y, other = _geometry(template)
    for inpainting in inpaints:
        kwargs = inpainting.kwargs
        assert inpainting.fact_scale == 0.55 and kwargs["guidance_scale"] == 5.0 and kwargs["strength"] == 0.6
        assert kwargs["controlnet_conditioning_scale"] == [1.0, 0.2]
        square = _array(kwargs["image"])
        # The other face is blacked out of the square every pass sees; the template is not black there.
        assert square[other].size and not square[other].any()
        assert cut_square(template, plan)[other].any()
        # The mask covers the face, and above the eye line it is the face grown by the first share only.
        # (The tiny preset's new faces cannot be detected, so the warped face is the template's and
        # the wider part below the eye line adds nothing here: test_eye_line_mask shows it.)
        mask = _array(kwargs["mask_image"])[:, :, 0] > 127
        assert (mask >= hull.astype(bool)).all()
        assert np.array_equal(mask[:eye_y], grow_mask(hull, 0.04)[:eye_y] > 0)
        face_map, edges = (_array(image) for image in kwargs["control_image"])
        # Face map: white landmark dots on black, on the face; edges: none on the face, some around it.
        assert set(np.unique(face_map)) <= {0, 255} and face_map[hull > 0].any()
        assert not edges[hull > 0].any() and edges.any()
    for refinement, inpainting in zip(refines, inpaints, strict=True):
        kwargs = refinement.kwargs
        assert refinement.fact_scale == 0.55 and kwargs["strength"] == 0.1 and kwargs["guidance_scale"] == 5.0
        assert kwargs["controlnet_conditioning_scale"] == [0.8, 0.8]
        # The refinement starts from the inpainted square, with its own mask and edge map: the
        # refined face grown by 0.02 (tiny faces cannot be detected, so the warped face's
        # landmarks, here the template's, stand in) and the unmasked edges of its input.
        refined = _array(kwargs["image"])
        assert not np.array_equal(refined, _array(inpainting.kwargs["image"]))
        mask = _array(kwargs["mask_image"])[:, :, 0] > 127
        assert np.array_equal(mask, grow_mask(hull, 0.02) > 0)
        edges = _array(kwargs["control_image"][1])
        assert np.array_equal(edges[:, :, 0], cv2.Canny(refined, 100, 200))

    # Outside each paste region the output is the template, bit for bit; the other face is never pasted over.
    assert len(pastes) == 2
    for image, pasted in zip(result.images, pastes, strict=False):
        output = decode_png(image.png)
        region = np.zeros(template.shape[:2], dtype=bool)
        up = cv2.resize(pasted.blend_mask, (pasted.side, pasted.side), interpolation=cv2.INTER_LINEAR) > 0
        y0, x0 = max(pasted.top, 0), max(pasted.left, 0)
        y1, x1 = min(pasted.top + pasted.side, template.shape[0]), min(pasted.left + pasted.side, template.shape[1])
        region[y0:y1, x0:x1] = up[y0 - pasted.top : y1 - pasted.top, x0 - pasted.left : x1 - pasted.left]
        changed = (output != template).any(axis=2)
        assert changed.any() and not (changed & ~region).any()
        assert not pasted.blend_mask[other].any()


def test_the_pose_pass_reads_the_templates_skeleton_when_an_annotator_is_there(
    engine, passes, template, astronaut_png, monkeypatch
) -> None:
    seen = []

    class Annotator:
        def skeleton_map(self, rgb: np.ndarray) -> np.ndarray:
            seen.append(rgb)
            return draw_body_poses([BodyPose(keypoints=PERSON, score=18.0, part_count=18)], 200, 160)

    monkeypatch.setattr(engine.stack, "pose_annotator", Annotator)
    result = engine.run(_request(astronaut_png, template), lambda *args: None)
    assert NO_POSE_NOTE not in result.notes
    pose_pass = passes[0]
    assert pose_pass.pipeline == "StableDiffusionControlNetPipeline"
    assert pose_pass.kwargs["controlnet_conditioning_scale"] == 1.0 and pose_pass.fact_scale == 0.5
    expected = fit_pose_map(draw_body_poses([BodyPose(PERSON, 18.0, 18)], 200, 160), SIZE, SIZE)
    assert np.array_equal(_array(pose_pass.kwargs["image"]), expected)
    # The annotator saw the working square, with the other face blacked out.
    assert seen[0].shape == (SIZE, SIZE, 3) and np.array_equal(seen[0], _array(passes[1].kwargs["image"]))


def test_progress_counts_every_pass_and_a_cancel_stops_a_later_one(engine, passes, template, astronaut_png) -> None:
    calls: list[tuple] = []
    engine.run(_request(astronaut_png, template), lambda *args: calls.append(args))
    steps = [call[1:] for call in calls if call[0] == "denoising"]
    total = steps[-1][1]
    assert {step[1] for step in steps} == {total} and steps[-1][0] == total
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    assert set(range(total + 1)) == {done for done, _ in steps}
    pose_steps = diffusion.count_steps(engine.stack.inpaint_base().scheduler("pndm"), 10)
    assert 0 < pose_steps < total

    passes.clear()

    def cancel_in_the_inpainting_pass(stage: str, step: int = 0, total: int = 0) -> None:
        if stage == "denoising" and step == pose_steps + 1:
            raise JobCancelled("cancelled by the test")

    with pytest.raises(JobCancelled):
        engine.run(_request(astronaut_png, template), cancel_in_the_inpainting_pass)
    assert [p.pipeline for p in passes] == ["StableDiffusionPipeline", "StableDiffusionControlNetInpaintPipeline"]


def test_the_fast_recipe_is_one_inpainting_pass(engine, passes, template, astronaut_png) -> None:
    engine.run(_request(astronaut_png, template, recipe="fast"), lambda *args: None)
    [one] = passes
    assert one.pipeline == "StableDiffusionInpaintPipeline" and one.fact_scale == 0.55
    assert one.kwargs["strength"] == 0.6 and one.kwargs["guidance_scale"] == 5.0
    plan = _geometry(template)[0]
    assert np.array_equal(_array(one.kwargs["mask_image"])[:, :, 0] > 127, plan.inpaint_mask > 0)
    # The fast recipe keeps the other faces visible, as before.
    assert np.array_equal(_array(one.kwargs["image"]), cut_square(template, plan))


def test_an_unknown_recipe_is_refused_with_one_sentence(astronaut_png, template) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_request(_request(astronaut_png, template, recipe="slow"), RequestLimits())
    assert caught.value.user_message == "The inpainting recipe must be original or fast."


def test_eye_line_mask_stays_tight_above_the_eyes_and_grows_below_within_the_warped_face() -> None:
    face = np.zeros((100, 100), dtype=np.uint8)
    face[30:70, 30:70] = 1
    warped = np.zeros_like(face)
    warped[20:90, 25:75] = 1
    mask = eye_line_mask(face, 45, grow=0.1, pre_grow=0.05, within=warped)
    pre = grow_mask(face, 0.05)
    assert np.array_equal(mask[:45], pre[:45])
    assert (mask[45:] >= pre[45:]).all() and (mask[45:] > pre[45:]).any()
    # The wider part never leaves the face and the warped face.
    assert not (mask.astype(bool) & ~(pre | warped).astype(bool)).any()


def test_the_warped_paste_lands_a_real_face_on_the_template_faces_landmarks(astronaut_rgb, grace_hopper_rgb) -> None:
    from fact_runtime.face import five_points_from_68

    square = cv2.resize(astronaut_rgb, (256, 256), interpolation=cv2.INTER_AREA)
    [target] = find_template_faces(FACES, square)
    new = cv2.resize(grace_hopper_rgb, (256, 300), interpolation=cv2.INTER_AREA)[22:278]
    [found] = find_template_faces(FACES, new)
    warped = warp_face(square, target.landmarks, new, found, fallback68=target.landmarks68)
    # The new face's five points now sit on the template's (a similarity fit: within a few pixels).
    assert np.abs(five_points_from_68(warped.points68) - target.landmarks).max() < 8
    inside = warped.mask > 0
    assert inside[int(target.center[1]), int(target.center[0])]
    assert np.array_equal(warped.image[~inside], square[~inside])
    assert not np.array_equal(warped.image[inside], square[inside])
    # No face found in the new image: it is taken where the template face is, unwarped.
    fallback = warp_face(square, target.landmarks, new, None, fallback68=target.landmarks68)
    assert np.array_equal(fallback.points68, target.landmarks68)
    assert np.array_equal(fallback.mask, face_hull_mask((256, 256), target.landmarks68))
