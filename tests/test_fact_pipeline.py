"""The pipeline-level FACT functions: attach, scale, face count and unload on a diffusers pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline

from fact_runtime.fact import (
    ControlNetAttnProcessor,
    FaceAttnProcessor,
    attach_fact,
    face_processors,
    is_fact_attached,
    set_fact_faces,
    set_fact_scale,
    unload_fact,
)
from fact_runtime.loading.tiny import SD15_SCHEDULER_CONFIG, build_tiny_components, build_tiny_controlnet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pipeline() -> StableDiffusionPipeline:
    from diffusers import DDIMScheduler

    parts = build_tiny_components(seed=3)
    pipe = StableDiffusionPipeline(
        vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer, unet=parts.unet,
        scheduler=DDIMScheduler.from_config(SD15_SCHEDULER_CONFIG), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image(pipe: StableDiffusionPipeline, extra_tokens: int = 0) -> np.ndarray:
    embeds, _ = pipe.encode_prompt("a portrait", "cpu", 1, False)
    if extra_tokens:
        embeds = torch.cat(
            [embeds, torch.randn(1, extra_tokens, embeds.shape[-1], generator=torch.Generator().manual_seed(1))], 1
        )
    with torch.inference_mode():
        out = pipe(prompt_embeds=embeds, num_inference_steps=2, guidance_scale=1.0, height=64, width=64,
                   generator=torch.Generator().manual_seed(0), output_type="np")  # fmt: skip
    return out.images[0]


def test_attach_scale_zero_and_unload_leave_the_base_model_as_it_was() -> None:
    pipe = _pipeline()
    base = _image(pipe)
    attach_fact(pipe, scale=0.0)
    assert is_fact_attached(pipe) and all(p.scale == 0.0 for p in face_processors(pipe.unet).values())
    set_fact_faces(pipe, 1)
    assert np.array_equal(_image(pipe, extra_tokens=16), base)  # scale 0: the face tokens change nothing
    set_fact_scale(pipe, 1.0)
    _open_gates(pipe.unet)
    assert not np.array_equal(_image(pipe, extra_tokens=16), base)
    unload_fact(pipe)
    assert not is_fact_attached(pipe)
    assert np.array_equal(_image(pipe), base)


def test_attaching_a_controlnet_pipeline_keeps_the_unet_and_its_scale() -> None:
    text2img = _pipeline()
    attach_fact(text2img, scale=0.3)
    before = face_processors(text2img.unet)
    controlnet = build_tiny_controlnet()
    control = StableDiffusionControlNetPipeline(**text2img.components, controlnet=controlnet)
    attach_fact(control)  # the shared UNet already has FACT: only the ControlNet is added
    assert face_processors(control.unet) == before and all(p.scale == 0.3 for p in before.values())
    controlnet_processors = list(controlnet.attn_processors.values())
    assert controlnet_processors and all(isinstance(p, ControlNetAttnProcessor) for p in controlnet_processors)
    set_fact_faces(control, 2)
    assert all(p.num_faces == 2 for p in controlnet_processors)
    assert all(isinstance(p, FaceAttnProcessor) and p.num_faces == 2 for p in before.values())
    with pytest.raises(ValueError):
        set_fact_scale(control, -1.0)


def _open_gates(unet: torch.nn.Module) -> None:
    for name, parameter in unet.named_parameters():
        if name.endswith(("alpha_attn", "alpha_dense")):
            torch.nn.init.constant_(parameter, 1.0)
