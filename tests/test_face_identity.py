"""dlib's 128-d identity embedding separates the two people in the fixture photos."""

from __future__ import annotations

import cv2
import numpy as np

from fact_runtime.face import SAME_PERSON_THRESHOLD, face_embedding, find_selfie_face, identity_distance
from tests.faces import FACES


def _embedding(rgb: np.ndarray) -> np.ndarray:
    return face_embedding(FACES, rgb, find_selfie_face(FACES, rgb).face)


def test_same_person_close_and_different_people_apart(astronaut_rgb, grace_hopper_rgb):
    astronaut = _embedding(astronaut_rgb)
    assert astronaut.shape == (128,) and astronaut.dtype == np.float32
    # The same photo mirrored and resized is a different image of the same person.
    mirrored = cv2.resize(np.ascontiguousarray(astronaut_rgb[:, ::-1]), (700, 700), interpolation=cv2.INTER_CUBIC)
    assert identity_distance(astronaut, _embedding(mirrored)) < SAME_PERSON_THRESHOLD
    assert identity_distance(astronaut, _embedding(grace_hopper_rgb)) > SAME_PERSON_THRESHOLD
    assert identity_distance(astronaut, astronaut) == 0.0
    assert SAME_PERSON_THRESHOLD == 0.6
