"""Sealing what crosses Redis: ciphertext only, bound to its job and field, one clear error otherwise."""

from __future__ import annotations

import base64

import pytest

from fact_runtime.errors import ConfigError
from fact_runtime.executor.redis.sealing import KEY_ENV, SealBroken, Sealer, generate_key

_SELFIE = b"\xff\xd8\xff\xe0 selfie-marker-7f3a"


def test_sealed_bytes_hide_the_plain_text_and_open_again() -> None:
    sealer = Sealer.from_text(generate_key(), source="test")
    sealed = sealer.seal(_SELFIE, context=b"job-1/blob:0")
    assert b"selfie-marker" not in sealed
    assert sealer.open(sealed, context=b"job-1/blob:0") == _SELFIE
    # A fresh nonce each time: the same photo never seals to the same bytes.
    assert sealer.seal(_SELFIE, context=b"job-1/blob:0") != sealed


def test_a_value_is_bound_to_its_job_and_field() -> None:
    sealer = Sealer.from_text(generate_key(), source="test")
    sealed = sealer.seal(_SELFIE, context=b"job-1/blob:0")
    with pytest.raises(SealBroken):
        sealer.open(sealed, context=b"job-2/blob:0")


def test_another_key_or_a_flipped_bit_does_not_open() -> None:
    sealed = Sealer.from_text(generate_key(), source="test").seal(_SELFIE, context=b"c")
    with pytest.raises(SealBroken, match="does not open"):
        Sealer.from_text(generate_key(), source="test").open(sealed, context=b"c")
    sealer = Sealer.from_text(generate_key(), source="test")
    sealed = bytearray(sealer.seal(_SELFIE, context=b"c"))
    sealed[-1] ^= 1
    with pytest.raises(SealBroken):
        sealer.open(bytes(sealed), context=b"c")
    with pytest.raises(SealBroken, match="truncated"):
        sealer.open(b"\x01abc", context=b"c")


def test_the_key_comes_from_the_environment_or_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = generate_key()
    monkeypatch.setenv(KEY_ENV, key)
    from_env = Sealer.from_environment()
    key_file = tmp_path / "broker.key"
    key_file.write_text(key + "\n")
    monkeypatch.delenv(KEY_ENV)
    from_file = Sealer.from_environment(key_file)
    assert from_env.fingerprint == from_file.fingerprint
    assert from_file.open(from_env.seal(b"x", context=b"c"), context=b"c") == b"x"


def test_a_missing_or_malformed_key_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match="broker-key"):
        Sealer.from_environment()
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(b"short").decode())
    with pytest.raises(ConfigError, match=f"{KEY_ENV} holds 5 bytes"):
        Sealer.from_environment()
    monkeypatch.setenv(KEY_ENV, "not base64 at all!")
    with pytest.raises(ConfigError, match="not a broker key"):
        Sealer.from_environment()
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match="cannot read it"):
        Sealer.from_environment(tmp_path / "absent.key")
