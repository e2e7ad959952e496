"""The head mask FACT's encoder expects: face and hair kept, background and body removed.

FACT builds it from M2FP human parsing (``fact-reference.md`` §3 steps 1-2): the largest
``Face`` and ``Hair`` masks, dilated a little, restricted to the ``Human`` instance, the largest
contour filled, the face added back. We have no parser that ships in a PyPI package, so we
approximate the same region from the 68 landmarks and the photo's colours:

1. **Face (sure foreground):** the convex hull of the jaw line and the eyebrows, the brows lifted
   by a quarter of the eyes-to-chin distance ``d`` so the lower forehead is included. This plays
   the part of M2FP's ``Face`` mask.
2. **Hair (probable foreground):** an ellipse around the head, tilted with the face, reaching
   ~1.35 ``d`` above the eyes and ~0.8 jaw widths to each side: where hair can be.
3. **Body (sure background):** everything below the jaw line (neck, shoulders, clothes), since
   FACT's head mask is face + hair only; and everything outside a margin around the ellipse.
4. **GrabCut** (``cv2.grabCut``, colour GMMs, initialised from that trimap on a ~192 px copy of
   the head region) decides which probable pixels look like the face/hair rather than the
   background; this is what separates hair from a wall, as the parser would.
5. A morphological opening drops thin strands of background; then, like FACT, keep the largest
   connected region, fill its holes, add the face back, binarise.

Known differences from the parser: hats count as hair; hair hanging below the jaw line is cut
(FACT keeps it); in a busy background of hair-like colour, GrabCut may keep a little background
inside the ellipse. The result stays a plausible head silhouette in those cases because step 2
bounds it, which is all the encoder's crop needs.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .detect import Face

__all__ = ["face_hull_mask", "head_mask"]

log = logging.getLogger(__name__)

_WORK_SIDE = 192  # GrabCut runs on a copy of the head region with this long side
_GRABCUT_ITERATIONS = 4


def _geometry(points68: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Eye midpoint, unit "up" vector of the face, eyes-to-chin distance, jaw width."""
    eyes = (points68[36:42].mean(axis=0) + points68[42:48].mean(axis=0)) / 2
    chin = points68[8]
    up = eyes - chin
    distance = float(np.linalg.norm(up))
    up = up / max(distance, 1e-6)
    width = float(np.linalg.norm(points68[16] - points68[0]))
    return eyes, up, max(distance, 1.0), max(width, 1.0)


def _face_polygon(points68: np.ndarray, *, forehead: float) -> np.ndarray:
    """Jaw line plus eyebrows lifted by ``forehead`` times the eyes-to-chin distance."""
    _, up, distance, _ = _geometry(points68)
    brows = points68[17:27] + up * forehead * distance
    return cv2.convexHull(np.concatenate([points68[0:17], brows]).astype(np.float32)).reshape(-1, 2)


def face_hull_mask(shape: tuple[int, int], points68: np.ndarray, *, forehead: float = 0.25) -> np.ndarray:
    """uint8 (H,W) mask, 1 inside the face polygon (jaw + lifted brows)."""
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(mask, np.round(_face_polygon(points68, forehead=forehead)).astype(np.int32), 1)
    return mask


