"""What the tiny-preset group tests share: the engine over the built-in templates, two saved members, paste regions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fact_runtime.catalog import load_styles
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import GroupFace, IdentityRequest
from tests.cli import REPO
from tests.tiny_stack import tiny_config, write_style

#: The built-in templates (two-pioneers: two faces, Grace Hopper's photo beside another).
TEMPLATES = REPO / "templates"


def let_run(stage: str, step: int = 0, total: int = 0) -> None:
    """A StepReporter that lets every job run."""


def group_engine(directory: Path, **config: Any) -> FactEngine:
    """A warmed-up tiny engine over the built-in templates, 4 steps a pass unless told, with one style ("plain")."""
    settings = tiny_config(directory, **{"num_inference_steps": 4, **config})
    settings = settings.model_copy(update={"templates_dir": TEMPLATES})
    write_style(settings.styles_dir, "plain")
    engine = FactEngine(settings, load_styles(settings.styles_dir))
    engine.warm_up()
    return engine


def saved_members(engine: FactEngine, astronaut: bytes, grace_hopper: bytes) -> tuple[GroupFace, GroupFace]:
    """Two saved identities, made as /identity save makes them: the astronaut for face 1, Grace Hopper for face 2."""
    faces = []
    for index, (user, photo) in enumerate((("ana", astronaut), ("ben", grace_hopper)), start=1):
        saved = engine.run(IdentityRequest(user, (photo,)), let_run).face
        assert saved is not None
        faces.append(GroupFace(face_index=index, user_id=user, photo=photo, face=saved))
    return faces[0], faces[1]


def paste_region(plan: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Where a paste through ``plan`` may change a picture of ``shape``, in its pixels."""
    region = np.zeros(shape[:2], dtype=bool)
    up = cv2.resize(plan.blend_mask, (plan.side, plan.side), interpolation=cv2.INTER_LINEAR) > 0
    y0, x0 = max(plan.top, 0), max(plan.left, 0)
    y1, x1 = min(plan.top + plan.side, shape[0]), min(plan.left + plan.side, shape[1])
    region[y0:y1, x0:x1] = up[y0 - plan.top : y1 - plan.top, x0 - plan.left : x1 - plan.left]
    return region
