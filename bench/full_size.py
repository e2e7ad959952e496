"""A model stack of the real SD1.5, ControlNet and FACT architectures with random weights, for speed figures.

Speed does not depend on the weights' values, so nothing is downloaded: the UNet, VAE, CLIP-L text
encoder, OpenPose ControlNet, TransFace-S and resampler are built at full size and the stack is
served exactly as a loaded one would be (LoRAs, tiers, compile). The tokenizer is the tiny
preset's (its vocabulary is smaller; every id it makes is one CLIP-L has).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from fact_runtime.fact import SD15_UNET_CONFIG, FaceEncoder, FactDims, attach_fact, face_processors
from fact_runtime.loading.bases import _resident, optimise_layout
from fact_runtime.loading.stack import ModelStack
from fact_runtime.loading.tiny import SD15_SCHEDULER_CONFIG, build_tiny_tokenizer, random_unet_lora

if TYPE_CHECKING:
    from fact_runtime.config import RuntimeConfig

__all__ = ["full_size_lora", "full_size_stack"]

#: SD1.5's VAE (``vae/config.json`` of every SD1.5 checkpoint).
SD15_VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
}


def full_size_lora(*, seed: int, rank: int) -> dict[str, torch.Tensor]:
    """A random kohya LoRA of ``rank`` on every attention and feed-forward layer of the SD1.5 UNet."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_UNET_CONFIG)
    return random_unet_lora(unet, seed=seed, rank=rank, scale=0.01)


def full_size_stack(config: RuntimeConfig) -> ModelStack:
    """A stack (config preset ``tiny``, so nothing is ever fetched) whose one base and ControlNet are full size."""
    from diffusers import AutoencoderKL, ControlNetModel, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    stack = ModelStack(config)
    tokenizer = build_tiny_tokenizer()
    # Built on the target device: random initialisation of a billion parameters is slow on a CPU.
    with torch.random.fork_rng(devices=[]), torch.device(stack.device):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**SD15_UNET_CONFIG)
        text = CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
            bos_token_id=len(tokenizer) - 2,
            eos_token_id=len(tokenizer) - 1,
            pad_token_id=len(tokenizer) - 1,
        )
        pipe = StableDiffusionPipeline(
            vae=AutoencoderKL(**SD15_VAE_CONFIG),
            text_encoder=CLIPTextModel(text),
            tokenizer=tokenizer,
            unet=unet,
            scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        encoder = FaceEncoder(FactDims.full())
        attach_fact(pipe, scale=config.generation.adapter_scale)
        with torch.no_grad():
            for processor in face_processors(unet).values():
                processor.alpha_attn.fill_(0.5)
                processor.alpha_dense.fill_(0.5)
        controlnet = ControlNetModel.from_unet(UNet2DConditionModel(**SD15_UNET_CONFIG))
    pipe.to(dtype=stack.dtype)
    # The stack's own loader would read files; a bench fills its slots directly.
    stack._bases = {"tiny": _resident("tiny", pipe, encoder, SD15_SCHEDULER_CONFIG, config, stack.device, stack.dtype)}
    controlnet.to(stack.device, stack.dtype).eval()
    optimise_layout(controlnet, stack.device)
    if config.compile:
        controlnet.compile()
    stack._controlnets["openpose"] = controlnet
    # A distilled SD1.5 LoRA's shape (Hyper-SD15's are rank 64); its values are random like the rest.
    stack._turbo_lora = lambda: full_size_lora(seed=20, rank=64)
    return stack
