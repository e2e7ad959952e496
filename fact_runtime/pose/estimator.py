"""OpenPose body annotation: a pose photo -> keypoints of each person -> the colour-coded skeleton map.

The OpenPose ControlNet was trained on maps drawn this way (controlnet_aux ``OpenposeDetector``),
so the steps keep its numbers: the photo fitted into 512 px, the network run at 368 * 0.5 px
height, heatmap peaks after a sigma-3 Gaussian above 0.1, limbs scored on 10 samples along the
part-affinity field, people assembled greedily, then 17 limbs and 18 joints drawn on black.
Body only: the original also drew the hands (a second network); those maps have no hand lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ..errors import NoPoseFound
from .keypoints import BodyPose, assemble_people, find_peaks, score_limbs
from .maps import draw_body_poses
from .network import HEATMAP_CHANNELS, PAF_CHANNELS, BodyPoseNet

__all__ = ["BodyPoseEstimator"]

log = logging.getLogger(__name__)

_BOX_SIZE = 368
_STRIDE = 8


class BodyPoseEstimator:
    """The OpenPose body network plus its post-processing; one photo at a time on the network's device.

    Parameters
    ----------
    net:
        A loaded ``BodyPoseNet`` (or any module with its input and outputs).
    scales:
        Network input heights as fractions of 368 px; their maps are averaged. The original
        runs one scale, 0.5.
    analysis_side:
        The photo's longer side is fitted to this many pixels before anything else.
    """

    def __init__(self, net: BodyPoseNet, *, scales: Sequence[float] = (0.5,), analysis_side: int = 512) -> None:
        self.net = net.eval()
        self.scales = tuple(scales)
        self.analysis_side = analysis_side

    def detect(self, rgb: np.ndarray) -> tuple[list[BodyPose], np.ndarray]:
        """Everyone's body keypoints, in the pixels of the returned analysis-size copy of ``rgb``."""
        height, width = rgb.shape[:2]
        fit = self.analysis_side / max(height, width)
        size = (max(1, round(width * fit)), max(1, round(height * fit)))
        image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_CUBIC)
        pafs, heatmaps = self._maps(image)
        peaks = find_peaks(heatmaps)
        people = assemble_people(peaks, score_limbs(peaks, pafs, image_height=image.shape[0]))
        log.info("OpenPose found %d person(s) in a %dx%d pose photo", len(people), width, height)
        return people, image

    def skeleton_map(self, rgb: np.ndarray) -> np.ndarray:
        """The skeleton map of a pose photo, at the photo's aspect (longer side ``analysis_side``).

        Raises
        ------
        NoPoseFound
            Nobody's body pose could be found in the photo.
        """
        people, image = self.detect(rgb)
        if not people:
            raise NoPoseFound("OpenPose found no person in the pose photo")
        return draw_body_poses(people, *image.shape[:2])

    @torch.inference_mode()
    def _maps(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Part-affinity fields and heatmaps ([H, W, C] float32) at ``image``'s size, averaged over scales."""
        parameter = next(self.net.parameters())
        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # the network was trained on Caffe's BGR input
        total_pafs = np.zeros((height, width, PAF_CHANNELS), dtype=np.float32)
        total_heat = np.zeros((height, width, HEATMAP_CHANNELS), dtype=np.float32)
        for scale in self.scales:
            factor = scale * _BOX_SIZE / height
            scaled = cv2.resize(bgr, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
            rows, cols = scaled.shape[:2]
            # Pad right and bottom to a multiple of the stride with grey, which normalises to exactly 0.
            padded = cv2.copyMakeBorder(
                scaled, 0, -rows % _STRIDE, 0, -cols % _STRIDE, cv2.BORDER_CONSTANT, value=(128, 128, 128)
            )
            batch = torch.from_numpy(padded).permute(2, 0, 1)[None].to(parameter.device, parameter.dtype) / 256 - 0.5
            outputs = []
            for maps in self.net(batch):
                maps = torch.nn.functional.interpolate(maps.float(), scale_factor=_STRIDE, mode="bicubic")
                maps = maps[:, :, :rows, :cols]
                maps = torch.nn.functional.interpolate(maps, size=(height, width), mode="bicubic")
                outputs.append(maps[0].permute(1, 2, 0).cpu().numpy())
            pafs, heat = outputs
            total_pafs += pafs
            total_heat += heat
        return total_pafs / len(self.scales), total_heat / len(self.scales)
