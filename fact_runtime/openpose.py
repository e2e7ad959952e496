"""OpenPose body annotation: a pose photo -> keypoints of each person -> the colour-coded skeleton map.

The OpenPose ControlNet was trained on maps drawn this way (controlnet_aux ``OpenposeDetector``),
so the steps keep its numbers: the photo fitted into 512 px, the network run at 368 * 0.5 px
height, heatmap peaks after a sigma-3 Gaussian above 0.1, limbs scored on 10 samples along the
part-affinity field, people assembled greedily, then 17 limbs and 18 joints drawn on black.
Body only: the original also drew the hands (a second network); those maps have no hand lines.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .errors import NoPoseFound
from .openpose_net import BodyPoseNet, load_body_pose_weights

__all__ = [
    "BodyPose",
    "BodyPoseEstimator",
    "LIMBS",
    "LIMB_PAF_CHANNELS",
    "POSE_COLORS",
    "assemble_people",
    "draw_body_poses",
    "find_peaks",
    "is_skeleton_map",
    "score_limbs",
]

log = logging.getLogger(__name__)

#: The 18 COCO body parts: 0 nose, 1 neck, 2-4 right shoulder/elbow/wrist, 5-7 left ones,
#: 8-10 right hip/knee/ankle, 11-13 left ones, 14/15 right/left eye, 16/17 right/left ear.
NUM_PARTS = 18
#: Limbs as (part A, part B); the last two (ear-shoulder) help assembly but are never drawn.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)  # fmt: skip
#: The (x, y) part-affinity channels of each limb, in the network's output order.
LIMB_PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7),
    (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27),
)  # fmt: skip
#: One RGB colour per joint, and per drawn limb (at 60 % brightness): the OpenPose palette.
POSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
_DRAWN_LIMBS = 17
_STICK_WIDTH = 4
_BOX_SIZE = 368
_STRIDE = 8
_PEAK_THRESHOLD = 0.1
_PAF_THRESHOLD = 0.05
_SAMPLES = 10
#: Peaks kept per part, best first: real heatmaps have a handful; this bounds the pairwise limb
#: scoring on a pathological image instead of letting it run for minutes.
_MAX_PEAKS = 32


@dataclass(frozen=True, slots=True)
class BodyPose:
    """One person: 18 keypoints as (x, y) pixels (``None`` where unseen), total score and part count."""

    keypoints: tuple[tuple[float, float] | None, ...]
    score: float
    part_count: int


def find_peaks(heatmaps: np.ndarray, *, threshold: float = _PEAK_THRESHOLD) -> list[np.ndarray]:
    """Local maxima of each part's smoothed heatmap ([H, W, >=18]): per part an [n, 3] array of x, y, score."""
    from scipy.ndimage import gaussian_filter

    peaks = []
    for part in range(NUM_PARTS):
        raw = heatmaps[:, :, part]
        smooth = gaussian_filter(raw, sigma=3)
        padded = np.pad(smooth, 1, constant_values=-np.inf)
        # A peak is at least as high as its four neighbours (plateaus keep every pixel, as the original).
        is_peak = (
            (smooth >= padded[:-2, 1:-1]) & (smooth >= padded[2:, 1:-1])
            & (smooth >= padded[1:-1, :-2]) & (smooth >= padded[1:-1, 2:]) & (smooth > threshold)
        )  # fmt: skip
        ys, xs = np.nonzero(is_peak)
        found = np.stack([xs, ys, raw[ys, xs]], axis=1).astype(np.float64)
        if len(found) > _MAX_PEAKS:
            found = found[np.argsort(-found[:, 2], kind="stable")[:_MAX_PEAKS]]
        peaks.append(found)
    return peaks


