"""The picture a follow-up of a filled template (group photo, /inpaint result) paints its faces on.

A follow-up paints the template's faces again on the result, enlarged ``scale`` times: the faces
are found on the template and scaled to the result, never found on it (a result's faces may not
be found, or be found in another order), and everything outside the passes' paste masks stays
the enlarged result's own.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from ..image import decode_image
from .img2img import resize

if TYPE_CHECKING:
    import numpy as np

    from ..config import ImageLimits
    from ..face import Face

__all__ = ["start_picture"]

log = logging.getLogger(__name__)


def start_picture(
    start: bytes | None, scale: int, template: np.ndarray, faces: list[Face], images: ImageLimits
) -> tuple[np.ndarray, list[Face]]:
    """The picture the passes paint on and its faces: ``template``'s, or ``start`` enlarged ``scale`` times.

    Raises
    ------
    InputError
        ``start`` is not a usable image, or not of the template's proportions (``InvalidRequest``).
    """
    if start is None:
        return template, faces
    parent = decode_image(start, images).rgb
    factor = parent.shape[1] / template.shape[1]
    if abs(parent.shape[0] - template.shape[0] * factor) > max(factor, 1.0):
        raise InvalidRequest(
            f"start {parent.shape[1]}x{parent.shape[0]} does not fit template {template.shape[1]}x{template.shape[0]}",
            user_message="That image is not a filled copy of its template, so its faces cannot be found.",
        )
    width, height = parent.shape[1] * scale, parent.shape[0] * scale
    return resize(parent, width, height), [face.scaled(factor * scale) for face in faces]
