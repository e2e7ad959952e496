"""``check-weights``: load FACT files into full-size modules and report every tensor.

Files are the ones given, or, with neither option, the configured adapters and TransFace-S in the
model cache. Exit status: 0 every file fits; 1 a checkpoint does not fit; 2 nothing could be checked
(no such file, not a checkpoint at all, bad config, not downloaded).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import load_runtime_config
from ..errors import ConfigError, ModelMissing, WeightsMismatch
from .terminal import FAILED, OK, add_config_argument, config_path, fail

if TYPE_CHECKING:
    from ..loading.state_dict import WeightReport

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("--adapter", type=Path, help="adapter_*_00290001.ckpt (resampler + UNet processors)")
    parser.add_argument("--transface", type=Path, help="ms1mv2_model_TransFace_S.pt")
    add_config_argument(parser)


def _configured(args: argparse.Namespace) -> tuple[list[Path], Path | None]:
    """The adapters of every configured base and TransFace-S, from the cache (never downloaded here)."""
    from ..loading.registry import ModelRegistry

    config = load_runtime_config(config_path(args))
    if config.models is None:
        raise ConfigError("the config names no models (preset tiny); give --adapter and/or --transface")
    registry = ModelRegistry(config.cache_dir, is_offline=True)
    adapters = [
        registry.resolve(base.adapter, what=f"FACT adapter for {name}")
        for name, base in config.models.base_models.items()
    ]
    return adapters, registry.resolve(config.models.transface, what="TransFace-S face model")


def run(args: argparse.Namespace) -> int:
    adapters: list[Path] = [args.adapter] if args.adapter is not None else []
    transface: Path | None = args.transface
    try:
        if args.adapter is None and args.transface is None:
            adapters, transface = _configured(args)
    except (ConfigError, ModelMissing) as exc:
        return fail(" ".join(str(exc).split()))
    from ..loading.file_kind import check_checkpoint

    for label, path in (
        *(("FACT adapter", p) for p in adapters),
        *((("TransFace-S", transface),) if transface else ()),
    ):
        if not path.is_file():
            return fail(f"{path}: no such file")
        try:
            check_checkpoint(path)  # before torch is imported: a wrong file is told at once
        except WeightsMismatch as exc:
            return fail(f"{label}: {exc}")
    return _check(adapters, transface)


def _check(adapters: list[Path], transface: Path | None) -> int:
    import torch
    from diffusers import UNet2DConditionModel

    from ..fact import SD15_UNET_CONFIG, FaceEncoder, FactDims, install_fact
    from ..loading.fact_weights import load_adapter_weights, load_transface_weights

    # Meta-device modules have every name and shape of the real ones but no memory and no random
    # init, so the check takes seconds; loading assigns the file's tensors to them.
    with torch.device("meta"):
        encoder = FaceEncoder(FactDims.full())
    jobs: list[tuple[str, Callable[[], WeightReport]]] = []
    if transface is not None:
        jobs.append(("TransFace-S", lambda: load_transface_weights(encoder.vit, transface)))

    def adapter_job(path: Path) -> Callable[[], WeightReport]:
        def load() -> WeightReport:
            with torch.device("meta"):
                unet = UNet2DConditionModel(**SD15_UNET_CONFIG)
            install_fact(unet)
            return load_adapter_weights(unet, encoder.resampler, path)

        return load

    jobs += [("FACT adapter", adapter_job(path)) for path in adapters]
    status = OK
    for label, job in jobs:
        try:
            report = job()
        except (ModelMissing, WeightsMismatch) as exc:
            text = str(exc)
            separator = "\n" if "\n" in text else ": "
            print(f"{label}: FAILED ({exc.kind}){separator}{text}", file=sys.stderr)
            status = FAILED
        else:
            print(f"{label}: OK\n{report.summary()}")
    return status
