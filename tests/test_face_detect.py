"""Face detection and the five FACT landmarks on real photos, and the selfie/template policies."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from fact_runtime.config import ImageLimits
from fact_runtime.errors import FaceIndexOutOfRange, FaceTooSmall, NoFaceFound
from fact_runtime.face import detect_faces, find_selfie_face, find_template_faces, pick_template_face
from fact_runtime.image import decode_image
from tests.faces import FACES

# Hand-measured in the photos (x0, x1, y0, y1), FACT order: left eye, right eye, nose tip,
# left mouth corner, right mouth corner (image left/right). Each box is the feature plus a few px.
ASTRONAUT_BOXES = [
    (195, 212, 95, 108),
    (237, 255, 97, 111),
    (217, 233, 118, 133),
    (194, 207, 133, 146),
    (241, 254, 134, 148),
]
GRACE_BOXES = [
    (210, 232, 180, 198),
    (293, 315, 177, 196),
    (252, 274, 228, 248),
    (224, 242, 270, 290),
    (290, 310, 266, 286),
]


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    height = max(left.shape[0], right.shape[0])
    canvas = np.full((height, left.shape[1] + right.shape[1], 3), 90, dtype=np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] :] = right
    return canvas


def _assert_in_boxes(landmarks: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
    assert landmarks.shape == (5, 2)
    for (x, y), (x0, x1, y0, y1) in zip(landmarks, boxes, strict=True):
        assert x0 <= x <= x1 and y0 <= y <= y1, (x, y, (x0, x1, y0, y1))


@pytest.mark.parametrize(("photo", "boxes"), [("astronaut_rgb", ASTRONAUT_BOXES), ("grace_hopper_rgb", GRACE_BOXES)])
def test_landmarks_land_on_eyes_nose_and_mouth(request, photo, boxes):
    rgb = request.getfixturevalue(photo)
    selfie = find_selfie_face(FACES, rgb)
    assert selfie.face.landmarks.dtype == np.float32
    _assert_in_boxes(selfie.face.landmarks, boxes)
    assert selfie.has_other_faces is False  # the astronaut's mission patch is not a face
    x0, y0, x1, y1 = selfie.face.box
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in selfie.face.landmarks)
    assert selfie.face.landmarks68.shape == (68, 2)


def test_large_photo_is_detected_and_maps_back(astronaut_rgb):
    big = cv2.resize(astronaut_rgb, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    (face,) = detect_faces(FACES, big)
    _assert_in_boxes(face.scaled(1 / 3).landmarks, ASTRONAUT_BOXES)
    assert face.width > 200


def test_rotated_exif_copy_gives_the_same_face(astronaut_rgb):
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 degrees counter-clockwise to display"
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut_rgb, k=-1)))
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_image(buffer.getvalue(), ImageLimits()).rgb
    upright = find_selfie_face(FACES, decoded).face
    original = find_selfie_face(FACES, astronaut_rgb).face
    assert np.abs(upright.landmarks - original.landmarks).max() < 3
    # The stored pixels are sideways: HOG finds no upright face there, which is why orientation matters.
    assert detect_faces(FACES, np.asarray(stored)) == []


def test_side_by_side_flags_others_and_picks_templates_from_the_left(astronaut_rgb, grace_hopper_rgb):
    composite = side_by_side(astronaut_rgb, grace_hopper_rgb)
    selfie = find_selfie_face(FACES, composite)
    assert selfie.has_other_faces is True
    _assert_in_boxes(selfie.face.landmarks - (512, 0), GRACE_BOXES)  # Grace's face is the larger one

    faces = find_template_faces(FACES, composite)
    assert len(faces) == 2 and faces[0].box[0] < faces[1].box[0]
    _assert_in_boxes(pick_template_face(FACES, composite, 1).landmarks, ASTRONAUT_BOXES)
    _assert_in_boxes(pick_template_face(FACES, composite, 2).landmarks - (512, 0), GRACE_BOXES)
    for index in (0, 3):
        with pytest.raises(FaceIndexOutOfRange) as caught:
            pick_template_face(FACES, composite, index)
        assert "2 faces" in caught.value.user_message and "1 to 2" in caught.value.user_message


def test_no_face_and_too_small_face(astronaut_rgb):
    gradient = np.tile(np.linspace(0, 255, 400).astype(np.uint8)[None, :, None], (300, 1, 3))
    for rgb in (gradient, data.coffee()):
        with pytest.raises(NoFaceFound):
            find_selfie_face(FACES, rgb)
    with pytest.raises(NoFaceFound):
        pick_template_face(FACES, gradient, 1)
    with pytest.raises(FaceTooSmall):
        find_selfie_face(FACES, astronaut_rgb, min_face_side=120)  # her face box is ~91 px