def score_limbs(peaks: Sequence[np.ndarray], pafs: np.ndarray, *, image_height: int) -> list[np.ndarray]:
    """Per limb, the chosen connections as rows (index in part A's peaks, index in part B's, score).

    A pair scores the mean projection of the field onto A->B at 10 samples, minus a penalty for
    limbs longer than half the image; it counts only if 80 % of the samples exceed 0.05. Pairs
    are then taken best first, each peak at most once.
    """
    height, width = pafs.shape[:2]
    chosen = []
    for (part_a, part_b), (channel_x, channel_y) in zip(LIMBS, LIMB_PAF_CHANNELS, strict=True):
        found_a, found_b = peaks[part_a], peaks[part_b]
        candidates = []
        for i, a in enumerate(found_a):
            for j, b in enumerate(found_b):
                vector = b[:2] - a[:2]
                norm = max(float(np.hypot(*vector)), 1e-3)
                xs = np.clip(np.rint(np.linspace(a[0], b[0], _SAMPLES)).astype(int), 0, width - 1)
                ys = np.clip(np.rint(np.linspace(a[1], b[1], _SAMPLES)).astype(int), 0, height - 1)
                along = (pafs[ys, xs, channel_x] * vector[0] + pafs[ys, xs, channel_y] * vector[1]) / norm
                score = along.mean() + min(0.5 * image_height / norm - 1.0, 0.0)
                if np.count_nonzero(along > _PAF_THRESHOLD) > 0.8 * _SAMPLES and score > 0:
                    candidates.append((score, i, j))
        rows: list[tuple[int, int, float]] = []
        used_a, used_b = set(), set()
        for score, i, j in sorted(candidates, key=lambda item: -item[0]):
            if i in used_a or j in used_b:
                continue
            rows.append((i, j, score))
            used_a.add(i)
            used_b.add(j)
            if len(rows) >= min(len(found_a), len(found_b)):
                break
        chosen.append(np.array(rows, dtype=np.float64).reshape(-1, 3))
    return chosen


def assemble_people(peaks: Sequence[np.ndarray], connections: Sequence[np.ndarray]) -> list[BodyPose]:
    """Join limbs that share a peak into people; keep those with >= 4 parts and a mean score >= 0.4."""
    offsets = np.cumsum([0, *(len(found) for found in peaks)])
    scores = np.concatenate([found[:, 2] for found in peaks]) if offsets[-1] else np.zeros(0)
    # A person: global peak id per part (-1 = none), then total score and part count.
    people: list[np.ndarray] = []
    for limb, rows in enumerate(connections):
        part_a, part_b = LIMBS[limb]
        for i, j, limb_score in rows:
            id_a, id_b = offsets[part_a] + int(i), offsets[part_b] + int(j)
            owners = [p for p, person in enumerate(people) if person[part_a] == id_a or person[part_b] == id_b]
            if len(owners) >= 2:
                first, second = people[owners[0]], people[owners[1]]
                if not np.any((first[:NUM_PARTS] >= 0) & (second[:NUM_PARTS] >= 0)):
                    # Two partial skeletons joined by this limb: merge them into one person.
                    first[:NUM_PARTS] += second[:NUM_PARTS] + 1
                    first[NUM_PARTS:] += second[NUM_PARTS:]
                    first[NUM_PARTS] += limb_score
                    del people[owners[1]]
                    continue
                owners = owners[:1]
            if len(owners) == 1:
                person = people[owners[0]]
                if person[part_b] != id_b:
                    person[part_b] = id_b
                    person[NUM_PARTS] += scores[id_b] + limb_score
                    person[NUM_PARTS + 1] += 1
            elif limb < _DRAWN_LIMBS:  # the ear-shoulder limbs never start a person
                person = np.full(NUM_PARTS + 2, -1.0)
                person[part_a], person[part_b] = id_a, id_b
                person[NUM_PARTS] = scores[id_a] + scores[id_b] + limb_score
                person[NUM_PARTS + 1] = 2
                people.append(person)
    points = np.concatenate([found[:, :2] for found in peaks]) if offsets[-1] else np.zeros((0, 2))
    return [
        BodyPose(
            keypoints=tuple(
                None if index < 0 else (float(points[int(index)][0]), float(points[int(index)][1]))
                for index in person[:NUM_PARTS]
            ),
            score=float(person[NUM_PARTS]),
            part_count=int(person[NUM_PARTS + 1]),
        )
        for person in people
        if person[NUM_PARTS + 1] >= 4 and person[NUM_PARTS] / person[NUM_PARTS + 1] >= 0.4
    ]


