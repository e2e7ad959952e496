"""Sealing what crosses Redis: photos, prompts and images are encrypted with the deployment's key.

Redis keeps every write in its append-only file until the next rewrite, and its dump and AOF
files are often world-readable and backed up; deleting a settled job's entry does not take its
selfie out of them. So the bot and its workers share one secret key (``FACT_BROKER_KEY``, or a
key file) and every message body and blob is sealed with AES-256-GCM before it is written:
Redis's files hold ciphertext only, whatever happens to them. Each sealed value is bound to its
job and field (the associated data), so an entry cannot be replayed under another job's name.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...errors import ConfigError
from .untrusted import MalformedMessage

__all__ = ["KEY_ENV", "SealBroken", "Sealer", "generate_key"]

log = logging.getLogger(__name__)

#: The environment variable holding the deployment key (URL-safe base64 of 32 random bytes).
KEY_ENV = "FACT_BROKER_KEY"
_KEY_BYTES = 32
_NONCE_BYTES = 12
#: First byte of every sealed value, so a future cipher can be told apart from this one.
_VERSION = b"\x01"


class SealBroken(MalformedMessage):
    """A sealed value that does not open with this deployment's key (another key, or tampered with)."""

    kind = "seal_broken"


def generate_key() -> str:
    """A new deployment key, as it is written in ``FACT_BROKER_KEY`` or a key file."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")


class Sealer:
    """Seals and opens byte strings with one deployment key.

    Parameters
    ----------
    key:
        32 raw bytes; see ``from_environment`` for where deployments keep it.
    """

    __slots__ = ("_aead", "fingerprint")

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigError(f"the broker key must be {_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        #: Names the key in logs and heartbeats without revealing it: workers with another key are told apart.
        self.fingerprint = AESGCM(key).encrypt(b"\x00" * _NONCE_BYTES, b"", b"fingerprint")[:4].hex()

    @classmethod
    def from_text(cls, encoded: str, *, source: str) -> Sealer:
        """A sealer from the key's text form (as ``generate_key`` writes it).

        Raises
        ------
        ConfigError
            The text is not base64 of 32 bytes; the message names ``source``.
        """
        try:
            stripped = encoded.strip().rstrip("=").encode("ascii")
            key = base64.b64decode(stripped + b"=" * (-len(stripped) % 4), altchars=b"-_", validate=True)
        except (ValueError, binascii.Error) as exc:
            raise ConfigError(
                f"{source} is not a broker key; make one with `python -m fact_runtime broker-key`"
            ) from exc
        if len(key) != _KEY_BYTES:
            raise ConfigError(
                f"{source} holds {len(key)} bytes, not {_KEY_BYTES}; make a key with `python -m fact_runtime broker-key`"
            )
        return cls(key)

    @classmethod
    def from_environment(cls, key_file: Path | None = None) -> Sealer:
        """The deployment's key: ``FACT_BROKER_KEY`` if set, else the key file.

        Raises
        ------
        ConfigError
            Neither is set, the file cannot be read, or the key is malformed; the message says what to do.
        """
        encoded = os.environ.get(KEY_ENV, "").strip()
        if encoded:
            return cls.from_text(encoded, source=KEY_ENV)
        if key_file is None:
            raise ConfigError(
                f"the Redis backend needs a key shared by the bot and its workers: set {KEY_ENV} "
                "(make one with `python -m fact_runtime broker-key`) or runtime.broker.key_file"
            )
        try:
            encoded = key_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"runtime.broker.key_file {key_file}: cannot read it ({exc})") from exc
        return cls.from_text(encoded, source=f"runtime.broker.key_file {key_file}")

    def seal(self, plain: bytes, *, context: bytes) -> bytes:
        """``plain`` encrypted and authenticated, bound to ``context`` (e.g. job id and field name)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plain, context)

    def open(self, sealed: bytes, *, context: bytes) -> bytes:
        """The plain bytes of a sealed value.

        Raises
        ------
        SealBroken
            Not sealed by this key for this ``context``, truncated, or altered.
        """
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise SealBroken("a sealed field is truncated or of an unknown version")
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + _NONCE_BYTES :], context)
        except InvalidTag as exc:
            raise SealBroken("a sealed field does not open with this deployment's key") from exc
