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


def test_every_key_can_be_overridden_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from bot.settings import load_bot_settings

    path = tmp_path / "config.yaml"
    path.write_text("runtime:\n  preset: tiny\n  queue: {max_queued: 3, max_per_user: 1}\nbot:\n  health_port: 9000\n")
    monkeypatch.setenv("FACT_RUNTIME__QUEUE__MAX_QUEUED", "10")  # a nested key over the file's value
    monkeypatch.setenv("fact_bot__health_host", "0.0.0.0")  # names are case-insensitive
    monkeypatch.setenv("FACT_BOT__CONTENT_TYPES", '["image/png"]')  # lists as JSON
    monkeypatch.setenv("FACT_RUNTIME__CACHE_DIR", "weights")  # relative to the file, like the file's own paths
    config = load_runtime_config(path, overrides={"queue": {"max_per_user": 2}})
    assert (config.queue.max_queued, config.queue.max_per_user) == (10, 2)  # the command line wins over both
    assert config.cache_dir == tmp_path / "weights"
    settings = load_bot_settings(path)
    assert (settings.health_host, settings.health_port, settings.content_types) == ("0.0.0.0", 9000, ("image/png",))


def test_a_bad_value_names_the_variable_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "config.yaml"
    path.write_text("runtime:\n  preset: tiny\n  queue: {max_per_user: 0}\n")
    monkeypatch.setenv("FACT_RUNTIME__GENERATION__STEPS", "5")  # no such key
    with pytest.raises(ConfigError) as caught:
        load_runtime_config(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and set(lines) == {
        "FACT_RUNTIME__GENERATION__STEPS (environment): runtime.generation.steps: Extra inputs are not permitted",
        f"{path}: runtime.queue.max_per_user: Input should be greater than or equal to 1",
    }


def test_the_config_file_is_the_flag_then_fact_config_then_the_working_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from fact_runtime import find_config

    given, named, local = (tmp_path / name for name in ("given.yaml", "named.yaml", "config.yaml"))
    for path in (given, named, local):
        path.write_text("runtime: {preset: tiny}\n")
    monkeypatch.chdir(tmp_path)
    assert find_config(None) == Path("config.yaml")
    monkeypatch.setenv("FACT_CONFIG", str(named))
    assert find_config(None) == named
    assert find_config(given) == given
    monkeypatch.delenv("FACT_CONFIG")
    local.unlink()
    with pytest.raises(ConfigError, match=r"no config.yaml in .*; run from the project folder, or give --config"):
        find_config(None)
    assert find_config(None, is_required=False) is None


def test_the_token_is_a_secret_read_from_the_environment_only(monkeypatch: pytest.MonkeyPatch):
    from bot.settings import load_token

    monkeypatch.setenv("DISCORD_TOKEN", "  MTAx.secret  ")
    token = load_token()
    assert token.get_secret_value() == "MTAx.secret" and "MTAx" not in repr(token) and "MTAx" not in str(token)
    monkeypatch.setenv("DISCORD_TOKEN", " ")
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        load_token()
