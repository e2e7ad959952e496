"""OpenPose body annotator: network layout and strict loading, post-processing, drawing, map heuristic."""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fact_runtime.errors import NoPoseFound, WeightsMismatch
from fact_runtime.loading.on_demand import load_body_pose_weights
from fact_runtime.pose import (
    POSE_COLORS,
    BodyPose,
    BodyPoseEstimator,
    assemble_people,
    draw_body_poses,
    find_peaks,
    is_skeleton_map,
    score_limbs,
)
from fact_runtime.pose.keypoints import LIMB_PAF_CHANNELS, LIMBS
from fact_runtime.pose.network import BodyPoseNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# A standing person, 18 COCO parts (x, y) in a 160-wide, 200-tall image; limbs well under half its height.
PERSON = (
    (40, 30), (40, 50), (28, 52), (24, 72), (22, 92), (52, 52), (56, 72), (58, 92), (32, 100),
    (32, 130), (32, 160), (48, 100), (48, 130), (48, 160), (36, 26), (44, 26), (32, 28), (48, 28),
)  # fmt: skip


def _meta_net() -> BodyPoseNet:
    with torch.device("meta"):
        return BodyPoseNet()


# -- the network ----------------------------------------------------------------------


def test_the_network_has_the_released_files_names_and_shapes() -> None:
    state = _meta_net().state_dict()
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    # 12 backbone + 2 x 5 stage-1 + 2 x 5 x 7 refinement convolutions, weight and bias each.
    assert len(shapes) == 2 * (12 + 10 + 70)
    assert list(shapes)[:2] == ["conv1_1.weight", "conv1_1.bias"] and shapes["conv1_1.weight"] == (64, 3, 3, 3)
    assert shapes["conv4_4_CPM.weight"] == (128, 256, 3, 3)
    assert shapes["conv5_5_CPM_L1.weight"] == (38, 512, 1, 1) and shapes["conv5_5_CPM_L2.weight"] == (19, 512, 1, 1)
    assert shapes["Mconv1_stage2_L1.weight"] == (128, 185, 7, 7)
    assert list(shapes)[-2:] == ["Mconv7_stage6_L2.weight", "Mconv7_stage6_L2.bias"]
    assert shapes["Mconv7_stage6_L1.weight"] == (38, 128, 1, 1) and shapes["Mconv7_stage6_L2.bias"] == (19,)
    # The released body_pose_model.pth (~209 MB) holds 52.3M float32 values.
    assert sum(int(np.prod(shape)) for shape in shapes.values()) == 52_311_446


def test_the_network_predicts_38_pafs_and_19_heatmaps_at_one_eighth() -> None:
    pafs, heatmaps = _meta_net()(torch.empty(1, 3, 184, 136, device="meta"))
    assert pafs.shape == (1, 38, 23, 17) and heatmaps.shape == (1, 19, 23, 17)


def _save_like_release(path: Path, state: dict[str, torch.Tensor]) -> Path:
    # All tensors are views of one storage, so a 52M-parameter file costs a few MB on disk.
    shared = torch.arange(2_400_000, dtype=torch.float32) / 1e6
    flat = OrderedDict((name, shared[: int(np.prod(shape))].view(shape)) for name, shape in state.items())
    torch.save(flat, path)
    return path


@pytest.fixture(scope="module")
def release_shapes() -> dict[str, torch.Size]:
    return {name: tensor.shape for name, tensor in _meta_net().state_dict().items()}


