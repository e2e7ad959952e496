"""Strict state-dict loading: every tensor of a file matched to a module, or an error naming the rest."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelMissing, WeightsMismatch
from .file_kind import check_checkpoint

__all__ = ["Tally", "WeightReport", "assign_or_copy", "is_meta", "load_state_dict_file", "read_state_dict", "shapes"]

log = logging.getLogger(__name__)

_LISTED = 12  # names listed per category in a summary; the rest are counted


@dataclass(frozen=True, slots=True)
class WeightReport:
    """The accounting of one weight file against the modules it is loaded into."""

    path: str
    matched: int
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    has_ln: bool = False
    #: Matched tensors per part, e.g. (("processors", 272), ("ln", 32), ("resampler", 51)).
    parts: tuple[tuple[str, int], ...] = ()
    #: "name: file [..] vs module [..]" for each mismatched tensor.
    shape_details: tuple[str, ...] = ()

    @property
    def is_ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """A few lines: matched counts per part, whether ``.ln.`` was stored, and every problem."""
        parts = ", ".join(f"{name} {count}" for name, count in self.parts)
        lines = [f"{self.path}: {self.matched} tensors matched ({parts})"]
        if any(name == "processors" for name, _ in self.parts):
            stored = "stored" if self.has_ln else "not stored (the base UNet's LayerNorms stay)"
            lines.append(f"  relocated norm2 LayerNorms (.processor.ln.*): {stored}")
        for label, names in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("mis-shaped", self.shape_details or self.mismatched),
        ):
            if names:
                listed = "\n    ".join(names[:_LISTED])
                more = f"\n    ... and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
                lines.append(f"  {len(names)} {label}:\n    {listed}{more}")
        return "\n".join(lines)


def _torch_load(path: Path) -> object:
    # Memory-mapping avoids holding a second full copy while the tensors are copied into the
    # modules; files in the legacy (pre-zip) format cannot be mapped and are read whole.
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
    return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a flat ``torch.save`` state dict safely (``weights_only``) onto the CPU.

    Raises
    ------
    ModelMissing
        The file does not exist.
    WeightsMismatch
        The file is not a flat dict of tensors, or cannot be read safely.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelMissing(f"weight file not found: {path}")
    check_checkpoint(path)
    try:
        state = _torch_load(path)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, IndexError, KeyError, OSError) as exc:
        # torch's own message goes on to advise turning weights_only off: never for files of unknown origin.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsMismatch(f"{path}: not a readable PyTorch checkpoint ({first})") from exc
    if not isinstance(state, Mapping):
        raise WeightsMismatch(f"{path}: expected one flat dict of tensors, found {type(state).__name__}")
    not_tensors = sorted(str(key) for key, value in state.items() if not isinstance(value, torch.Tensor))
    if not_tensors:
        raise WeightsMismatch(f"{path}: entries that are not tensors: {', '.join(not_tensors[:_LISTED])}")
    return dict(state)


@dataclass(slots=True)
class Tally:
    matched: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def compare(
        self, expected: Mapping[str, torch.Size], found: Mapping[str, torch.Tensor], *, prefix: str = ""
    ) -> int:
        """Account ``found`` against ``expected``; names are reported with ``prefix``; returns matches."""
        matched = 0
        for name, shape in expected.items():
            tensor = found.get(name)
            if tensor is None:
                self.missing.append(prefix + name)
            elif tuple(tensor.shape) != tuple(shape):
                self.mismatched.append(prefix + name)
                self.details.append(f"{prefix}{name}: file {list(tensor.shape)} vs module {list(shape)}")
            else:
                matched += 1
        self.unexpected.extend(prefix + name for name in found if name not in expected)
        self.matched += matched
        return matched

    def report(self, path: Path | str, parts: Iterable[tuple[str, int]], *, has_ln: bool = False) -> WeightReport:
        return WeightReport(
            path=str(path),
            matched=self.matched,
            missing=tuple(self.missing),
            unexpected=tuple(sorted(self.unexpected)),
            mismatched=tuple(self.mismatched),
            has_ln=has_ln,
            parts=tuple(parts),
            shape_details=tuple(self.details),
        )


def shapes(module: nn.Module) -> dict[str, torch.Size]:
    return {name: tensor.shape for name, tensor in module.state_dict().items()}


def is_meta(module: nn.Module) -> bool:
    return any(tensor.is_meta for tensor in module.state_dict().values())


def assign_or_copy(module: nn.Module, state: Mapping[str, torch.Tensor], *, strict: bool) -> None:
    # Meta-device modules (shape checks without memory) take the file's tensors as they are;
    # real modules keep their device and dtype and copy the values in.
    module.load_state_dict(state, strict=strict, assign=is_meta(module))


def load_state_dict_file(module: nn.Module, path: Path | str, *, part: str) -> WeightReport:
    """Load a plain state-dict file strictly into ``module``, with every tensor accounted for.

    Raises
    ------
    ModelMissing
        The file does not exist.
    WeightsMismatch
        A tensor is missing, unexpected or mis-shaped; the message names each one.
    """
    state = read_state_dict(path)
    tally = Tally()
    count = tally.compare(shapes(module), state)
    report = tally.report(path, [(part, count)])
    if not report.is_ok:
        raise WeightsMismatch(report.summary())
    assign_or_copy(module, state, strict=True)
    log.info("%s weights loaded: %d tensors from %s", part, report.matched, path)
    return report
