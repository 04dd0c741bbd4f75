"""Provenance in every picture the project hands out: IPTC's digital source type, as XMP.

Google Merchant Center asks that every AI-generated image carry the IPTC
``DigitalSourceType`` ``trainedAlgorithmicMedia`` tag, kept through every copy; IPTC's
vocabulary (https://cv.iptc.org/newscodes/digitalsourcetype/) has
``compositeWithTrainedAlgorithmicMedia`` for a picture that puts real pixels (here: the
product's own, cut from its photo) together with generated ones. This module writes that
tag, and a client's credit line (``photoshop:Credit``, ``dc:rights``), as one XMP packet:

- :func:`encode` saves a Pillow image as JPEG, WebP or PNG with the packet (Pillow writes
  XMP itself: ``xmp=`` for JPEG and WebP, the ``XML:com.adobe.xmp`` iTXt chunk for PNG) and the
  sRGB profile, and nothing else: no EXIF, no IPTC-IIM, no comments.
- :func:`restamp_jpeg` gives JPEG bytes the packet without decoding them: the marker segments
  before the image data are rewritten (APP0 JFIF, APP2 ICC and APP14 Adobe kept; EXIF with its
  camera and GPS fields, older XMP, Photoshop/IPTC-IIM, C2PA/JUMBF and comments dropped), the
  compressed pixels are copied as they are. A stored image gets its tag this way at no loss.
- :func:`read` says which source type a file declares (None when it declares none).

A re-encode of a file with C2PA Content Credentials invalidates them, so these are dropped
with the rest (a JPEG's APP11 segments).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, PngImagePlugin

__all__ = [
    "COMPOSITE",
    "TRAINED",
    "Provenance",
    "encode",
    "read",
    "restamp_jpeg",
]

_CV = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = _CV + "trainedAlgorithmicMedia"
COMPOSITE = _CV + "compositeWithTrainedAlgorithmicMedia"
SOURCE_TYPES = (TRAINED, COMPOSITE)

_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
# JPEG marker segments kept by restamp_jpeg: JFIF (APP0), ICC profile (APP2), Adobe colour
# transform (APP14). Everything else before the scan is metadata and goes.
_KEPT_APPS = {0xE0, 0xE2, 0xEE}
_APP_OR_COMMENT = set(range(0xE0, 0xF0)) | {0xFE}
# Longest credit and rights line kept (a line, not a licence text).
MAX_CREDIT = 300


@dataclass(frozen=True)
class Provenance:
    """What a picture says of itself: its IPTC source type and, optionally, whose it is."""

    source_type: str = TRAINED
    credit: str | None = None
    rights: str | None = None

    def __post_init__(self) -> None:
        if self.source_type not in SOURCE_TYPES:
            raise ValueError(f"unknown digital source type {self.source_type!r}")

    def packet(self) -> bytes:
        """The XMP packet (UTF-8), as Adobe's XMP specification part 1 frames it."""
        attributes = [f"Iptc4xmpExt:DigitalSourceType={quoteattr(self.source_type)}"]
        if self.credit:
            attributes.append(f"photoshop:Credit={quoteattr(_line(self.credit))}")
        rights = ""
        if self.rights:
            rights = (
                "<dc:rights><rdf:Alt><rdf:li xml:lang='x-default'>"
                f"{escape(_line(self.rights))}</rdf:li></rdf:Alt></dc:rights>"
            )
        text = (
            "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>"
            "<x:xmpmeta xmlns:x='adobe:ns:meta/'>"
            "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
            "<rdf:Description rdf:about=''"
            " xmlns:Iptc4xmpExt='http://iptc.org/std/Iptc4xmpExt/2008-02-29/'"
            " xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/'"
            " xmlns:dc='http://purl.org/dc/elements/1.1/'"
            f" {' '.join(attributes)}>{rights}</rdf:Description>"
            "</rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
        )
        return text.encode("utf-8")


def _line(text: str) -> str:
    """One printable line of at most MAX_CREDIT characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat[:MAX_CREDIT]


def encode(
    picture: Image.Image,
    fmt: Literal["jpeg", "webp", "png"],
    provenance: Provenance,
    *,
    quality: int = 90,
    icc_profile: bytes | None = None,
) -> bytes:
    """``picture`` in ``fmt`` with the provenance packet and the ICC profile, nothing else."""
    out = io.BytesIO()
    packet = provenance.packet()
    if fmt == "jpeg":
        picture.save(
            out, "JPEG", quality=quality, optimize=True, icc_profile=icc_profile, xmp=packet
        )
    elif fmt == "webp":
        picture.save(out, "WEBP", quality=quality, method=4, icc_profile=icc_profile, xmp=packet)
    else:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", packet.decode("utf-8"), zip=False)
        picture.save(out, "PNG", optimize=False, icc_profile=icc_profile, pnginfo=info)
    return out.getvalue()


def restamp_jpeg(data: bytes, provenance: Provenance) -> bytes:
    """The JPEG with its metadata replaced by the provenance packet; pixels untouched.

    Raises ``ValueError`` when ``data`` is not a JPEG whose header can be walked.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    kept: list[bytes] = []
    at = 2
    while True:
        if at + 4 > len(data) or data[at] != 0xFF:
            raise ValueError("a JPEG whose header ends early")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        if end > len(data):
            raise ValueError("a JPEG whose header ends early")
        if marker not in _APP_OR_COMMENT or marker in _KEPT_APPS:
            kept.append(data[at:end])
        at = end
    payload = _XMP_HEADER + provenance.packet()
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("the provenance packet is too long for one JPEG segment")
    xmp = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    # JFIF's APP0 must come first when there is one; the packet follows it.
    first = [s for s in kept if s[1] == 0xE0][:1]
    rest = [s for s in kept if s not in first]
    return b"\xff\xd8" + b"".join(first) + xmp + b"".join(rest) + data[at:]


def read(data: bytes) -> str | None:
    """The digital source type the picture declares in its XMP, or None."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            xmp = picture.getxmp()
    except (OSError, ValueError, SyntaxError):
        return None
    found = _find(xmp, "DigitalSourceType")
    return found if isinstance(found, str) else None


def _find(tree: object, name: str) -> object:
    if isinstance(tree, dict):
        if name in tree:
            return tree[name]
        for value in tree.values():
            found = _find(value, name)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for value in tree:
            found = _find(value, name)
            if found is not None:
                return found
    return None
