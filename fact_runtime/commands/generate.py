"""``python -m fact_runtime portrait|inpaint``: the bot's main jobs from a shell, with a bar per stage.

Everything about the request (files, style, template, face number, limits) is checked before the
diffusion models load. Exit status: 0 with the PNG paths printed; 2 with one sentence when the
input, the config, the styles or a model must be fixed first; 1 when the job itself failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from ..config import RuntimeConfig, load_runtime_config
from ..errors import ConfigError, FactError, InputError, ModelError, StyleError
from ..image import decode_image
from ..limits import RequestLimits, check_request
from ..request import InpaintRecipe, InpaintRequest, PortraitRequest, SpeedTier, Subject
from .terminal import FAILED, StageBars, add_config_argument, config_path, fail

if TYPE_CHECKING:
    from ..catalog import StyleCatalog
    from ..request import JobRequest
    from ..results import JobResult

log = logging.getLogger(__name__)

#: Where a terminal user finds what an unknown name could have been.
_HINTS = {
    "unknown_style": "`python -m fact_runtime styles` lists them",
    "unknown_template": "`python -m fact_runtime templates` lists them",
}


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("--selfie", type=Path, required=True, help="photo of the person (JPEG, PNG or WebP)")
    parser.add_argument(
        "--reference",
        type=Path,
        action="append",
        default=[],
        help="another photo of the same person (repeatable); its face tokens join the selfie's",
    )
    if command_name == "portrait":
        parser.add_argument("--style", required=True, help="style id or name (`python -m fact_runtime styles`)")
        parser.add_argument("--prompt", default="", help="extra words appended to the style's prompt")
        parser.add_argument("--pose", type=Path, help="OpenPose skeleton map or a photo whose body pose to copy")
    else:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--template", type=Path, help="template photo whose face is replaced")
        source.add_argument("--template-id", help="a built-in template (`python -m fact_runtime templates`)")
        parser.add_argument("--face", type=int, default=1, help="which template face, counted from the left (1-based)")
        parser.add_argument(
            "--recipe",
            choices=get_args(InpaintRecipe),
            help="override generation.inpaint_recipe (original: five passes)",
        )
    parser.add_argument(
        "--speed",
        choices=get_args(SpeedTier),
        help="speed tier (default: speed.default): original recipe, fast (fewer steps, reused features), "
        "turbo (few-step LoRA)",
    )
    parser.add_argument("-n", "--count", type=int, default=1, help="number of images (default 1)")
    parser.add_argument("--seed", type=int, help="seed of the first image; image i uses seed + i")
    parser.add_argument(
        "--subject", choices=get_args(Subject), default="person", help="how the prompt names the person"
    )
    parser.add_argument("--preset", choices=("full", "tiny"), help="override runtime.preset (tiny: no weights needed)")
    parser.add_argument("--steps", type=int, help="override generation.num_inference_steps")
    parser.add_argument("--size", type=int, help="override generation width and height (multiple of 8)")
    parser.add_argument("--offline", action="store_true", help="never download: fail if a model is not in the cache")
    add_config_argument(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNG files")


def sentence(exc: InputError) -> str:
    """The user's sentence for a refusal, with where to look up a name that was not found."""
    hint = _HINTS.get(exc.kind)
    return exc.user_message if hint is None else f"{exc.user_message.rstrip('.')}; {hint}."


def run(args: argparse.Namespace) -> int:
    return run_request(args, _request, _file_stem)


def run_request(
    args: argparse.Namespace,
    build: Callable[[argparse.Namespace, StyleCatalog], JobRequest],
    stem: Callable[[argparse.Namespace, Any], str],
) -> int:
    """Build the request from ``args`` (``build``), check it and its photos, run it, write ``stem``-seedN.png files."""
    from ..catalog import StyleCatalog

    try:
        config = runtime_config(args)
        catalog = StyleCatalog.from_config(config)
        catalog.reload()
        request = build(args, catalog)
        check_request(request, RequestLimits.from_config(config))
        for data in _photos(request):
            decode_image(data, config.images)  # the wrong file is refused before torch is even imported
    except (InputError, ConfigError, StyleError, OSError) as exc:
        return refused_before_models(exc)
    try:
        result = generate(config, catalog, request, is_offline=args.offline)
    except FactError as exc:
        return failed_after_models(exc)
    write_images(args.output, stem(args, request), result)
    return 0


