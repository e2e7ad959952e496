"""FACT on a diffusers pipeline, in the shape of diffusers' adapter API (``load_ip_adapter``,
``set_ip_adapter_scale``, ``unload_ip_adapter``): attach, set the scale and face count, unload.

Each function takes the pipeline and reaches its UNet and, when it has one, its ControlNet, so a
caller never has to know which of a pipeline's models carry which processors. Loading the
released adapter weights (with the strict report) is ``loading.load_fact_adapter``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .adapter import install_fact, is_fact_installed, remove_fact, set_fact_num_faces
from .adapter import set_fact_scale as _set_unet_scale

__all__ = ["attach_fact", "is_fact_attached", "set_fact_faces", "set_fact_scale", "unload_fact"]


def _controlnets(pipe: Any) -> tuple[nn.Module, ...]:
    controlnet = getattr(pipe, "controlnet", None)
    return () if controlnet is None else (controlnet,)


def attach_fact(pipe: Any, *, scale: float | None = None) -> None:
    """Install the face processors on ``pipe.unet`` (random weights until loaded) and text-only ones on its ControlNet.

    ``scale`` defaults to 1.0 on a fresh install. Attaching to a pipeline whose UNet already has
    FACT (another pipeline over the same UNet) only adds the ControlNet, and the scale if given.

    Raises
    ------
    ValueError
        The UNet is not of SD1.5 layout (no cross-attention blocks, or a ``norm2`` that is not a LayerNorm).
    """
    install_fact(pipe.unet, controlnets=_controlnets(pipe), scale=scale)


def is_fact_attached(pipe: Any) -> bool:
    return is_fact_installed(pipe.unet)


def set_fact_scale(pipe: Any, scale: float) -> None:
    """The face strength of every face processor; 0 reproduces the base model exactly.

    Raises
    ------
    ValueError
        FACT is not attached, or the scale is negative.
    """
    _set_unet_scale(pipe.unet, scale)


def set_fact_faces(pipe: Any, num_faces: int) -> None:
    """How many trailing 16-token groups of the prompt embeddings are faces, on the UNet and the ControlNet.

    Raises
    ------
    ValueError
        FACT is not attached, or ``num_faces`` is negative.
    """
    set_fact_num_faces(pipe.unet, num_faces, controlnets=_controlnets(pipe))


def unload_fact(pipe: Any) -> None:
    """Put the base model back as it was: LayerNorms in place, the original processors restored."""
    remove_fact(pipe.unet, controlnets=_controlnets(pipe))
