"""The tiny preset: real architectures, small, built offline and deterministically."""

from __future__ import annotations

import pytest
import torch

from fact_runtime.catalog import DEFAULT_NEGATIVE_PROMPT
from fact_runtime.config import RuntimeConfig
from fact_runtime.fact import face_processors, is_fact_installed
from fact_runtime.loading.stack import ModelStack
from fact_runtime.loading.tiny import (
    TINY_CROSS_ATTENTION_DIM,
    build_tiny_components,
    build_tiny_controlnet,
    build_tiny_tokenizer,
)
from tests.tiny_stack import tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fingerprint(module: torch.nn.Module) -> list[float]:
    return [float(tensor.double().sum()) for tensor in module.state_dict().values()]


def test_same_seed_same_weights_and_other_seed_other_weights() -> None:
    first, second, other = build_tiny_components(), build_tiny_components(), build_tiny_components(seed=1)
    assert _fingerprint(first.unet) == _fingerprint(second.unet)
    assert _fingerprint(first.text_encoder) == _fingerprint(second.text_encoder)
    assert _fingerprint(first.vae) == _fingerprint(second.vae)
    assert _fingerprint(first.unet) != _fingerprint(other.unet)


def test_building_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_components()
    assert torch.equal(torch.rand(3), expected)


def test_sd15_layout_scaled_down() -> None:
    parts = build_tiny_components()
    assert parts.unet.config.in_channels == 4 and parts.unet.config.out_channels == 4
    assert parts.unet.config.cross_attention_dim == TINY_CROSS_ATTENTION_DIM
    assert parts.text_encoder.config.hidden_size == TINY_CROSS_ATTENTION_DIM
    assert parts.vae.config.latent_channels == 4
    # SD's VAE shrinks images by 8; the ControlNet's conditioning path must match it.
    assert 2 ** (len(parts.vae.config.block_out_channels) - 1) == 8
    controlnet = build_tiny_controlnet()
    assert controlnet.config.cross_attention_dim == TINY_CROSS_ATTENTION_DIM
    assert controlnet.conv_in.weight.shape == parts.unet.conv_in.weight.shape


def test_tokenizer_is_byte_level_clip_with_77_positions() -> None:
    tokenizer = build_tiny_tokenizer()
    encoded = tokenizer("a raw photo of a person, best quality", padding="max_length", max_length=77, truncation=True)
    assert len(encoded.input_ids) == 77
    assert encoded.input_ids[0] == tokenizer.bos_token_id
    assert tokenizer.tokenize("photo of") == ["photo</w>", "of</w>"]
    # Any text, even outside the merge list, encodes byte by byte and decodes back.
    text = "zürich street"
    assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True).strip() == text
    # The learned merges are the same on every build, so tiny results reproduce across processes.
    assert build_tiny_tokenizer().get_vocab() == tokenizer.get_vocab()
    # Typical prompts fit CLIP's window as they do with the real vocabulary.
    assert len(tokenizer(DEFAULT_NEGATIVE_PROMPT).input_ids) <= 77


def test_model_stack_builds_tiny_with_fact_installed(tmp_path) -> None:
    stack = ModelStack(tiny_config(tmp_path))
    stack.load()
    base = stack.base("any-base-id")
    assert base is stack.inpaint_base()
    unet = base.text2img.unet
    assert is_fact_installed(unet)
    assert len(face_processors(unet)) == sum(1 for name, _ in unet.named_modules() if name.endswith("attn2"))
    assert base.encoder.dims.cross_attention_dim == TINY_CROSS_ATTENTION_DIM
    # Pipelines for other tasks share the same weights: nothing is loaded twice.
    inpaint = base.inpaint()
    assert inpaint.unet is unet and inpaint.vae is base.text2img.vae
    assert inpaint.text_encoder is base.text2img.text_encoder