def _photos(request: JobRequest) -> list[bytes]:
    """Every photo a portrait, inpaint, upscale or variation request carries."""
    named = (getattr(request, name, None) for name in ("image", "selfie", "pose", "template"))
    return [data for data in (*named, *getattr(request, "references", ())) if data is not None]


def refused_before_models(
    exc: InputError | ConfigError | StyleError | OSError, say: Callable[[InputError], str] = sentence
) -> int:
    """The one line (exit status 2) for a request, config or file that must be fixed before any model loads."""
    if isinstance(exc, InputError):
        return fail(say(exc))
    if isinstance(exc, OSError):
        return fail(f"cannot read {exc.filename}: {exc.strerror}")
    return fail("; ".join(str(exc).splitlines()))


def failed_after_models(exc: FactError, say: Callable[[InputError], str] = sentence) -> int:
    """The one line for a job that failed once the models were loading: 2 for bad input or models, 1 otherwise."""
    if isinstance(exc, InputError):
        log.debug("refused: %s", exc)
        return fail(say(exc))
    if isinstance(exc, ModelError):
        return fail("; ".join(str(exc).splitlines()))
    return fail(f"{exc.user_message} ({exc})", FAILED)


def generate(config: RuntimeConfig, catalog: StyleCatalog, request: JobRequest, *, is_offline: bool) -> JobResult:
    """Check the inputs (dlib only), then load the models and run the job with a bar per stage."""
    from ..pipelines import FactEngine

    engine = FactEngine(config, catalog, is_offline=is_offline)
    print("checking the photos...", file=sys.stderr, flush=True)
    engine.check_inputs(request)
    print("loading models...", file=sys.stderr, flush=True)
    engine.warm_up()
    with StageBars() as bars:
        return engine.run(request, bars.report)


def write_images(output: Path, stem: str, result: JobResult, *, distance: str = "identity distance") -> None:
    """Write each image as ``STEM-seedN.png`` and print its path with its ``distance``; notes and timings go to stderr."""
    output.mkdir(parents=True, exist_ok=True)
    for image in result.images:
        path = output / f"{stem}-seed{image.seed}.png"
        path.write_bytes(image.png)
        measured = "" if image.identity_distance is None else f" ({distance} {image.identity_distance:.3f})"
        print(f"{path}{measured}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in result.timings.items())
    speed = "" if result.speed is None else f" at speed {result.speed}"
    print(f"done: {len(result.images)} image(s){speed}; {timings}", file=sys.stderr)


def runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    """The config file (not needed for the tiny preset) with the --preset, --steps and --size overrides."""
    overrides = {"preset": args.preset} if args.preset else None
    # The tiny preset runs from a bare checkout: defaults, ./styles, no config file needed.
    path = config_path(args, is_required=args.preset != "tiny")
    config = load_runtime_config(path, overrides=overrides)
    generation = {}
    if args.steps is not None:
        generation["num_inference_steps"] = args.steps
    if args.size is not None:
        generation["width"] = generation["height"] = args.size
    if generation:
        merged = config.generation.model_dump() | generation
        config = config.model_copy(update={"generation": type(config.generation).model_validate(merged)})
    return config


def _request(args: argparse.Namespace, catalog: StyleCatalog) -> PortraitRequest | InpaintRequest:
    selfie = args.selfie.read_bytes()
    references = tuple(path.read_bytes() for path in args.reference)
    if args.command == "portrait":
        return PortraitRequest(
            user_id="cli",
            selfie=selfie,
            references=references,
            style_id=catalog.find(args.style).id,
            count=args.count,
            seed=args.seed,
            prompt=args.prompt,
            subject=args.subject,
            pose=args.pose.read_bytes() if args.pose else None,
            speed=args.speed,
        )
    return InpaintRequest(
        user_id="cli",
        selfie=selfie,
        references=references,
        template=args.template.read_bytes() if args.template else None,
        template_id=args.template_id,
        face_index=args.face,
        count=args.count,
        seed=args.seed,
        subject=args.subject,
        recipe=args.recipe,
        speed=args.speed,
    )


def _file_stem(args: argparse.Namespace, request: PortraitRequest | InpaintRequest) -> str:
    if isinstance(request, PortraitRequest):
        return request.style_id
    template = args.template_id or args.template.stem
    return f"inpaint-{template}-face{args.face}"
