"""C2PA Content Credentials: sign image bytes with a ``c2pa.created`` manifest, and read a manifest back.

Signing needs no network: no time-stamp authority unless one is configured, no OCSP.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import c2pa

from .credentials import SigningCredentials
from .xmp import DIGITAL_SOURCE_TYPE, image_format

__all__ = ["ManifestCheck", "read_manifest", "sign_image"]

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
# The claim thumbnail would copy every image into its own manifest (and past Discord's upload limit).
_SIGN_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}


@dataclass(frozen=True, slots=True)
class ManifestCheck:
    """What an image's C2PA manifest says, if it has one.

    ``is_valid``: the signature and the image's hash check out; ``is_trusted``: the signer also
    chains to a trust anchor given to the reader.
    """

    is_present: bool
    is_valid: bool = False
    is_trusted: bool = False
    signer: str | None = None
    source_type: str | None = None
    generator: str | None = None
    problems: tuple[str, ...] = ()


def sign_image(
    data: bytes,
    credentials: SigningCredentials,
    *,
    generator: tuple[str, str],
    is_transcoded: bool = False,
    timestamp_url: str | None = None,
) -> bytes:
    """``data`` (PNG, JPEG or WebP) with an embedded, signed manifest saying a trained model made it.

    Parameters
    ----------
    generator:
        The claim generator's name and version.
    is_transcoded:
        Also record a ``c2pa.transcoded`` action: the picture was re-encoded after it was made.

    Raises
    ------
    c2pa.C2paError
        The library refused the credentials or the image.
    """
    mime = _MIME[image_format(data)]
    actions: list[dict[str, Any]] = [{"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE}]
    if is_transcoded:
        actions.append({"action": "c2pa.transcoded", "description": "re-encoded to fit an upload size limit"})
    manifest = {
        "claim_generator_info": [{"name": generator[0], "version": generator[1]}],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(
        credentials.algorithm,
        credentials.chain_pem,
        credentials.key_pem,
        timestamp_url.encode() if timestamp_url else None,
    )
    output = io.BytesIO()
    with (
        c2pa.Context(c2pa.Settings.from_dict(_SIGN_SETTINGS)) as context,
        c2pa.Builder(manifest, context=context) as builder,
        c2pa.Signer.from_info(info) as signer,
    ):
        builder.sign(signer, mime, io.BytesIO(data), output)
    return output.getvalue()


def read_manifest(data: bytes, *, trust_anchors_pem: bytes | None = None) -> ManifestCheck:
    """The image's active C2PA manifest checked: signature, hash binding, signer and source type.

    ``trust_anchors_pem`` (CA certificates) decides ``is_trusted``; without it no signer is trusted.
    """
    try:
        mime = _MIME[image_format(data)]
    except ValueError:
        return ManifestCheck(is_present=False)
    settings: dict[str, Any] = {"verify": {"ocsp_fetch": False, "remote_manifest_fetch": False}}
    if trust_anchors_pem:
        settings["trust"] = {"user_anchors": trust_anchors_pem.decode()}
    try:
        with c2pa.Context(c2pa.Settings.from_dict(settings)) as context:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=context)
            if reader is None:
                return ManifestCheck(is_present=False)
            with reader:
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
                manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as exc:
        return ManifestCheck(is_present=True, problems=(f"unreadable manifest ({exc})",))
    failures = tuple(
        str(item.get("code")) for item in (results.get("activeManifest") or {}).get("failure", []) if item.get("code")
    )
    signature = manifest.get("signature_info") or {}
    signer = " / ".join(str(part) for part in (signature.get("common_name"), signature.get("issuer")) if part)
    generators = manifest.get("claim_generator_info") or [{}]
    return ManifestCheck(
        is_present=True,
        is_valid=state in ("Valid", "Trusted"),
        is_trusted=state == "Trusted",
        signer=signer or None,
        source_type=_created_source_type(manifest),
        generator=" ".join(str(generators[0].get(key, "")) for key in ("name", "version")).strip() or None,
        problems=failures,
    )


def _created_source_type(manifest: dict[str, Any]) -> str | None:
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                if action.get("action") == "c2pa.created":
                    return str(action.get("digitalSourceType")) if action.get("digitalSourceType") else None
    return None
