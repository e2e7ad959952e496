"""Device and dtype choice for the model stack; nothing else names a device."""

from __future__ import annotations

import logging

import torch

__all__ = ["resolve_device", "resolve_dtype"]

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a config value ("auto", "cpu", "cuda:1", "mps", ...) into a torch device.

    Parameters
    ----------
    name:
        ``"auto"`` picks the first CUDA device when one is usable, else the CPU.

    Raises
    ------
    ValueError
        The name is not a device torch knows, or it names an accelerator that is not available.
    """
    if name == "auto":
        device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        log.debug("device auto -> %s", device)
        return device
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} asked for, but MPS is not available on this machine")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Turn a config value ("auto", "float32", "float16", "bfloat16") into a dtype for ``device``.

    Parameters
    ----------
    name:
        ``"auto"`` is float16 on CUDA and float32 elsewhere (half precision on a CPU is slow
        and some CPU kernels lack it).

    Raises
    ------
    ValueError
        Unknown name, or half precision asked for on a CPU.
    """
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {name!r}; expected auto, {', '.join(_DTYPES)}")
    dtype = _DTYPES[name]
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("float16 on the CPU is not supported; use float32 (or bfloat16)")
    return dtype
