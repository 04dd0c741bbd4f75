"""A catalog file's bytes as text: its encoding found and named, its delimiter read from the header.

Stores and spreadsheets write catalogs in a few encodings: UTF-8 (Shopify, WooCommerce and
Merchant Center, often with a byte-order mark), Excel's "Unicode Text" (UTF-16 with a BOM,
tab-separated) and, from older Windows tools and European Excel, Windows-1252. So:

1. a byte-order mark decides (UTF-8, UTF-16 LE or BE);
2. else text that is valid UTF-8 is UTF-8 (no single-byte encoding makes valid UTF-8 by
   accident in a real catalog);
3. else ``charset-normalizer`` reads a sample: the lines holding the bytes that are not ASCII
   (up to :data:`SAMPLE_BYTES`), not the whole file, so a 50 MB file costs a fraction of a
   second. It often finds several single-byte encodings equally plausible for English text
   with a few pound signs and curly quotes (Windows-1250 and Windows-1252 decode those bytes
   differently); among the equally plausible ones Windows-1252, the one Windows and Excel
   write in Western Europe and the Americas, wins.

The encoding is named in the answer (:attr:`Decoded.encoding`). Bytes the chosen encoding
cannot read are refused naming the line and what to do.

The delimiter is read from the header: for each of ``,`` ``;`` and tab, the header's cells
when split by it; the one whose cells name a catalog format wins (a semicolon file's header
has ``Handle`` and ``Title`` as cells only when split by ``;``), else the one giving the most
cells.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

import charset_normalizer

from visualizer_core.errors import InvalidInput

__all__ = ["DELIMITERS", "SAMPLE_BYTES", "Decoded", "decode", "delimiter_name", "delimiter_of"]

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
_PREFERRED = "cp1252"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE with BOM"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE with BOM"),
)
_NAMES = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}


@dataclass(frozen=True)
class Decoded:
    """A catalog's text and the encoding it was read in (its usual name: ``UTF-8``,
    ``UTF-8 with BOM``, ``UTF-16 LE with BOM``, ``Windows-1252``, ...)."""

    text: str
    encoding: str


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _sample(data: bytes) -> bytes:
    """The lines that hold bytes outside ASCII, up to SAMPLE_BYTES: what tells encodings apart."""
    picked: list[bytes] = []
    size = 0
    for line in data.split(b"\n"):
        if not line.isascii():
            picked.append(line)
            size += len(line) + 1
            if size >= SAMPLE_BYTES:
                break
    return b"\n".join(picked)[:SAMPLE_BYTES]


def _single_byte(data: bytes) -> str:
    """The single-byte encoding of text that is not UTF-8 (``charset-normalizer`` on a sample)."""
    matches = list(charset_normalizer.from_bytes(_sample(data)))
    if not matches:
        return _PREFERRED
    best = matches[0]
    alike = [
        m for m in matches if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.05
    ]
    if any(_PREFERRED in m.could_be_from_charset for m in alike):
        return _PREFERRED
    return str(best.encoding)


def decode(data: bytes) -> Decoded:
    """The text of a catalog file; :class:`InvalidInput` naming the line of a byte that is
    not text in the encoding found."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return Decoded(_decode_as(data, codec, name), name)
    try:
        return Decoded(data.decode("utf-8"), "UTF-8")
    except UnicodeDecodeError:
        pass
    codec = _single_byte(data)
    name = _NAMES.get(codec, codec)
    return Decoded(_decode_as(data, codec, name), name)


def _decode_as(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        utf16 = codec.startswith("utf-16")
        where = "the file" if utf16 else f"line {_line_of(data, error.start)}"
        raise InvalidInput(
            f"{where}: byte 0x{data[error.start]:02X} is not text in {name} (the encoding the "
            "file starts in); save the file as UTF-8 and import again"
        ) from None


def delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter]


def delimiter_of(text: str, recognises: Callable[[list[str]], bool]) -> str:
    """The delimiter of a delimited catalog, read from its header (the first record).

    ``recognises(cells)`` says whether a header's cells name a catalog format.
    """
    best, most = ",", 0
    for delimiter in DELIMITERS:
        try:
            header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error:
            continue
        if recognises(header):
            return delimiter
        if len(header) > most:
            best, most = delimiter, len(header)
    return best
