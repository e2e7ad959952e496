"""Building the resident base models: each SD1.5 base with FACT attached and its adapter loaded.

``preset: full`` reads every file through the registry (one TransFace-S ViT shared by all bases,
one resampler per adapter); ``preset: tiny`` builds the same structure from ``tiny.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..fact import FaceEncoder, FactDims, attach_fact
from .fact_weights import load_fact_adapter, load_transface_weights
from .hotswap import HotSwapLoras
from .lora import StyleLoras
from .resident import ResidentBase, make_scheduler

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

    from ..config import RuntimeConfig
    from .registry import ModelRegistry

__all__ = ["build_tiny_base", "load_full_bases", "optimise_layout"]


def build_tiny_base(config: RuntimeConfig, device: torch.device, dtype: torch.dtype) -> ResidentBase:
    """The tiny preset's one base: small random models, FACT gates opened so the face visibly steers them."""
    from diffusers import StableDiffusionPipeline

    from .tiny import SD15_SCHEDULER_CONFIG, TINY_CROSS_ATTENTION_DIM, TINY_SEED, build_tiny_components

    parts = build_tiny_components()
    scheduler = make_scheduler(config.generation.scheduler, SD15_SCHEDULER_CONFIG)
    pipe = StableDiffusionPipeline(
        vae=parts.vae,
        text_encoder=parts.text_encoder,
        tokenizer=parts.tokenizer,
        unet=parts.unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED + 2)
        encoder = FaceEncoder(FactDims.tiny(cross_attention_dim=TINY_CROSS_ATTENTION_DIM))
        attach_fact(pipe, scale=config.generation.adapter_scale)
        # Fresh FACT gates start at zero (a no-op); open them so the face visibly steers the tiny model.
        _open_fact_gates(pipe.unet)
    return _resident("tiny", pipe, encoder, SD15_SCHEDULER_CONFIG, config, device, dtype)


def load_full_bases(
    config: RuntimeConfig, registry: ModelRegistry, device: torch.device, dtype: torch.dtype
) -> dict[str, ResidentBase]:
    """Every configured base, in config order, on ``device``.

    Raises
    ------
    ModelMissing
        A file is not in the cache and cannot be fetched; checked for all files before any loads.
    WeightsMismatch
        A weight file does not fit its module.
    """
    from diffusers import StableDiffusionPipeline

    models = config.models
    assert models is not None  # guaranteed by RuntimeConfig validation for preset "full"
    # Resolve (and fetch) every file first: a missing model fails before gigabytes are loaded.
    transface = registry.resolve(models.transface, what="TransFace-S face model")
    files = {
        base_id: (
            registry.resolve(base.diffusers, what=f"base model {base_id}"),
            registry.resolve(base.adapter, what=f"FACT adapter for {base_id}"),
        )
        for base_id, base in models.base_models.items()
    }
    dims = FactDims.full()
    # Built on the meta device, the encoders cost no memory or random init until the files'
    # tensors are assigned into them.
    with torch.device("meta"):
        shared_vit = FaceEncoder(dims).vit
    load_transface_weights(shared_vit, transface)
    bases: dict[str, ResidentBase] = {}
    for base_id, (folder, adapter) in files.items():
        pipe = StableDiffusionPipeline.from_pretrained(
            folder, dtype=dtype, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
        with torch.device("meta"):
            encoder = FaceEncoder(dims)
        # One ViT for every base (fact-reference §8 item 12); only the resampler is per adapter.
        encoder.vit = shared_vit
        load_fact_adapter(pipe, encoder.resampler, adapter, scale=config.generation.adapter_scale)
        bases[base_id] = _resident(base_id, pipe, encoder, pipe.scheduler.config, config, device, dtype)
    return bases


def _resident(
    base_id: str,
    pipe: StableDiffusionPipeline,
    encoder: FaceEncoder,
    scheduler_config: Any,
    config: RuntimeConfig,
    device: torch.device,
    dtype: torch.dtype,
) -> ResidentBase:
    pipe.to(device)
    if pipe.unet.dtype != dtype:  # only the tiny preset, built in float32, gets here
        pipe.to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    if config.speed.is_vae_tiled:
        # Only images larger than the VAE's tile are decoded in tiles; smaller ones are unchanged.
        pipe.vae.enable_tiling()
    optimise_layout(pipe.unet, device)
    optimise_layout(pipe.vae, device)
    loras: StyleLoras | HotSwapLoras
    if config.compile:
        # Before any LoRA loads: the slots are prepared for in-place swaps, then the UNet is
        # compiled (on its first call; loading the first LoRAs changes its layers once more).
        loras = HotSwapLoras(pipe, max_rank=config.speed.lora_rank_limit)
        pipe.unet.compile()
    else:
        loras = StyleLoras(pipe, is_fused=config.speed.is_lora_fused)
    # The face encoder stays float32 (fact-reference §2.2, §2.3): its tokens are tiny.
    encoder.to(device, torch.float32).eval()
    resident = ResidentBase(
        base_id=base_id,
        text2img=pipe,
        encoder=encoder,
        loras=loras,
        scheduler_config=scheduler_config,
    )
    pipe.scheduler = resident.scheduler(config.generation.scheduler)
    return resident


def optimise_layout(module: torch.nn.Module, device: torch.device) -> None:
    """Channels-last memory layout for a convolutional model on CUDA (faster convolutions there, not on CPUs)."""
    if device.type == "cuda":
        module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def _open_fact_gates(unet: torch.nn.Module) -> None:
    for name, parameter in unet.named_parameters():
        if name.endswith(("alpha_attn", "alpha_dense")):
            torch.nn.init.constant_(parameter, 1.0)
