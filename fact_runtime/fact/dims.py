"""Sizes of the FACT face encoder (TransFace-S ViT + resampler): released and tiny."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import TOKENS_PER_FACE

__all__ = ["FACE_IMAGE_SIZE", "SD15_UNET_CONFIG", "TOKENS_PER_FACE", "FactDims"]

#: Faces are aligned to 112x112 (fact-reference §3), whatever the model size.
FACE_IMAGE_SIZE = 112


@dataclass(frozen=True, slots=True)
class FactDims:
    """Every size of the ViT and the resampler (the processors are sized from the UNet)."""

    image_size: int = FACE_IMAGE_SIZE
    patch_size: int = 9
    vit_dim: int = 512
    vit_depth: int = 12
    vit_heads: int = 8
    vit_mlp_dim: int = 2048
    resampler_dim: int = 1024
    resampler_depth: int = 4
    resampler_heads: int = 12
    resampler_dim_head: int = 64
    resampler_ff_mult: int = 4
    cross_attention_dim: int = 768

    def __post_init__(self) -> None:
        if self.vit_dim % self.vit_heads:
            raise ValueError(f"vit_dim {self.vit_dim} is not divisible by vit_heads {self.vit_heads}")
        if self.image_size < self.patch_size:
            raise ValueError("image_size must be at least one patch")

    @property
    def patches_per_side(self) -> int:
        # The stride-9 convolution leaves the last 112 - 12*9 = 4 rows/columns uncovered.
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.patches_per_side**2

    @property
    def num_queries(self) -> int:
        return TOKENS_PER_FACE

    @classmethod
    def full(cls) -> FactDims:
        """The sizes of the released weights (fact-reference §2.2, §2.3)."""
        return cls()

    @classmethod
    def tiny(cls, cross_attention_dim: int = 32) -> FactDims:
        """Small widths and depths, same architecture, same 112x112 input and 144 tokens."""
        return cls(
            vit_dim=32,
            vit_depth=2,
            vit_heads=2,
            vit_mlp_dim=64,
            resampler_dim=48,
            resampler_depth=2,
            resampler_heads=2,
            resampler_dim_head=16,
            resampler_ff_mult=2,
            cross_attention_dim=cross_attention_dim,
        )


#: diffusers ``UNet2DConditionModel`` config of Stable Diffusion 1.5 (for shape checks and benches).
SD15_UNET_CONFIG: dict = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
