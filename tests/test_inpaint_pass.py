"""One inpaint pass over one face region, called on its own: a group photo painted face by face."""

from __future__ import annotations

import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.inpaint_fast import FastInpaintPipeline
from fact_runtime.pipelines.inpaint_original import OriginalInpaintPipeline
from fact_runtime.pipelines.inpaint_stages import StepTally
from fact_runtime.request import InpaintRequest
from tests.tiny_stack import png_bytes, side_by_side, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def template(astronaut_rgb, grace_hopper_rgb) -> np.ndarray:
    return side_by_side(astronaut_rgb, grace_hopper_rgb)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    config = tiny_config(tmp_path_factory.mktemp("pass"), num_inference_steps=4, inpaint_recipe="fast")
    write_style(config.styles_dir, "plain")
    return FactEngine(config, load_styles(config.styles_dir))


def test_the_engine_picks_the_pipeline_of_the_requests_recipe(engine, template, astronaut_png) -> None:
    request = InpaintRequest(user_id="u", selfie=astronaut_png, template=png_bytes(template))
    assert type(engine.inpaint_pipeline(request)) is FastInpaintPipeline  # the server's default here
    original = InpaintRequest(user_id="u", selfie=astronaut_png, template=png_bytes(template), recipe="original")
    assert type(engine.inpaint_pipeline(original)) is OriginalInpaintPipeline


@pytest.mark.parametrize("recipe", ["fast", "original"])
def test_each_face_of_a_template_painted_in_turn_on_the_previous_pass_output(
    engine, template, astronaut_png, recipe
) -> None:
    pipeline = engine.inpaint[recipe]
    request = InpaintRequest(user_id="u", selfie=astronaut_png, template=png_bytes(template), seed=3, recipe=recipe)
    job = pipeline.prepare(request)
    tokens = pipeline.encode(job)
    reports: list[tuple] = []
    tally = StepTally(lambda *args: reports.append(args), pipeline.count_steps(job, max_batch=1) * len(job.faces))
    assert len(job.faces) == 2

    canvas, regions = job.template, []
    for face in job.faces:
        others = [other.box for other in job.faces if other is not face]
        painted = pipeline.paint_face(job, canvas, face, tokens, tally, {}, max_batch=1, others=others)
        before, canvas = canvas, painted.pasted(canvas, painted.images[0], 3)
        changed = (canvas != before).any(axis=2)
        # Each pass changes its own face and nothing outside its paste region, so earlier faces stay painted.
        x0, y0, x1, y1 = (int(value) for value in face.box)
        assert changed[y0:y1, x0:x1].any()
        regions.append(changed)
    left, right = regions
    assert not (left & right).any()
    assert ((canvas != template).any(axis=2) == (left | right)).all()
    # One progress count over both faces' passes, ending at its total.
    assert reports[-1] == ("denoising", tally.total, tally.total)
