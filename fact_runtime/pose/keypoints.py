"""OpenPose post-processing: heatmap peaks, limbs scored along the part-affinity fields, people assembled.

The numbers are the ones the OpenPose ControlNet's training maps were made with (controlnet_aux
``OpenposeDetector``): heatmap peaks after a sigma-3 Gaussian above 0.1, limbs scored on 10
samples along the field, people assembled greedily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DRAWN_LIMBS",
    "LIMBS",
    "LIMB_PAF_CHANNELS",
    "NUM_PARTS",
    "BodyPose",
    "assemble_people",
    "find_peaks",
    "score_limbs",
]


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
#: The limbs drawn on a skeleton map (the ear-shoulder ones only help assembly).
DRAWN_LIMBS = 17
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
            elif limb < DRAWN_LIMBS:  # the ear-shoulder limbs never start a person
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
