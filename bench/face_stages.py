"""Per-stage time of the face analysis on a 1024 px photo on CPU (median of several runs).

Run: ``python bench/face_stages.py [--runs 7]``. The photo is scikit-image's astronaut upscaled
to 1024x1024 and JPEG-encoded; fusion blends Grace Hopper's face into it. Model loading happens
in an untimed warm-up run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

from bench.machine import describe_machine, package_version
from fact_runtime.config import ImageLimits
from fact_runtime.face import (
    align_face,
    detect_faces,
    face_embedding,
    find_selfie_face,
    fuse_face,
    head_mask,
    identity_crop,
)
from fact_runtime.face.detect import predict_landmarks68
from fact_runtime.image import decode_image
from fact_runtime.loading.face_models import FaceModels

FACES = FaceModels()


def _median_ms(function: Callable[[], object], runs: int) -> float:
    function()  # warm-up: loads the dlib model the stage needs
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    photo = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=92)
    jpeg = buffer.getvalue()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        source = np.asarray(Image.open(handle).convert("RGB"))
    limits = ImageLimits()
    rgb = decode_image(jpeg, limits).rgb
    face = find_selfie_face(FACES, rgb).face
    source_face = find_selfie_face(FACES, source).face

    stages = {
        "decode (JPEG, 1024x1024)": lambda: decode_image(jpeg, limits),
        "detect (HOG + landmarks)": lambda: detect_faces(FACES, rgb),
        "landmarks (68-point predictor)": lambda: predict_landmarks68(FACES, rgb, face.box),
        "head mask (GrabCut)": lambda: head_mask(rgb, face),
        "align 112x112": lambda: align_face(rgb, face.landmarks),
        "identity crop (mask + align)": lambda: identity_crop(rgb, face),
        "embedding (dlib ResNet 128-d)": lambda: face_embedding(FACES, rgb, face),
        "fusion (strength 0.6)": lambda: fuse_face(rgb, face, source, source_face, strength=0.6),
    }
    print(
        describe_machine(f"dlib {package_version('dlib-bin')}", f"opencv {cv2.__version__}", f"numpy {np.__version__}")
    )
    print(f"photo: {rgb.shape[1]}x{rgb.shape[0]}, face box {face.width:.0f} px; median of {args.runs} runs")
    total = 0.0
    for name, function in stages.items():
        milliseconds = _median_ms(function, args.runs)
        if name != "identity crop (mask + align)":  # the sum counts mask and align once
            total += milliseconds
        print(f"  {name:<32} {milliseconds:8.1f} ms")
    print(f"  {'total (each stage once)':<32} {total:8.1f} ms")


if __name__ == "__main__":
    main()
