"""The ``runtime.provenance`` settings: which marks every produced image carries, and who signs it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["ProvenanceConfig"]


class ProvenanceConfig(BaseModel):
    # The string under a field is its description: the README's configuration reference shows it.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    is_watermark_enabled: bool = True
    """Hide the SDXL 48-bit invisible watermark (``invisible-watermark``'s dwtDct) in every image of 256 px or more."""
    is_metadata_enabled: bool = True
    """Write XMP saying the image is AI-made (IPTC ``trainedAlgorithmicMedia``) and naming the software; nothing personal."""
    is_c2pa_enabled: bool = True
    """Sign every image with C2PA Content Credentials: a ``c2pa.created`` action with the same IPTC source type."""
    certificate: Path | None = None
    """PEM file: the signing certificate (EC P-256/P-384, RSA or Ed25519 key; digitalSignature use), then the CAs above it. None: a self-signed one in ``credentials_dir``."""
    private_key: Path | None = None
    """PEM file of the certificate's private key; the variable ``FACT_C2PA_PRIVATE_KEY`` (the PEM text) may give it instead."""
    credentials_dir: Path = Path("data/provenance")
    """Where the self-signed signing certificate is created on first start (0600) when ``certificate`` is unset."""
    timestamp_url: str | None = None
    """An RFC 3161 time-stamp authority for the signatures; none: the signatures carry no trusted time."""

    def relative_to(self, base: Path) -> ProvenanceConfig:
        """The same settings with relative paths resolved against ``base`` (the config file's folder)."""

        def resolve(path: Path | None) -> Path | None:
            return path if path is None or path.is_absolute() else base / path

        return self.model_copy(
            update={
                "certificate": resolve(self.certificate),
                "private_key": resolve(self.private_key),
                "credentials_dir": resolve(self.credentials_dir),
            }
        )
