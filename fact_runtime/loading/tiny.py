"""The ``tiny`` preset: small random models of the real architectures, built offline and deterministically.

Every component keeps the SD1.5 layout (4 latent channels, a VAE that downsamples by 8, a
ControlNet mirroring the UNet's encoder, a CLIP text encoder with 77 positions and a byte-level
BPE tokenizer) scaled down until a 64x64 image denoises in milliseconds on a CPU. Nothing here
is downloaded; the same seed always gives the same weights.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from pathlib import Path

    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPTextModel, CLIPTokenizer

__all__ = [
    "SD15_SCHEDULER_CONFIG",
    "TINY_CANNY_SEED",
    "TINY_CROSS_ATTENTION_DIM",
    "TINY_SEED",
    "TinyComponents",
    "build_tiny_components",
    "build_tiny_controlnet",
    "build_tiny_safety_checker",
    "build_tiny_tokenizer",
    "build_tiny_turbo_lora",
    "random_unet_lora",
    "save_tiny_safety_checker",
]

log = logging.getLogger(__name__)

TINY_CROSS_ATTENTION_DIM = 32
TINY_SEED = 0

#: The scheduler settings every SD1.5 checkpoint ships with (the tiny preset reuses them as is).
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "skip_prk_steps": True,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "clip_sample": False,
}

# The tokenizer's BPE merges are learned from these words, so typical prompts fit the 77 positions
# as they do with real CLIP (other words still encode, in smaller pieces).
_MERGE_WORDS = (
    "a", "an", "the", "of", "in", "on", "at", "with", "and", "wearing", "photo", "portrait", "person", "man", "woman", "boy", "girl", "raw", "best", "quality", "high", "low", "worst", "detail", "detailed", "face", "realistic", "photorealistic", "masterpiece", "solo", "medium", "shot", "looking", "background", "light", "simple", "natural", "skin", "hair", "eyes", "blurry", "lowres", "monochrome", "grayscale", "watermark", "signature", "text", "logo", "deformed", "bad", "anatomy", "hands", "extra", "fingers", "missing", "limbs", "blemishes", "nsfw", "nude", "painting", "sketch", "cartoon",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TinyComponents:
    """The resident parts of one tiny base model."""

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP byte-to-unicode table: 256 printable stand-ins for the 256 byte values."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def _learn_merges(words: tuple[str, ...]) -> list[tuple[str, str]]:
    """Byte-pair merges learned from ``words``: most frequent pair first, ties broken alphabetically."""
    splits = [[*word[:-1], word[-1] + "</w>"] for word in sorted(set(words))]
    merges: list[tuple[str, str]] = []
    while True:
        counts = Counter(pair for parts in splits for pair in itertools.pairwise(parts))
        if not counts:
            return merges
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        for index, parts in enumerate(splits):
            merged: list[str] = []
            for part in parts:
                if merged and (merged[-1], part) == best:
                    merged[-1] += part
                else:
                    merged.append(part)
            splits[index] = merged


def build_tiny_tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP BPE tokenizer with a small vocabulary learned in memory from a fixed word list."""
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    merges = _learn_merges(_MERGE_WORDS)
    # CLIP's layout: every byte alone and at a word end, then the merged pieces, then the specials.
    vocab: dict[str, int] = {}
    for symbol in [*alphabet, *(symbol + "</w>" for symbol in alphabet), *(left + right for left, right in merges)]:
        vocab.setdefault(symbol, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def _build_unet() -> UNet2DConditionModel:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TINY_CROSS_ATTENTION_DIM,
        attention_head_dim=4,
        norm_num_groups=16,
    )


def _build_vae() -> AutoencoderKL:
    from diffusers import AutoencoderKL

    # Four blocks, like SD's VAE, so the latent is 1/8 of the image and ControlNet geometry matches.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def _build_text_encoder(vocab_size: int) -> CLIPTextModel:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TINY_CROSS_ATTENTION_DIM,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    return CLIPTextModel(config)


