"""TransFace-S: the face-recognition ViT whose 144 post-norm tokens feed FACT (fact-reference §2.2)."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from .dims import FactDims

__all__ = ["TransFaceS"]

log = logging.getLogger(__name__)


def _half_autocast(device: torch.device) -> torch.autocast:
    """Half-precision autocast for the ViT's linear layers on CUDA, as the original runs them."""
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda")


class _PatchEmbed(nn.Module):
    def __init__(self, dims: FactDims) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dims.vit_dim, kernel_size=dims.patch_size, stride=dims.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        with _half_autocast(x.device):
            qkv = self.qkv(x)
        qkv = qkv.view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        # The product and softmax run in float32 whatever the surrounding precision.
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = F.scaled_dot_product_attention(qkv[0].float(), qkv[1].float(), qkv[2].float())
        out = out.transpose(1, 2).reshape(batch, length, dim)
        with _half_autocast(x.device):
            return self.proj(out)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU6()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with _half_autocast(x.device):
            return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dims: FactDims) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dims.vit_dim)
        self.attn = _Attention(dims.vit_dim, dims.vit_heads)
        self.norm2 = nn.LayerNorm(dims.vit_dim)
        self.mlp = _Mlp(dims.vit_dim, dims.vit_mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TransFaceS(nn.Module):
    """The TransFace-S ViT; ``forward`` returns the local tokens FACT uses.

    The SE gate, the global ``feature`` head and the training-only ``mask_token`` are kept so the
    released state dict loads strictly; :meth:`global_embedding` runs them for completeness.
    """

    def __init__(self, dims: FactDims | None = None) -> None:
        super().__init__()
        dims = dims or FactDims.full()
        self.dims = dims
        flat = dims.num_patches * dims.vit_dim
        self.patch_embed = _PatchEmbed(dims)
        self.pos_embed = nn.Parameter(torch.zeros(1, dims.num_patches, dims.vit_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dims.vit_dim))
        self.blocks = nn.ModuleList(_Block(dims) for _ in range(dims.vit_depth))
        self.norm = nn.LayerNorm(dims.vit_dim)
        self.feature = nn.Sequential(
            nn.Linear(flat, dims.vit_dim, bias=False),
            nn.BatchNorm1d(dims.vit_dim, eps=2e-5),
            nn.Linear(dims.vit_dim, dims.vit_dim, bias=False),
            nn.BatchNorm1d(dims.vit_dim, eps=2e-5),
        )
        self.senet = nn.Sequential(
            nn.Linear(flat, dims.num_patches, bias=False),
            nn.ReLU(),
            nn.Linear(dims.num_patches, dims.num_patches, bias=False),
            nn.Sigmoid(),
        )
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Local tokens.

        Parameters
        ----------
        x:
            (B, 3, 112, 112) aligned faces in [-1, 1].

        Returns
        -------
        torch.Tensor
            (B, 144, vit_dim) float32 tokens after the final LayerNorm.
        """
        expected = (3, self.dims.image_size, self.dims.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"TransFaceS expects (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        x = x.to(self.pos_embed.dtype)
        x = self.patch_embed(x) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x.float())

    def global_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, vit_dim) identity vector of the recogniser (SE-gated tokens -> feature head)."""
        tokens = self.forward(x)
        flat = tokens.flatten(1)
        gate = self.senet(flat).unsqueeze(-1)
        return self.feature((gate * tokens).flatten(1))
