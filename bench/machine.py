"""The machine line every benchmark prints next to its figures."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

__all__ = ["describe_machine", "package_version"]


def package_version(distribution: str) -> str:
    """The installed version of ``distribution``, or "not installed"."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine(*extra: str) -> str:
    """Platform, processor, CPU count, python and torch (with its thread count once torch is imported)."""
    # Looked up, not imported: a benchmark that never loads torch should not pay for it here.
    torch = sys.modules.get("torch")
    if torch is None:
        torch_part = f"torch {package_version('torch')}"
    else:
        torch_part = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    parts = [
        platform.platform(),
        platform.processor() or platform.machine(),
        f"{os.cpu_count()} CPUs",
        f"python {platform.python_version()}",
        torch_part,
        *extra,
    ]
    return "machine: " + " | ".join(parts)
