"""OpenPose in the model stack and the engine: the annotator loaded once, pose photos and skeleton maps in a job."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fact_runtime.pose import draw_body_poses
from tests.test_openpose import PERSON, _pose, _save_like_release
from tests.test_openpose import release_shapes as release_shapes  # a module fixture shared with the network tests

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the model stack and the engine ------------------------------------------------------


def _config_with_annotator(tmp_path: Path, annotator: Path):
    from tiny_stack import tiny_config

    from fact_runtime.config import ModelRef, load_runtime_config

    models = load_runtime_config("config.yaml").models
    return tiny_config(tmp_path).model_copy(
        update={"models": models.model_copy(update={"openpose_annotator": ModelRef(path=annotator)})}
    )


def test_the_model_stack_loads_the_annotator_once_from_its_folder(tmp_path, release_shapes) -> None:
    from fact_runtime.loading.stack import ModelStack

    folder = tmp_path / "model_controlnet" / "ControlNet"
    folder.mkdir(parents=True)
    _save_like_release(folder / "body_pose_model.pth", release_shapes)
    stack = ModelStack(_config_with_annotator(tmp_path, folder))
    estimator = stack.pose_annotator()
    assert stack.pose_annotator() is estimator
    assert torch.equal(estimator.net.Mconv7_stage6_L2.bias, torch.arange(19, dtype=torch.float32) / 1e6)
    assert estimator.net.conv1_1.weight.device.type == stack.device.type


def test_the_tiny_preset_without_annotator_weights_refuses_pose_photos(tmp_path) -> None:
    from fact_runtime.errors import PoseUnavailable
    from fact_runtime.loading.stack import ModelStack

    stack = ModelStack(_config_with_annotator(tmp_path, tmp_path / "not-downloaded"))
    with pytest.raises(PoseUnavailable):
        stack.pose_annotator()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from tiny_stack import tiny_config, write_style

    from fact_runtime.catalog import load_styles
    from fact_runtime.pipelines.engine import FactEngine

    config = tiny_config(tmp_path_factory.mktemp("pose"), is_face_fusion_enabled=False, is_ranking_enabled=False)
    write_style(config.styles_dir, "plain")
    return FactEngine(config, load_styles(config.styles_dir))


class _Stages:
    def __init__(self) -> None:
        self.stages: list[str] = []

    def __call__(self, stage: str, step: int = 0, total: int = 0) -> None:
        self.stages.append(stage)


def _portrait(engine, selfie: bytes, pose: bytes | None, stages: _Stages | None = None):
    from fact_runtime.request import PortraitRequest

    request = PortraitRequest(user_id="u1", style_id="plain", seed=7, selfie=selfie, pose=pose)
    return engine.run(request, stages or _Stages())


def test_a_skeleton_pose_steers_the_portrait_through_the_controlnet(engine, astronaut_png) -> None:
    from tiny_stack import png_bytes

    plain = _portrait(engine, astronaut_png, None)
    skeleton = png_bytes(draw_body_poses([_pose(PERSON)], 200, 160))
    calls = []
    engine.stack.controlnet().register_forward_pre_hook(lambda *_: calls.append(1))
    posed = _portrait(engine, astronaut_png, skeleton)
    assert calls and posed.images[0].png != plain.images[0].png


def test_a_pose_photo_without_an_annotator_stops_before_diffusion(engine, astronaut_png, grace_hopper_jpeg) -> None:
    from fact_runtime.errors import PoseUnavailable

    stages = _Stages()
    with pytest.raises(PoseUnavailable):
        _portrait(engine, astronaut_png, grace_hopper_jpeg, stages)
    assert stages.stages == ["preparing"]
