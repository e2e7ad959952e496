from __future__ import annotations

from pathlib import Path

import pytest

from fact_runtime import ConfigError, load_runtime_config

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_is_valid_and_resolves_paths():
    config = load_runtime_config(REPO / "config.yaml")
    assert config.preset == "full"
    assert set(config.models.base_models) == {"majicmix", "film"}
    assert config.models.transface.file == "ms1mv2_model_TransFace_S.pt"
    assert config.cache_dir == REPO / "cache/models"


def test_error_names_file_and_field(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("runtime:\n  preset: tiny\n  queue: {max_per_user: 0}\n")
    with pytest.raises(ConfigError) as caught:
        load_runtime_config(path)
    assert str(path) in str(caught.value)
    assert "runtime.queue.max_per_user" in str(caught.value)


def test_model_ref_needs_a_revision(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "runtime:\n  models:\n    base_models: {}\n"
        "    transface: {model_id: a/b}\n    controlnet_openpose: {path: /x}\n"
    )
    with pytest.raises(ConfigError, match="revision"):
        load_runtime_config(path)


def test_local_model_paths_follow_the_config_file(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "runtime:\n  models:\n    base_models:\n"
        "      majicmix: {diffusers: {path: weights/majicmix}, adapter: {path: /abs/adapter.ckpt}}\n"
        "    transface: {path: weights/transface.pt}\n"
        "    controlnet_openpose: {model_id: a/b, revision: v1}\n"
    )
    models = load_runtime_config(path).models
    assert models.base_models["majicmix"].diffusers.path == tmp_path / "weights/majicmix"
    assert models.base_models["majicmix"].adapter.path == Path("/abs/adapter.ckpt")
    assert models.transface.path == tmp_path / "weights/transface.pt"
    assert models.controlnet_openpose.path is None


def test_the_backend_is_local_unless_redis_is_chosen(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("runtime:\n  preset: tiny\n")
    config = load_runtime_config(path)
    assert config.backend == "local" and config.broker.on_sigterm == "finish"
    path.write_text(
        "runtime:\n  preset: tiny\n  backend: redis\n  redis_url: redis://queue:6380/1\n"
        "  broker: {prefix: portraits, heartbeat_s: 1, lost_after_s: 5, on_sigterm: hand_back}\n"
    )
    config = load_runtime_config(path)
    assert (config.backend, config.redis_url, config.broker.prefix) == ("redis", "redis://queue:6380/1", "portraits")


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("backend: celery", "runtime.backend"),
        ("redis_url: http://queue:6379", "runtime.redis_url"),
        ("broker: {heartbeat_s: 5, lost_after_s: 8}", "runtime.broker"),
        ("broker: {prefix: 'a b'}", "runtime.broker.prefix"),
    ],
)
def test_an_invalid_broker_setting_names_its_field(tmp_path: Path, setting: str, field: str):
    path = tmp_path / "config.yaml"
    path.write_text(f"runtime:\n  preset: tiny\n  {setting}\n")
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_runtime_config(path)
