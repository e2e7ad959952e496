"""What every command shares on a terminal: exit codes, ``--config``, quiet logging, one bar per stage.

Exit status: 0 done; 2 nothing was done because something must be fixed first (the config, an
input, a missing model, an unreachable hub), with one line saying what; 1 the work started and
failed (a job, some downloads). Tracebacks appear only with ``-v``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..config_source import CONFIG_ENV, find_config
from ..results import Stage

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["FAILED", "OK", "REFUSED", "StageBars", "add_config_argument", "config_path", "fail", "setup_logging"]

OK = 0
FAILED = 1
REFUSED = 2

#: Libraries whose INFO and WARNING lines are noise on a terminal (shown with -v).
_NOISY = ("diffusers", "transformers", "huggingface_hub", "modelscope", "modelscope_hub", "peft", "accelerate", "PIL")
#: What a terminal user reads for each stage of a job.
STAGE_NAMES: dict[str, str] = {
    "queued": "waiting",
    "preparing": "finding the face",
    "encoding": "reading the features",
    "denoising": "denoising",
    "finishing": "finishing",
}


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help=f"settings file (default: ${CONFIG_ENV}, else ./config.yaml if there is one)"
    )


def config_path(args: argparse.Namespace, *, is_required: bool = True) -> Path | None:
    """The config file the command reads (``--config``, ``FACT_CONFIG``, ``./config.yaml``); raises ``ConfigError``."""
    return find_config(args.config, is_required=is_required)


def fail(message: str, status: int = REFUSED) -> int:
    """Print one ``error:`` line on stderr and return the exit status."""
    print(f"error: {message}", file=sys.stderr)
    return status


class _QuietLibraries(logging.Filter):
    """Lets through everything of ours, and only errors of the libraries."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.name.startswith(_NOISY)


def setup_logging(*, is_verbose: bool) -> None:
    """Quiet by default: our own warnings once each, no library chatter; everything with ``-v``.

    Like ``logging.basicConfig``, it leaves a root logger that already has handlers alone.
    """
    # The ModelScope SDK installs a handler of its own (INFO, on stderr) unless its logger has one.
    logging.getLogger("modelscope_hub").addHandler(logging.NullHandler())
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        verbose_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
        handler.setFormatter(logging.Formatter(verbose_format if is_verbose else "%(levelname)s: %(message)s"))
        if not is_verbose:
            handler.addFilter(_QuietLibraries())
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if is_verbose else logging.WARNING)
    if is_verbose:
        logging.captureWarnings(True)
        warnings.simplefilter("once")
        return
    # These libraries print through handlers of their own, set up from these variables when imported.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("MODELSCOPE_LOG_LEVEL", str(logging.ERROR))
    # Deprecation and backend notices from the libraries say nothing a user of this command can act on.
    warnings.simplefilter("ignore")


class StageBars:
    """The engine's reporter on a terminal: ``stage... 0.4 s`` per stage, a step bar while denoising."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._bar: tqdm | None = None
        self._stage: Stage | None = None
        self._started = 0.0

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._end()

    def _end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._stage is not None:
            print(f" {time.perf_counter() - self._started:.1f} s", file=self._stream, flush=True)
        self._stage = None

    def report(self, stage: Stage, step: int = 0, total: int = 0) -> None:
        from tqdm import tqdm

        if stage != self._stage:
            self._end()
            self._stage, self._started = stage, time.perf_counter()
            name = STAGE_NAMES.get(stage, stage)
            if stage == "denoising":
                self._bar = tqdm(total=total or None, desc=name, unit="step", file=self._stream, dynamic_ncols=True)
            else:
                print(f"{name}...", end="", file=self._stream, flush=True)
        bar = self._bar
        if bar is None:
            return
        if total and bar.total != total:
            bar.reset(total=total)
        if step > bar.n:
            bar.update(step - bar.n)
