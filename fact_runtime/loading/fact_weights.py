"""Strict loading of the released FACT files into our modules (fact-reference §3).

``ms1mv2_model_TransFace_S.pt`` is a plain state dict of the ViT; an adapter ``.ckpt`` holds the
resampler under ``local_fac_prj.`` and the face processors under their UNet layer names.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import WeightsMismatch
from ..fact import FaceResampler, TransFaceS, attach_fact, face_processors
from .state_dict import Tally, WeightReport, assign_or_copy, is_meta, load_state_dict_file, read_state_dict, shapes

__all__ = ["load_adapter_weights", "load_fact_adapter", "load_transface_weights"]

log = logging.getLogger(__name__)

RESAMPLER_PREFIX = "local_fac_prj."
_LN_MARK = ".processor.ln."


def load_transface_weights(vit: TransFaceS, path: Path | str) -> WeightReport:
    """Load ``ms1mv2_model_TransFace_S.pt`` (a plain state dict) strictly into ``vit``.

    Raises
    ------
    ModelMissing
        The file does not exist.
    WeightsMismatch
        A tensor is missing, unexpected or mis-shaped; the message names each one.
    """
    return load_state_dict_file(vit, path, part="transface")


def load_adapter_weights(unet: nn.Module, resampler: FaceResampler, path: Path | str) -> WeightReport:
    """Load a FACT adapter ``.ckpt``: ``local_fac_prj.*`` into the resampler, ``*processor*`` into the UNet.

    FACT must be installed on ``unet`` first. The 32 ``.processor.ln.*`` tensors are optional
    as a group: without them the relocated LayerNorms keep the base model's values.

    Raises
    ------
    ModelMissing
        The file does not exist.
    WeightsMismatch
        A tensor is missing, unexpected or mis-shaped; the message names each one.
    ValueError
        FACT is not installed on ``unet``.
    """
    processors = face_processors(unet)
    if not processors:
        raise ValueError("install_fact(unet) must run before the adapter weights are loaded")
    state = read_state_dict(path)
    file_resampler, file_processor, others = {}, {}, []
    for key, tensor in state.items():
        if key.startswith(RESAMPLER_PREFIX):
            file_resampler[key[len(RESAMPLER_PREFIX) :]] = tensor
        elif "processor" in key:
            file_processor[key] = tensor
        else:
            others.append(key)

    expected_processor = {
        f"{layer}.processor.{name}": shape
        for layer, processor in processors.items()
        for name, shape in shapes(processor).items()
    }
    has_ln = any(_LN_MARK in key for key in file_processor)
    if not has_ln:
        expected_processor = {k: v for k, v in expected_processor.items() if _LN_MARK not in k}

    tally = Tally()
    tally.compare(expected_processor, file_processor)
    ln_count = sum(1 for key in expected_processor if _LN_MARK in key and key in file_processor)
    resampler_count = tally.compare(shapes(resampler), file_resampler, prefix=RESAMPLER_PREFIX)
    tally.unexpected.extend(others)
    parts = [("processors", tally.matched - resampler_count - ln_count), ("ln", ln_count)]
    report = tally.report(path, [*parts, ("resampler", resampler_count)], has_ln=has_ln)
    if not report.is_ok:
        raise WeightsMismatch(report.summary())

    for layer, processor in processors.items():
        head = f"{layer}.processor."
        if has_ln and processor.base_ln_state is None and not is_meta(processor.ln):
            processor.base_ln_state = {k: v.detach().clone() for k, v in processor.ln.state_dict().items()}
        subset = {k[len(head) :]: v for k, v in file_processor.items() if k.startswith(head)}
        assign_or_copy(processor, subset, strict=has_ln)
    assign_or_copy(resampler, file_resampler, strict=True)
    log.info("FACT adapter loaded from %s: %d tensors (ln stored: %s)", path, report.matched, has_ln)
    return report


def load_fact_adapter(pipe: Any, resampler: FaceResampler, path: Path | str, *, scale: float) -> WeightReport:
    """Attach FACT to ``pipe`` and load a released adapter file into it and ``resampler``.

    The pipeline-level counterpart of diffusers' ``load_ip_adapter``; returns the accounting of
    every tensor.

    Raises
    ------
    ModelMissing
        The file does not exist.
    WeightsMismatch
        A tensor is missing, unexpected or mis-shaped; the message names each one.
    """
    attach_fact(pipe, scale=scale)
    return load_adapter_weights(pipe.unet, resampler, path)
