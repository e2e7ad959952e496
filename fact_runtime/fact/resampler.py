"""The perceiver resampler: 144 ViT tokens -> 16 face tokens (fact-reference §2.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dims import FactDims

__all__ = ["FaceResampler"]


class _PerceiverAttention(nn.Module):
    """Queries attend to [tokens ; queries]; names match ``local_fac_prj.layers.i.0.*``."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, tokens: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        tokens = self.norm1(tokens)
        latents = self.norm2(latents)
        batch = latents.shape[0]
        query = self.to_q(latents)
        key, value = self.to_kv(torch.cat([tokens, latents], dim=1)).chunk(2, dim=-1)
        # The original pre-scales q and k by dim_head**-0.25 each: the same as SDPA's default scale.
        query, key, value = (t.reshape(batch, t.shape[1], self.heads, -1).transpose(1, 2) for t in (query, key, value))
        out = F.scaled_dot_product_attention(query.float(), key.float(), value.float()).to(query.dtype)
        return self.to_out(out.transpose(1, 2).reshape(batch, latents.shape[1], -1))


def _feed_forward(dim: int, mult: int) -> nn.Sequential:
    # Indices 0, 1, 3 carry weights, matching ``layers.i.1.{0,1,3}``.
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, dim * mult, bias=False),
        nn.GELU(),
        nn.Linear(dim * mult, dim, bias=False),
    )


class FaceResampler(nn.Module):
    """Resamples (B, 144, vit_dim) local tokens into (B, 16, cross_attention_dim) face tokens."""

    def __init__(self, dims: FactDims | None = None) -> None:
        super().__init__()
        dims = dims or FactDims.full()
        self.dims = dims
        width = dims.resampler_dim
        self.latents = nn.Parameter(torch.randn(1, dims.num_queries, width) / width**0.5)
        self.proj_in = nn.Linear(dims.vit_dim, width)
        self.proj_out = nn.Linear(width, dims.cross_attention_dim)
        self.norm_out = nn.LayerNorm(dims.cross_attention_dim)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    _PerceiverAttention(width, dims.resampler_heads, dims.resampler_dim_head),
                    _feed_forward(width, dims.resampler_ff_mult),
                ]
            )
            for _ in range(dims.resampler_depth)
        )
        self.eval()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Face tokens.

        Parameters
        ----------
        tokens:
            (B, num_patches, vit_dim) local tokens from :class:`TransFaceS`.

        Returns
        -------
        torch.Tensor
            (B, 16, cross_attention_dim), in the resampler's dtype.
        """
        expected = (self.dims.num_patches, self.dims.vit_dim)
        if tokens.ndim != 3 or tuple(tokens.shape[1:]) != expected:
            raise ValueError(f"FaceResampler expects (B, {expected[0]}, {expected[1]}), got {tuple(tokens.shape)}")
        tokens = self.proj_in(tokens.to(self.proj_in.weight.dtype))
        latents = self.latents.expand(tokens.shape[0], -1, -1)
        for layer in self.layers:
            assert isinstance(layer, nn.ModuleList)  # (attention, feed-forward), as the released file names them
            attention, feed_forward = layer[0], layer[1]
            latents = latents + attention(tokens, latents)
            latents = latents + feed_forward(latents)
        return self.norm_out(self.proj_out(latents))
