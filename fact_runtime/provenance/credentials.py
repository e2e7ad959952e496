"""The C2PA signing credentials: the operator's certificate and key, or a self-signed pair made on first start.

C2PA validators (c2pa-rs, which ``c2pa-python`` wraps) refuse a self-signed end-entity
certificate: the signer must be an end-entity certificate (not a CA) with the digitalSignature
key usage and an extended key usage such as emailProtection, issued by a CA. So the self-signed
pair is a small local CA and a signing certificate it issued; the CA's key is not kept.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import ConfigError
from .settings import ProvenanceConfig

__all__ = ["KEY_ENV", "SELF_SIGNED_FILE", "SigningCredentials", "load_credentials"]

log = logging.getLogger(__name__)

#: The variable that may hold the signing key's PEM text instead of ``provenance.private_key``.
KEY_ENV = "FACT_C2PA_PRIVATE_KEY"
#: The self-signed key and certificate chain, in one file so that they are always replaced together.
SELF_SIGNED_FILE = "c2pa-self-signed.pem"
_ORGANISATION = "FACT portrait bot (self-signed)"
_VALID_DAYS = 3650


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    """A certificate chain (end-entity first) and its private key, PEM; ``algorithm`` as C2PA names it."""

    chain_pem: bytes
    key_pem: bytes
    algorithm: str
    is_self_signed: bool


def load_credentials(config: ProvenanceConfig) -> SigningCredentials:
    """The operator's credentials when configured, else the self-signed ones (created when missing).

    Raises
    ------
    ConfigError
        A configured file is missing or unreadable, the key does not match the certificate, or the
        credentials folder cannot be written.
    """
    if config.certificate is None:
        if config.private_key is not None:
            raise ConfigError("runtime.provenance.private_key is set without a certificate; set certificate too")
        return _self_signed(config.credentials_dir)
    chain_pem = _read(config.certificate, "certificate")
    key_text = os.environ.get(KEY_ENV)
    if key_text:
        key_pem = key_text.encode()
    elif config.private_key is not None:
        key_pem = _read(config.private_key, "private_key")
    else:
        raise ConfigError(
            f"runtime.provenance.certificate is set but no key: set runtime.provenance.private_key or {KEY_ENV}"
        )
    return _checked(chain_pem, key_pem, source=str(config.certificate), is_self_signed=False)


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"runtime.provenance.{key}: cannot read {path} ({exc.strerror}); fix the path") from exc


def _checked(chain_pem: bytes, key_pem: bytes, *, source: str, is_self_signed: bool) -> SigningCredentials:
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: not a PEM certificate chain with an unencrypted PEM key ({exc})") from exc
    public = key.public_key()
    if public.public_bytes(*_SPKI) != certificates[0].public_key().public_bytes(*_SPKI):
        raise ConfigError(f"{source}: the private key does not belong to the first certificate; put the signer first")
    return SigningCredentials(chain_pem, key_pem, _algorithm(key, source), is_self_signed)


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _algorithm(key: object, source: str) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in ("secp256r1", "secp384r1", "secp521r1"):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ConfigError(f"{source}: C2PA signs with EC P-256/P-384/P-521, RSA or Ed25519 keys; this key is none of them")


def _self_signed(folder: Path) -> SigningCredentials:
    path = folder / SELF_SIGNED_FILE
    if not path.exists():
        _create_self_signed(path)
    data = _read(path, "credentials_dir")
    key_end = data.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----\n")
    return _checked(data[key_end:], data[:key_end], source=str(path), is_self_signed=True)


def _create_self_signed(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(_new_self_signed())
        os.replace(temporary, path)  # atomic: two processes starting at once both end with one valid pair
    except OSError as exc:
        raise ConfigError(
            f"runtime.provenance.credentials_dir: cannot write {path} ({exc.strerror}); make the folder writable "
            "or set runtime.provenance.certificate"
        ) from exc
    log.info(
        "created a self-signed C2PA signing certificate in %s: images are signed, but validators show the signer as "
        "untrusted; set runtime.provenance.certificate and private_key to sign as your organisation",
        path,
    )


def _new_self_signed() -> bytes:
    """A P-256 CA and a signing certificate it issued, as one PEM: the signing key, then the chain."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    signer_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("FACT portrait bot local CA")
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(is_ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    signer = (
        _builder(_name("FACT portrait bot"), ca_name, signer_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(is_ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = signer_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + signer.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _usage(*, is_ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not is_ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        encipher_only=False,
        decipher_only=False,
    )