def draw_body_poses(people: Sequence[BodyPose], height: int, width: int) -> np.ndarray:
    """The OpenPose skeleton map (RGB uint8): limbs as 60 %-bright ellipses, joints as dots, on black."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for person in people:
        for (part_a, part_b), color in zip(LIMBS[:_DRAWN_LIMBS], POSE_COLORS, strict=False):
            a, b = person.keypoints[part_a], person.keypoints[part_b]
            if a is None or b is None:
                continue
            length = math.hypot(a[0] - b[0], a[1] - b[1])
            angle = math.degrees(math.atan2(a[1] - b[1], a[0] - b[0]))
            centre = (int((a[0] + b[0]) / 2), int((a[1] + b[1]) / 2))
            polygon = cv2.ellipse2Poly(centre, (int(length / 2), _STICK_WIDTH), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, [int(channel * 0.6) for channel in color])
    for person in people:
        for point, color in zip(person.keypoints, POSE_COLORS, strict=True):
            if point is not None:
                cv2.circle(canvas, (int(point[0]), int(point[1])), 4, color, thickness=-1)
    return canvas


def is_skeleton_map(rgb: np.ndarray) -> bool:
    """Whether an image already is a pose map (used as is) rather than a photo (annotated first).

    A skeleton map is mostly black (>= 60 % of pixels darker than 40), what is not black is
    mostly strongly saturated (>= 60 % with saturation >= 0.5: the palette colours, at full or
    60 % brightness, survive JPEG ringing at the edges), and it shows several hues (>= 3 of 12
    hue sectors with 2 % of the coloured pixels each), which a dark photo with one bright sign
    does not. Transparent PNG maps arrive composited on white and count as photos.
    """
    step = max(1, max(rgb.shape[:2]) // 256)
    pixels = rgb[::step, ::step].reshape(-1, 3).astype(np.int32)
    brightest, darkest = pixels.max(axis=1), pixels.min(axis=1)
    is_dark = brightest < 40
    if is_dark.mean() < 0.6 or is_dark.all():
        return False
    lit = ~is_dark
    saturation = (brightest[lit] - darkest[lit]) / brightest[lit]
    is_coloured = saturation >= 0.5
    if is_coloured.mean() < 0.6:
        return False
    hsv = cv2.cvtColor(pixels[lit][is_coloured].astype(np.uint8)[None], cv2.COLOR_RGB2HSV_FULL)[0]
    sectors = np.bincount(hsv[:, 0].astype(int) * 12 // 256, minlength=12)
    return int(np.count_nonzero(sectors >= 0.02 * sectors.sum())) >= 3


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

    @classmethod
    def from_file(cls, path: Path | str, device: torch.device | str) -> BodyPoseEstimator:
        """Build the network without random init, load ``body_pose_model.pth`` strictly, move it to ``device``.

        Raises
        ------
        ModelMissing
            The file does not exist.
        WeightsMismatch
            A tensor is missing, unexpected or mis-shaped; the message names each one.
        """
        with torch.device("meta"):
            net = BodyPoseNet()
        load_body_pose_weights(net, path)
        # float32 like the face encoder: one small image per job, and fp16 heatmaps lose weak peaks.
        return cls(net.to(device, torch.float32))

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
        total_pafs = total_heat = None
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
            total_pafs = pafs if total_pafs is None else total_pafs + pafs
            total_heat = heat if total_heat is None else total_heat + heat
        return total_pafs / len(self.scales), total_heat / len(self.scales)
