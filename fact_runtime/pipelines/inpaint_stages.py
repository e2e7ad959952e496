"""Stages of the original inpainting recipe (fact-reference §4.3) that ``OriginalInpaintPipeline`` runs in order.

The recipe's numbers live here, each as the original has it: its prompts, the FACT and
ControlNet scales of every pass, the mask growth shares and the refinement's strength. The
denoising passes themselves are ``diffusion.denoise_portraits`` (the pose pass) and
``control_inpaint.denoise_control_inpaint`` (inpainting and refinement).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NoPoseFound, PoseUnavailable
from ..face import Face, detect_faces, fuse_face
from ..face.mask import face_hull_mask
from ..pose import fit_pose_map
from .recipe_masks import canny_edges, eye_line_mask

if TYPE_CHECKING:
    from ..loading import FaceModels, ModelStack
    from ..results import StepReporter
    from .diffusion import StepCallback
    from .stages import AnalysedSelfie

__all__ = [
    "INPAINT_CONTROL_SCALES",
    "INPAINT_MASK_GROW",
    "INPAINT_MASK_PRE_GROW",
    "NEGATIVE_PROMPT",
    "NO_POSE_NOTE",
    "PROMPT",
    "REFINE_CONTROL_SCALES",
    "REFINE_MASK_GROW",
    "REFINE_STRENGTH",
    "StepTally",
    "TemplateFace",
    "fuse_new_faces",
    "largest_face",
    "template_face",
    "template_pose",
]

log = logging.getLogger(__name__)

#: The original's fixed inpainting prompts (fact-reference §5.3), A1111 weights written as plain words.
PROMPT = (
    "{subject}, raw photo, masterpiece, simple background, solo, medium shot, high detail face, "
    "photorealistic, best quality, wearing T-shirt"
)
NEGATIVE_PROMPT = (
    "nsfw, paintings, sketches, worst quality, low quality, lowers, normal quality, monochrome, grayscale, "
    "logo, word, character"
)
#: ControlNet scales [OpenPose face map, canny edges] of the inpainting pass and of the refinement.
INPAINT_CONTROL_SCALES = (1.0, 0.2)
REFINE_CONTROL_SCALES = (0.8, 0.8)
#: The refinement denoises this share of the steps (5 of 50).
REFINE_STRENGTH = 0.1
#: Mask growth, as shares of the face's square-root area: the inpainting mask first grows by
#: ``INPAINT_MASK_PRE_GROW`` all round, then by ``INPAINT_MASK_GROW`` below the eye line; the
#: canny map is erased inside the face grown by ``EDGE_ERASE_GROW`` below the eye line; the
#: refinement mask is the refined face grown by ``REFINE_MASK_GROW``.
INPAINT_MASK_PRE_GROW = 0.04
INPAINT_MASK_GROW = 0.1
EDGE_ERASE_GROW = 0.05
REFINE_MASK_GROW = 0.02
#: The intermediate face gets the selfie's face in full: only its geometry goes on (the warped
#: paste and the face map), as the original's face swap there.
_NEW_FACE_FUSION_STRENGTH = 1.0

NO_POSE_NOTE = (
    "This server has no pose detector, so the new face was first drawn without the template's pose; "
    "it may fit the template a little less closely."
)


@dataclass(frozen=True, slots=True, eq=False)
class TemplateFace:
    """The template face in working-square pixels: landmarks, face mask, eye line, and the edge map around it."""

    points68: np.ndarray
    points5: np.ndarray
    #: uint8 0/1: the face (jaw line and lifted brows), our stand-in for the parser's face mask.
    mask: np.ndarray
    #: Row of the eyes: above it the masks stay tight.
    eye_y: int
    #: The canny ControlNet's condition: the square's edges, erased over the face.
    edges: np.ndarray


def template_face(square: np.ndarray, points68: np.ndarray, points5: np.ndarray) -> TemplateFace:
    """The template face's geometry in the working square, and the square's edge map without the face's edges."""
    size = square.shape[0]
    mask = face_hull_mask((size, size), points68)
    eye_y = int((points5[0, 1] + points5[1, 1]) / 2)
    erase = eye_line_mask(mask, eye_y, grow=EDGE_ERASE_GROW)
    return TemplateFace(points68, points5, mask, eye_y, canny_edges(square, erase=erase))


def template_pose(stack: ModelStack, square: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """The OpenPose skeleton of the working square for the pose pass, or ``None`` (with a note when the user should know).

    Without an annotator the pass runs without the pose ControlNet: a made-up skeleton would
    steer the face somewhere the template's is not. A square in which OpenPose finds nobody (a
    close-up) runs without it too; the warped paste lines the face up either way.
    """
    try:
        skeleton = stack.pose_annotator().skeleton_map(square)
    except PoseUnavailable:
        log.info("pose pass without the pose ControlNet: no OpenPose annotator")
        return None, NO_POSE_NOTE
    except NoPoseFound:
        log.info("pose pass without the pose ControlNet: OpenPose finds nobody in the template's square")
        return None, None
    size = square.shape[0]
    return fit_pose_map(skeleton, size, size), None


def largest_face(models: FaceModels, rgb: np.ndarray) -> Face | None:
    """The largest face dlib finds in ``rgb``, or ``None``."""
    faces = detect_faces(models, rgb)
    return max(faces, key=lambda face: face.area) if faces else None


def fuse_new_faces(
    models: FaceModels, images: Sequence[np.ndarray], selfie: AnalysedSelfie
) -> list[tuple[np.ndarray, Face | None]]:
    """The selfie's face fused into each pose-pass face (always, unlike the optional final fusion), with the face found after.

    An image without a detectable face stays as it is, with ``None``.
    """
    fused: list[tuple[np.ndarray, Face | None]] = []
    for index, image in enumerate(images):
        face = largest_face(models, image)
        if face is None:
            log.info("no face found in pose-pass image %d: no fusion for it", index)
            fused.append((image, None))
            continue
        try:
            image = fuse_face(image, face, selfie.rgb, selfie.face, strength=_NEW_FACE_FUSION_STRENGTH)
        except ValueError as exc:  # degenerate landmarks on a generated face: keep the image as made
            log.info("fusion skipped for pose-pass image %d: %s", index, exc)
        fused.append((image, largest_face(models, image) or face))
    return fused


class StepTally:
    """One progress count over several denoising passes: each pass counts on from where the last one stopped."""

    def __init__(self, report: StepReporter, total: int) -> None:
        self._report = report
        self.total = total
        self.done = 0

    def next_pass(self) -> StepCallback:
        """The step callback of the next pass; it reports (steps of all passes so far, the job's total)."""
        start = self.done

        def on_step(done: int, _total: int) -> None:
            self.done = start + done
            self._report("denoising", self.done, self.total)

        return on_step

    def between_passes(self) -> None:
        """Report where the job stands between passes, so a cancel lands before the next one starts."""
        self._report("denoising", self.done, self.total)
