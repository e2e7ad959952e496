"""``python -m fact_runtime download``: fetch every model that config.yaml and the styles name."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..catalog import StyleCatalog
from ..config import load_runtime_config
from ..errors import ConfigError, ModelMissing, StyleError
from ..loading.registry import ModelRegistry, describe_ref, refs_to_download

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="settings file (default: config.yaml)")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the models and whether each is cached; fetch nothing"
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_runtime_config(args.config.absolute())
        catalog = StyleCatalog.from_config(config)
        catalog.reload()
    except (ConfigError, StyleError) as exc:
        print(exc)
        return 2
    registry = ModelRegistry(config.cache_dir)
    refs = refs_to_download(config, catalog)
    print(f"{len(refs)} models named by {args.config} and {len(catalog)} styles; cache: {config.cache_dir}")
    if args.dry_run:
        for what, ref in refs:
            state = "cached " if registry.is_cached(ref) else "missing"
            print(f"  [{state}] {what}: {describe_ref(ref)}\n            -> {registry.expected_path(ref)}")
        return 0
    failed: list[str] = []
    for index, (what, ref) in enumerate(refs, start=1):
        try:
            path = registry.resolve(ref, what=what)
        except ModelMissing as exc:
            log.error("%s", exc)
            failed.append(f"{what}: {describe_ref(ref)}")
            continue
        print(f"  [{index}/{len(refs)}] ok {what} -> {path}")
    if failed:
        print(f"{len(failed)} of {len(refs)} models could not be fetched:")
        for line in failed:
            print(f"  {line}")
        return 1
    print(f"all {len(refs)} models are in {config.cache_dir}")
    return 0
