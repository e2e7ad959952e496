"""Group photos on the tiny preset: the built-in two-pioneers template filled with two real people's saved identities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.errors import FaceIndexOutOfRange, InvalidRequest
from fact_runtime.loading.lora import TURBO_ADAPTER
from fact_runtime.pipelines import control_inpaint, diffusion
from fact_runtime.pipelines import group as group_module
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import BaseTokens, GroupFace, GroupRequest, SavedFace
from fact_runtime.tokens import DAMAGED_FACE
from tests.group_tiny import TEMPLATES, group_engine, let_run, paste_region, saved_members
from tests.tiny_stack import decode_png, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    return group_engine(tmp_path_factory.mktemp("group"))


@pytest.fixture(scope="module")
def template() -> np.ndarray:
    return decode_png((TEMPLATES / "two-pioneers.jpg").read_bytes())


@pytest.fixture(scope="module")
def members(engine, astronaut_png, grace_hopper_jpeg) -> tuple[GroupFace, GroupFace]:
    return saved_members(engine, astronaut_png, grace_hopper_jpeg)


@pytest.fixture
def pastes(monkeypatch) -> list[tuple[np.ndarray, object]]:
    """Every paste of a face's square into the picture: the picture after it and the plan it went through."""
    recorded: list[tuple[np.ndarray, object]] = []
    real = group_module.paste_back

    def spy(picture, square, plan):
        pasted = real(picture, square, plan)
        recorded.append((pasted, plan))
        return pasted

    monkeypatch.setattr(group_module, "paste_back", spy)
    return recorded


def _group(members, **fields) -> GroupRequest:
    values = {"user_id": "ana", "faces": (members[1], members[0]), "template_id": "two-pioneers", "seed": 11}
    return GroupRequest(**{**values, **fields})


@pytest.mark.parametrize("recipe", ["fast", "original"])
def test_both_faces_change_and_every_other_pixel_is_the_templates(engine, members, template, pastes, recipe) -> None:
    result = engine.run(_group(members, recipe=recipe, count=2), let_run)
    assert sorted(image.seed for image in result.images) == [11, 12]
    assert len(pastes) == 4  # two faces, two images; face 1 first in each image
    for image in result.images:
        output = decode_png(image.png)
        assert output.shape == template.shape
        index = [11, 12].index(image.seed)
        (after_first, first), (_, second) = pastes[index], pastes[2 + index]
        first_region, second_region = paste_region(first, template.shape), paste_region(second, template.shape)
        changed = (output != template).any(axis=2)
        assert not (changed & ~(first_region | second_region)).any()
        # Each face changed: the astronaut's on the left part (600 px wide), Grace Hopper's on the right.
        assert (changed & first_region).any() and (changed & second_region).any()
        assert first_region[:, 600:].sum() == 0 and second_region[:, :600].sum() == 0
        # The second pass kept the first face's pixels.
        assert np.array_equal(output[first_region], after_first[first_region])


def test_the_same_seeds_give_the_same_pictures_and_other_seeds_others(engine, members) -> None:
    first = engine.run(_group(members), let_run)
    again = engine.run(_group(members, faces=members), let_run)  # the request's order does not matter
    other = engine.run(_group(members, seed=12), let_run)
    assert first.images[0].png == again.images[0].png
    assert first.images[0].png != other.images[0].png
    assert first.images[0].identity_distance is None or first.images[0].identity_distance >= 0


def test_one_step_count_runs_over_every_faces_passes(engine, members) -> None:
    calls: list[tuple] = []
    engine.run(_group(members, recipe="fast", count=2), lambda *args: calls.append(args))
    steps = [call[1:] for call in calls if call[0] == "denoising"]
    total = steps[-1][1]
    assert {step[1] for step in steps} == {total} and steps[-1][0] == total
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    # Every step of every pass counted once, on from where the last pass stopped: two faces of two
    # images, the same fast pass each.
    assert {done for done, _ in steps} == set(range(total + 1)) and total > 0 and total % 4 == 0


def test_every_faces_pass_runs_at_the_jobs_speed_tier_and_the_turbo_lora_goes_after(engine, members, monkeypatch):
    passes: list[tuple[str, int, float, tuple[str, ...]]] = []
    real = diffusion.run_denoising
    loras = engine.stack.inpaint_base().loras

    def spy(pipe, seeds, **kwargs):
        adapters = tuple(name for name, _ in loras.selection)
        passes.append(
            (type(pipe.scheduler).__name__, kwargs["num_inference_steps"], kwargs["guidance_scale"], adapters)
        )
        return real(pipe, seeds, **kwargs)

    monkeypatch.setattr(diffusion, "run_denoising", spy)
    monkeypatch.setattr(control_inpaint, "run_denoising", spy)
    turbo = engine.run(_group(members, recipe="fast", speed="turbo"), let_run)
    assert turbo.speed == "turbo"
    # speed.turbo's defaults: 8 trailing DDIM steps without guidance, the few-step LoRA on; one pass per face.
    assert passes == [("DDIMScheduler", 8, 0.0, (TURBO_ADAPTER,))] * 2
    passes.clear()
    assert engine.run(_group(members, recipe="fast"), let_run).speed == "original"
    assert [(steps, adapters) for _, steps, _, adapters in passes] == [(4, ())] * 2


def test_the_stored_tokens_are_used_and_never_recomputed(engine, members, monkeypatch) -> None:
    import fact_runtime.pipelines.stages as stages_module

    calls: list[str] = []
    encoder = engine.stack.inpaint_base().encoder
    monkeypatch.setattr(encoder, "encode", lambda faces: calls.append("encode"))
    monkeypatch.setattr(stages_module, "find_selfie_face", lambda *a, **k: calls.append("detect"))
    assert engine.run(_group(members), let_run).images
    assert calls == []


def test_an_identity_without_tokens_for_the_inpainting_base_is_refused_naming_its_face(engine, members) -> None:
    saved = members[1].face
    elsewhere = SavedFace(saved.analysis, (BaseTokens("majicmix", saved.tokens[0].npy),), saved.best_index)
    request = _group(members, faces=(members[0], dataclasses.replace(members[1], face=elsewhere)))
    with pytest.raises(InvalidRequest) as refused:
        engine.run(request, let_run)
    assert refused.value.user_message == f"Face 2: {DAMAGED_FACE}"


def test_template_refusals_come_before_any_model_loads(tmp_path, members) -> None:
    config = tiny_config(tmp_path).model_copy(update={"templates_dir": TEMPLATES})
    write_style(config.styles_dir, "plain")
    cold = FactEngine(config, load_styles(config.styles_dir))
    cold.check_inputs(_group(members))
    with pytest.raises(FaceIndexOutOfRange) as fewer:
        cold.check_inputs(_group(members, template_id="astronaut"))
    assert fewer.value.user_message.startswith("The template has 1 face, fewer than the 2 asked for")
    with pytest.raises(FaceIndexOutOfRange) as past:
        cold.check_inputs(_group(members, faces=(members[0], dataclasses.replace(members[1], face_index=3))))
    assert past.value.user_message == "The template has 2 faces; pick face numbers from 1 to 2."
    with pytest.raises(InvalidRequest) as twice:
        cold.check_inputs(_group(members, faces=(members[0], dataclasses.replace(members[1], face_index=1))))
    assert twice.value.user_message == "Face 1 is given two identities; give each face one."
    assert not cold.stack.is_loaded