def test_a_file_laid_out_like_the_release_loads_strictly(tmp_path, release_shapes) -> None:
    path = _save_like_release(tmp_path / "body_pose_model.pth", release_shapes)
    net = _meta_net()
    report = load_body_pose_weights(net, path)
    assert report.is_ok and report.matched == 184
    assert not any(tensor.is_meta for tensor in net.state_dict().values())
    assert torch.equal(net.Mconv7_stage6_L2.bias, torch.arange(19, dtype=torch.float32) / 1e6)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda shapes: shapes.pop("Mconv3_stage4_L2.weight"), "Mconv3_stage4_L2.weight"),
        (lambda shapes: shapes.update({"conv4_2.weight": torch.Size([512, 512, 1, 1])}), "conv4_2.weight: file"),
        (lambda shapes: shapes.update({"model0.conv1_1.weight": torch.Size([1])}), "model0.conv1_1.weight"),
    ],
    ids=["missing", "reshaped", "unexpected"],
)
def test_a_file_that_does_not_fit_is_refused_naming_the_tensor(tmp_path, release_shapes, change, named) -> None:
    shapes = dict(release_shapes)
    change(shapes)
    path = _save_like_release(tmp_path / "body_pose_model.pth", shapes)
    with pytest.raises(WeightsMismatch) as caught:
        load_body_pose_weights(_meta_net(), path)
    assert named in str(caught.value)


# -- post-processing on synthetic maps --------------------------------------------------


