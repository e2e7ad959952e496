"""The OpenPose body network (CMU's 18-keypoint COCO model) and strict loading of ``body_pose_model.pth``.

A VGG-19-style backbone to 128 channels at 1/8 resolution, then six two-branch stages: branch
``L1`` predicts 38 part-affinity channels (19 limbs x (x, y)), branch ``L2`` 19 heatmaps
(18 parts + background). Stages 2-6 see both previous predictions plus the backbone features
(38 + 19 + 128 = 185 channels). The released file stores every convolution under its Caffe layer
name (``conv1_1.weight``, ``Mconv7_stage6_L2.bias``, ...), flat, so each convolution here is a
direct child with exactly that name: the file loads with ``strict=True`` and no renaming.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BODY_WEIGHTS_FILE", "HEATMAP_CHANNELS", "PAF_CHANNELS", "BodyPoseNet"]

BODY_WEIGHTS_FILE = "body_pose_model.pth"
PAF_CHANNELS = 38
HEATMAP_CHANNELS = 19
_FEATURES = 128
_STAGE_INPUT = PAF_CHANNELS + HEATMAP_CHANNELS + _FEATURES

# (name, in, out, kernel); "pool" entries are 2x2 max-pools with stride 2.
_Layer = tuple[str, int, int, int]
_BACKBONE: tuple[_Layer | str, ...] = (
    ("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), "pool",
    ("conv2_1", 64, 128, 3), ("conv2_2", 128, 128, 3), "pool",
    ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3), ("conv3_3", 256, 256, 3), ("conv3_4", 256, 256, 3), "pool",
    ("conv4_1", 256, 512, 3), ("conv4_2", 512, 512, 3), ("conv4_3_CPM", 512, 256, 3), ("conv4_4_CPM", 256, 128, 3),
)  # fmt: skip


def _stage_layers(stage: int, branch: int, out: int) -> tuple[_Layer, ...]:
    """The convolutions of one branch (1 = PAFs, 2 = heatmaps) of one stage."""
    widths: tuple[tuple[int, int, int], ...]
    if stage == 1:
        widths = ((_FEATURES, 128, 3), (128, 128, 3), (128, 128, 3), (128, 512, 1), (512, out, 1))
        return tuple((f"conv5_{i}_CPM_L{branch}", *spec) for i, spec in enumerate(widths, start=1))
    widths = ((_STAGE_INPUT, 128, 7), *((128, 128, 7),) * 4, (128, 128, 1), (128, out, 1))
    return tuple((f"Mconv{i}_stage{stage}_L{branch}", *spec) for i, spec in enumerate(widths, start=1))


class BodyPoseNet(nn.Module):
    """OpenPose body estimator: image (BGR, /256 - 0.5) -> (PAFs [B,38,h,w], heatmaps [B,19,h,w]) at 1/8 size."""

    def __init__(self) -> None:
        super().__init__()
        self._backbone = [self._add(layer) if isinstance(layer, tuple) else "pool" for layer in _BACKBONE]
        self._stages = [
            tuple(
                [self._add(layer) for layer in _stage_layers(stage, branch, out)]
                for branch, out in ((1, PAF_CHANNELS), (2, HEATMAP_CHANNELS))
            )
            for stage in range(1, 7)
        ]

    def _add(self, layer: _Layer) -> str:
        name, channels_in, channels_out, kernel = layer
        self.add_module(name, nn.Conv2d(channels_in, channels_out, kernel, padding=kernel // 2))
        return name

    def _run(self, names: list[str], x: torch.Tensor, *, is_head: bool) -> torch.Tensor:
        # Every convolution is followed by a ReLU except the last of each branch (its prediction).
        for index, name in enumerate(names):
            if name == "pool":
                x = nn.functional.max_pool2d(x, 2, 2)
                continue
            x = getattr(self, name)(x)
            if not (is_head and index == len(names) - 1):
                x = torch.relu(x)
        return x

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self._run(self._backbone, image, is_head=False)
        x = features
        for paf_layers, heat_layers in self._stages:
            pafs = self._run(paf_layers, x, is_head=True)
            heatmaps = self._run(heat_layers, x, is_head=True)
            x = torch.cat([pafs, heatmaps, features], dim=1)
        return pafs, heatmaps
