"""Helpers for tests that run the tiny preset: config, style files, a kohya LoRA, PNG bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from fact_runtime.config import RuntimeConfig

_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "q_proj", "k_proj", "v_proj", "out_proj")


def tiny_config(tmp_path: Path, *, is_watermarked: bool = True, **generation: object) -> RuntimeConfig:
    """A tiny-preset config: 64x64, 3 steps, fusion/ranking on unless overridden.

    ``is_watermarked=False`` for tests that compare exact pixels: the watermark touches every pixel
    of an image of 256 px or more (the other marks leave the pixels alone).
    """
    settings = {"width": 64, "height": 64, "num_inference_steps": 3, **generation}
    return RuntimeConfig(
        preset="tiny",
        cache_dir=tmp_path / "cache",
        styles_dir=tmp_path / "styles",
        templates_dir=tmp_path / "templates",
        generation=settings,
        provenance={"credentials_dir": tmp_path / "provenance", "is_watermark_enabled": is_watermarked},
    )


def write_style(styles_dir: Path, style_id: str, *, lora: str | None = None, weight: float = 1.0) -> None:
    """A minimal style YAML; ``lora`` is a path relative to the styles folder."""
    styles_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"id: {style_id}",
        f"name: {style_id.title()}",
        "base_model: majicmix",
        'prompt: "a portrait photo of {subject}, best quality"',
    ]
    if lora is not None:
        lines += ["lora:", f"  path: {lora}", f"  weight: {weight}"]
    (styles_dir / f"{style_id}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_kohya_lora(path: Path, *, seed: int = 0, rank: int = 4, scale: float = 0.5) -> Path:
    """A kohya-format LoRA (``lora_unet_*`` / ``lora_te_*`` keys) for the tiny UNet and text encoder."""
    from fact_runtime.loading.tiny import build_tiny_components

    parts = build_tiny_components()
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, model in (("lora_unet_", parts.unet), ("lora_te_", parts.text_encoder)):
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear) or not name.endswith(_LORA_TARGETS):
                continue
            key = prefix + name.replace(".", "_")
            tensors[f"{key}.lora_down.weight"] = torch.randn(rank, module.in_features, generator=generator) * scale
            tensors[f"{key}.lora_up.weight"] = torch.randn(module.out_features, rank, generator=generator) * scale
            tensors[f"{key}.alpha"] = torch.tensor(float(rank))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two photos on one black canvas, left and right: a two-face template."""
    height = max(left.shape[0], right.shape[0])
    canvas = np.zeros((height, left.shape[1] + right.shape[1], 3), dtype=np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] :] = right
    return canvas
