"""Face fusion moves the identity towards the source and leaves everything outside the region alone."""

from __future__ import annotations

import numpy as np
import pytest

from fact_runtime.face import (
    SAME_PERSON_THRESHOLD,
    face_embedding,
    face_region_mask,
    find_selfie_face,
    fuse_face,
    identity_distance,
)
from tests.faces import FACES


@pytest.fixture(scope="module")
def people(astronaut_rgb, grace_hopper_rgb):
    astronaut = find_selfie_face(FACES, astronaut_rgb).face
    grace = find_selfie_face(FACES, grace_hopper_rgb).face
    return astronaut, grace


def _distance_to(rgb: np.ndarray, embedding: np.ndarray) -> float:
    return identity_distance(face_embedding(FACES, rgb, find_selfie_face(FACES, rgb).face), embedding)


@pytest.mark.parametrize("direction", ["grace_into_astronaut", "astronaut_into_grace"])
def test_fusion_brings_the_source_identity_and_keeps_the_rest(astronaut_rgb, grace_hopper_rgb, people, direction):
    astronaut, grace = people
    if direction == "grace_into_astronaut":
        target, target_face, source, source_face = astronaut_rgb, astronaut, grace_hopper_rgb, grace
    else:
        target, target_face, source, source_face = grace_hopper_rgb, grace, astronaut_rgb, astronaut
    target_before = target.copy()
    source_embedding = face_embedding(FACES, source, source_face)
    before = identity_distance(face_embedding(FACES, target, target_face), source_embedding)
    assert before > SAME_PERSON_THRESHOLD

    fused = fuse_face(target, target_face, source, source_face, strength=1.0)
    assert fused.shape == target.shape and fused.dtype == np.uint8
    assert _distance_to(fused, source_embedding) < SAME_PERSON_THRESHOLD

    region = face_region_mask(target, target_face)
    outside = region == 0
    assert 0.01 < (~outside).mean() < 0.2
    np.testing.assert_array_equal(fused[outside], target[outside])
    assert np.abs(fused[~outside].astype(int) - target[~outside]).mean() > 5  # the face really changed
    np.testing.assert_array_equal(target, target_before)  # inputs untouched


def test_strength_scales_the_change(astronaut_rgb, grace_hopper_rgb, people):
    astronaut, grace = people
    unchanged = fuse_face(astronaut_rgb, astronaut, grace_hopper_rgb, grace, strength=0.0)
    np.testing.assert_array_equal(unchanged, astronaut_rgb)
    change = []
    for strength in (0.3, 0.6, 1.0):
        fused = fuse_face(astronaut_rgb, astronaut, grace_hopper_rgb, grace, strength=strength)
        change.append(np.abs(fused.astype(int) - astronaut_rgb).sum())
    assert 0 < change[0] < change[1] < change[2]
    with pytest.raises(ValueError):
        fuse_face(astronaut_rgb, astronaut, grace_hopper_rgb, grace, strength=1.5)
