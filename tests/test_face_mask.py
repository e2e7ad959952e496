"""The head mask keeps face and hair and removes background and body, on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from fact_runtime.face import find_selfie_face, head_mask
from tests.faces import FACES


@pytest.mark.parametrize("photo", ["astronaut_rgb", "grace_hopper_rgb"])
def test_head_mask_keeps_the_head_and_drops_background_and_body(request, photo):
    rgb = request.getfixturevalue(photo)
    face = find_selfie_face(FACES, rgb).face
    mask = head_mask(rgb, face)
    assert mask.shape == rgb.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0 and mask.max() <= 1

    points = face.landmarks68
    eyes = face.landmarks[:2].mean(axis=0)
    chin = points[8]
    up = eyes - chin

    def at(point: np.ndarray) -> float:
        return mask[round(point[1]), round(point[0])]

    for point in face.landmarks:
        assert at(point) == 1
    assert at(eyes + 0.7 * up) == 1  # forehead / hair above the brows
    assert at(chin - 0.5 * up) == 0  # neck and clothes below the chin
    assert at(chin - 1.5 * up) == 0
    assert mask[:10, :10].max() == 0 and mask[:10, -10:].max() == 0 and mask[-10:].max() == 0

    area_ratio = mask.sum() / face.area
    assert 1.0 < area_ratio < 4.0, area_ratio  # a head, not the face box and not the whole photo


def test_head_mask_is_the_same_every_time(astronaut_rgb):
    face = find_selfie_face(FACES, astronaut_rgb).face
    first = head_mask(astronaut_rgb, face)
    for _ in range(3):  # GrabCut's k-means would otherwise draw from a moving RNG
        np.testing.assert_array_equal(head_mask(astronaut_rgb, face), first)


def test_every_face_carries_its_68_points_and_scaling_keeps_the_mask(astronaut_rgb):
    # The mask, fusion and the embedding read the 68 points straight from the face: detection
    # always provides them, and scaling moves them with the box.
    face = find_selfie_face(FACES, astronaut_rgb).face
    assert face.landmarks68.shape == (68, 2)
    round_trip = face.scaled(0.5).scaled(2.0)
    np.testing.assert_allclose(round_trip.landmarks68, face.landmarks68, atol=1e-4)
    np.testing.assert_array_equal(head_mask(astronaut_rgb, round_trip), head_mask(astronaut_rgb, face))
