from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fact_runtime import ModelMissing, load_runtime_config, load_styles
from fact_runtime.__main__ import main as cli
from fact_runtime.config import ModelRef
from fact_runtime.loading.registry import ModelRegistry, refs_to_download

REPO = Path(__file__).resolve().parents[1]
FACT = ModelRef(model_id="yucheng1996/FaceChain-FACT", revision="v1.0.0", file="ms1mv2_model_TransFace_S.pt")
FILM = ModelRef(model_id="ly261666/cv_portrait_model", revision="v2.0", subfolder="film/film")


def snapshot(cache: Path, model_id: str, revision: str) -> Path:
    """Where ModelScope 1.40 puts a snapshot: models/<owner>--<name>/snapshots/<revision>."""
    return cache / "models" / model_id.replace("/", "--") / "snapshots" / revision


def populate(cache: Path) -> None:
    fact = snapshot(cache, FACT.model_id, FACT.revision)
    fact.mkdir(parents=True)
    (fact / FACT.file).write_bytes(b"weights")
    film = snapshot(cache, FILM.model_id, FILM.revision) / "film" / "film"
    (film / "unet").mkdir(parents=True)
    (film / "model_index.json").write_text("{}")
    (film / "unet" / "config.json").write_text("{}")


class FakeSnapshots:
    """Stands in for snapshot_download: writes the files that exist 'upstream' where ModelScope would."""

    def __init__(self, files: dict[str, bytes], *, error: Exception | None = None) -> None:
        self.files = files
        self.error = error
        self.calls: list[tuple[str, str, list[str] | None]] = []

    def __call__(self, model_id: str, *, revision: str, cache_dir: str, allow_patterns: list[str] | None) -> str:
        self.calls.append((model_id, revision, allow_patterns))
        if self.error is not None:
            raise self.error
        root = snapshot(Path(cache_dir), model_id, revision)
        for name, data in self.files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        return str(root)


def test_local_path_resolves_and_a_missing_one_is_named(tmp_path: Path):
    weights = tmp_path / "lora.safetensors"
    weights.write_bytes(b"x")
    registry = ModelRegistry(tmp_path / "cache", is_offline=True)
    assert registry.resolve(ModelRef(path=weights), what="my LoRA") == weights
    with pytest.raises(ModelMissing, match=r"my LoRA: local path .*absent\.safetensors does not exist"):
        registry.resolve(ModelRef(path=tmp_path / "absent.safetensors"), what="my LoRA")


def test_prepopulated_cache_resolves_without_network(tmp_path: Path):
    populate(tmp_path)
    registry = ModelRegistry(tmp_path, downloader=FakeSnapshots({}, error=AssertionError("no download expected")))
    assert registry.is_cached(FACT) and registry.is_cached(FILM)
    assert registry.resolve(FACT, what="TransFace-S") == snapshot(tmp_path, FACT.model_id, "v1.0.0") / FACT.file
    assert registry.resolve(FILM, what="base model film") == snapshot(tmp_path, FILM.model_id, "v2.0") / "film/film"


def test_cache_layout_is_the_one_modelscope_reads(tmp_path: Path):
    from modelscope.hub.snapshot_download import snapshot_download

    populate(tmp_path)
    root = snapshot_download(FILM.model_id, revision=FILM.revision, cache_dir=str(tmp_path), local_files_only=True)
    assert ModelRegistry(tmp_path).expected_path(FILM) == Path(root) / "film/film"


def test_legacy_modelscope_layout_is_reused(tmp_path: Path):
    legacy = tmp_path / "models" / "ly261666" / "cv_portrait_model" / "film" / "film"
    legacy.mkdir(parents=True)
    (legacy / "model_index.json").write_text("{}")
    assert ModelRegistry(tmp_path, is_offline=True).resolve(FILM, what="base model film") == legacy


def test_missing_model_offline_names_model_reference_path_and_fix(tmp_path: Path):
    with pytest.raises(ModelMissing) as caught:
        ModelRegistry(tmp_path, is_offline=True).resolve(FACT, what="TransFace-S")
    message = str(caught.value)
    for part in ("TransFace-S", FACT.model_id, "@v1.0.0", FACT.file, "offline", "python -m fact_runtime download"):
        assert part in message
    assert str(snapshot(tmp_path, FACT.model_id, "v1.0.0") / FACT.file) in message


