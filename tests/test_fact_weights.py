"""Strict loading of FACT weight files laid out as the released ones (names/shapes from the manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel

from fact_runtime.__main__ import main
from fact_runtime.errors import ModelMissing, WeightsMismatch
from fact_runtime.fact import (
    SD15_UNET_CONFIG,
    FaceEncoder,
    FaceResampler,
    FactDims,
    face_processors,
    install_fact,
    remove_fact,
)
from fact_runtime.loading.fact_weights import load_adapter_weights, load_transface_weights

REPO = Path(__file__).resolve().parents[1]
# CI clones the repository with ../shared beside it; a local worktree sits one level deeper.
_CANDIDATES = [REPO.parent / "shared", REPO.parent.parent / "shared"]
MANIFEST_PATH = next(
    (path for path in (p / "fact/checkpoint-manifest.json" for p in _CANDIDATES) if path.is_file()), None
)
LN_EXAMPLE = "up_blocks.3.attentions.2.transformer_blocks.0.attn2.processor.ln.weight"
PROCESSOR_EXAMPLE = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.attn.to_k.weight"

needs_manifest = pytest.mark.skipif(
    MANIFEST_PATH is None, reason="../shared/fact/checkpoint-manifest.json is not beside this checkout"
)


@pytest.fixture(scope="session")
def manifest() -> dict:
    if MANIFEST_PATH is None:
        pytest.skip("../shared/fact/checkpoint-manifest.json is not beside this checkout")
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def _fake(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    # Every tensor is a broadcast view of one shared scalar: torch.save stores that one storage,
    # so a full-size file is a few kB while names and shapes are the released ones.
    scalar = torch.full((), 0.01)
    return {name: scalar.expand(shape) for name, shape in shapes.items()}


@pytest.fixture(scope="session")
def released(manifest: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Adapter (with and without the 32 ln tensors) and TransFace files, written once."""
    folder = tmp_path_factory.mktemp("fact-weights")
    adapter = manifest["adapter_checkpoint"]
    full = {**adapter["unet_processor_tensors"], **adapter["resampler_tensors"]}
    files = {
        "adapter": full,
        "adapter_no_ln": {k: v for k, v in full.items() if ".processor.ln." not in k},
        "transface": manifest["transface_checkpoint"]["tensors"],
    }
    paths = {}
    for name, shapes in files.items():
        paths[name] = folder / f"{name}.ckpt"
        torch.save(_fake(shapes), paths[name])
    return paths


def _save_variant(source: Path, target: Path, edit) -> Path:
    state = torch.load(source, weights_only=True)
    edit(state)
    torch.save(state, target)
    return target


def _full_modules() -> tuple[UNet2DConditionModel, FaceEncoder]:
    # Meta device: the real names and shapes at full size without allocating 1.2 B parameters.
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_UNET_CONFIG)
        encoder = FaceEncoder(FactDims.full())
    install_fact(unet)
    return unet, encoder


def test_manifest_counts_match_the_modules(manifest: dict) -> None:
    unet, encoder = _full_modules()
    adapter = manifest["adapter_checkpoint"]
    processor_shapes = {k: list(v.shape) for k, v in unet.state_dict().items() if ".processor." in k}
    resampler_shapes = {f"local_fac_prj.{k}": list(v.shape) for k, v in encoder.resampler.state_dict().items()}
    vit_shapes = {k: list(v.shape) for k, v in encoder.vit.state_dict().items()}
    assert (len(processor_shapes), len(resampler_shapes), len(vit_shapes)) == (304, 51, 152)
    assert processor_shapes == adapter["unet_processor_tensors"]
    assert resampler_shapes == adapter["resampler_tensors"]
    assert vit_shapes == manifest["transface_checkpoint"]["tensors"]


@pytest.mark.parametrize(("file", "matched", "has_ln"), [("adapter", 355, True), ("adapter_no_ln", 323, False)])
def test_full_size_adapter_loads_with_every_tensor_matched(released, file, matched, has_ln) -> None:
    unet, encoder = _full_modules()
    report = load_adapter_weights(unet, encoder.resampler, released[file])
    assert report.is_ok and report.matched == matched and report.has_ln is has_ln
    assert dict(report.parts) == {"processors": 272, "ln": 32 if has_ln else 0, "resampler": 51}
    # The file's tensors are now the modules' tensors.
    loaded = [*encoder.resampler.parameters()]
    loaded += [p for processor in face_processors(unet).values() for p in processor.parameters()]
    assert sum(not p.is_meta for p in loaded) == matched
    assert "processors 272" in report.summary()


def test_full_size_transface_loads_strictly(released) -> None:
    _, encoder = _full_modules()
    report = load_transface_weights(encoder.vit, released["transface"])
    assert report.is_ok and report.matched == 152
    assert not any(t.is_meta for t in encoder.vit.state_dict().values())


def test_missing_tensor_is_named(released, tmp_path) -> None:
    path = _save_variant(released["adapter"], tmp_path / "a.ckpt", lambda s: s.pop(PROCESSOR_EXAMPLE))
    unet, encoder = _full_modules()
    with pytest.raises(WeightsMismatch, match=r"1 missing:\s+" + PROCESSOR_EXAMPLE.replace(".", r"\.")):
        load_adapter_weights(unet, encoder.resampler, path)


