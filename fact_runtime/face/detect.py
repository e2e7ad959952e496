"""Face detection with the five FACT landmarks, and the selfie and template policies.

Detector: dlib's HOG frontal face detector. Its sliding window is 80x80 pixels, so images with a
long side up to ``UPSAMPLE_BELOW`` are upsampled once (faces from ~40 px are found) and larger
ones are first reduced to ``DETECT_LONG_SIDE``; the box is mapped back and the landmarks are
predicted on the image as given, at full precision. HOG fires now and then on round, face-sized
things (a mission patch on the astronaut's suit scores 0.12; real faces score around 1), so a
detection scoring below ``CONFIRM_BELOW`` is kept only if dlib's MMOD CNN detector also finds a
face in a crop around it (about 0.1 s per weak candidate on CPU; strong ones skip it).

Landmarks: dlib's 68-point predictor (iBUG 300-W layout, indices 0-based) reduced to the five
points FACT's RetinaFace produced, in FACT order (``fact-reference.md`` §3 step 4, image left and
right, i.e. "left eye" is the subject's right eye):

==================  ===============================
FACT point          from the 68 points
==================  ===============================
left eye centre     mean of 36-41 (eye on the image left)
right eye centre    mean of 42-47 (eye on the image right)
nose tip            30
left mouth corner   48
right mouth corner  54
==================  ===============================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ..errors import FaceIndexOutOfRange, FaceTooSmall, ModelMissing, NoFaceFound

if TYPE_CHECKING:
    from ..loading.face_models import FaceModels

__all__ = [
    "Face",
    "SelfieFace",
    "choose_selfie_face",
    "choose_template_face",
    "detect_faces",
    "find_selfie_face",
    "find_template_faces",
    "five_points_from_68",
    "pick_template_face",
    "predict_landmarks68",
]

log = logging.getLogger(__name__)

#: Images with a long side up to this are upsampled once before HOG (its window is 80 px).
UPSAMPLE_BELOW = 640
#: Larger images are reduced to this long side for detection only.
DETECT_LONG_SIDE = 1024
#: HOG detections scoring below this are confirmed by the CNN detector on a crop.
CONFIRM_BELOW = 0.5
#: Side of the square crop (twice the box) the CNN detector confirms on.
_CONFIRM_CROP = 160

_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_NOSE_TIP = 30
_MOUTH_LEFT = 48
_MOUTH_RIGHT = 54


@dataclass(frozen=True, slots=True, eq=False)
class Face:
    """One detected face: box (x0, y0, x1, y1), five FACT landmarks (5,2), detector score, dlib's 68 points (68,2)."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float
    landmarks68: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def scaled(self, factor: float) -> Face:
        """The same face with every coordinate multiplied by ``factor`` (e.g. ``1 / analysis scale``)."""
        x0, y0, x1, y1 = self.box
        return Face(
            box=(x0 * factor, y0 * factor, x1 * factor, y1 * factor),
            landmarks=(self.landmarks * factor).astype(np.float32),
            score=self.score,
            landmarks68=(self.landmarks68 * factor).astype(np.float32),
        )


@dataclass(frozen=True, slots=True, eq=False)
class SelfieFace:
    """The face a selfie is about, and whether the photo showed other faces too (and which)."""

    face: Face
    has_other_faces: bool
    others: tuple[Face, ...] = ()


def five_points_from_68(points68: np.ndarray) -> np.ndarray:
    """FACT's five points (module docstring table) from dlib's 68, as float32 (5,2)."""
    return np.stack(
        [
            points68[_LEFT_EYE].mean(axis=0),
            points68[_RIGHT_EYE].mean(axis=0),
            points68[_NOSE_TIP],
            points68[_MOUTH_LEFT],
            points68[_MOUTH_RIGHT],
        ]
    ).astype(np.float32)


def detect_faces(models: FaceModels, rgb: np.ndarray) -> list[Face]:
    """Every face HOG finds in an RGB uint8 image, with landmarks, in no particular order.

    Parameters
    ----------
    rgb:
        (H, W, 3) uint8 RGB image; coordinates in the result are in its pixels.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H,W,3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    image = np.ascontiguousarray(rgb)
    height, width = image.shape[:2]
    longest = max(height, width)
    scale = min(1.0, DETECT_LONG_SIDE / longest)
    small = (
        image
        if scale == 1.0
        else cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    )
    upsample = 1 if longest * scale <= UPSAMPLE_BELOW else 0
    rects, scores, _ = models.run("detector", lambda detector: detector.run(small, upsample, 0.0))
    faces = []
    for rect, score in zip(rects, scores, strict=True):
        if score < CONFIRM_BELOW and not _is_confirmed_by_cnn(models, small, rect):
            log.debug("dropped weak HOG detection %s (score %.2f): CNN sees no face", rect, score)
            continue
        # dlib's right/bottom are inclusive. The predictor gets the unclipped square; the box is clipped.
        x0, y0 = rect.left() / scale, rect.top() / scale
        x1, y1 = (rect.right() + 1) / scale, (rect.bottom() + 1) / scale
        points68 = predict_landmarks68(models, image, (x0, y0, x1, y1))
        box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
        faces.append(Face(box=box, landmarks=five_points_from_68(points68), score=float(score), landmarks68=points68))
    log.debug("detected %d face(s) in %dx%d (upsample %d)", len(faces), width, height, upsample)
    return faces


def predict_landmarks68(models: FaceModels, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """dlib's 68 landmarks for the face in ``box`` (x0, y0, x1, y1), as float32 (68,2)."""
    import dlib

    rect = dlib.rectangle(round(box[0]), round(box[1]), round(box[2]) - 1, round(box[3]) - 1)
    pixels = np.ascontiguousarray(rgb)
    shape = models.run("predictor68", lambda predictor: predictor(pixels, rect))
    return np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float32)


