"""Upscale and vary of a group photo on the tiny preset: only the members' faces are painted again, on the result."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.errors import InvalidRequest
from fact_runtime.executor.redis.codec import decode_request, encode_request
from fact_runtime.executor.redis.sealing import Sealer, generate_key
from fact_runtime.limits import RequestLimits, check_request
from fact_runtime.pipelines import group as group_module
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.img2img import resize
from fact_runtime.request import GroupFace, GroupRequest, InpaintRequest
from tests.group_tiny import TEMPLATES, group_engine, let_run, paste_region, saved_members
from tests.tiny_stack import decode_png, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    # No watermark: the pixels outside the faces are compared exactly.
    return group_engine(tmp_path_factory.mktemp("group-follow-up"), is_watermarked=False)


@pytest.fixture(scope="module")
def members(engine, astronaut_png, grace_hopper_jpeg) -> tuple[GroupFace, GroupFace]:
    return saved_members(engine, astronaut_png, grace_hopper_jpeg)


def _group(members, **fields) -> GroupRequest:
    values = {"user_id": "ana", "faces": members, "template_id": "two-pioneers", "seed": 11}
    return GroupRequest(**{**values, **fields})


@pytest.fixture(scope="module")
def parents(engine, members) -> dict[str, bytes]:
    """A filled two-pioneers per recipe, the picture its follow-ups start from."""
    return {
        recipe: engine.run(_group(members, recipe=recipe), let_run).images[0].png for recipe in ("fast", "original")
    }


@pytest.fixture
def plans(monkeypatch) -> list[object]:
    """The plan of every paste of a face's square into the picture."""
    recorded: list[object] = []
    real = group_module.paste_back

    def spy(picture, square, plan):
        recorded.append(plan)
        return real(picture, square, plan)

    monkeypatch.setattr(group_module, "paste_back", spy)
    return recorded


def _faces_only_changed(output: np.ndarray, start: np.ndarray, plans: list[object]) -> tuple[bool, list[bool]]:
    """Whether every changed pixel lies in a paste's region, and whether each region changed."""
    changed = (output != start).any(axis=2)
    regions = [paste_region(plan, output.shape) for plan in plans]
    return not (changed & ~np.logical_or.reduce(regions)).any(), [bool((changed & r).any()) for r in regions]


