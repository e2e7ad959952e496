"""What a weight file looks like from its first bytes, so a wrong file is refused before torch is imported."""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsMismatch

__all__ = ["check_checkpoint", "not_a_checkpoint"]

#: Leading bytes of files people give by mistake, and what they are.
_MAGIC = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file, such as a WebP image"),
    (b"%PDF", "a PDF document"),
)


def not_a_checkpoint(path: Path) -> str | None:
    """What the file looks like when it cannot be a ``torch.save`` file (a zip archive or a pickle); None if it can."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return None
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if len(head) >= 9 and head[8:9] == b"{":
        return "a safetensors file"
    if not head:
        return "an empty file"
    return "text" if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head) else "an unknown format"


def check_checkpoint(path: Path) -> None:
    """Raises ``WeightsMismatch`` in one sentence when ``path`` cannot be a PyTorch checkpoint."""
    looks_like = not_a_checkpoint(path)
    if looks_like is not None:
        raise WeightsMismatch(f"{path}: not a PyTorch checkpoint ({looks_like}); give the .ckpt or .pt weight file")
