"""Paths named in admin-owned files: each must stay inside its folder, symbolic links followed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

__all__ = ["read_capped", "resolve_inside"]

log = logging.getLogger(__name__)


def resolve_inside(path: Path, base: Path, roots: Sequence[Path]) -> Path | None:
    """``path`` (relative to ``base`` unless absolute), every link resolved, if it lies inside one of ``roots``.

    None when it lies outside all of them: ``../``, an absolute path elsewhere, or a link that
    leaves the folder are all caught here, since the check runs on the fully resolved path.
    """
    full = (path if path.is_absolute() else base / path).resolve()
    for root in roots:
        if full.is_relative_to(root.resolve()):
            return full
    return None


def read_capped(path: Path, cap: int) -> bytes | None:
    """The file's bytes, or None when it holds more than ``cap`` (only ``cap + 1`` bytes are ever read).

    Raises
    ------
    OSError
        The file cannot be opened or read.
    """
    with path.open("rb") as file:
        data = file.read(cap + 1)
    return None if len(data) > cap else data
