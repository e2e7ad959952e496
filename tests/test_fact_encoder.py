"""Face encoder at tiny size: input conversion, ViT/resampler maths, tokens per photo, null tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from fact_runtime.fact import FaceEncoder, FactDims, to_encoder_input
from fact_runtime.loading.device import resolve_device, resolve_dtype


def _face_crop(rgb: np.ndarray) -> np.ndarray:
    """A 112x112 centre crop standing in for an aligned face (alignment is another module's job)."""
    side = min(rgb.shape[:2])
    top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    return np.asarray(Image.fromarray(rgb[top : top + side, left : left + side]).resize((112, 112)))


@pytest.fixture(scope="module")
def encoder() -> FaceEncoder:
    torch.manual_seed(0)
    return FaceEncoder(FactDims.tiny(cross_attention_dim=32))


@pytest.fixture
def two_faces(astronaut_rgb, grace_hopper_rgb) -> torch.Tensor:
    return to_encoder_input([_face_crop(astronaut_rgb), _face_crop(grace_hopper_rgb)], device="cpu")


def test_to_encoder_input_maps_uint8_to_unit_range() -> None:
    face = np.zeros((112, 112, 3), dtype=np.uint8)
    face[0, 0] = (255, 0, 128)
    batch = to_encoder_input([face], device=torch.device("cpu"))
    assert batch.shape == (1, 3, 112, 112) and batch.dtype == torch.float32
    assert batch[0, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, 128 / 127.5 - 1], abs=1e-6)
    assert batch[0, 0, 1, 1] == -1.0
    with pytest.raises(ValueError, match="uint8"):
        to_encoder_input([face[:100]], device="cpu")
    with pytest.raises(ValueError, match="no aligned faces"):
        to_encoder_input([], device="cpu")


def test_two_photos_give_32_tokens_and_null_tokens_are_resampler_of_zeros(encoder, two_faces) -> None:
    tokens = encoder.encode(two_faces)
    assert tokens.num_faces == 2
    assert tokens.cond.shape == tokens.uncond.shape == (1, 32, 32)
    with torch.no_grad():
        null = encoder.resampler(torch.zeros(2, 144, encoder.dims.vit_dim)).reshape(1, 32, 32)
        first = encoder.encode(two_faces[:1]).cond
    assert torch.equal(tokens.uncond, null)
    # Photos are concatenated in order, never averaged.
    assert torch.allclose(tokens.cond[:, :16], first, atol=1e-6)
    assert not torch.allclose(tokens.cond[:, 16:], first, atol=1e-3)


def test_vit_matches_eager_reference(encoder, two_faces) -> None:
    """TransFace-S per fact-reference §2.2 with explicit softmax attention."""
    vit = encoder.vit
    dims = vit.dims
    with torch.no_grad():
        x = F.conv2d(two_faces, vit.patch_embed.proj.weight, vit.patch_embed.proj.bias, stride=9)
        x = x.flatten(2).transpose(1, 2) + vit.pos_embed
        for block in vit.blocks:
            h = block.norm1(x)
            q, k, v = (h @ block.attn.qkv.weight.T).chunk(3, dim=-1)
            split = lambda t: t.reshape(2, 144, dims.vit_heads, -1).transpose(1, 2)  # noqa: E731
            q, k, v = split(q), split(k), split(v)
            weights = torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)
            x = x + block.attn.proj((weights @ v).transpose(1, 2).reshape(2, 144, -1))
            x = x + block.mlp.fc2(F.relu6(block.mlp.fc1(block.norm2(x))))
        want = vit.norm(x)
        got = vit(two_faces)
    assert got.shape == (2, 144, dims.vit_dim) and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-5)
    assert vit.global_embedding(two_faces).shape == (2, dims.vit_dim)


def test_resampler_matches_eager_reference(encoder) -> None:
    """Perceiver layers per fact-reference §2.3: q and k pre-scaled by dim_head**-0.25."""
    resampler = encoder.resampler
    heads = resampler.dims.resampler_heads
    tokens = torch.randn(3, 144, resampler.dims.vit_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = resampler.proj_in(tokens)
        latents = resampler.latents.repeat(3, 1, 1)
        for attention, feed_forward in resampler.layers:
            xs, ls = attention.norm1(x), attention.norm2(latents)
            q = attention.to_q(ls)
            k, v = attention.to_kv(torch.cat([xs, ls], dim=1)).chunk(2, dim=-1)
            split = lambda t: t.reshape(3, t.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
            q, k, v = split(q), split(k), split(v)
            scale = q.shape[-1] ** -0.25
            weights = torch.softmax((q * scale) @ (k * scale).transpose(-1, -2), dim=-1)
            latents = latents + attention.to_out((weights @ v).transpose(1, 2).reshape(3, 16, -1))
            latents = latents + feed_forward[3](F.gelu(feed_forward[1](feed_forward[0](latents))))
        want = resampler.norm_out(resampler.proj_out(latents))
        got = resampler(tokens)
    assert got.shape == (3, 16, 32)
    assert torch.allclose(got, want, atol=1e-5)


def test_full_dims_are_the_released_sizes() -> None:
    dims = FactDims.full()
    assert (dims.num_patches, dims.vit_dim, dims.cross_attention_dim, dims.num_queries) == (144, 512, 768, 16)
    assert FactDims.tiny().num_patches == 144


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("bfloat16", torch.device("cuda")) == torch.bfloat16
    with pytest.raises(ValueError, match="float16 on the CPU"):
        resolve_dtype("float16", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
