"""A portrait from a saved identity against one from a new selfie: what skipping analysis and encoding saves.

Run: ``python bench/identity.py [--runs 5] [--photos 3]``. Part 1 runs whole portrait jobs on the
tiny preset (64x64, 3 steps, so the face stages are most of the job): from new photos (the
selfie cache is emptied before each run, as for a member's first job) and from the identity
saved from those photos. Part 2 times the face stages a saved identity skips, with TransFace-S
and the resampler at their released size (random weights; the cost is the same), against what it
does instead (decoding the best photo and reading its tokens). The photos are scikit-image's
astronaut at 1024 px, variants of one person (mirrored, brighter, zoomed). Medians; the first
run of each mode is an untimed warm-up.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import torch
from PIL import Image
from skimage import data

from bench.machine import describe_machine
from fact_runtime.catalog import load_styles
from fact_runtime.config import ImageLimits, RuntimeConfig
from fact_runtime.face import face_embedding, find_selfie_face, identity_crop
from fact_runtime.fact import FaceEncoder, FactDims, to_encoder_input
from fact_runtime.image import decode_image, downscale_for_analysis
from fact_runtime.loading.face_models import FaceModels
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import IdentityRequest, PortraitRequest
from fact_runtime.tokens import decode_tokens


def _report(stage: str, step: int = 0, total: int = 0) -> None:
    """A StepReporter that lets every job run."""


def _median_ms(function: Callable[[], object], runs: int) -> float:
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _photos(count: int) -> list[bytes]:
    """``count`` JPEGs of one person at 1024 px: the astronaut, mirrored, brighter, zoomed in."""
    photo = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    zoomed = cv2.resize(photo[40:680, 160:800], (1024, 1024), interpolation=cv2.INTER_CUBIC)
    variants = [photo[:, ::-1], np.clip(photo.astype(np.int16) * 5 // 4 + 10, 0, 255).astype(np.uint8), zoomed, photo]
    encoded = []
    for rgb in variants[:count]:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="JPEG", quality=92)
        encoded.append(buffer.getvalue())
    return encoded


def _jobs(runs: int, count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-identity-"))
    styles = root / "styles"
    styles.mkdir()
    (styles / "plain.yaml").write_text(
        'id: plain\nname: Plain\nbase_model: majicmix\nprompt: "a portrait photo of {subject}"\n', encoding="utf-8"
    )
    config = RuntimeConfig(
        preset="tiny",
        cache_dir=root / "cache",
        styles_dir=styles,
        templates_dir=root / "templates",
        generation={"width": 64, "height": 64, "num_inference_steps": 3},
    )
    engine = FactEngine(config, load_styles(styles))
    engine.warm_up()
    photos = _photos(count)
    saved = engine.run(IdentityRequest("bench", tuple(photos)), _report).face
    assert saved is not None
    best = saved.best_index
    selfie, references = photos[best], tuple(photo for index, photo in enumerate(photos) if index != best)
    fresh = PortraitRequest("bench", selfie, "plain", seed=1, references=references)
    from_saved = PortraitRequest("bench", selfie, "plain", seed=1, references=references, face=saved)
    timings: dict[str, list[float]] = {"new": [], "saved": []}

    def run(request: PortraitRequest, mode: str) -> None:
        if mode == "new":
            engine.forget_user("bench")  # a member's first job: nothing cached
        result = engine.run(request, _report)
        timings[mode].append(result.timings.get("prepare", 0.0) + result.timings.get("encode", 0.0))

    print(f"part 1: whole portrait jobs, tiny preset 64x64, 3 steps, {count} photo(s) per identity")
    medians = {}
    for mode, request in (("new", fresh), ("saved", from_saved)):
        medians[mode] = _median_ms(lambda request=request, mode=mode: run(request, mode), runs)
        face_ms = statistics.median(timings[mode][1:]) * 1000
        label = "from new photos (analyse + encode)" if mode == "new" else "from the saved identity"
        print(f"  {label:<38} job {medians[mode]:8.1f} ms   of which analysis + encoding {face_ms:8.1f} ms")
    print(f"  {'saved / new':<38} {medians['saved'] / medians['new']:8.2f}x the time")


def _face_stages(runs: int, count: int) -> None:
    faces = FaceModels()
    limits = ImageLimits()
    photos = _photos(count)
    encoder = FaceEncoder(FactDims.full())
    decoded = [
        downscale_for_analysis(decode_image(photo, limits).rgb, limits.portrait_selfie_side)[0] for photo in photos
    ]
    found = [find_selfie_face(faces, rgb).face for rgb in decoded]
    crops = [identity_crop(rgb, face) for rgb, face in zip(decoded, found, strict=True)]
    faces_in = to_encoder_input(crops, device="cpu")
    tokens = encoder.encode(faces_in)
    npy = io.BytesIO()
    np.save(npy, torch.cat([tokens.cond, tokens.uncond]).numpy(), allow_pickle=False)

    skipped = {
        f"decode {count} photo(s)": lambda: [decode_image(photo, limits) for photo in photos],
        "detect + 68 landmarks": lambda: [find_selfie_face(faces, rgb) for rgb in decoded],
        "identity embedding (ranking)": lambda: face_embedding(faces, decoded[0], found[0]),
        "identity crop (head mask + align)": lambda: [
            identity_crop(rgb, face) for rgb, face in zip(decoded, found, strict=True)
        ],
        "TransFace-S + resampler (full size)": lambda: encoder.encode(faces_in),
    }
    kept = {
        "decode the best photo": lambda: decode_image(photos[0], limits),
        "read the saved tokens (.npy)": lambda: decode_tokens(npy.getvalue(), num_photos=count),
    }
    print(f"part 2: the face stages on CPU, {count} photo(s) at 1024 px, full-size encoder (median of {runs})")
    for title, stages in (("a new selfie runs", skipped), ("a saved identity runs instead", kept)):
        total = 0.0
        print(f"  {title}:")
        for name, function in stages.items():
            milliseconds = _median_ms(function, runs)
            total += milliseconds
            print(f"    {name:<38} {milliseconds:8.1f} ms")
        print(f"    {'total':<38} {total:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--photos", type=int, default=3, choices=range(1, 5))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(describe_machine())
    with torch.inference_mode():
        _jobs(args.runs, args.photos)
        _face_stages(args.runs, args.photos)


if __name__ == "__main__":
    main()
