"""The bot: section of config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BotSettings, load_bot_settings
from fact_runtime import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_config_is_valid() -> None:
    settings = load_bot_settings(REPO / "config.yaml")
    assert settings.status_interval_s == 3
    assert settings.health_host == "127.0.0.1"
    assert settings.database == REPO / "data/jobs.sqlite3"  # relative to the config file


def test_defaults_are_valid() -> None:
    settings = BotSettings()
    assert settings.default_count <= settings.max_count
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
    path = _write(tmp_path, "bot:\n  status_interval_s: 0.1\n  max_count: 11\n")
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(path)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["bot.status_interval_s", "bot.max_count"]


def test_default_count_must_not_exceed_max_count(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="default_count"):
        load_bot_settings(_write(tmp_path, "bot:\n  default_count: 4\n  max_count: 2\n"))


def test_a_missing_section_uses_defaults_and_absolute_paths_stay(tmp_path: Path) -> None:
    assert load_bot_settings(_write(tmp_path, "runtime: {}\n")).database == tmp_path / "data/jobs.sqlite3"
    absolute = tmp_path / "elsewhere.db"
    assert load_bot_settings(_write(tmp_path, f"bot:\n  database: {absolute}\n")).database == absolute
