"""XMP saying an image is AI-made: written into PNG, JPEG and WebP bytes without re-encoding, and read back.

The packet holds the IPTC digital source type and the software's name and version, nothing about
the member (no user id, no prompt, no time of day).
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from xml.sax.saxutils import quoteattr

from PIL import Image

__all__ = ["DIGITAL_SOURCE_TYPE", "embed_xmp", "image_format", "read_source_type", "xmp_packet"]

#: IPTC's term for media made by a model trained on sampled content (the EU AI Act's "AI-generated").
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_SOURCE_TYPE = re.compile(rb"DigitalSourceType(?:\s*=\s*[\"']|>)\s*([^\"'<\s]+)")


def xmp_packet(software: str) -> bytes:
    """The XMP packet: IPTC ``DigitalSourceType`` and ``xmp:CreatorTool`` (``software``: name and version)."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f'    Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"\n'
        f"    xmp:CreatorTool={quoteattr(software)}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    ).encode()


def image_format(data: bytes) -> str:
    """``png``, ``jpeg`` or ``webp`` from the magic bytes.

    Raises
    ------
    ValueError
        Any other kind of file.
    """
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError("not a PNG, JPEG or WebP image")


def embed_xmp(data: bytes, packet: bytes) -> bytes:
    """``data`` with ``packet`` as its XMP; the pixels are left untouched.

    Raises
    ------
    ValueError
        ``data`` is not a PNG, JPEG or WebP image.
    """
    kind = image_format(data)
    if kind == "png":
        return _png_with(data, packet)
    if kind == "jpeg":
        return _jpeg_with(data, packet)
    return _webp_with(data, packet)


def read_source_type(data: bytes) -> str | None:
    """The IPTC digital source type in the image's XMP, or None when it has no XMP or no such field."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if isinstance(xmp, str):
        xmp = xmp.encode()
    found = _SOURCE_TYPE.search(xmp) if isinstance(xmp, bytes) else None
    return found.group(1).decode(errors="replace") if found else None


def _png_with(data: bytes, packet: bytes) -> bytes:
    # An iTXt chunk, keyword "XML:com.adobe.xmp", uncompressed, right after IHDR (as XMP's spec places it).
    body = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _jpeg_with(data: bytes, packet: bytes) -> bytes:
    payload = _JPEG_XMP_HEADER + packet
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("the XMP packet is too large for one JPEG segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    position = 2
    # After JFIF/EXIF (APP0, APP1) where readers expect them first.
    while data[position] == 0xFF and data[position + 1] in (0xE0, 0xE1):
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return data[:position] + segment + data[position:]


def _webp_with(data: bytes, packet: bytes) -> bytes:
    chunks = data[12:]
    if chunks[:4] != b"VP8X":  # a simple-format file: the extended header that announces XMP comes first
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            alpha = 0x10 if "A" in image.mode else 0
        header = struct.pack("<I", alpha) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks = b"VP8X" + struct.pack("<I", len(header)) + header + chunks
    flags = chunks[8] | 0x04  # the XMP bit of VP8X
    chunks = chunks[:8] + bytes([flags]) + chunks[9:]
    xmp = b"XMP " + struct.pack("<I", len(packet)) + packet + (b"\x00" if len(packet) % 2 else b"")
    chunks += xmp
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks
