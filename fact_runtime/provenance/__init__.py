"""Provenance: every image the project writes says it is AI-made (watermark, XMP, C2PA), and ``verify`` reads it.

Importing this package stays torch-free; only ``watermark`` (the invisible watermark) needs the
runtime's libraries, and it is imported when an image is watermarked or checked.
"""

from __future__ import annotations

from .credentials import KEY_ENV, SigningCredentials, load_credentials
from .marker import SOFTWARE_NAME, Provenance, software_version
from .settings import ProvenanceConfig
from .signing import ManifestCheck, read_manifest, sign_image
from .xmp import DIGITAL_SOURCE_TYPE, embed_xmp, read_source_type, xmp_packet

__all__ = [
    "DIGITAL_SOURCE_TYPE",
    "KEY_ENV",
    "SOFTWARE_NAME",
    "ManifestCheck",
    "Provenance",
    "ProvenanceConfig",
    "SigningCredentials",
    "embed_xmp",
    "load_credentials",
    "read_manifest",
    "read_source_type",
    "sign_image",
    "software_version",
    "xmp_packet",
]
