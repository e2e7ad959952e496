"""FACT attention processors for diffusers ``Attention`` layers (fact-reference §2.4, §2.5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import nn

from .dims import TOKENS_PER_FACE

__all__ = ["ControlNetAttnProcessor", "FaceAttnProcessor", "split_face_tokens"]


def split_face_tokens(encoder_hidden_states: torch.Tensor, num_faces: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Split (B, text + 16*num_faces, D) into the text part and the trailing face tokens."""
    face_len = TOKENS_PER_FACE * num_faces
    if face_len == 0:
        return encoder_hidden_states, None
    text_len = encoder_hidden_states.shape[1] - face_len
    if text_len <= 0:
        raise ValueError(
            f"encoder_hidden_states has {encoder_hidden_states.shape[1]} tokens, too few for "
            f"{num_faces} face(s) x {TOKENS_PER_FACE} tokens plus the text"
        )
    return encoder_hidden_states[:, :text_len], encoder_hidden_states[:, text_len:]


def _text_mask(attention_mask: torch.Tensor | None, text_len: int) -> torch.Tensor | None:
    # An encoder mask covers text + face tokens; the text attention only sees the text keys.
    return None if attention_mask is None else attention_mask[..., :text_len]


class _FaceSelfAttention(nn.Module):
    """Self-attention over [visual ; face] tokens; only the visual rows are computed."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x: torch.Tensor, num_queries: int) -> torch.Tensor:
        batch = x.shape[0]
        query = self.to_q(x[:, :num_queries])
        key, value = self.to_k(x), self.to_v(x)
        query, key, value = (t.view(batch, t.shape[1], self.heads, -1).transpose(1, 2) for t in (query, key, value))
        out = F.scaled_dot_product_attention(query, key, value)
        out = out.transpose(1, 2).reshape(batch, num_queries, -1)
        return self.to_out[1](self.to_out[0](out))


class _Geglu(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class _FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(_Geglu(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FaceAttnProcessor(nn.Module):
    """Cross-attention processor: gated face self-attention and FF, then text cross-attention.

    ``ln`` is the transformer block's ``norm2``, moved here; the block then feeds un-normalised
    states to ``attn2``. The text cross-attention uses the layer's own ``to_q/to_k/to_v/to_out``
    (so PEFT LoRA on them applies) through diffusers' SDPA processor, the exact computation the
    base model runs: with ``scale == 0`` the output is the base output, bit for bit.
    """

    def __init__(
        self,
        hidden_size: int,
        cross_attention_dim: int,
        heads: int,
        ln: nn.LayerNorm,
        *,
        scale: float = 1.0,
        num_faces: int = 1,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(cross_attention_dim, hidden_size)
        self.attn = _FaceSelfAttention(hidden_size, heads)
        self.ff = _FeedForward(hidden_size)
        self.norm1 = nn.LayerNorm(hidden_size)
        self.norm2 = nn.LayerNorm(hidden_size)
        self.alpha_attn = nn.Parameter(torch.tensor(0.0))
        self.alpha_dense = nn.Parameter(torch.tensor(0.0))
        self.ln = ln
        #: The base model's ``ln`` values when an adapter file replaced them; remove_fact puts them back.
        self.base_ln_state: dict[str, torch.Tensor] | None = None
        self.scale = float(scale)
        self.num_faces = int(num_faces)
        self._text_processor = AttnProcessor2_0()

    def add_face(self, hidden_states: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """Visual tokens after the gated face self-attention and the gated feed-forward."""
        visual_len = hidden_states.shape[1]
        face = self.linear(face.to(self.linear.weight.dtype))
        joint = self.norm1(torch.cat([hidden_states, face], dim=1))
        x = hidden_states + self.scale * torch.tanh(self.alpha_attn) * self.attn(joint, visual_len)
        return x + self.scale * torch.tanh(self.alpha_dense) * self.ff(self.norm2(x))

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        if attn.residual_connection or attn.rescale_output_factor != 1.0:
            raise ValueError("FACT processors need an attention layer without residual or output rescale")
        if encoder_hidden_states is None:
            text, face = None, None
        else:
            text, face = split_face_tokens(encoder_hidden_states, self.num_faces)
            attention_mask = _text_mask(attention_mask, text.shape[1])
        if face is not None and self.scale != 0.0:
            updated = self.add_face(hidden_states, face)
            out = self._text_processor(attn, self.ln(updated), text, attention_mask, temb)
            # The block adds its own residual (the states before the face update), so the face
            # update rides on this branch's output.
            return out + (updated - hidden_states)
        return self._text_processor(attn, self.ln(hidden_states), text, attention_mask, temb)


class ControlNetAttnProcessor:
    """SDPA attention that drops the trailing face tokens, so a ControlNet sees text only."""

    def __init__(self, num_faces: int = 1) -> None:
        self.num_faces = int(num_faces)
        self._processor = AttnProcessor2_0()

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None:
            encoder_hidden_states, _ = split_face_tokens(encoder_hidden_states, self.num_faces)
            attention_mask = _text_mask(attention_mask, encoder_hidden_states.shape[1])
        return self._processor(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
