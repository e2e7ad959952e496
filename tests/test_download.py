"""``python -m fact_runtime download``: fail fast without a hub, one bar over everything, a summary, the exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from fact_runtime import ModelMissing
from fact_runtime.config import ModelRef
from fact_runtime.loading.registry import ModelRegistry
from tests.cli import cli_env, closed_port, run_cli
from tests.fakehub import FakeHub

UNET = b"u" * 3_000_000
ADAPTER = b"a" * 1_000_000
TRANSFACE = b"t" * 500_000

CONFIG = """\
runtime:
  cache_dir: cache
  styles_dir: styles
  models:
    base_models:
      one:
        diffusers: {model_id: acme/base, revision: v1, subfolder: sd}
        adapter: {model_id: acme/fact, revision: v1, file: adapter.ckpt}
    transface: {model_id: acme/fact, revision: v1, file: transface.pt}
    controlnet_openpose: {model_id: acme/gone, revision: v1}
    default_lora: {path: loras/absent.safetensors}
  speed: {allowed: [original, fast]}  # no turbo tier: its LoRA is not one of the five
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A config naming five models (three on the hub, one not there, one missing local file) and no styles."""
    (tmp_path / "styles").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG)
    return tmp_path


def snapshot(cache: Path, model_id: str, revision: str) -> Path:
    return cache / "models" / model_id.replace("/", "--") / "snapshots" / revision


def test_an_unreachable_hub_stops_the_download_at_once_with_one_line(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    # The shipped config (found in the working folder) and an empty cache: every model would need the hub.
    env = cli_env(MODELSCOPE_ENDPOINT=endpoint, FACT_RUNTIME__CACHE_DIR=str(tmp_path / "empty"))
    done = run_cli("fact_runtime", "download", env=env)
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach ModelScope at {endpoint} (")
    assert "models need it (0 cached)" in line and "MODELSCOPE_ENDPOINT" in line


def test_the_registry_names_an_unreachable_hub_instead_of_retrying() -> None:
    registry = ModelRegistry(Path("unused-cache"))
    ref = ModelRef(model_id="acme/fact", revision="v1", file="transface.pt")
    with pytest.raises(ModelMissing, match=r"cannot reach ModelScope at http://127\.0\.0\.1:9 ") as caught:
        registry.resolve(ref, what="TransFace-S face model")
    assert caught.value.user_message.startswith("The TransFace-S face model this job needs is not available")


def test_download_fetches_with_one_bar_and_ends_with_a_summary(workspace: Path, fake_hub: FakeHub) -> None:
    fake_hub.add("acme/base", "v1", {"sd/model_index.json": b"{}", "sd/unet/weights.bin": UNET, "other/x": b"x"})
    fake_hub.add("acme/fact", "v1", {"adapter.ckpt": ADAPTER, "transface.pt": TRANSFACE})
    cache = workspace / "cache"
    # TransFace-S is cached already: it is counted, not fetched.
    (snapshot(cache, "acme/fact", "v1")).mkdir(parents=True)
    (snapshot(cache, "acme/fact", "v1") / "transface.pt").write_bytes(TRANSFACE)
    env = cli_env(MODELSCOPE_ENDPOINT=fake_hub.endpoint)

    done = run_cli("fact_runtime", "download", "--config", str(workspace / "config.yaml"), env=env)
    assert done.returncode == 1  # two models could not be had
    lines = done.stdout.splitlines()
    assert lines[0] == f"fetching 2 models (3.8 MB) from {fake_hub.endpoint} into {cache}"
    assert lines[1] == "fetched 2 (3.8 MB), already cached 1, failed 2, of 5 models"
    assert lines[2].startswith("  failed: ControlNet openpose: the hub has no ModelScope acme/gone@v1 (")
    assert lines[3] == f"  failed: default LoRA: local path {workspace / 'loras/absent.safetensors'} does not exist"
    assert len(lines) == 4
    # One bar of ours on stderr, none of the SDK's per-file bars or log lines.
    assert "download: 100%" in done.stderr and "Downloading" not in done.stderr and "INFO" not in done.stderr
    assert "Traceback" not in done.stderr
    assert (snapshot(cache, "acme/base", "v1") / "sd/unet/weights.bin").read_bytes() == UNET
    assert (snapshot(cache, "acme/fact", "v1") / "adapter.ckpt").read_bytes() == ADAPTER
    assert not (snapshot(cache, "acme/base", "v1") / "other").exists()  # only the configured folder

    fake_hub.requests.clear()
    again = run_cli("fact_runtime", "download", "--config", str(workspace / "config.yaml"), env=env)
    assert again.returncode == 1
    assert again.stdout.splitlines()[0] == "fetched 0 (0 B), already cached 3, failed 2, of 5 models"
    assert not [r for r in fake_hub.requests if "FilePath=" in r]  # nothing was downloaded twice


def test_a_model_missing_on_the_hub_fails_alone_and_everything_cached_needs_no_hub(workspace: Path) -> None:
    (workspace / "config.yaml").write_text("runtime:\n  preset: tiny\n  styles_dir: styles\n")
    (workspace / "styles" / "red.yaml").write_text(
        "id: red\nname: Red\nbase_model: any\nprompt: '{subject} in red'\nlora: {path: red.safetensors, weight: 0.5}\n"
    )
    (workspace / "styles" / "red.safetensors").write_bytes(b"lora")
    # The hub is unreachable (conftest), but nothing needs it.
    done = run_cli("fact_runtime", "download", "--config", str(workspace / "config.yaml"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["fetched 0 (0 B), already cached 1, failed 0, of 1 models"]
