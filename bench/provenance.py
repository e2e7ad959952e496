"""Which marks survive the re-encodings the bot applies to fit Discord's upload limit (``bot/jobs/files.py``).

Run: ``python bench/provenance.py``. Two real photos (scikit-image's astronaut, matplotlib's Grace
Hopper) at 512x512 are marked as the runtime marks a portrait (watermark, XMP, C2PA), then
re-encoded as ``fit_images`` does: JPEG at each of its qualities, and the 0.75 downscale at the
lowest one. For each, how many of the watermark's 48 bits still decode (about 24 is chance), and
whether XMP and C2PA are there before and after the bot marks the re-encode again. Also JPEG
without chroma subsampling, to show where the watermark is lost. Prints a table; no timings.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

from bench.machine import describe_machine
from bot.jobs.files import _DOWNSCALE, _JPEG_QUALITIES
from fact_runtime.provenance import DIGITAL_SOURCE_TYPE, Provenance, ProvenanceConfig, read_manifest, read_source_type
from fact_runtime.provenance.watermark import matching_bits


def _photos() -> dict[str, np.ndarray]:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        hopper = np.asarray(Image.open(file).convert("RGB"))
    return {"astronaut": cv2.resize(data.astronaut(), (512, 512)), "grace_hopper": cv2.resize(hopper, (512, 512))}


def _jpeg(image: Image.Image, quality: int, *, subsampling: int = -1) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True, subsampling=subsampling)
    return buffer.getvalue()


def _bits(encoded: bytes) -> int:
    return matching_bits(np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")))


def _marks(encoded: bytes) -> str:
    xmp = read_source_type(encoded) == DIGITAL_SOURCE_TYPE
    return f"XMP {'yes' if xmp else 'no'}, C2PA {'valid' if read_manifest(encoded).is_valid else 'none'}"


def main() -> None:
    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        marker = Provenance.from_config(ProvenanceConfig(credentials_dir=Path(folder)))
        for name, rgb in _photos().items():
            png = marker.encode_png(rgb)
            print(f"\n{name} 512x512: PNG as made: {_bits(png)}/48 bits, {_marks(png)}")
            image = Image.open(io.BytesIO(png)).convert("RGB")
            variants = [(f"JPEG q{quality}", _jpeg(image, quality)) for quality in _JPEG_QUALITIES]
            small = image.resize((round(512 * _DOWNSCALE),) * 2, Image.Resampling.LANCZOS)
            variants.append((f"x{_DOWNSCALE} + JPEG q{_JPEG_QUALITIES[-1]}", _jpeg(small, _JPEG_QUALITIES[-1])))
            variants += [(f"JPEG q{q} 4:4:4 (not used)", _jpeg(image, q, subsampling=0)) for q in (90, 80)]
            for label, encoded in variants:
                print(
                    f"  {label:<28} {_bits(encoded):>2}/48 bits; re-encoded: {_marks(encoded)}; "
                    f"after the bot marks it: {_marks(marker.mark(encoded))}"
                )


if __name__ == "__main__":
    main()
