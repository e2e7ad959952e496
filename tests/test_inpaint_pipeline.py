"""Template inpainting on the tiny preset with a real two-face template: the fast recipe, the crop and the paste back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.errors import FaceIndexOutOfRange, InvalidRequest, UnknownTemplate
from fact_runtime.face import find_template_faces
from fact_runtime.pipelines.crop import cut_square, paste_back, plan_crop
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import InpaintRequest
from tests.faces import FACES
from tests.tiny_stack import decode_png, png_bytes, side_by_side, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def template(astronaut_rgb, grace_hopper_rgb) -> np.ndarray:
    return side_by_side(astronaut_rgb, grace_hopper_rgb)


@pytest.fixture(scope="module")
def engine(tmp_path_factory, template) -> FactEngine:
    # The fast recipe: one pass inside the dilated face mask (the original recipe: test_inpaint_recipe.py).
    config = tiny_config(
        tmp_path_factory.mktemp("inpaint"),
        is_watermarked=False,  # the pixels outside the paste region are compared exactly
        num_inference_steps=4,
        inpaint_strength=0.6,
        inpaint_recipe="fast",
    )
    write_style(config.styles_dir, "plain")
    config.templates_dir.mkdir()
    (config.templates_dir / "pair.png").write_bytes(png_bytes(template))
    return FactEngine(config, load_styles(config.styles_dir))


def _changed(output: np.ndarray, template: np.ndarray) -> np.ndarray:
    return (output != template).any(axis=2)


def test_output_keeps_the_template_size_and_pixels_outside_the_paste_region(engine, template, grace_hopper_rgb) -> None:
    selfie = png_bytes(grace_hopper_rgb)
    request = InpaintRequest(user_id="u", selfie=selfie, template=png_bytes(template), face_index=2, count=2, seed=8)
    result = engine.run(request, lambda *args: None)
    outputs = [decode_png(image.png) for image in result.images]
    assert sorted(image.seed for image in result.images) == [8, 9]

    face = sorted(find_template_faces(FACES, template), key=lambda found: found.box[0])[1]
    plan = plan_crop(template.shape[:2], face, 64)
    paste_region = np.zeros(template.shape[:2], dtype=bool)
    region = cv2.resize(plan.blend_mask, (plan.side, plan.side), interpolation=cv2.INTER_LINEAR) > 0
    y0, x0 = max(plan.top, 0), max(plan.left, 0)
    y1, x1 = min(plan.top + plan.side, template.shape[0]), min(plan.left + plan.side, template.shape[1])
    paste_region[y0:y1, x0:x1] = region[y0 - plan.top : y1 - plan.top, x0 - plan.left : x1 - plan.left]
    for output in outputs:
        assert output.shape == template.shape
        changed = _changed(output, template)
        assert changed.any()
        assert not (changed & ~paste_region).any()
        # The changed pixels sit on the second face from the left, not on the first.
        _, xs = np.nonzero(changed)
        assert face.box[0] - face.width <= xs.min() and xs.max() <= face.box[2] + face.width
    # One mask per job: the second image's paste region is the same as the first's (no shrinking).
    spans = [np.nonzero(_changed(output, template).any(axis=0))[0] for output in outputs]
    assert abs(int(spans[0].min()) - int(spans[1].min())) <= 2 and abs(int(spans[0].max()) - int(spans[1].max())) <= 2


def test_a_built_in_template_by_id(engine, astronaut_rgb, template) -> None:
    request = InpaintRequest(user_id="u", selfie=png_bytes(astronaut_rgb), template_id="pair", face_index=1, seed=1)
    calls: list[tuple] = []
    output = decode_png(engine.run(request, lambda *args: calls.append(args)).images[0].png)
    # Strength 0.6 of 4 PNDM steps: progress counts exactly the steps diffusers makes.
    steps = [call[1:] for call in calls if call[0] == "denoising"]
    total = steps[-1][1]
    assert 0 < total < 4 and steps == [(step, total) for step in range(total + 1)]
    changed = _changed(output, template)
    assert output.shape == template.shape and changed.any()
    assert np.nonzero(changed)[1].max() < astronaut_rgb.shape[1]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"face_index": 3}, FaceIndexOutOfRange),
        ({"template_id": "nope", "template": None}, UnknownTemplate),
        ({"template_id": "pair"}, InvalidRequest),
    ],
)
def test_bad_template_requests_are_typed(engine, astronaut_rgb, template, fields, error) -> None:
    defaults = {"user_id": "u", "selfie": png_bytes(astronaut_rgb), "template": png_bytes(template), "face_index": 1}
    request = InpaintRequest(**{**defaults, **fields})
    with pytest.raises(error):
        engine.run(request, lambda *args: None)


def test_crop_is_zero_padded_at_the_border_and_paste_back_is_exact_outside_the_mask(astronaut_rgb) -> None:
    face = find_template_faces(FACES, astronaut_rgb)[0]
    # Shift the photo so the face touches the top-left corner: the square leaves the image.
    shifted = np.ascontiguousarray(astronaut_rgb[int(face.box[1]) :, int(face.box[0]) :])
    moved = find_template_faces(FACES, shifted)[0]
    plan = plan_crop(shifted.shape[:2], moved, 64)
    assert plan.left < 0 and plan.top < 0
    crop = cut_square(shifted, plan)
    assert crop.shape == (64, 64, 3) and not crop[0, 0].any()
    white = np.full((64, 64, 3), 255, dtype=np.uint8)
    pasted = paste_back(shifted, white, plan)
    assert pasted.shape == shifted.shape
    square = cv2.resize(plan.blend_mask, (plan.side, plan.side))[-plan.top :, -plan.left :]
    weight = np.zeros(shifted.shape[:2], dtype=np.float32)
    height, width = min(square.shape[0], weight.shape[0]), min(square.shape[1], weight.shape[1])
    weight[:height, :width] = square[:height, :width]
    outside = weight == 0
    assert np.array_equal(pasted[outside], shifted[outside])
    assert weight.max() > 0.99 and (pasted[weight > 0.99] >= 250).all()
