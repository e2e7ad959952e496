"""``python -m fact_runtime portrait|inpaint``: the bot's main jobs from a shell, with a progress bar.

Exit status: 0 with the PNG paths printed; 2 with the user-facing sentence when the input is
refused (the same sentence the bot would send); 1 when a model, the config or the styles are
missing or invalid (the message says which and how to fix it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from ..config import RuntimeConfig, load_runtime_config
from ..errors import FactError, InputError
from ..limits import RequestLimits, check_request
from ..request import InpaintRecipe, InpaintRequest, PortraitRequest, Stage, Subject

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger(__name__)

REFUSED = 2
FAILED = 1


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
        parser.add_argument("--style", required=True, help="style id (a file name in the styles folder)")
        parser.add_argument("--prompt", default="", help="extra words appended to the style's prompt")
        parser.add_argument("--pose", type=Path, help="OpenPose skeleton map steering the body pose")
    else:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--template", type=Path, help="template photo whose face is replaced")
        source.add_argument("--template-id", help="a built-in template (file stem in templates_dir)")
        parser.add_argument("--face", type=int, default=1, help="which template face, counted from the left (1-based)")
        parser.add_argument(
            "--recipe",
            choices=get_args(InpaintRecipe),
            help="override generation.inpaint_recipe (original: five passes)",
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
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="config file (default config.yaml)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNG files")


def run(args: argparse.Namespace) -> int:
    from ..catalog import StyleCatalog
    from ..pipelines import FactEngine

    try:
        config = _config(args)
        catalog = StyleCatalog.from_config(config)
        catalog.reload()
        request = _request(args)
        check_request(request, RequestLimits.from_config(config))
        engine = FactEngine(config, catalog, is_offline=args.offline)
        if isinstance(request, PortraitRequest):
            note = engine.lora_note(request.style_id)
            if note:
                print(f"note: {note}", file=sys.stderr)
        engine.warm_up()
        with _ProgressBar() as bar:
            result = engine.run(request, bar.report)
    except InputError as exc:
        log.debug("refused: %s", exc)
        print(exc.user_message, file=sys.stderr)
        return REFUSED
    except FactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return FAILED
    args.output.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(args)
    for image in result.images:
        path = args.output / f"{stem}-seed{image.seed}.png"
        path.write_bytes(image.png)
        distance = "" if image.identity_distance is None else f" (identity distance {image.identity_distance:.3f})"
        print(f"{path}{distance}")
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in result.timings.items())
    print(f"done: {len(result.images)} image(s); {timings}", file=sys.stderr)
    return 0


def _config(args: argparse.Namespace) -> RuntimeConfig:
    overrides = {"preset": args.preset} if args.preset else None
    if args.config.exists() or args.preset != "tiny":
        config = load_runtime_config(args.config, overrides=overrides)
    else:
        # The tiny preset runs from a bare checkout: defaults, ./styles, no config file needed.
        config = RuntimeConfig(preset="tiny")
    generation = {}
    if args.steps is not None:
        generation["num_inference_steps"] = args.steps
    if args.size is not None:
        generation["width"] = generation["height"] = args.size
    if generation:
        merged = config.generation.model_dump() | generation
        config = config.model_copy(update={"generation": type(config.generation).model_validate(merged)})
    return config


def _request(args: argparse.Namespace) -> PortraitRequest | InpaintRequest:
    selfie = args.selfie.read_bytes()
    references = tuple(path.read_bytes() for path in args.reference)
    if args.command == "portrait":
        return PortraitRequest(
            user_id="cli",
            selfie=selfie,
            references=references,
            style_id=args.style,
            count=args.count,
            seed=args.seed,
            prompt=args.prompt,
            subject=args.subject,
            pose=args.pose.read_bytes() if args.pose else None,
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
    )


def _file_stem(args: argparse.Namespace) -> str:
    if args.command == "portrait":
        return args.style
    template = args.template_id or args.template.stem
    return f"inpaint-{template}-face{args.face}"


class _ProgressBar:
    """A tqdm bar fed by the engine's reporter: one description per stage, one tick per step."""

    def __enter__(self) -> _ProgressBar:
        from tqdm import tqdm

        self._bar: tqdm = tqdm(total=0, unit="step", file=sys.stderr, dynamic_ncols=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bar.close()

    def report(self, stage: Stage, step: int = 0, total: int = 0) -> None:
        self._bar.set_description(stage)
        if total and self._bar.total != total:
            self._bar.reset(total=total)
        if step:
            self._bar.update(step - self._bar.n)
