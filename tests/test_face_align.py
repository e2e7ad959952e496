"""Alignment to FACT's 112x112 reference points, and the identity crop the encoder consumes."""

from __future__ import annotations

import numpy as np
import pytest

from fact_runtime.face import REFERENCE_POINTS_112, align_face, alignment_matrix, find_selfie_face, identity_crop
from fact_runtime.face.detect import five_points_from_68, predict_landmarks68
from tests.faces import FACES


@pytest.fixture(scope="module")
def grace_face(grace_hopper_rgb):
    return find_selfie_face(FACES, grace_hopper_rgb).face


def test_reference_points_are_facts():
    assert REFERENCE_POINTS_112.shape == (5, 2)
    np.testing.assert_allclose(REFERENCE_POINTS_112[0], [38.2946, 51.6963])
    np.testing.assert_allclose(REFERENCE_POINTS_112[4], [70.7299, 92.2041])


def test_transformed_landmarks_hit_the_reference_points(grace_face):
    matrix = alignment_matrix(grace_face.landmarks)
    moved = grace_face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    # A similarity cannot fit five points exactly; FACT accepts the least-squares residual.
    assert np.abs(moved - REFERENCE_POINTS_112).max() < 4
    assert np.abs(moved[:2] - REFERENCE_POINTS_112[:2]).max() < 3


def test_redetected_eyes_in_the_aligned_face_sit_on_the_reference_points(grace_hopper_rgb, grace_face):
    size = 224  # twice 112, so the landmark predictor has pixels to work with
    aligned = align_face(grace_hopper_rgb, grace_face.landmarks, size)
    assert aligned.shape == (224, 224, 3) and aligned.dtype == np.uint8
    points = five_points_from_68(predict_landmarks68(FACES, aligned, (40, 50, 184, 210))) / 2
    assert np.abs(points[:2] - REFERENCE_POINTS_112[:2]).max() < 4
    assert np.abs(points[3:] - REFERENCE_POINTS_112[3:]).max() < 5


def test_identity_crop_is_the_masked_aligned_face(grace_hopper_rgb, grace_face):
    crop = identity_crop(grace_hopper_rgb, grace_face)
    plain = align_face(grace_hopper_rgb, grace_face.landmarks)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    for x, y in np.round(REFERENCE_POINTS_112).astype(int):  # the face itself is kept as it is
        np.testing.assert_allclose(crop[y, x].astype(int), plain[y, x].astype(int), atol=1)
    assert crop[108:, :6].max() == 0 and crop[108:, -6:].max() == 0  # shoulders/background blacked out
    assert plain[108:, :6].max() > 0  # ...and they were not black before masking
