"""``python -m fact_runtime group``: several people's faces into one template photo, from a shell.

Each ``--face N=PHOTO`` puts the person of PHOTO into the template's face N (counted from the
left). The photos become identities the way ``/identity save`` makes them (one clear face each,
face tokens computed once), and the group job then uses those tokens, as it does a saved
identity's. Every photo, the template and the face numbers are checked before the diffusion
models load. ``--start RESULT.png`` takes an earlier result further (``--scale 2``: an upscale;
``--strength``: a variation), painting the faces again on it. Exit status: 0 with the PNG paths printed; 2 with one sentence when the input, the
config or a model must be fixed first; 1 when the job itself failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from ..catalog import template_path
from ..errors import ConfigError, FactError, InputError, StyleError
from ..follow_up_size import check_template_follow_up
from ..image import decode_image
from ..limits import RequestLimits, check_seed, named_face
from ..request import GroupFace, GroupRequest, IdentityRequest, InpaintRecipe, SpeedTier
from .generate import failed_after_models, refused_before_models, runtime_config, write_images
from .terminal import StageBars, add_config_argument

if TYPE_CHECKING:
    from ..catalog import StyleCatalog
    from ..config import RuntimeConfig
    from ..results import JobResult

log = logging.getLogger(__name__)

#: The one user id of a terminal run: every face's identity is the terminal user's own.
_USER = "cli"


def _face_option(text: str) -> tuple[int, Path]:
    number, separator, path = text.partition("=")
    if not separator or not path or not number.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected FACE=PHOTO, such as 1=me.jpg, got {text!r}")
    return int(number), Path(path)


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--template", type=Path, help="template photo whose faces are replaced")
    source.add_argument("--template-id", help="a built-in template (`python -m fact_runtime templates`)")
    parser.add_argument(
        "--face",
        type=_face_option,
        action="append",
        required=True,
        metavar="N=PHOTO",
        help="put the person of PHOTO into template face N, counted from the left (repeat for each face)",
    )
    parser.add_argument(
        "--recipe", choices=get_args(InpaintRecipe), help="override generation.inpaint_recipe (original: five passes)"
    )
    parser.add_argument(
        "--speed", choices=get_args(SpeedTier), help="speed tier of every face's pass (default: speed.default)"
    )
    parser.add_argument(
        "--start", type=Path, help="an earlier result of this template: its faces are painted again on it"
    )
    parser.add_argument("--scale", type=int, choices=(1, 2), default=1, help="with --start: 2 upscales it 2x")
    parser.add_argument(
        "--strength", type=float, help="with --start: share of each face redrawn (default: full, 2x: upscale_strength)"
    )
    parser.add_argument("-n", "--count", type=int, default=1, help="number of images (default 1)")
    parser.add_argument("--seed", type=int, help="seed of the first image; image i uses seed + i")
    parser.add_argument("--preset", choices=("full", "tiny"), help="override runtime.preset (tiny: no weights needed)")
    parser.add_argument("--steps", type=int, help="override generation.num_inference_steps")
    parser.add_argument("--size", type=int, help="override generation width and height (multiple of 8)")
    parser.add_argument("--offline", action="store_true", help="never download: fail if a model is not in the cache")
    add_config_argument(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNG files")


def run(args: argparse.Namespace) -> int:
    from ..catalog import StyleCatalog

    # The styles are not read: a group photo uses none, so a broken style file does not stop it.
    try:
        config = runtime_config(args)
        limits = RequestLimits.from_config(config)
        limits.check_count(args.count)
        check_seed(args.seed)
        limits.check_group_faces([number for number, _ in args.face])
        photos = {number: path.read_bytes() for number, path in args.face}
        for number, photo in photos.items():
            with named_face(number):
                decode_image(photo, config.images)  # the wrong file is refused before torch is even imported
        if args.template is not None:
            template = args.template.read_bytes()
            decode_image(template, config.images)
        else:
            template = None
            template_path(config.templates_dir, args.template_id)
        start = None if args.start is None else args.start.read_bytes()
        check_template_follow_up(_request(args, (), template, start), config.images)
        catalog = StyleCatalog.from_config(config)
    except (InputError, ConfigError, StyleError, OSError) as exc:
        return refused_before_models(exc)
    try:
        result = _generate(config, catalog, args, photos, template, start)
    except FactError as exc:
        return failed_after_models(exc)
    _write(args, result)
    return 0


def _generate(
    config: RuntimeConfig,
    catalog: StyleCatalog,
    args: argparse.Namespace,
    photos: dict[int, bytes],
    template: bytes | None,
    start: bytes | None,
) -> JobResult:
    """Check the photos and the template (dlib only), load the models, make the identities, then the group photo."""
    from ..pipelines import FactEngine
    from ..pipelines.follow_up_picture import start_picture

    engine = FactEngine(config, catalog, is_offline=args.offline)
    print("checking the photos...", file=sys.stderr, flush=True)
    for number, photo in photos.items():
        with named_face(number):
            engine.check_inputs(IdentityRequest(_USER, (photo,)))
    found = engine.group.find_faces(engine.group.template_bytes(template, args.template_id), list(photos))
    start_picture(start, args.scale, *found, config.images)
    print("loading models...", file=sys.stderr, flush=True)
    engine.warm_up()
    with StageBars() as bars:
        faces = []
        for number, photo in photos.items():
            with named_face(number):
                saved = engine.run(IdentityRequest(_USER, (photo,)), bars.report).face
            assert saved is not None  # an identity job's result is its face
            faces.append(GroupFace(face_index=number, user_id=_USER, photo=photo, face=saved))
        return engine.run(_request(args, tuple(faces), template, start), bars.report)


def _request(
    args: argparse.Namespace, faces: tuple[GroupFace, ...], template: bytes | None, start: bytes | None
) -> GroupRequest:
    return GroupRequest(
        user_id=_USER,
        faces=faces,
        template=template,
        template_id=args.template_id,
        count=args.count,
        seed=args.seed,
        recipe=args.recipe,
        speed=args.speed,
        start=start,
        scale=args.scale,
        strength=args.strength,
    )


def _write(args: argparse.Namespace, result: JobResult) -> None:
    stem = f"group-{args.template_id or args.template.stem}"
    if args.start is not None:
        stem += "-upscale" if args.scale > 1 else "-vary"
    write_images(args.output, stem, result, distance="mean identity distance")
