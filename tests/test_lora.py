"""Style LoRAs: kohya files through diffusers' PEFT integration, loaded once and switched per job."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fact_runtime.errors import WeightsMismatch
from fact_runtime.loading.resident import ResidentBase
from fact_runtime.loading.stack import ModelStack
from tests.tiny_stack import tiny_config, write_kohya_lora

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> ResidentBase:
    stack = ModelStack(tiny_config(tmp_path_factory.mktemp("lora")))
    stack.load()
    return stack.base("tiny")


@pytest.fixture(scope="module")
def lora_files(tmp_path_factory) -> tuple:
    folder = tmp_path_factory.mktemp("loras")
    return write_kohya_lora(folder / "one.safetensors", seed=1), write_kohya_lora(folder / "two.safetensors", seed=2)


def _image(base: ResidentBase) -> np.ndarray:
    pipe = base.text2img
    with torch.inference_mode():
        output = pipe(
            height=64,
            width=64,
            num_inference_steps=2,
            guidance_scale=1.0,
            generator=torch.Generator().manual_seed(3),
            output_type="np",
            # FACT expects face tokens; zeros stand in for a face here, the LoRA is what is tested.
            prompt_embeds=_embeds(pipe),
        )
    return output.images[0]


def _embeds(pipe) -> torch.Tensor:
    text, _ = pipe.encode_prompt("a portrait photo of a person", pipe.device, 1, False)
    return torch.cat([text, torch.zeros(1, 16, text.shape[-1])], dim=1)


def test_a_style_lora_changes_the_output_and_weight_zero_does_not(base, lora_files) -> None:
    base.loras.deactivate()
    plain = _image(base)
    base.loras.activate("one", lora_files[0], 1.0)
    styled = _image(base)
    base.loras.activate("one", lora_files[0], 0.0)
    zero = _image(base)
    base.loras.deactivate()
    off_again = _image(base)
    assert np.abs(styled - plain).max() > 1e-3
    assert np.array_equal(zero, plain)
    assert np.array_equal(off_again, plain)


def test_kohya_keys_reach_both_unet_and_text_encoder(base, lora_files) -> None:
    base.loras.activate("one", lora_files[0], 1.0)
    adapters = base.text2img.get_list_adapters()
    assert "one" in adapters["unet"] and "one" in adapters["text_encoder"]
    # Never fused: the base weights are untouched, the LoRA lives beside them.
    to_q = base.text2img.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    assert hasattr(to_q, "base_layer") and "one" in to_q.lora_A
    base.loras.deactivate()


def test_styles_live_side_by_side_and_are_read_from_disk_once(base, lora_files, tmp_path) -> None:
    one, two = lora_files
    base.loras.activate("one", one, 1.0)
    first_one = _image(base)
    base.loras.activate("two", two, 1.0)
    first_two = _image(base)
    assert not np.array_equal(first_one, first_two)
    # Switching back uses the adapters already in memory: the files are no longer needed.
    moved = tmp_path / "gone"
    moved.mkdir()
    for path in (one, two):
        path.rename(moved / path.name)
    try:
        base.loras.activate("one", one, 1.0)
        assert np.array_equal(_image(base), first_one)
        base.loras.activate("two", two, 1.0)
        assert np.array_equal(_image(base), first_two)
    finally:
        for path in (one, two):
            (moved / path.name).rename(path)
    assert set(base.loras.loaded) >= {"one", "two"}
    base.loras.deactivate()


def test_a_file_that_is_not_a_lora_is_a_typed_error(base, tmp_path) -> None:
    bogus = tmp_path / "bogus.safetensors"
    save_file({"lora_unet_nothing_here.lora_down.weight": torch.zeros(2, 3)}, str(bogus))
    with pytest.raises(WeightsMismatch):
        base.loras.activate("bogus", bogus, 1.0)
    assert all("bogus" not in names for names in base.text2img.get_list_adapters().values())
    assert "bogus" not in base.loras.loaded
    base.loras.deactivate()