@pytest.fixture
def local_full_models(tmp_path, monkeypatch) -> tuple[RuntimeConfig, torch.nn.Module]:
    """The full preset's loading path over tiny-sized local files (diffusers folders, adapter, ViT)."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    from fact_runtime.fact import FaceEncoder, FactDims, install_fact
    from fact_runtime.loading.tiny import SD15_SCHEDULER_CONFIG

    # The released sizes would make multi-hundred-MB files; the loading code is the same at any size.
    tiny_dims = classmethod(lambda cls: cls.tiny(cross_attention_dim=TINY_CROSS_ATTENTION_DIM))
    monkeypatch.setattr(FactDims, "full", tiny_dims)
    parts = build_tiny_components(seed=5)
    StableDiffusionPipeline(
        vae=parts.vae,
        text_encoder=parts.text_encoder,
        tokenizer=parts.tokenizer,
        unet=parts.unet,
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(tmp_path / "base")
    build_tiny_controlnet().save_pretrained(tmp_path / "openpose")
    torch.manual_seed(9)
    encoder = FaceEncoder(FactDims.full())
    install_fact(parts.unet)
    adapter = {k: v for k, v in parts.unet.state_dict().items() if ".processor." in k}
    adapter |= {f"local_fac_prj.{k}": v for k, v in encoder.resampler.state_dict().items()}
    torch.save(adapter, tmp_path / "adapter.ckpt")
    torch.save(encoder.vit.state_dict(), tmp_path / "transface.pt")
    base = {"diffusers": {"path": tmp_path / "base"}, "adapter": {"path": tmp_path / "adapter.ckpt"}}
    models = {
        "base_models": {"majicmix": base, "film": base},
        "transface": {"path": tmp_path / "transface.pt"},
        "controlnet_openpose": {"path": tmp_path / "openpose"},
    }
    config = RuntimeConfig(preset="full", cache_dir=tmp_path / "cache", models=models)
    return config, encoder


def test_full_preset_loads_each_base_with_its_adapter_and_one_shared_vit(local_full_models) -> None:
    config, saved = local_full_models
    stack = ModelStack(config, is_offline=True)
    stack.load()
    majicmix, film = stack.base("majicmix"), stack.base("film")
    assert majicmix.encoder.vit is film.encoder.vit
    assert majicmix.encoder.resampler is not film.encoder.resampler
    assert majicmix.text2img.unet is not film.text2img.unet
    for ours, theirs in ((majicmix.encoder.resampler, saved.resampler), (majicmix.encoder.vit, saved.vit)):
        pairs = zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True)
        assert all(torch.equal(a, b) for a, b in pairs)
    assert is_fact_installed(majicmix.text2img.unet)
    assert type(majicmix.text2img.scheduler).__name__ == "PNDMScheduler"
    # The ControlNet is not loaded until a pose job asks for it; then once, for every base.
    assert not stack.is_controlnet_loaded
    assert stack.controlnet() is stack.controlnet()


def test_every_pipeline_denoises_with_the_base_folders_own_scheduler_config(local_full_models) -> None:
    import json

    config, _ = local_full_models
    folder = config.models.base_models["majicmix"].diffusers.path / "scheduler"
    # A base whose PNDM runs its Runge-Kutta warm-up steps, unlike SD1.5's usual config.
    saved = json.loads((folder / "scheduler_config.json").read_text())
    saved |= {"skip_prk_steps": False, "set_alpha_to_one": True}
    (folder / "scheduler_config.json").write_text(json.dumps(saved))
    stack = ModelStack(config, is_offline=True)
    base = stack.base("majicmix")
    expected = {key: value for key, value in saved.items() if not key.startswith("_")}
    base.inpaint()  # its constructor rewrites its scheduler's config; that must not reach the others
    control = base.control(stack.controlnet())
    for scheduler in (base.text2img.scheduler, base.scheduler("pndm"), control.scheduler):
        assert type(scheduler).__name__ == "PNDMScheduler"
        assert {key: scheduler.config[key] for key in expected} == expected
    # Only diffusers' plain inpainting pipeline gets PNDM without its warm-up, as diffusers demands.
    assert base.scheduler("pndm", is_sd_inpaint=True).config.skip_prk_steps is True