@pytest.mark.parametrize("recipe", ["fast", "original"])
def test_an_upscale_doubles_the_picture_and_repaints_only_the_faces(engine, members, parents, plans, recipe) -> None:
    parent = decode_png(parents[recipe])
    calls: list[tuple] = []
    result = engine.run(_group(members, recipe=recipe, start=parents[recipe], scale=2), lambda *a: calls.append(a))
    # One progress count over the passes that ran (no new face is drawn), ending at its total.
    steps = [call[1:] for call in calls if call[0] == "denoising"]
    assert steps[-1][0] == steps[-1][1] > 0
    output = decode_png(result.images[0].png)
    height, width = parent.shape[:2]
    assert output.shape == (2 * height, 2 * width, 3)
    assert result.images[0].seed == 11
    enlarged = resize(parent, 2 * width, 2 * height)
    only_faces, each_changed = _faces_only_changed(output, enlarged, plans)
    assert len(plans) == 2 and only_faces and all(each_changed)
    # The faces were placed from the template, scaled: the astronaut's left of 1200 px, Grace Hopper's right.
    first, second = (paste_region(plan, output.shape) for plan in plans)
    assert first[:, 1200:].sum() == 0 and second[:, :1200].sum() == 0
    # Still the parent's picture: the upscale brought down again stays close to it.
    back = cv2.resize(output, (width, height), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(back - parent).mean() < 12


def test_a_variation_keeps_the_size_repaints_only_the_faces_and_follows_its_seed(
    engine, members, parents, plans
) -> None:
    parent = decode_png(parents["fast"])
    vary = _group(members, recipe="fast", start=parents["fast"], strength=0.6, seed=40)
    first = engine.run(vary, let_run)
    output = decode_png(first.images[0].png)
    assert output.shape == parent.shape
    only_faces, each_changed = _faces_only_changed(output, parent, plans)
    assert only_faces and all(each_changed)
    assert engine.run(vary, let_run).images[0].png == first.images[0].png
    assert engine.run(dataclasses.replace(vary, seed=41), let_run).images[0].png != first.images[0].png
    subtle = decode_png(engine.run(dataclasses.replace(vary, strength=0.3), let_run).images[0].png)
    # A subtle variation moves the faces less than a strong one.
    assert np.abs(subtle.astype(float) - parent).mean() < np.abs(output.astype(float) - parent).mean()


def test_too_large_an_upscale_and_a_foreign_picture_are_refused_before_any_model_loads(
    tmp_path, members, parents, astronaut_png
) -> None:
    config = tiny_config(tmp_path).model_copy(update={"templates_dir": TEMPLATES})
    config = config.model_copy(update={"images": config.images.model_copy(update={"max_pixels": 2_000_000})})
    write_style(config.styles_dir, "plain")
    cold = FactEngine(config, load_styles(config.styles_dir))
    cold.check_inputs(_group(members, start=parents["fast"], strength=0.3))
    with pytest.raises(InvalidRequest) as large:
        cold.check_inputs(_group(members, start=parents["fast"], scale=2))
    assert large.value.user_message == ("An upscale to 2224x1200 would exceed this server's limit of 2 megapixels.")
    with pytest.raises(InvalidRequest) as foreign:
        cold.check_inputs(_group(members, start=astronaut_png, strength=0.3))
    assert foreign.value.user_message == (
        "That image is not a filled copy of its template, so its faces cannot be found."
    )
    assert not cold.stack.is_loaded


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"scale": 2}, "An upscale or a variation needs the image it starts from."),
        ({"start": b"", "strength": 0.3}, "That image is no longer available."),
        ({"start": b"x", "strength": 1.5}, "The strength must be above 0 and at most 1."),
        ({"start": b"x", "scale": 4}, "A photo made from a template upscales 2x."),
    ],
)
def test_group_follow_ups_out_of_range_are_refused(members, fields, sentence) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_request(_group(members, **fields), RequestLimits())
    assert refused.value.user_message == sentence


def test_a_group_follow_up_crosses_the_broker_unchanged(members, parents) -> None:
    request = _group(members, start=parents["fast"], scale=2, strength=0.35, recipe="original", speed="fast")
    sealer = Sealer.from_text(generate_key(), source="test")
    entry = encode_request("job-1", request, sealer=sealer)
    assert parents["fast"] not in entry.values()  # sealed like every photo
    assert decode_request(entry, sealer=sealer) == request


def test_an_inpaint_result_upscales_the_same_way_with_its_selfie(engine, astronaut_png, monkeypatch) -> None:
    from fact_runtime.pipelines import inpaint as inpaint_module

    single = InpaintRequest("ana", astronaut_png, template_id="two-pioneers", face_index=2, recipe="fast", seed=3)
    parent_png = engine.run(single, let_run).images[0].png
    parent = decode_png(parent_png)
    plans: list[object] = []
    real = inpaint_module.paste_back
    monkeypatch.setattr(
        inpaint_module, "paste_back", lambda rgb, square, plan: (plans.append(plan), real(rgb, square, plan))[1]
    )
    result = engine.run(dataclasses.replace(single, start=parent_png, scale=2), let_run)
    output = decode_png(result.images[0].png)
    height, width = parent.shape[:2]
    assert output.shape == (2 * height, 2 * width, 3) and result.images[0].seed == 3
    only_faces, each_changed = _faces_only_changed(output, resize(parent, 2 * width, 2 * height), plans)
    assert len(plans) == 1 and only_faces and all(each_changed)
    assert paste_region(plans[0], output.shape)[:, :1200].sum() == 0  # face 2, placed from the template
