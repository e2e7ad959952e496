"""Attach FACT to a diffusers UNet (and its ControlNets), scale it, detach it (fact-reference §2.4-2.6)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import nn

from .processor import ControlNetAttnProcessor, FaceAttnProcessor

__all__ = [
    "face_processors",
    "install_fact",
    "is_fact_installed",
    "remove_fact",
    "set_fact_num_faces",
    "set_fact_scale",
]

log = logging.getLogger(__name__)

# Processors a model had before FACT, restored by remove_fact; kept on the model itself.
_SAVED = "_fact_saved_processors"


def _cross_attention_blocks(unet: nn.Module) -> list[tuple[str, BasicTransformerBlock]]:
    return [
        (name, module)
        for name, module in unet.named_modules()
        if isinstance(module, BasicTransformerBlock) and module.attn2 is not None
    ]


def _attention_layers(model: nn.Module) -> Iterable[Attention]:
    return (module for module in model.modules() if isinstance(module, Attention))


def _expand_controlnets(controlnets: Sequence | nn.Module) -> list[nn.Module]:
    """A ControlNet, a sequence of them, or a MultiControlNetModel (its ``nets``) -> flat list."""
    if isinstance(controlnets, nn.Module):
        controlnets = [controlnets]
    flat: list[nn.Module] = []
    for net in controlnets:
        nets = getattr(net, "nets", None)
        flat.extend(_expand_controlnets(list(nets)) if nets is not None else [net])
    return flat


def face_processors(unet: nn.Module) -> dict[str, FaceAttnProcessor]:
    """The installed face processors by the dotted name of their ``attn2`` layer."""
    return {
        f"{name}.attn2": block.attn2.processor
        for name, block in _cross_attention_blocks(unet)
        if isinstance(block.attn2.processor, FaceAttnProcessor)
    }


def is_fact_installed(unet: nn.Module) -> bool:
    """Whether :func:`install_fact` has been applied to this UNet."""
    return bool(face_processors(unet))


def _installed_processors(unet: nn.Module) -> list[FaceAttnProcessor]:
    processors = list(face_processors(unet).values())
    if not processors:
        raise ValueError("FACT is not installed on this UNet")
    return processors


def _save_processors(model: nn.Module) -> None:
    if getattr(model, _SAVED, None) is None:
        object.__setattr__(model, _SAVED, {id(layer): layer.processor for layer in _attention_layers(model)})


def _restore_processors(model: nn.Module) -> None:
    saved = getattr(model, _SAVED, None) or {}
    for layer in _attention_layers(model):
        layer.set_processor(saved.get(id(layer)) or AttnProcessor2_0())
    if hasattr(model, _SAVED):
        object.__delattr__(model, _SAVED)


def _install_controlnets(controlnets: Sequence | nn.Module, num_faces: int) -> None:
    for net in _expand_controlnets(controlnets):
        _save_processors(net)
        for layer in _attention_layers(net):
            if not isinstance(layer.processor, ControlNetAttnProcessor):
                layer.set_processor(ControlNetAttnProcessor(num_faces))


def install_fact(unet: nn.Module, *, controlnets: Sequence | nn.Module = (), scale: float | None = None) -> None:
    """Move each cross-attention block's ``norm2`` into a new face processor and install it.

    Every ``attn2`` gets a :class:`FaceAttnProcessor` (sized from the layer: width, heads and
    cross-attention dim), created on the UNet's device and dtype with random weights (load the
    adapter afterwards); every other attention gets plain SDPA; every attention of the
    ControlNets gets a processor that drops the face tokens. Installing twice only adds the
    ControlNets (and sets the scale, when one is given).

    Parameters
    ----------
    unet:
        A diffusers ``UNet2DConditionModel`` of SD1.5 layout (any widths).
    controlnets:
        ControlNet models (or a ``MultiControlNetModel``) used with this UNet.
    scale:
        Face strength; 0 gives exactly the base UNet. None: 1.0 on a fresh install, unchanged on a second.

    Raises
    ------
    ValueError
        The UNet has no cross-attention blocks, or a block's ``norm2`` is not a LayerNorm.
    """
    if is_fact_installed(unet):
        num_faces = _installed_processors(unet)[0].num_faces
        _install_controlnets(controlnets, num_faces)
        if scale is not None:
            set_fact_scale(unet, scale)
        return
    blocks = _cross_attention_blocks(unet)
    if not blocks:
        raise ValueError("this UNet has no cross-attention transformer blocks to install FACT into")
    for name, block in blocks:
        if type(block.norm2) is not nn.LayerNorm:
            raise ValueError(f"{name}.norm2 is {type(block.norm2).__name__}, FACT needs a plain LayerNorm")
    scale = 1.0 if scale is None else scale
    reference = next(unet.parameters())
    _save_processors(unet)
    for layer in _attention_layers(unet):
        layer.set_processor(AttnProcessor2_0())
    for _, block in blocks:
        ln = block.norm2
        block.norm2 = nn.Identity()
        attn2 = block.attn2
        # Built directly on the target device: no full random init on the CPU for a GPU model,
        # and no real memory at all for a meta-device model.
        with torch.device(reference.device):
            processor = FaceAttnProcessor(
                hidden_size=ln.normalized_shape[0],
                cross_attention_dim=attn2.cross_attention_dim,
                heads=attn2.heads,
                ln=ln,
                scale=scale,
            )
        attn2.set_processor(processor.to(dtype=reference.dtype))
    _install_controlnets(controlnets, 1)
    log.info("FACT installed on %d cross-attention layers (scale %.3g)", len(blocks), scale)


def set_fact_scale(unet: nn.Module, scale: float) -> None:
    """Set the face strength of every face processor (0 = base model).

    Raises
    ------
    ValueError
        FACT is not installed on this UNet, or the scale is negative.
    """
    if scale < 0:
        raise ValueError(f"the FACT scale must be >= 0, got {scale}")
    for processor in _installed_processors(unet):
        processor.scale = float(scale)


def set_fact_num_faces(unet: nn.Module, num_faces: int, *, controlnets: Sequence | nn.Module = ()) -> None:
    """Tell the processors how many trailing 16-token groups of the encoder states are faces.

    Raises
    ------
    ValueError
        FACT is not installed on this UNet, or ``num_faces`` is negative.
    """
    if num_faces < 0:
        raise ValueError(f"num_faces must be >= 0, got {num_faces}")
    for processor in _installed_processors(unet):
        processor.num_faces = int(num_faces)
    for net in _expand_controlnets(controlnets):
        for layer in _attention_layers(net):
            if isinstance(layer.processor, ControlNetAttnProcessor):
                layer.processor.num_faces = int(num_faces)


def remove_fact(unet: nn.Module, *, controlnets: Sequence | nn.Module = ()) -> None:
    """Put each moved LayerNorm back as ``norm2`` (with its base values) and restore the processors."""
    for _, block in _cross_attention_blocks(unet):
        processor = block.attn2.processor
        if isinstance(processor, FaceAttnProcessor):
            if processor.base_ln_state is not None:
                processor.ln.load_state_dict(processor.base_ln_state)
            block.norm2 = processor.ln
    if hasattr(unet, _SAVED):
        _restore_processors(unet)
    for net in _expand_controlnets(controlnets):
        if hasattr(net, _SAVED):
            _restore_processors(net)
    log.info("FACT removed")
