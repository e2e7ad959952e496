"""``check-weights``: load released FACT files into full-size modules and report every tensor."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import ModelMissing, WeightsMismatch

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser, command_name: str) -> None:
    parser.add_argument("--adapter", type=Path, help="adapter_*_00290001.ckpt (resampler + UNet processors)")
    parser.add_argument("--transface", type=Path, help="ms1mv2_model_TransFace_S.pt")


def run(args: argparse.Namespace) -> int:
    if args.adapter is None and args.transface is None:
        print("check-weights: give --adapter FILE and/or --transface FILE", file=sys.stderr)
        return 2
    import torch
    from diffusers import UNet2DConditionModel

    from ..fact import SD15_UNET_CONFIG, FaceEncoder, FactDims, install_fact
    from ..loading.fact_weights import load_adapter_weights, load_transface_weights
    from ..loading.state_dict import WeightReport

    # Meta-device modules have every name and shape of the real ones but no memory and no random
    # init, so the check takes seconds; loading assigns the file's tensors to them.
    with torch.device("meta"):
        encoder = FaceEncoder(FactDims.full())
    status = 0
    jobs = []
    if args.transface is not None:
        jobs.append(("TransFace-S", lambda: load_transface_weights(encoder.vit, args.transface)))
    if args.adapter is not None:

        def load_adapter() -> WeightReport:
            with torch.device("meta"):
                unet = UNet2DConditionModel(**SD15_UNET_CONFIG)
            install_fact(unet)
            return load_adapter_weights(unet, encoder.resampler, args.adapter)

        jobs.append(("FACT adapter", load_adapter))
    for label, job in jobs:
        try:
            report = job()
        except (ModelMissing, WeightsMismatch) as exc:
            print(f"{label}: FAILED ({exc.kind})\n{exc}", file=sys.stderr)
            status = 1
        else:
            print(f"{label}: OK\n{report.summary()}")
    return status
