"""Face tokens as bytes, and the checks a precomputed face passes before it is queued. Torch-free.

A saved identity's tokens cross the seam (and may sit in a database) as ``.npy`` bytes: numpy's
own format, read back with ``allow_pickle=False``, so nothing in them can run code.
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np

from .errors import InvalidRequest
from .request import SavedFace

__all__ = [
    "DAMAGED_FACE",
    "TOKENS_PER_FACE",
    "check_saved_face",
    "decode_tokens",
    "encode_tokens",
    "saved_photo_count",
]

log = logging.getLogger(__name__)

#: Each reference photo becomes this many face tokens; the UNet processors peel off 16 per photo.
TOKENS_PER_FACE = 16
#: What a member reads when a saved face does not pass the checks (it was damaged or made by another build).
DAMAGED_FACE = "That saved face could not be used; please save the identity again."
_LANDMARK_NUMBERS = 68 * 2
_EMBEDDING_SIZE = 128


def encode_tokens(cond: np.ndarray, uncond: np.ndarray) -> bytes:
    """``.npy`` bytes of float32 (2, 16 * K, width) from the (16 * K, width) face and null-face tokens."""
    array = np.stack([np.asarray(cond, dtype=np.float32), np.asarray(uncond, dtype=np.float32)])
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def decode_tokens(data: bytes, *, num_photos: int | None = None) -> np.ndarray:
    """The float32 (2, 16 * K, width) array of ``encode_tokens``, checked.

    Raises
    ------
    InvalidRequest
        Not such an array (damaged bytes, another dtype or shape, non-finite values), or not
        ``num_photos`` photos' worth of tokens.
    """
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidRequest(f"face tokens are not a .npy array: {exc}", user_message=DAMAGED_FACE) from exc
    if array.dtype != np.float32 or array.ndim != 3 or array.shape[0] != 2 or array.shape[2] == 0:
        raise InvalidRequest(
            f"face tokens are {array.dtype} {array.shape}, expected float32 (2, 16*K, width)",
            user_message=DAMAGED_FACE,
        )
    if array.shape[1] == 0 or array.shape[1] % TOKENS_PER_FACE:
        raise InvalidRequest(f"{array.shape[1]} face tokens is not 16 per photo", user_message=DAMAGED_FACE)
    if num_photos is not None and array.shape[1] != TOKENS_PER_FACE * num_photos:
        raise InvalidRequest(
            f"{array.shape[1]} face tokens for {num_photos} photo(s)",
            user_message=DAMAGED_FACE,
        )
    if not np.isfinite(array).all():
        raise InvalidRequest("face tokens hold non-finite values", user_message=DAMAGED_FACE)
    return array


def check_saved_face(face: SavedFace, *, num_photos: int) -> None:
    """Refuse a precomputed face that cannot belong to a request of ``num_photos`` photos.

    Raises
    ------
    InvalidRequest
        No tokens, a base model named twice or not at all, tokens of another photo count or
        shape, or a face analysis that is not a box, 68 landmarks and a 128-d embedding.
    """
    analysis = face.analysis
    x0, y0, x1, y1 = analysis.box
    numbers = (*analysis.box, *analysis.landmarks68, *analysis.embedding, analysis.score)
    if not all(math.isfinite(value) for value in numbers):
        raise InvalidRequest("the saved face holds non-finite numbers", user_message=DAMAGED_FACE)
    if not (x1 > x0 and y1 > y0):
        raise InvalidRequest(f"the saved face box {analysis.box} is empty", user_message=DAMAGED_FACE)
    if len(analysis.landmarks68) != _LANDMARK_NUMBERS or len(analysis.embedding) != _EMBEDDING_SIZE:
        raise InvalidRequest(
            f"the saved face has {len(analysis.landmarks68)} landmark numbers and a "
            f"{len(analysis.embedding)}-d embedding, expected {_LANDMARK_NUMBERS} and {_EMBEDDING_SIZE}",
            user_message=DAMAGED_FACE,
        )
    base_ids = [tokens.base_id for tokens in face.tokens]
    if not base_ids or "" in base_ids or len(set(base_ids)) != len(base_ids):
        raise InvalidRequest(
            f"the saved face's base models {base_ids} are empty or repeated", user_message=DAMAGED_FACE
        )
    for tokens in face.tokens:
        decode_tokens(tokens.npy, num_photos=num_photos)


def saved_photo_count(face: SavedFace) -> int:
    """How many photos a saved face's tokens cover (16 tokens each), read from its first base's tokens.

    Raises
    ------
    InvalidRequest
        No tokens at all, or tokens that are not such an array.
    """
    if not face.tokens:
        raise InvalidRequest("the saved face has no tokens", user_message=DAMAGED_FACE)
    return int(decode_tokens(face.tokens[0].npy).shape[1]) // TOKENS_PER_FACE
