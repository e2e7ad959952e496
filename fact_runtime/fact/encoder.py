"""Reference photos -> face tokens: TransFace-S + resampler, with the null-face tokens for CFG."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .dims import TOKENS_PER_FACE, FactDims
from .resampler import FaceResampler
from .transface import TransFaceS

__all__ = ["FaceEncoder", "FaceTokens", "to_encoder_input"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FaceTokens:
    """Face tokens of K reference photos, concatenated: ``cond`` and the null-face ``uncond``."""

    cond: torch.Tensor
    uncond: torch.Tensor
    num_faces: int

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> FaceTokens:
        """The same tokens on another device / dtype."""
        return FaceTokens(self.cond.to(device, dtype), self.uncond.to(device, dtype), self.num_faces)


def to_encoder_input(
    aligned: Sequence[np.ndarray], *, device: torch.device | str, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Stack aligned uint8 RGB faces into the encoder's input.

    Parameters
    ----------
    aligned:
        One or more (112, 112, 3) uint8 RGB arrays.

    Returns
    -------
    torch.Tensor
        (K, 3, 112, 112) in [-1, 1].

    Raises
    ------
    ValueError
        No faces, or a face is not a 112x112x3 uint8 array.
    """
    if len(aligned) == 0:
        raise ValueError("no aligned faces given")
    for index, face in enumerate(aligned):
        if face.dtype != np.uint8 or face.shape != (112, 112, 3):
            raise ValueError(f"aligned face {index} is {face.dtype} {face.shape}, expected uint8 (112, 112, 3)")
    batch = torch.from_numpy(np.stack(aligned)).permute(0, 3, 1, 2)
    # The original's exact arithmetic (fact-reference §3.6), in float32 whatever ``dtype`` is.
    scaled = (batch.to(device=device, dtype=torch.float32) / 255.0 - 0.5) / 0.5
    return scaled.to(dtype).contiguous()


class FaceEncoder(nn.Module):
    """TransFace-S (``.vit``) followed by the resampler (``.resampler``)."""

    def __init__(self, dims: FactDims | None = None) -> None:
        super().__init__()
        self.dims = dims or FactDims.full()
        self.vit = TransFaceS(self.dims)
        self.resampler = FaceResampler(self.dims)
        self.eval()

    @torch.no_grad()
    def encode(self, faces: torch.Tensor) -> FaceTokens:
        """Face tokens for K reference photos of one person.

        Parameters
        ----------
        faces:
            (K, 3, 112, 112) aligned faces in [-1, 1] (see :func:`to_encoder_input`).

        Returns
        -------
        FaceTokens
            ``cond`` and ``uncond`` of shape (1, 16*K, cross_attention_dim) in the resampler's
            dtype; ``uncond`` is the resampler applied to all-zero ViT tokens, as the original
            builds its negative branch.
        """
        if faces.ndim != 4 or faces.shape[0] == 0:
            raise ValueError(f"expected (K, 3, H, W) faces with K >= 1, got {tuple(faces.shape)}")
        count = faces.shape[0]
        device = self.resampler.latents.device
        tokens = self.vit(faces.to(device))
        cond = self.resampler(tokens)
        uncond = self.resampler(torch.zeros_like(tokens))
        width = cond.shape[-1]
        log.debug("encoded %d face(s) into %d tokens", count, count * TOKENS_PER_FACE)
        return FaceTokens(
            cond=cond.reshape(1, count * TOKENS_PER_FACE, width),
            uncond=uncond.reshape(1, count * TOKENS_PER_FACE, width),
            num_faces=count,
        )