def test_partial_ln_set_names_the_missing_ln(released, tmp_path) -> None:
    path = _save_variant(released["adapter"], tmp_path / "a.ckpt", lambda s: s.pop(LN_EXAMPLE))
    unet, encoder = _full_modules()
    with pytest.raises(WeightsMismatch, match=LN_EXAMPLE.replace(".", r"\.")):
        load_adapter_weights(unet, encoder.resampler, path)


def test_reshaped_tensor_is_named_with_both_shapes(released, tmp_path) -> None:
    def reshape(state: dict) -> None:
        state["local_fac_prj.layers.2.0.to_kv.weight"] = torch.zeros(768, 1024)

    path = _save_variant(released["adapter"], tmp_path / "a.ckpt", reshape)
    unet, encoder = _full_modules()
    with pytest.raises(WeightsMismatch) as caught:
        load_adapter_weights(unet, encoder.resampler, path)
    expected = "local_fac_prj.layers.2.0.to_kv.weight: file [768, 1024] vs module [1536, 1024]"
    assert expected in str(caught.value)


def test_unexpected_processor_key_is_named(released, tmp_path) -> None:
    extra = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_ip.weight"
    path = _save_variant(released["adapter"], tmp_path / "a.ckpt", lambda s: s.update({extra: torch.zeros(2)}))
    unet, encoder = _full_modules()
    with pytest.raises(WeightsMismatch, match=r"1 unexpected:\s+" + extra.replace(".", r"\.")):
        load_adapter_weights(unet, encoder.resampler, path)


def test_transface_reshaped_tensor_is_named(released, tmp_path) -> None:
    path = _save_variant(
        released["transface"], tmp_path / "t.pt", lambda s: s.update({"senet.2.weight": torch.zeros(144, 72)})
    )
    _, encoder = _full_modules()
    with pytest.raises(WeightsMismatch, match=r"senet\.2\.weight: file \[144, 72\] vs module \[144, 144\]"):
        load_transface_weights(encoder.vit, path)


def test_missing_file_is_model_missing(tmp_path) -> None:
    with pytest.raises(ModelMissing, match=r"nothing\.ckpt"):
        load_transface_weights(FaceEncoder(FactDims.tiny()).vit, tmp_path / "nothing.ckpt")


def _tiny_unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )


def _tiny_adapter_file(unet, resampler, path: Path, *, with_ln: bool) -> dict[str, torch.Tensor]:
    shapes = {k: v.shape for k, v in unet.state_dict().items() if ".processor." in k}
    state = {k: torch.randn(shape, dtype=torch.float64) for k, shape in shapes.items()}
    state = {k: v for k, v in state.items() if with_ln or ".processor.ln." not in k}
    state |= {f"local_fac_prj.{k}": torch.randn(v.shape) for k, v in resampler.state_dict().items()}
    torch.save(state, path)
    return state


def test_real_values_land_in_real_modules_and_keep_their_dtype(tmp_path) -> None:
    """Round trip at tiny size: values are copied; without ln the base LayerNorm stays."""
    unet = _tiny_unet()
    install_fact(unet)
    resampler = FaceResampler(FactDims.tiny())
    base_ln = {name: proc.ln.weight.clone() for name, proc in face_processors(unet).items()}
    state = _tiny_adapter_file(unet, resampler, tmp_path / "tiny.ckpt", with_ln=False)

    report = load_adapter_weights(unet, resampler, tmp_path / "tiny.ckpt")
    assert not report.has_ln and report.matched == len(state)
    name, proc = next(iter(face_processors(unet).items()))
    assert proc.linear.weight.dtype == torch.float32
    assert torch.equal(proc.linear.weight, state[f"{name}.processor.linear.weight"].float())
    assert torch.equal(proc.ln.weight, base_ln[name])
    assert torch.equal(resampler.latents, state["local_fac_prj.latents"])


def test_stored_ln_replaces_the_base_norm_until_removal(tmp_path) -> None:
    unet = _tiny_unet()
    base_norms = {k: v.clone() for k, v in unet.state_dict().items() if ".norm2." in k}
    install_fact(unet)
    state = _tiny_adapter_file(unet, FaceResampler(FactDims.tiny()), tmp_path / "tiny.ckpt", with_ln=True)
    report = load_adapter_weights(unet, FaceResampler(FactDims.tiny()), tmp_path / "tiny.ckpt")
    assert report.has_ln and dict(report.parts)["ln"] == 8
    name, proc = next(iter(face_processors(unet).items()))
    assert torch.equal(proc.ln.bias, state[f"{name}.processor.ln.bias"].float())
    remove_fact(unet)
    restored = {k: v for k, v in unet.state_dict().items() if ".norm2." in k}
    assert restored.keys() == base_norms.keys()
    assert all(torch.equal(restored[k], base_norms[k]) for k in base_norms)


@needs_manifest
def test_check_weights_command(released, tmp_path, capsys) -> None:
    good = ["--adapter", str(released["adapter_no_ln"]), "--transface", str(released["transface"])]
    assert main(["check-weights", *good]) == 0
    out = capsys.readouterr().out
    assert "323 tensors matched (processors 272, ln 0, resampler 51)" in out and "152 tensors matched" in out
    bad = _save_variant(released["adapter"], tmp_path / "bad.ckpt", lambda s: s.pop(PROCESSOR_EXAMPLE))
    assert main(["check-weights", "--adapter", str(bad)]) == 1
    assert PROCESSOR_EXAMPLE in capsys.readouterr().err
