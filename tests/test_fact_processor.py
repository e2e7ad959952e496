"""FACT processors in a tiny diffusers UNet / ControlNet: exactness, reference maths, removal, LoRA."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from diffusers import ControlNetModel, UNet2DConditionModel

from fact_runtime.fact import (
    FaceAttnProcessor,
    face_processors,
    install_fact,
    is_fact_installed,
    remove_fact,
    set_fact_num_faces,
)
from fact_runtime.fact.adapter import set_fact_scale

TINY_UNET = {
    "sample_size": 8,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
TEXT_LEN = 7


def _jitter(module: torch.nn.Module, generator: torch.Generator, std: float = 0.2) -> None:
    """Random non-trivial values everywhere (LayerNorm scales included) except a moved ``ln``."""
    with torch.no_grad():
        for name, tensor in module.named_parameters():
            if not name.startswith("ln."):
                tensor.add_(torch.randn(tensor.shape, generator=generator) * std)


@pytest.fixture
def unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    model = UNet2DConditionModel(**TINY_UNET).eval()
    # Non-default norm2 values, so a LayerNorm applied in the wrong place shows up.
    _jitter(model, torch.Generator().manual_seed(1), std=0.05)
    return model


def _inputs(batch: int, num_faces: int, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 4, 8, 8, generator=generator)
    text = torch.randn(batch, TEXT_LEN, 32, generator=generator)
    faces = torch.randn(batch, 16 * num_faces, 32, generator=generator)
    return latents, text, faces


def _run(model: torch.nn.Module, latents: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(latents, torch.tensor(500), encoder_hidden_states=states).sample


def _install_random(unet: UNet2DConditionModel, *, scale: float, num_faces: int = 1, controlnets=()) -> None:
    install_fact(unet, scale=scale, controlnets=controlnets)
    set_fact_num_faces(unet, num_faces, controlnets=controlnets)
    generator = torch.Generator().manual_seed(3)
    for processor in face_processors(unet).values():
        _jitter(processor, generator)
        with torch.no_grad():
            processor.alpha_attn.fill_(0.8)
            processor.alpha_dense.fill_(-0.6)


def test_installs_one_face_processor_per_cross_attention(unet: UNet2DConditionModel) -> None:
    install_fact(unet)
    processors = face_processors(unet)
    # Tiny layout: one down block, the mid block and two up-block layers carry cross-attention.
    assert len(processors) == 4 and is_fact_installed(unet)
    assert all(type(block.norm2) is torch.nn.Identity for block in _blocks(unet))
    for processor in processors.values():
        assert processor.linear.in_features == 32
        assert processor.ln.normalized_shape == (processor.linear.out_features,)


def _blocks(unet: UNet2DConditionModel) -> list:
    return [block for name, block in unet.named_modules() if name.endswith("transformer_blocks.0")]


def test_scale_zero_reproduces_base_unet_exactly(unet: UNet2DConditionModel) -> None:
    latents, text, faces = _inputs(batch=2, num_faces=2)
    base = _run(unet, latents, text)
    _install_random(unet, scale=0.0, num_faces=2)
    with_faces = torch.cat([text, faces], dim=1)
    assert torch.equal(_run(unet, latents, with_faces), base)
    set_fact_scale(unet, 0.5)
    assert (_run(unet, latents, with_faces) - base).abs().max() > 1e-3


def test_remove_fact_restores_base_unet(unet: UNet2DConditionModel) -> None:
    latents, text, _ = _inputs(batch=2, num_faces=1)
    base = _run(unet, latents, text)
    processors_before = dict(unet.attn_processors)
    _install_random(unet, scale=1.0)
    remove_fact(unet)
    assert not is_fact_installed(unet)
    assert all(type(block.norm2) is torch.nn.LayerNorm for block in _blocks(unet))
    restored = {name: type(processor) for name, processor in unet.attn_processors.items()}
    assert restored == {name: type(processor) for name, processor in processors_before.items()}
    assert not any("processor" in key for key in unet.state_dict())
    assert torch.equal(_run(unet, latents, text), base)


def _eager_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int) -> torch.Tensor:
    batch, q_len, width = query.shape
    split = lambda t: t.reshape(batch, t.shape[1], heads, width // heads).transpose(1, 2)  # noqa: E731
    q, k, v = split(query), split(key), split(value)
    weights = torch.softmax(q @ k.transpose(-1, -2) * (width // heads) ** -0.5, dim=-1)
    return (weights @ v).transpose(1, 2).reshape(batch, q_len, width)


def _eager_face_layer(attn, proc: FaceAttnProcessor, x: torch.Tensor, states: torch.Tensor, num_faces: int):
    """fact-reference §2.4 written out with explicit softmax(QK^T)V, no SDPA."""
    text, face = states[:, : -16 * num_faces], states[:, -16 * num_faces :]
    width = x.shape[-1]
    f = F.linear(face, proc.linear.weight, proc.linear.bias)
    joint = F.layer_norm(torch.cat([x, f], 1), (width,), proc.norm1.weight, proc.norm1.bias)
    a = proc.attn
    q, k, v = joint @ a.to_q.weight.T, joint @ a.to_k.weight.T, joint @ a.to_v.weight.T
    heads_out = _eager_attention(q, k, v, attn.heads)
    self_attn = F.linear(heads_out, a.to_out[0].weight, a.to_out[0].bias)[:, : x.shape[1]]
    x1 = x + proc.scale * torch.tanh(proc.alpha_attn) * self_attn
    normed = F.layer_norm(x1, (width,), proc.norm2.weight, proc.norm2.bias)
    hidden = F.linear(normed, *_wb(proc.ff.net[0].proj))
    value, gate = hidden.chunk(2, dim=-1)
    x2 = x1 + proc.scale * torch.tanh(proc.alpha_dense) * F.linear(value * F.gelu(gate), *_wb(proc.ff.net[2]))
    h = F.layer_norm(x2, (width,), proc.ln.weight, proc.ln.bias, eps=proc.ln.eps)
    q, k, v = h @ attn.to_q.weight.T, text @ attn.to_k.weight.T, text @ attn.to_v.weight.T
    cross = _eager_attention(q, k, v, attn.heads)
    return F.linear(cross, *_wb(attn.to_out[0])) + x2 - x


def _wb(linear: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    return linear.weight, linear.bias


@pytest.mark.parametrize("num_faces", [1, 2])
def test_processor_matches_eager_reference(unet: UNet2DConditionModel, num_faces: int) -> None:
    _install_random(unet, scale=0.7, num_faces=num_faces)
    name, proc = next(iter(face_processors(unet).items()))
    attn = unet.get_submodule(name)
    generator = torch.Generator().manual_seed(4)
    # Two images x classifier-free guidance: a batch of 4 with different face tokens per row.
    x = torch.randn(4, 64, proc.linear.out_features, generator=generator)
    states = torch.randn(4, TEXT_LEN + 16 * num_faces, 32, generator=generator)
    with torch.no_grad():
        got = attn(x, encoder_hidden_states=states)
        want = _eager_face_layer(attn, proc, x, states, num_faces)
    assert got.shape == x.shape
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)


def test_controlnet_ignores_face_tokens(unet: UNet2DConditionModel) -> None:
    torch.manual_seed(5)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32)).eval()
    # The output convolutions start at zero; without this every output would be zero.
    _jitter(controlnet, torch.Generator().manual_seed(8), std=0.05)
    latents, text, faces = _inputs(batch=2, num_faces=2)
    condition = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))

    def control(states: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            out = controlnet(latents, torch.tensor(500), encoder_hidden_states=states, controlnet_cond=condition)
        return [*out.down_block_res_samples, out.mid_block_res_sample]

    text_only = control(text)
    _install_random(unet, scale=1.0, num_faces=2, controlnets=[controlnet])
    with_faces = control(torch.cat([text, faces], dim=1))
    assert text_only[-1].abs().max() > 1e-3
    assert all(torch.allclose(a, b, atol=1e-6, rtol=0) for a, b in zip(with_faces, text_only, strict=True))
    remove_fact(unet, controlnets=[controlnet])
    assert torch.equal(control(text)[-1], text_only[-1])


def test_peft_lora_on_text_attention_applies_through_the_processor(unet: UNet2DConditionModel) -> None:
    from peft import LoraConfig

    latents, text, faces = _inputs(batch=2, num_faces=1)
    _install_random(unet, scale=0.0)
    torch.manual_seed(7)
    targets = ["attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0"]
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets, init_lora_weights=False))
    with_lora = _run(unet, latents, torch.cat([text, faces], dim=1))
    remove_fact(unet)
    # Scale 0 equals the base UNet with the same LoRA, and the LoRA really changed the output.
    assert torch.equal(with_lora, _run(unet, latents, text))
    unet.disable_adapters()
    assert (_run(unet, latents, text) - with_lora).abs().max() > 1e-4


def test_too_few_tokens_for_the_faces_is_an_error(unet: UNet2DConditionModel) -> None:
    latents, text, _ = _inputs(batch=1, num_faces=1)
    install_fact(unet)
    set_fact_num_faces(unet, 1)
    with pytest.raises(ValueError, match="too few"):
        _run(unet, latents, text[:, :5].repeat(1, 3, 1)[:, :15])


def test_zero_faces_leaves_the_text_path_untouched(unet: UNet2DConditionModel) -> None:
    latents, text, _ = _inputs(batch=2, num_faces=1)
    base = _run(unet, latents, text)
    _install_random(unet, scale=1.0, num_faces=0)
    assert torch.equal(_run(unet, latents, text), base)


def test_processors_follow_the_unet_dtype(unet: UNet2DConditionModel) -> None:
    unet.to(torch.bfloat16)
    install_fact(unet, scale=0.5)
    processor = next(iter(face_processors(unet).values()))
    assert processor.linear.weight.dtype == processor.ln.weight.dtype == torch.bfloat16
    latents, text, faces = _inputs(batch=2, num_faces=1)
    states = torch.cat([text, faces], dim=1).bfloat16()
    out = _run(unet, latents.bfloat16(), states)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
