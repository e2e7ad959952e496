"""Shared fixtures: isolated environment, real face photos from installed packages, torch threads, the fake Discord."""

from __future__ import annotations

import gc
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Fixtures that live beside what they build: the fake Discord (`fake_discord`) and the bot wired to
# it (`make_world`). Registered here once so test modules just name them as arguments.
pytest_plugins = ("tests.fakediscord.fixtures", "tests.fakehub", "tests.portrait_e2e", "tests.redis_world")

#: A loopback port nothing listens on (the discard service): a model hub here can never answer.
UNREACHABLE_HUB = "http://127.0.0.1:9"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` are skipped, with the reason, on a machine without a CUDA device."""
    cuda_items = [item for item in items if item.get_closest_marker("cuda")]
    if not cuda_items:
        return
    import torch  # only when a CUDA test was collected

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device (bench/gpu_check.sh runs these on a GPU machine)")
        for item in cuda_items:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach a model hub, read a real token, or pick up settings from the environment."""
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope"))
    monkeypatch.setenv("MODELSCOPE_ENDPOINT", UNREACHABLE_HUB)
    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    for name in list(os.environ):
        if name.upper().startswith("FACT_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a module (``pytest.mark.usefixtures``): tiny models run fastest so on a shared box."""
    import torch  # here, not at the top: most tests never load torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """Eileen Collins, 512x512 RGB, from scikit-image."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper_rgb() -> np.ndarray:
    """Grace Hopper, 600x512 RGB, shipped with matplotlib."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


@pytest.fixture(scope="session")
def astronaut_png(astronaut_rgb: np.ndarray) -> bytes:
    return _png(astronaut_rgb)


@pytest.fixture(scope="session")
def grace_hopper_jpeg(grace_hopper_rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(grace_hopper_rgb).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


class _NeverRetrieved(logging.Handler):
    """Collects asyncio's reports of a task or future that died with nobody awaiting it."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "exception was never retrieved" in message:
            self.reports.append(f"{message}: {record.exc_info[1] if record.exc_info else ''!r}")


@pytest.fixture(autouse=True)
def _no_task_dies_unnoticed() -> Iterator[None]:
    """Fail a test during which an asyncio task or future died with an exception nobody retrieved."""
    handler = _NeverRetrieved()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(handler)
    try:
        yield
        gc.collect()  # a dead task is reported when it is collected
    finally:
        asyncio_log.removeHandler(handler)
    if handler.reports:
        pytest.fail("; ".join(handler.reports), pytrace=False)