def head_mask(rgb: np.ndarray, face: Face) -> np.ndarray:
    """Float32 (H,W) mask in [0,1]: 1 on the face and hair, 0 on background and body.

    Parameters
    ----------
    rgb:
        (H, W, 3) uint8 RGB image the face was detected in.
    face:
        The face (its 68 points are predicted from the box if the detector did not keep them).
    """
    height, width = rgb.shape[:2]
    points68 = face.landmarks68
    eyes, up, distance, jaw_width = _geometry(points68)
    right = np.array([-up[1], up[0]], dtype=np.float64)  # perpendicular to "up"

    # Eyes sit about halfway down the head, so the skull top is ~1.1 d above them; hair adds some.
    hair_centre = eyes + up * 0.2 * distance
    axes = (0.8 * jaw_width, 1.15 * distance)
    angle = float(np.degrees(np.arctan2(right[1], right[0])))
    # Region of interest: the hair ellipse with a margin, so GrabCut sees some background.
    margin = 1.5
    reach = np.abs(right) * axes[0] * margin + np.abs(up) * axes[1] * margin
    x0, y0 = np.floor(np.maximum(hair_centre - reach, 0)).astype(int)
    x1, y1 = np.ceil(np.minimum(hair_centre + reach, (width, height))).astype(int)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return face_hull_mask((height, width), points68).astype(np.float32)

    scale = min(1.0, _WORK_SIDE / max(x1 - x0, y1 - y0))
    offset = np.array([x0, y0], dtype=np.float64)
    work_size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    work = cv2.resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), work_size, interpolation=cv2.INTER_AREA)

    def to_work(points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - offset) * scale

    trimap = _trimap(
        (work_size[1], work_size[0]),
        to_work(points68),
        to_work(hair_centre),
        _axes(axes, scale),
        angle,
        up,
        distance * scale,
    )
    foreground = _grabcut(work, trimap)
    # Opening removes thin strands of background GrabCut attached to the head (a flag pole).
    side = max(3, round(0.12 * distance * scale)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel)
    full = np.zeros((height, width), dtype=np.uint8)
    full[y0:y1, x0:x1] = cv2.resize(foreground, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) >= 128
    full = _largest_filled_region(full)
    full |= face_hull_mask((height, width), points68)
    return full.astype(np.float32)


def _trimap(
    shape: tuple[int, int],
    points68: np.ndarray,
    hair_centre: np.ndarray,
    axes: tuple[int, int],
    angle: float,
    up: np.ndarray,
    distance: float,
) -> np.ndarray:
    """GrabCut's initial labels: face sure, hair ellipse probable, body and far background sure not."""
    trimap = np.full(shape, cv2.GC_BGD, dtype=np.uint8)
    centre = tuple(np.round(hair_centre).astype(int).tolist())
    outer = (round(axes[0] * 1.25), round(axes[1] * 1.25))
    cv2.ellipse(trimap, centre, outer, angle, 0, 360, cv2.GC_PR_BGD, -1)
    cv2.ellipse(trimap, centre, axes, angle, 0, 360, cv2.GC_PR_FGD, -1)
    # Neck, shoulders and clothes: below the lower jaw line, straight down the face's axis.
    jaw = points68[2:15]
    below = np.concatenate([jaw, (jaw - up * 3 * distance)[::-1]])
    cv2.fillPoly(trimap, [np.round(below).astype(np.int32)], cv2.GC_BGD)
    trimap[face_hull_mask(shape, points68) > 0] = cv2.GC_FGD
    return trimap


def _axes(axes: tuple[float, float], scale: float) -> tuple[int, int]:
    return (max(1, round(axes[0] * scale)), max(1, round(axes[1] * scale)))


def _grabcut(work: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """uint8 0/255 foreground from GrabCut; the trimap's probable region if GrabCut cannot run."""
    has_both = np.any(np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD))) and np.any(
        np.isin(trimap, (cv2.GC_BGD, cv2.GC_PR_BGD))
    )
    if not has_both:
        return np.where(np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD)), 255, 0).astype(np.uint8)
    mask = trimap.copy()
    background_model = np.zeros((1, 65), dtype=np.float64)
    foreground_model = np.zeros((1, 65), dtype=np.float64)
    bgr = cv2.cvtColor(work, cv2.COLOR_RGB2BGR)
    # GrabCut seeds its colour models with k-means on OpenCV's (thread-local) RNG: fix the seed so
    # the same photo always gets the same mask.
    cv2.setRNGSeed(0x5EED)
    try:
        cv2.grabCut(bgr, mask, None, background_model, foreground_model, _GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]  # OpenCV accepts None for the unused rectangle
    except cv2.error as exc:
        # Too few pixels of one kind to fit its colour model (tiny faces): keep the trimap's guess.
        log.debug("GrabCut failed (%s); using the landmark trimap", exc)
        mask = trimap
    return np.where(np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)), 255, 0).astype(np.uint8)


def _largest_filled_region(mask: np.ndarray) -> np.ndarray:
    """The largest external contour of a 0/1 mask, filled (FACT §3 step 2 does the same)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(mask.shape, dtype=np.uint8)
    if contours:
        largest = max(contours, key=cv2.contourArea)
        cv2.drawContours(filled, [largest], -1, 1, thickness=cv2.FILLED)
    return filled