def _is_confirmed_by_cnn(models: FaceModels, image: np.ndarray, rect: Any) -> bool:
    """Whether the MMOD CNN detector finds a face in a square crop twice the size of ``rect``."""
    half = max(rect.width(), rect.height())
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    x0, y0 = round(cx - half), round(cy - half)
    side = 2 * half
    canvas = np.zeros((side, side, 3), dtype=np.uint8)  # zero padding where the crop leaves the image
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, image.shape[1]), min(y0 + side, image.shape[0])
    if sx1 <= sx0 or sy1 <= sy0:
        return False
    canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    crop = cv2.resize(canvas, (_CONFIRM_CROP, _CONFIRM_CROP), interpolation=cv2.INTER_AREA)
    try:
        return len(models.run("cnn_detector", lambda cnn: cnn(crop, 0))) > 0
    except ModelMissing as exc:
        # The CNN only vets weak detections; without it HOG's own threshold decides.
        log.warning("cannot confirm a weak detection: %s", exc)
        return True


def find_selfie_face(models: FaceModels, rgb: np.ndarray, *, min_face_side: int = 48) -> SelfieFace:
    """The most prominent (largest) face of a selfie, flagging any other faces.

    Parameters
    ----------
    rgb:
        (H, W, 3) uint8 RGB image.
    min_face_side:
        Smallest usable face box side, in pixels of ``rgb``.

    Raises
    ------
    NoFaceFound
        No face was detected.
    FaceTooSmall
        The largest face's box is narrower or shorter than ``min_face_side``.
    """
    return choose_selfie_face(detect_faces(models, rgb), min_face_side=min_face_side)


def choose_selfie_face(faces: list[Face], *, min_face_side: int = 48) -> SelfieFace:
    """The selfie policy on faces already detected: the largest one, others flagged.

    Raises
    ------
    NoFaceFound
        ``faces`` is empty.
    FaceTooSmall
        The largest face's box is narrower or shorter than ``min_face_side``.
    """
    if not faces:
        raise NoFaceFound("no face detected")
    face = max(faces, key=lambda candidate: candidate.area)
    if min(face.width, face.height) < min_face_side:
        raise FaceTooSmall(f"largest face is {face.width:.0f}x{face.height:.0f} px < {min_face_side} px")
    others = tuple(other for other in faces if other is not face)
    return SelfieFace(face=face, has_other_faces=bool(others), others=others)


def find_template_faces(models: FaceModels, rgb: np.ndarray) -> list[Face]:
    """Every face in a template photo, sorted left to right by box left edge."""
    return sorted(detect_faces(models, rgb), key=lambda face: (face.box[0], face.box[1]))


def pick_template_face(models: FaceModels, rgb: np.ndarray, index: int) -> Face:
    """The ``index``-th face from the left (1-based), as users count faces in a group photo.

    Raises
    ------
    NoFaceFound
        The template has no face at all.
    FaceIndexOutOfRange
        ``index`` is below 1 or above the number of faces (the message says how many there are).
    """
    return choose_template_face(find_template_faces(models, rgb), index)


def choose_template_face(faces: list[Face], index: int) -> Face:
    """The template policy on faces already found and sorted left to right: the ``index``-th (1-based).

    Raises
    ------
    NoFaceFound
        ``faces`` is empty.
    FaceIndexOutOfRange
        ``index`` is below 1 or above the number of faces (the message says how many there are).
    """
    if not faces:
        raise NoFaceFound(
            "no face in the template",
            user_message="No face was found in that template photo; please pick a photo with a visible face.",
        )
    if not 1 <= index <= len(faces):
        count = len(faces)
        noun = "face" if count == 1 else "faces"
        raise FaceIndexOutOfRange(
            f"face index {index} with {count} {noun}",
            user_message=f"The template has {count} {noun}; pick a face number from 1 to {count}.",
        )
    return faces[index - 1]
