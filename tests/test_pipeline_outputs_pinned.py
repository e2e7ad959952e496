"""The tiny preset's outputs of each inpainting recipe and of an identity job, pinned to recorded digests.

``tests/pinned_outputs.json`` was recorded from the pipelines before they were split into one class per
recipe; a refactor of the pipelines must reproduce every pixel, token, note and progress report. The
digests hold for the CPU build of torch the suite runs on (float results may differ on other kernels):
after a deliberate change of output, rerun this test with ``PIN_OUTPUTS=record`` to rewrite it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import IdentityRequest, InpaintRequest
from fact_runtime.results import JobResult
from tests.identity_photos import one_person
from tests.tiny_stack import decode_png, png_bytes, side_by_side, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PINNED = Path(__file__).with_name("pinned_outputs.json")


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(repr((array.shape, str(array.dtype))).encode() + array.tobytes()).hexdigest()


def _summary(result: JobResult, reports: list[tuple]) -> dict:
    summary: dict = {
        "images": [[image.seed, _digest(decode_png(image.png))] for image in result.images],
        "notes": list(result.notes),
        "reports": [list(call) for call in reports],
    }
    if result.face is not None:
        face = result.face
        summary["face"] = {
            "tokens": [[tokens.base_id, hashlib.sha256(tokens.npy).hexdigest()] for tokens in face.tokens],
            "analysis": _digest(np.asarray([*face.analysis.box, *face.analysis.landmarks68, face.analysis.score])),
            "embedding": _digest(np.asarray(face.analysis.embedding)),
            "best_index": face.best_index,
            "distances": list(face.distances),
        }
    return summary


def _run(engine: FactEngine, request: InpaintRequest | IdentityRequest) -> dict:
    reports: list[tuple] = []
    return _summary(engine.run(request, lambda *args: reports.append(args)), reports)


def record(tmp: Path, astronaut: np.ndarray, grace: np.ndarray) -> dict:
    """Run each pinned job on a fresh tiny engine and summarise what it returned and reported."""
    config = tiny_config(tmp, num_inference_steps=6, is_watermarked=False)  # recorded before the watermark
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    # Two faces so close that the working square of the right one takes in part of the left one.
    close = np.ascontiguousarray(
        np.concatenate(
            [astronaut[20:250, 140:270], cv2.resize(grace, (256, 300), interpolation=cv2.INTER_AREA)[15:245, 86:256]],
            axis=1,
        )
    )
    apart = png_bytes(side_by_side(astronaut, grace))
    selfie, second = png_bytes(astronaut), png_bytes(astronaut[:, ::-1])
    return {
        "original": _run(
            engine,
            InpaintRequest(
                user_id="u", selfie=selfie, template=png_bytes(close), face_index=2, count=2, seed=5, recipe="original"
            ),
        ),
        "original_two_photos": _run(
            engine,
            InpaintRequest(
                user_id="u",
                selfie=selfie,
                references=(second,),
                template=apart,
                face_index=1,
                seed=11,
                recipe="original",
            ),
        ),
        "fast": _run(
            engine,
            InpaintRequest(
                user_id="u", selfie=png_bytes(grace), template=apart, face_index=2, count=2, seed=8, recipe="fast"
            ),
        ),
        "identity": _run(engine, IdentityRequest("u", one_person(astronaut))),
    }


def test_each_recipe_and_an_identity_job_reproduce_the_recorded_outputs(
    tmp_path, astronaut_rgb, grace_hopper_rgb
) -> None:
    recorded = json.loads(json.dumps(record(tmp_path, astronaut_rgb, grace_hopper_rgb)))
    if os.environ.get("PIN_OUTPUTS") == "record":
        lines = [f"{json.dumps(job)}: {json.dumps(summary)}" for job, summary in recorded.items()]
        PINNED.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
        pytest.skip("recorded the outputs; rerun without PIN_OUTPUTS to compare")
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert recorded.keys() == pinned.keys()
    for job, summary in pinned.items():
        assert recorded[job] == summary, job