def build_tiny_components(*, seed: int = TINY_SEED) -> TinyComponents:
    """Build the tiny UNet, VAE, text encoder and tokenizer; same seed, same weights."""
    tokenizer = build_tiny_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = _build_unet()
        vae = _build_vae()
        text_encoder = _build_text_encoder(len(tokenizer))
    for module in (unet, vae, text_encoder):
        module.eval()
    log.info("built the tiny preset (seed %d)", seed)
    return TinyComponents(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer)


#: Seed of the tiny turbo LoRA (the stand-in for a few-step distilled LoRA).
TINY_TURBO_SEED = TINY_SEED + 20
_TURBO_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")


def build_tiny_turbo_lora(*, seed: int = TINY_TURBO_SEED, rank: int = 4) -> dict[str, torch.Tensor]:
    """A kohya-format LoRA for the tiny UNet's attention and feed-forward layers, as a distilled LoRA is.

    Random, small and deterministic: it exercises loading, stacking with a style LoRA, fusing and
    switching off; it cannot make the tiny model denoise in fewer steps (nothing distils it).
    """
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        unet = _build_unet()  # only its layer names and shapes are read
    return random_unet_lora(unet, seed=seed, rank=rank)


def random_unet_lora(unet: torch.nn.Module, *, seed: int, rank: int, scale: float = 0.1) -> dict[str, torch.Tensor]:
    """A random kohya-format LoRA of ``rank`` on every attention and feed-forward linear layer of a (FACT-free) UNet."""
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in unet.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(_TURBO_TARGETS):
            key = "lora_unet_" + name.replace(".", "_")
            tensors[f"{key}.lora_down.weight"] = torch.randn(rank, module.in_features, generator=generator) * scale
            tensors[f"{key}.lora_up.weight"] = torch.randn(module.out_features, rank, generator=generator) * scale
            tensors[f"{key}.alpha"] = torch.tensor(float(rank))
    return tensors


#: Seed of the tiny canny ControlNet: same architecture as the OpenPose one, other weights.
TINY_CANNY_SEED = TINY_SEED + 10


def build_tiny_controlnet(*, seed: int = TINY_SEED) -> ControlNetModel:
    """A ControlNet for the tiny UNet (OpenPose with the default seed, canny with ``TINY_CANNY_SEED``)."""
    from diffusers import ControlNetModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # A fresh copy: the resident UNet has FACT installed, which changes its state-dict layout.
        unet = _build_unet()
        torch.manual_seed(seed + 1)
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16))
        # A freshly made ControlNet has zero output convolutions (it starts as a no-op); give them
        # small random weights so tests can see that the pose actually steers the result.
        for module in (*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block):
            torch.nn.init.normal_(module.weight, std=0.02)
    return controlnet.eval()


def build_tiny_safety_checker(*, seed: int = TINY_SEED) -> StableDiffusionSafetyChecker:
    """A ``StableDiffusionSafetyChecker`` on a small CLIP vision tower; it flags nothing until its thresholds are set.

    Its concept embeddings and thresholds start as diffusers initialises them (all ones), and a
    cosine similarity never exceeds 1, so a fresh tiny checker passes every image: tiny runs are
    never filtered at random. Tests aim it by setting ``concept_embeds`` and ``concept_embeds_weights``.
    """
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    # The text tower is never used by the checker, but CLIPConfig requires one: keep it minimal.
    text = {
        "vocab_size": 64,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 16,
        "bos_token_id": 62,
        "eos_token_id": 63,
        "pad_token_id": 63,
    }
    # CLIP's own 224-pixel input, in 32-pixel patches: 49 tokens, so a batch checks in milliseconds.
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 224,
        "patch_size": 32,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        checker = StableDiffusionSafetyChecker(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    return checker.eval()


def save_tiny_safety_checker(folder: Path, checker: StableDiffusionSafetyChecker | None = None) -> Path:
    """Write a checker folder laid out like CompVis/stable-diffusion-safety-checker, for ``models.safety_checker``."""
    from transformers import CLIPImageProcessorPil

    (checker or build_tiny_safety_checker()).save_pretrained(folder)
    CLIPImageProcessorPil().save_pretrained(folder)
    return folder
