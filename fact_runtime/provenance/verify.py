"""Checking an image for the three marks: the invisible watermark, the XMP source type, a valid C2PA manifest."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .signing import ManifestCheck, read_manifest
from .xmp import DIGITAL_SOURCE_TYPE, read_source_type

__all__ = ["WATERMARK_THRESHOLD", "Verdict", "verify_image"]

#: Bits of 48 that must match: an unmarked image matches about 24, and 45 or more happens by chance
#: about once in 10^10 images, while a few flipped bits still count as found.
WATERMARK_THRESHOLD = 45


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one image carries; ``problems`` has one sentence per missing or broken mark."""

    watermark_bits: int | None
    source_type: str | None
    manifest: ManifestCheck
    problems: tuple[str, ...]

    @property
    def is_marked(self) -> bool:
        return not self.problems


def verify_image(data: bytes, *, trust_anchors_pem: bytes | None = None) -> Verdict:
    """Check ``data`` for the watermark, the XMP digital source type and a valid C2PA manifest.

    Raises
    ------
    ValueError
        ``data`` is not an image Pillow can decode.
    """
    from .watermark import MIN_SIDE, matching_bits

    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image ({exc})") from exc
    problems = []
    bits: int | None = None
    if min(rgb.shape[:2]) < MIN_SIDE:
        problems.append(f"no watermark to look for: the image is under {MIN_SIDE} px on its short side")
    else:
        bits = matching_bits(rgb)
        if bits < WATERMARK_THRESHOLD:
            problems.append(f"no invisible watermark ({bits} of 48 bits match; re-encoded, edited, or not marked)")
    source_type = read_source_type(data)
    if source_type != DIGITAL_SOURCE_TYPE:
        problems.append(
            "no XMP saying it is AI-generated"
            if source_type is None
            else f"its XMP gives another digital source type ({source_type})"
        )
    manifest = read_manifest(data, trust_anchors_pem=trust_anchors_pem)
    if not manifest.is_present:
        problems.append("no C2PA manifest (never signed, or stripped)")
    elif not manifest.is_valid:
        problems.append(f"an invalid C2PA manifest ({', '.join(manifest.problems) or 'signature does not verify'})")
    elif manifest.source_type != DIGITAL_SOURCE_TYPE:
        problems.append("a valid C2PA manifest that does not say a trained model made the image")
    return Verdict(bits, source_type, manifest, tuple(problems))
