"""``python -m fact_runtime upscale|vary``: a result image taken further from a shell, as the bot's buttons do.

The parent image, the photos, the style and the result's size are checked before the diffusion
models load. Exit status: 0 with the PNG path printed; 2 with one sentence when something must be
fixed first; 1 when the job itself failed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from ..request import SpeedTier, Subject, UpscaleRequest, VaryRequest
from .generate import run_request
from .terminal import add_config_argument

if TYPE_CHECKING:
    from ..catalog import StyleCatalog

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("--image", type=Path, required=True, help="the result image to take further (PNG, JPEG, WebP)")
    parser.add_argument("--selfie", type=Path, required=True, help="photo of the person (JPEG, PNG or WebP)")
    parser.add_argument(
        "--reference",
        type=Path,
        action="append",
        default=[],
        help="another photo of the same person (repeatable); its face tokens join the selfie's",
    )
    parser.add_argument(
        "--style", required=True, help="the image's style, id or name (`python -m fact_runtime styles`)"
    )
    parser.add_argument("--prompt", default="", help="the extra words the image was made with")
    if command_name == "upscale":
        parser.add_argument("--seed", type=int, help="the image's seed (keeps the redraw closest to it)")
        parser.add_argument("--scale", type=int, choices=(2, 4), default=2, help="2x (default) or 4x wider and taller")
        parser.add_argument("--strength", type=float, help="override generation.upscale_strength (0 to 1)")
    else:
        parser.add_argument("--seed", type=int, help="seed of the variation (default: a new one)")
        parser.add_argument(
            "--strength", type=float, required=True, help="how far to move: about 0.3 subtle, about 0.6 strong"
        )
    parser.add_argument(
        "--subject", choices=get_args(Subject), default="person", help="how the prompt names the person"
    )
    parser.add_argument(
        "--speed", choices=get_args(SpeedTier), help="speed tier (default: speed.default), as the image was made at"
    )
    parser.add_argument("--preset", choices=("full", "tiny"), help="override runtime.preset (tiny: no weights needed)")
    parser.add_argument("--steps", type=int, help="override generation.num_inference_steps (a share of them runs)")
    parser.add_argument("--offline", action="store_true", help="never download: fail if a model is not in the cache")
    parser.set_defaults(size=None)
    add_config_argument(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNG file")


def run(args: argparse.Namespace) -> int:
    return run_request(args, _request, _file_stem)


def _file_stem(args: argparse.Namespace, request: UpscaleRequest | VaryRequest) -> str:
    return f"{args.image.stem}-{'upscale' if isinstance(request, UpscaleRequest) else 'vary'}"


def _request(args: argparse.Namespace, catalog: StyleCatalog) -> UpscaleRequest | VaryRequest:
    common = {
        "user_id": "cli",
        "image": args.image.read_bytes(),
        "selfie": args.selfie.read_bytes(),
        "references": tuple(path.read_bytes() for path in args.reference),
        "style_id": catalog.find(args.style).id,
        "seed": args.seed,
        "prompt": args.prompt,
        "subject": args.subject,
        "strength": args.strength,
        "speed": args.speed,
    }
    if args.command == "upscale":
        return UpscaleRequest(scale=args.scale, **common)
    return VaryRequest(**common)
