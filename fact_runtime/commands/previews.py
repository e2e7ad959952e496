"""``python -m fact_runtime previews``: one portrait per style, written where ``/styles browse`` finds it.

A preview is ``<styles_dir>/previews/<style id>.png``; a style file's own ``preview:`` key wins.
Styles that have a preview are skipped unless ``--force``. Exit status as ``portrait``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import PREVIEWS_FOLDER, StyleCatalog, list_templates, template_path
from ..errors import ConfigError, FactError, InputError, StyleError
from ..request import PortraitRequest
from .terminal import FAILED, OK, add_config_argument, fail

if TYPE_CHECKING:
    from ..catalog import Style
    from ..config import RuntimeConfig

#: The photo previews show when no --selfie is given: a built-in (public-domain) template.
DEFAULT_SITTER = "astronaut"


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument(
        "--selfie", type=Path, help=f"the face every preview shows (default: template {DEFAULT_SITTER})"
    )
    parser.add_argument("--style", action="append", help="only this style id or name (repeatable)")
    parser.add_argument("--force", action="store_true", help="render again where a preview exists")
    parser.add_argument("--seed", type=int, default=1, help="seed of every preview (default 1)")
    parser.add_argument("--preset", choices=("full", "tiny"), help="override runtime.preset")
    parser.add_argument("--steps", type=int, help="override generation.num_inference_steps")
    parser.add_argument("--size", type=int, help="override generation width and height (multiple of 8)")
    parser.add_argument("--offline", action="store_true", help="never download: fail if a model is not in the cache")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    from .generate import runtime_config

    try:
        config = runtime_config(args)
        catalog = StyleCatalog.from_config(config)
        catalog.reload()
        chosen = [catalog.find(name) for name in args.style] if args.style else catalog.all()
        if args.selfie is not None:
            selfie = args.selfie.read_bytes()
        elif DEFAULT_SITTER in list_templates(config.templates_dir):
            selfie = template_path(config.templates_dir, DEFAULT_SITTER).read_bytes()
        else:
            return fail(f"no --selfie given and no '{DEFAULT_SITTER}' template in {config.templates_dir}")
    except InputError as exc:
        return fail(exc.user_message)
    except (ConfigError, StyleError) as exc:
        return fail("; ".join(str(exc).splitlines()))
    except OSError as exc:
        return fail(f"cannot read {exc.filename}: {exc.strerror}")
    todo = [style for style in chosen if args.force or style.preview is None]
    if not todo:
        print(f"every chosen style has a preview already ({len(chosen)}); --force renders them again")
        return OK
    return _render(config, catalog, todo, selfie, seed=args.seed, is_offline=args.offline)


def _render(
    config: RuntimeConfig, catalog: StyleCatalog, styles: list[Style], selfie: bytes, *, seed: int, is_offline: bool
) -> int:
    from ..pipelines import FactEngine

    folder = config.styles_dir / PREVIEWS_FOLDER
    requests = [PortraitRequest(user_id="previews", selfie=selfie, style_id=s.id, seed=seed) for s in styles]
    engine = FactEngine(config, catalog, is_offline=is_offline)
    try:
        engine.check_inputs(requests[0])
        print(f"loading models, then {len(requests)} previews into {folder}", file=sys.stderr, flush=True)
        engine.warm_up()
    except FactError as exc:
        return fail(exc.user_message if isinstance(exc, InputError) else "; ".join(str(exc).splitlines()))
    folder.mkdir(parents=True, exist_ok=True)
    failed = 0
    for request in requests:
        try:
            result = engine.run(request, lambda *_: None)
        except FactError as exc:
            print(f"{request.style_id}: failed: {exc.user_message}", file=sys.stderr)
            failed += 1
            continue
        path = folder / f"{request.style_id}.png"
        path.write_bytes(result.images[0].png)
        print(path)
    print(f"{len(requests) - failed} previews written; run /styles reload in Discord to show them", file=sys.stderr)
    return FAILED if failed else OK
