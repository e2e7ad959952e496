"""Fused LoRAs: the same output as unfused, no LoRA work per step, and switches that never drift the weights."""

from __future__ import annotations

import pytest
import torch

from fact_runtime.config import RuntimeConfig
from fact_runtime.loading.lora import TURBO_ADAPTER
from fact_runtime.loading.resident import ResidentBase
from fact_runtime.loading.stack import ModelStack
from fact_runtime.loading.tiny import build_tiny_turbo_lora
from tests.tiny_stack import write_kohya_lora

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _base(root, *, is_fused: bool) -> ResidentBase:
    config = RuntimeConfig(preset="tiny", cache_dir=root / "cache", speed={"is_lora_fused": is_fused})
    stack = ModelStack(config)
    stack.load()
    return stack.base("tiny")


@pytest.fixture(scope="module")
def loras(tmp_path_factory) -> tuple:
    folder = tmp_path_factory.mktemp("fusion")
    return write_kohya_lora(folder / "one.safetensors", seed=1), write_kohya_lora(folder / "two.safetensors", seed=2)


def _unet_output(base: ResidentBase) -> torch.Tensor:
    """One UNet evaluation on fixed inputs, with the text encoder's embeddings (its LoRA counts too)."""
    pipe = base.text2img
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        text, _ = pipe.encode_prompt("a portrait photo of a person", pipe.device, 1, False)
        faces = torch.randn(1, 16, text.shape[-1], generator=generator)
        sample = torch.randn(1, 4, 8, 8, generator=generator)
        return pipe.unet(sample, 500, encoder_hidden_states=torch.cat([text, faces], 1)).sample


def _lora_calls(base: ResidentBase) -> int:
    """How many LoRA down-projections one UNet evaluation runs (0 when every LoRA is fused)."""
    calls = [0]
    hooks = [
        module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        for name, module in base.text2img.unet.named_modules()
        if ".lora_A." in f"{name}."
    ]
    _unet_output(base)
    for hook in hooks:
        hook.remove()
    return calls[0]


def _base_weights(base: ResidentBase) -> dict[str, torch.Tensor]:
    pipe = base.text2img
    return {
        f"{part}.{key.replace('.base_layer', '')}": value.detach().float().clone()
        for part, model in (("unet", pipe.unet), ("text_encoder", pipe.text_encoder))
        for key, value in model.state_dict().items()
        if "lora_" not in key
    }


def test_fused_output_equals_unfused_and_runs_no_lora_per_step(tmp_path, loras) -> None:
    fused, unfused = _base(tmp_path / "f", is_fused=True), _base(tmp_path / "u", is_fused=False)
    plain = _unet_output(unfused)
    turbo = (build_tiny_turbo_lora, 0.7)
    for base in (fused, unfused):
        base.loras.activate("one", loras[0], 0.8, turbo=turbo)
    with_lora = _unet_output(unfused)
    assert (with_lora - plain).abs().max() > 1e-2  # the LoRAs do change the output ...
    assert torch.allclose(_unet_output(fused), with_lora, atol=1e-4)  # ... fused or not
    assert fused.loras.fused == (("one", 0.8), (TURBO_ADAPTER, 0.7)) and not unfused.loras.fused
    assert _lora_calls(fused) == 0 and _lora_calls(unfused) > 0


def test_200_style_switches_leave_the_base_weights_as_they_were_in_float16(tmp_path, loras) -> None:
    base = _base(tmp_path, is_fused=True)
    base.text2img.to(dtype=torch.float16)
    one, two = loras
    # Load both adapters first: loading wraps layers, which renames their base weights.
    base.loras.activate("one", one, 1.0, turbo=(build_tiny_turbo_lora, 1.0))
    base.loras.activate("two", two, 0.8)
    base.loras.deactivate()
    original = _base_weights(base)
    for switch in range(100):
        base.loras.activate("one", one, 1.0, turbo=(build_tiny_turbo_lora, 1.0) if switch % 2 else None)
        assert base.loras.fused
        base.loras.activate("two", two, 0.8)
    base.loras.deactivate()
    after = _base_weights(base)
    assert after.keys() == original.keys()
    assert max((after[key] - original[key]).abs().max().item() for key in original) <= 1e-3
    assert not base.loras.fused and base.loras.selection == ()


def test_the_same_selection_again_is_not_fused_twice(tmp_path, loras) -> None:
    base = _base(tmp_path, is_fused=True)
    base.loras.activate("one", loras[0], 1.0)
    fused = _unet_output(base)
    weights = _base_weights(base)
    base.loras.activate("one", loras[0], 1.0)
    assert torch.equal(_unet_output(base), fused)
    assert all(torch.equal(weights[key], value) for key, value in _base_weights(base).items())
