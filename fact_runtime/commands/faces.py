"""``python -m fact_runtime faces IMAGE``: the faces found in a photo as JSON, or why it is refused.

Exit status: 0 with JSON on stdout; 2 with the user-facing refusal sentence on stderr (the same
sentence the bot would send), or one ``error:`` line when the file or the config cannot be read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..config import ImageLimits, load_runtime_config
from ..errors import ConfigError, InputError, NoFaceFound
from .terminal import REFUSED, add_config_argument, config_path, fail

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("image", type=Path, help="JPEG, PNG or WebP photo")
    add_config_argument(parser)
    parser.add_argument(
        "--template",
        action="store_true",
        help="apply the template policy (all faces, numbered from the left) instead of the selfie one",
    )
    parser.add_argument(
        "--min-face-side", type=int, default=48, help="smallest usable selfie face, in analysis pixels (default 48)"
    )


def run(args: argparse.Namespace) -> int:
    from ..face import choose_selfie_face, find_template_faces
    from ..face.detect import CONFIRM_BELOW
    from ..image import decode_image, downscale_for_analysis
    from ..loading.face_models import FaceModels

    try:
        data = args.image.read_bytes()
        limits = _limits(config_path(args, is_required=False))
    except OSError as exc:
        return fail(f"cannot read {exc.filename}: {exc.strerror}")
    except ConfigError as exc:
        return fail("; ".join(str(exc).splitlines()))
    try:
        decoded = decode_image(data, limits)
        analysis, scale = downscale_for_analysis(decoded.rgb, limits.analysis_side)
        faces = find_template_faces(FaceModels(), analysis)  # numbered as /inpaint numbers them
        chosen = None
        if args.template:
            if not faces:
                raise NoFaceFound("no face in the template", user_message="No face was found in that template photo.")
        else:
            chosen = choose_selfie_face(faces, min_face_side=args.min_face_side).face
    except InputError as exc:
        log.debug("refused: %s", exc)
        print(exc.user_message, file=sys.stderr)
        return REFUSED

    report = []
    for index, face in enumerate(faces, start=1):
        full = face.scaled(1 / scale)
        notes = [f"face {index} of {len(faces)} from the left", f"box {full.width:.0f}x{full.height:.0f} px"]
        if chosen is not None:
            is_chosen = face is chosen
            notes.append("selfie: chosen (largest face)" if is_chosen else "selfie: ignored (not the largest face)")
        if face.score < CONFIRM_BELOW:
            notes.append(f"weak HOG score {face.score:.2f}, confirmed by the CNN detector")
        report.append(
            {
                "box": [round(value, 1) for value in full.box],
                "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in full.landmarks],
                "score": round(face.score, 3),
                "notes": notes,
            }
        )
    image = {
        "format": decoded.format,
        "width": decoded.width,
        "height": decoded.height,
        "analysis_scale": round(scale, 4),
    }
    print(json.dumps({"faces": report, "image": image}, indent=2))
    return 0


def _limits(config: Path | None) -> ImageLimits:
    if config is None:
        log.info("no config file; using the default image limits (and their FACT_RUNTIME__IMAGES__* overrides)")
    return load_runtime_config(config, overrides=None if config else {"preset": "tiny"}).images
