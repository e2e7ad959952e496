"""One object that marks every image the project writes: watermark, XMP and C2PA, each as configured."""

from __future__ import annotations

import importlib.util
import logging
from functools import cache
from importlib import metadata

import numpy as np

from ..errors import JobFailed
from .credentials import SigningCredentials, load_credentials
from .settings import ProvenanceConfig
from .watermark import require_watermarker
from .xmp import embed_xmp, xmp_packet

__all__ = ["SOFTWARE_NAME", "Provenance", "software_version"]

log = logging.getLogger(__name__)

SOFTWARE_NAME = "FACT portrait bot"


def software_version() -> str:
    try:
        return metadata.version("fact-portrait-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


class Provenance:
    """Marks images as AI-made; build it with ``Provenance.from_config`` (one per settings, shared).

    ``encode_png`` makes the runtime's PNGs (watermark first); ``mark`` marks bytes encoded
    elsewhere, such as the bot's re-encodes, and needs no torch.
    """

    def __init__(self, config: ProvenanceConfig, credentials: SigningCredentials | None) -> None:
        self.config = config
        self.credentials = credentials
        self.generator = (SOFTWARE_NAME, software_version())
        self._packet = xmp_packet(" ".join(self.generator))

    @staticmethod
    @cache
    def from_config(config: ProvenanceConfig) -> Provenance:
        """The marker for ``config``: its credentials loaded, or the self-signed ones created, once per process.

        Raises
        ------
        ConfigError
            The signing credentials are unusable, or the watermark is on and its package is missing.
        """
        if config.is_watermark_enabled and importlib.util.find_spec("imwatermark") is None:
            require_watermarker()  # raises the sentence that says how to install it, without importing torch
        credentials = load_credentials(config) if config.is_c2pa_enabled else None
        if credentials is not None:
            log.info(
                "C2PA signing with %s credentials (%s)",
                "self-signed" if credentials.is_self_signed else "the configured",
                credentials.algorithm,
            )
        return Provenance(config, credentials)

    def encode_png(self, rgb: np.ndarray) -> bytes:
        """The PNG of a generated image with every configured mark: watermark, XMP, C2PA.

        Raises
        ------
        ConfigError
            The watermark package is missing.
        JobFailed
            The image could not be signed.
        """
        from ..image import encode_png

        if self.config.is_watermark_enabled:
            from .watermark import add_watermark

            rgb = add_watermark(rgb)
        return self._mark(encode_png(rgb), is_transcoded=False)

    def mark(self, data: bytes) -> bytes:
        """``data`` (PNG, JPEG or WebP, re-encoded from a marked image) with XMP and a new C2PA signature.

        Raises
        ------
        JobFailed
            The image could not be signed.
        """
        return self._mark(data, is_transcoded=True)

    def _mark(self, data: bytes, *, is_transcoded: bool) -> bytes:
        if self.config.is_metadata_enabled:
            data = embed_xmp(data, self._packet)
        if self.credentials is None:
            return data
        import c2pa

        from .signing import sign_image

        try:
            return sign_image(
                data,
                self.credentials,
                generator=self.generator,
                is_transcoded=is_transcoded,
                timestamp_url=self.config.timestamp_url,
            )
        except c2pa.C2paError as exc:
            log.error("C2PA signing failed: %s", exc)
            raise JobFailed(f"C2PA signing failed ({exc})") from exc