def test_partial_download_is_not_cached(tmp_path: Path):
    populate(tmp_path)
    unet = snapshot(tmp_path, FILM.model_id, "v2.0") / "film/film/unet"
    (unet / "diffusion_pytorch_model.safetensors.incomplete").write_bytes(b"half")
    registry = ModelRegistry(tmp_path, is_offline=True)
    assert not registry.is_cached(FILM)
    with pytest.raises(ModelMissing, match="base model film"):
        registry.resolve(FILM, what="base model film")


def test_downloads_once_with_narrow_patterns(tmp_path: Path):
    hub = FakeSnapshots({"film/film/model_index.json": b"{}", "film/film/unet/config.json": b"{}"})
    registry = ModelRegistry(tmp_path, downloader=hub)
    first = registry.resolve(FILM, what="base model film")
    assert registry.resolve(FILM, what="base model film") == first
    assert hub.calls == [(FILM.model_id, "v2.0", ["film/film/*"])]
    lora = ModelRef(model_id="lljjcc/outdoor", revision="v1.0.0", file="outdoor photo_v2.0.safetensors")
    hub.files = {lora.file: b"lora"}
    assert registry.resolve(lora, what="LoRA").read_bytes() == b"lora"
    assert hub.calls[-1][2] == ["outdoor photo_v2.0.safetensors"]


def test_hub_failure_and_missing_file_become_model_missing(tmp_path: Path):
    failing = ModelRegistry(tmp_path, downloader=FakeSnapshots({}, error=ConnectionError("unreachable")))
    with pytest.raises(ModelMissing, match=r"TransFace-S: .*download failed \(ConnectionError: unreachable\)"):
        failing.resolve(FACT, what="TransFace-S")
    empty = ModelRegistry(tmp_path, downloader=FakeSnapshots({"README.md": b"hi"}))
    with pytest.raises(ModelMissing, match="snapshot does not contain it"):
        empty.resolve(FACT, what="TransFace-S")


def labels_of(refs: list) -> dict:
    return {ref: what for what, ref in refs}


def test_refs_to_download_covers_config_and_styles_once() -> None:
    config = load_runtime_config(REPO / "config.yaml")
    catalog = load_styles(config.styles_dir, base_models=config.models.base_models.keys())
    refs = refs_to_download(config, catalog)
    listed = [ref for _, ref in refs]
    assert len(listed) == len(set(listed))
    style_loras = {style.lora.to_model_ref() for style in catalog.all() if not style.lora.is_default}
    assert style_loras <= set(listed)
    models = config.models
    shared = (
        models.transface,
        models.controlnet_openpose,
        models.controlnet_canny,
        models.openpose_annotator,
        models.default_lora,
        config.speed.turbo.lora,
    )
    for ref in shared:
        assert ref in listed
    for base in models.base_models.values():
        assert base.diffusers in listed and base.adapter in listed
    assert len(listed) == 4 + len(shared) + len(style_loras)  # 2 x (base + adapter), the shared ones
    assert labels_of(refs)[config.speed.turbo.lora] == "turbo LoRA (speed turbo)"
    labels = {ref: what for what, ref in refs}
    # Styles without a LoRA of their own use the default one, listed once under its own name.
    assert labels[models.default_lora] == "default LoRA"


def test_download_dry_run_lists_everything(capsys: pytest.CaptureFixture[str]):
    assert cli(["download", "--config", str(REPO / "config.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for needle in (
        "base model majicmix",
        "base model film",
        "FACT adapter for majicmix",
        "FACT adapter for film",
        "TransFace-S",
        "ControlNet openpose",
        "ControlNet canny",
        "ly261666/cv_wanx_style_model@v1.0.3 folder 'contronet-canny'",
        "default LoRA",
        "MAILAND/majicmixRealistic_v6@v1.0.0",
        "adapter_film_mask_large_new_reg001_faceshuffle_00290001.ckpt",
    ):
        assert needle in out
    for path in (REPO / "styles").glob("*.yaml"):
        lora = yaml.safe_load(path.read_text())["lora"]
        assert f"file '{lora.get('file', 'zjz_mj_jiyi_small_addtxt_fromleo.safetensors')}'" in out


def test_importing_the_runtime_loads_neither_modelscope_nor_torch():
    code = (
        "import sys, fact_runtime, fact_runtime.loading.registry, fact_runtime.commands.download; "
        "print(sorted(m for m in ('modelscope', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