def _maps(people: list[tuple[tuple[int, int], ...]], height: int = 200, width: int = 160):
    """Heatmaps with a Gaussian at each part and PAFs holding each limb's unit vector near its segment."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    heatmaps = np.zeros((height, width, 19))
    pafs = np.zeros((height, width, 38))
    for person in people:
        for part, (x, y) in enumerate(person):
            heatmaps[:, :, part] = np.maximum(heatmaps[:, :, part], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 18))
        for (part_a, part_b), (channel_x, channel_y) in zip(LIMBS, LIMB_PAF_CHANNELS, strict=True):
            a, b = np.array(person[part_a], float), np.array(person[part_b], float)
            length = np.linalg.norm(b - a)
            unit = (b - a) / length
            along = (xs - a[0]) * unit[0] + (ys - a[1]) * unit[1]
            across = np.abs((xs - a[0]) * unit[1] - (ys - a[1]) * unit[0])
            near = (along >= -1) & (along <= length + 1) & (across <= 3)
            pafs[near, channel_x], pafs[near, channel_y] = unit
    return heatmaps, pafs


def _detect(heatmaps: np.ndarray, pafs: np.ndarray) -> list[BodyPose]:
    peaks = find_peaks(heatmaps)
    return assemble_people(peaks, score_limbs(peaks, pafs, image_height=heatmaps.shape[0]))


def test_one_person_is_assembled_with_every_keypoint() -> None:
    people = _detect(*_maps([PERSON]))
    assert len(people) == 1
    assert people[0].part_count == 18
    assert np.allclose(np.array(people[0].keypoints), np.array(PERSON), atol=1)


def test_two_people_are_kept_apart() -> None:
    right = tuple((x + 80, y) for x, y in PERSON)
    people = sorted(_detect(*_maps([PERSON, right])), key=lambda person: person.keypoints[1][0])
    assert len(people) == 2
    for found, truth in zip(people, (PERSON, right), strict=True):
        assert np.allclose(np.array(found.keypoints), np.array(truth), atol=1)


def test_parts_without_a_field_between_them_do_not_make_a_person() -> None:
    heatmaps, _ = _maps([PERSON])
    assert _detect(heatmaps, np.zeros((200, 160, 38))) == []
    # A lone head (nose, eyes, ears: 5 parts) is a person; without its neck the body is unseen.
    head = [0, 14, 15, 16, 17]
    heatmaps[:, :, [part for part in range(18) if part not in head]] = 0
    (person,) = _detect(heatmaps, _maps([PERSON])[1])
    assert person.part_count == 5 and person.keypoints[1] is None


def test_a_flat_heatmap_yields_a_bounded_number_of_peaks() -> None:
    # Every pixel of a plateau ties with its neighbours; the cap keeps limb scoring bounded.
    peaks = find_peaks(np.full((120, 100, 19), 0.5))
    assert all(len(found) == 32 for found in peaks)
    assert len(find_peaks(np.zeros((120, 100, 19)))[0]) == 0


# -- drawing and the map heuristic --------------------------------------------------------


def _pose(points) -> BodyPose:
    return BodyPose(keypoints=tuple(points), score=18.0, part_count=len(points))


def test_limbs_and_joints_are_drawn_in_the_openpose_colours_on_black() -> None:
    canvas = draw_body_poses([_pose(PERSON)], 200, 160)
    assert canvas.shape == (200, 160, 3) and canvas.dtype == np.uint8
    assert (canvas[195, 5] == 0).all() and (canvas[5, 150] == 0).all()
    # Limb 0 (neck -> right shoulder) at 60 % of colour 0; the right wrist's dot in colour 4.
    assert tuple(canvas[51, 34]) == tuple(int(c * 0.6) for c in POSE_COLORS[0])
    assert tuple(canvas[92, 22]) == POSE_COLORS[4]
    # Right hip -> knee is limb 7.
    assert tuple(canvas[115, 32]) == tuple(int(c * 0.6) for c in POSE_COLORS[7])


def _jpeg_round_trip(rgb: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=85)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_a_drawn_skeleton_is_a_map_and_photos_are_not(astronaut_rgb, grace_hopper_rgb) -> None:
    skeleton = draw_body_poses([_pose(PERSON), _pose([(x + 80, y) for x, y in PERSON])], 200, 160)
    big = np.asarray(Image.fromarray(skeleton).resize((640, 800), Image.BILINEAR))
    assert is_skeleton_map(skeleton) and is_skeleton_map(_jpeg_round_trip(big))
    assert not is_skeleton_map(astronaut_rgb) and not is_skeleton_map(grace_hopper_rgb)
    assert not is_skeleton_map(np.zeros((300, 300, 3), dtype=np.uint8))
    # A dark photo with one bright colour (a lone red light) is no skeleton either.
    night = np.full((300, 300, 3), 10, dtype=np.uint8)
    night[100:140, 100:140] = (230, 30, 20)
    assert not is_skeleton_map(night)


# -- the estimator around the network ---------------------------------------------------


class _MapsNet(torch.nn.Module):
    """Stands in for the network: returns fixed stride-8 maps of one person, whatever the input."""

    def __init__(self, people: list) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.people = people

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows, cols = image.shape[2] // 8, image.shape[3] // 8
        heatmaps, pafs = _maps(self.people, height=image.shape[2], width=image.shape[3])
        shrink = torch.nn.functional.adaptive_avg_pool2d
        as_tensor = lambda maps: torch.from_numpy(maps).permute(2, 0, 1)[None].float()  # noqa: E731
        return shrink(as_tensor(pafs), (rows, cols)), shrink(as_tensor(heatmaps), (rows, cols))


def test_the_estimator_maps_network_coordinates_back_to_the_photo() -> None:
    # A 320x400 photo is analysed at 410x512, and the network sees it 184 px tall.
    network_person = tuple((x * 0.9, y * 0.9) for x, y in PERSON)
    estimator = BodyPoseEstimator(_MapsNet([network_person]))
    people, image = estimator.detect(np.full((400, 320, 3), 90, dtype=np.uint8))
    assert image.shape == (512, 410, 3) and len(people) == 1
    expected = np.array(network_person) * 512 / 184
    assert people[0].part_count == 18
    # Within a third of a network cell (one cell = 8 px of 184 = 22 px here) of the truth.
    assert np.abs(np.array(people[0].keypoints) - expected).max() <= 8


def test_a_photo_without_anyone_is_refused() -> None:
    with pytest.raises(NoPoseFound) as caught:
        BodyPoseEstimator(_MapsNet([])).skeleton_map(np.full((256, 256, 3), 90, dtype=np.uint8))
    assert caught.value.user_message == (
        "No body pose was found in that pose image; send a photo showing a whole person, or a skeleton image."
    )
