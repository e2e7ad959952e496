"""The bot: section of config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BotSettings, load_bot_settings
from fact_runtime import ConfigError, RequestLimits, load_runtime_config

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_config_is_valid() -> None:
    limits = RequestLimits.from_config(load_runtime_config(REPO / "config.yaml"))
    settings = load_bot_settings(REPO / "config.yaml", limits=limits)
    assert settings.status_interval_s == 3
    assert settings.health_host == "127.0.0.1"
    assert settings.database == REPO / "data/jobs.sqlite3"  # relative to the config file


def test_defaults_are_valid() -> None:
    settings = BotSettings()
    assert settings.default_count <= RequestLimits().max_count
    assert settings.retention_s == 24 * 3600


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body)
    return path


def test_an_unknown_field_names_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "bot:\n  status_interval: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(path)
    assert str(caught.value).startswith(f"{path}: bot.status_interval:")


def test_out_of_range_values_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "bot:\n  status_interval_s: 0.1\n  default_count: 11\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(path)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["bot.status_interval_s", "bot.default_count"]


@pytest.mark.parametrize(
    "field", ["max_count", "max_jobs_per_user", "max_attachment_bytes", "max_attachment_pixels", "min_attachment_side"]
)
def test_limits_are_the_runtimes_not_the_bots(tmp_path: Path, field: str) -> None:
    path = _write(tmp_path, f"bot:\n  {field}: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(path)
    assert str(caught.value).startswith(f"{path}: bot.{field}:")


def test_default_count_must_not_exceed_the_runtimes_max_count(tmp_path: Path) -> None:
    path = _write(tmp_path, "bot:\n  default_count: 4\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(path, limits=RequestLimits(max_count=2))
    assert str(caught.value) == f"{path}: bot.default_count: 4 is above runtime.generation.max_count (2)"
    assert load_bot_settings(path, limits=RequestLimits(max_count=4)).default_count == 4
    assert load_bot_settings(path).default_count == 4  # `python -m bot sync` runs no command: no runtime to fit


def test_a_missing_section_uses_defaults_and_absolute_paths_stay(tmp_path: Path) -> None:
    assert load_bot_settings(_write(tmp_path, "runtime: {}\n")).database == tmp_path / "data/jobs.sqlite3"
    absolute = tmp_path / "elsewhere.db"
    assert load_bot_settings(_write(tmp_path, f"bot:\n  database: {absolute}\n")).database == absolute
