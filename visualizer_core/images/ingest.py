"""Product-photo ingest: validate an uploaded image and make its three derivatives.

Every product photo becomes

- a **base PNG** (RGBA), at most :data:`WORK_MAX` pixels on its longest side: what the AI and
  the compositor get. A photo shot on a plain light background (white or light grey seamless)
  has that background removed with soft edges; a photo that already has transparency keeps
  it. Either way the base is cropped to the product plus a small margin. Any other photo (a
  lifestyle shot) stays opaque and uncropped.
- a **preview JPEG** on white, at most :data:`PREVIEW_MAX` pixels on its longest side;
- a **thumbnail JPEG** on white that fits in a :data:`THUMB_MAX` square.

Accepted formats: JPEG (including MPO, the multi-picture JPEG some cameras write), PNG, WebP,
GIF (first frame), BMP and TIFF (first page). Colour modes are normalised to 8-bit RGB(A):
palette, greyscale, 16-bit (``I;16``, ``I``), float, and CMYK (through its embedded ICC
profile when it has one, else Pillow's plain formula); an RGB photo with an embedded non-sRGB
profile (a phone's Display P3) is converted to sRGB, since the derivatives carry no profile.
EXIF orientation is applied; unreadable EXIF is ignored.

Everything else is refused with :class:`~visualizer_core.errors.InvalidImage`, which names the
file and the reason: an empty file, more than ``max_bytes`` bytes (:data:`MAX_BYTES`), more
than ``max_pixels`` pixels declared in the header (:data:`MAX_PIXELS`; checked before any
pixel is decoded), SVG, HEIC and other formats, text, and damaged or truncated data (every
image is decoded completely, so a truncated file fails here rather than later).

Pillow's own process-wide settings are left alone. The warnings Pillow gives while it parses
a file (its decompression-bomb warning: the header check above is the limit that counts, and
Pillow's hard error at twice ``Image.MAX_IMAGE_PIXELS`` still applies and is reported as too
many pixels; corrupt EXIF; odd APNG) are ignored by one filter installed when this module is
imported, not by :func:`warnings.catch_warnings` around each decode: that is process-wide state
and needed a lock, so a 64-megapixel PNG of 200 KB held every other client's photo for the
seconds it took to decode. Nothing here holds a lock now: threads decode side by side.
``ImageFile.LOAD_TRUNCATED_IMAGES`` is expected at its default, False.

Background removal (:func:`_plain_background`): the background colour is the median of a
thin border ring; when most of the ring is close to it and it is light and nearly grey, the
pixels close to it (in YCbCr, which shrugs off JPEG's chroma ringing) that are connected to
the border are background, found by a flood fill from the edges in vectorised numpy (no
SciPy): light areas enclosed by the product, such as a white mug's inside, stay. The hard
mask's edge is then softened into a ramp 3 pixels wide (5 from 1536 pixels up).

Everything is deterministic: the same bytes give the same derivatives.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageChops, ImageCms

from visualizer_core.errors import InvalidImage

__all__ = [
    "ACCEPTED_FORMATS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "PNG_COMPRESS_LEVEL",
    "PREVIEW_MAX",
    "THUMB_MAX",
    "WORK_MAX",
    "IngestedImage",
    "image_size",
    "ingest_file",
    "ingest_image",
    "make_thumbnail",
    "normalize_photo",
    "to_jpeg",
    "to_png",
]

MAX_BYTES: Final = 40 * 1024 * 1024
"""Largest accepted file: 40 MiB (a 60-megapixel JPEG at top quality is about 30 MB)."""
MAX_PIXELS: Final = 64_000_000
"""Most pixels a header may declare: 64 megapixels, above every common camera up to 61 MP."""
WORK_MAX: Final = 2048
"""Longest side of the base PNG; larger photos are scaled down first."""
WORK_DECODE_MIN: Final = 1536
"""A large JPEG may be decoded at a reduced scale down to this longest side (a 4000-pixel
photo gives a 2000-pixel base): that is many times faster than decoding it whole and
resampling, so the base of a large photo is between this and :data:`WORK_MAX` pixels."""
PREVIEW_MAX: Final = 1600
"""Longest side of the preview JPEG."""
THUMB_MAX: Final = 320
"""The thumbnail fits in a square of this side."""
PNG_COMPRESS_LEVEL: Final = 3
"""zlib level of the PNGs: 3 is about 2x faster than Pillow's 6 for 10-15% more bytes."""
JPEG_QUALITY: Final = 88
# Downscaling is bicubic (Pillow's filters widen with the ratio, so they antialias): next to
# Lanczos it looks the same at these sizes, for 60% of the time. Thumbnails are bilinear,
# as sharp as anyone sees at 320 pixels, for another third less.
_RESAMPLE: Final = Image.Resampling.BICUBIC
_THUMB_RESAMPLE: Final = Image.Resampling.BILINEAR

ACCEPTED_FORMATS: Final = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF")
"""Pillow format names that are accepted; any other format is refused."""
# What Image.open is allowed to try: Pillow's JPEG opener returns an MPO image itself.
_OPEN_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

WHITE: Final = (255, 255, 255)

# Background detection works in YCbCr, where the distance between two colours is the largest
# of their luma and chroma differences: JPEG rings hardest in chroma, and chroma differences
# there are about half as large as in RGB, so the ringing around a product stays background.
# A photo counts as "on a plain light background" when at least BORDER_PLAIN_FRACTION of its
# border ring lies within BORDER_TOLERANCE of the ring's median colour, and that colour is
# light (luma) and nearly grey (chroma).
BORDER_PLAIN_FRACTION: Final = 0.8
BORDER_TOLERANCE: Final = 24
BACKGROUND_MIN_LUMA: Final = 185
BACKGROUND_MAX_CHROMA: Final = 16  # largest distance of Cb or Cr from neutral (128)
# A pixel joins the background when it is this close to it (adapted to the border's noise).
FILL_TOLERANCE_MIN: Final = 16
FILL_TOLERANCE_MAX: Final = 32
_FLOOD_MAX_STEPS: Final = 128
_REFINE_STEPS: Final = 4  # dilation steps from the half-resolution fill

_ORIENTATION_TAG: Final = 0x0112
_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ZERO_TO_WHITE_LUT: Final = [255] + [0] * 255  # alpha 0 -> 255 (paste white there), else 0

# Signatures of the accepted formats, to tell "damaged PNG" from "not an image".
_MAGIC: Final = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# Formats people do upload that are refused, for a useful message.
_REFUSED_MAGIC: Final = (
    (b"%PDF-", "PDF documents"),
    (b"8BPS", "Photoshop (PSD) files"),
    (b"\x00\x00\x01\x00", "ICO icons"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 images"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 images"),
    (b"%!PS", "PostScript/EPS files"),
    (b"\xc5\xd0\xd3\xc6", "PostScript/EPS files"),
    (b"PK\x03\x04", "ZIP archives"),
    (b"\x1f\x8b", "gzip-compressed files"),
)
_HEIF_BRANDS: Final = {
    **dict.fromkeys((b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs"), "HEIC"),
    **dict.fromkeys((b"mif1", b"msf1"), "HEIF"),
    **dict.fromkeys((b"avif", b"avis"), "AVIF"),
}
_UPLOAD_HINT: Final = "upload a PNG, JPEG or WebP"
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

# Pillow's parse-time warnings are noise for people's uploads (see the module's docstring).
warnings.filterwarnings("ignore", module=r"PIL(\.|$)")


@dataclass(frozen=True)
class IngestedImage:
    """The three derivatives of one product photo, and what ingest learnt about it."""

    base_png: bytes
    """RGBA PNG: plain light background removed with soft edges, or the photo's own alpha kept."""
    preview_jpeg: bytes
    """RGB JPEG composited on white, longest side at most :data:`PREVIEW_MAX`."""
    thumbnail_jpeg: bytes
    """RGB JPEG on white that fits in a :data:`THUMB_MAX` square."""
    width: int
    """Width of the base PNG (after orientation, downscaling and cropping)."""
    height: int
    """Height of the base PNG."""
    source_format: str
    """Pillow's name of the uploaded format: ``JPEG``, ``PNG``, ``WEBP``, ``GIF``, ..."""
    has_alpha: bool
    """The base has at least one pixel that is not fully opaque."""
    background_removed: bool
    """Ingest found a plain light background and removed it."""
    sha256: str
    """Hex SHA-256 of the uploaded bytes."""


# -- public API ----------------------------------------------------------------------------------


def ingest_file(path: str) -> IngestedImage | str:
    """A photo file's derivatives, or the reason it was refused (for process pools).

    It lives here, beside :func:`ingest_image`, so that a pool's worker processes import only
    Pillow and NumPy, not the services, and start quickly.
    """
    name = Path(path).name
    try:
        return ingest_image(Path(path).read_bytes(), filename=name)
    except InvalidImage as error:
        return str(error)
    except OSError as error:
        return f"{name}: cannot read ({error.strerror})"


def ingest_image(
    data: bytes, *, filename: str, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> IngestedImage:
    """Validate a product photo and make its base PNG, preview JPEG and thumbnail JPEG.

    ``filename`` only names the file in error messages. Raises :class:`InvalidImage` for
    anything that is not a usable image within ``max_bytes`` and ``max_pixels``.
    """
    loaded = _load(
        data, filename, max_bytes=max_bytes, max_pixels=max_pixels, decode_to=WORK_DECODE_MIN
    )
    image = _prepare(loaded, filename, fit=WORK_MAX)
    rgb, alpha, removed = _cut_out(image, filename)

    if alpha is None:
        base = rgb.convert("RGBA")
        flat = rgb
        has_alpha = False
    else:
        # Crop first: the soft edge, the fill and the encoders then see only the product.
        radius = (2 if max(rgb.size) >= 1536 else 1) if removed else 0
        box = _content_box(alpha, min_margin=2 + radius)
        if box != (0, 0, *rgb.size):
            rgb, alpha = rgb.crop(box), alpha.crop(box)
        if removed:
            alpha = _soften(alpha, radius)
        # Hidden pixels carry no information; a constant colour there makes the PNG smaller
        # and faster to write (Pillow premultiplies alpha when it resizes, so nothing bleeds).
        hidden = alpha.point(_ZERO_TO_WHITE_LUT)
        rgb = ImageChops.lighter(rgb, Image.merge("RGB", (hidden, hidden, hidden)))
        flat = Image.new("RGB", rgb.size, WHITE)
        flat.paste(rgb, mask=alpha)
        base = rgb.copy()
        base.putalpha(alpha)
        low, _ = _extrema(alpha)
        has_alpha = low < 255

    preview = _fit(flat, PREVIEW_MAX)
    thumbnail = _fit(preview, THUMB_MAX, _THUMB_RESAMPLE)
    return IngestedImage(
        base_png=to_png(base),
        preview_jpeg=to_jpeg(preview),
        thumbnail_jpeg=to_jpeg(thumbnail),
        width=base.width,
        height=base.height,
        source_format=loaded.source_format,
        has_alpha=has_alpha,
        background_removed=removed,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def image_size(data: bytes, *, filename: str) -> tuple[int, int]:
    """Width and height of an image as it is shown (EXIF orientation applied).

    The image is validated like :func:`ingest_image` validates it, decoded completely (JPEGs
    at a reduced scale, which still reads every byte), so a damaged file raises
    :class:`InvalidImage` here.
    """
    loaded = _load(data, filename, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, decode_to=1)
    width, height = loaded.original_size
    return (height, width) if loaded.orientation in (5, 6, 7, 8) else (width, height)


def to_png(image: Image.Image, *, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """Encode ``image`` as PNG, keeping its mode; no metadata is written."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def to_jpeg(image: Image.Image, *, quality: int = JPEG_QUALITY) -> bytes:
    """Encode ``image`` as an RGB JPEG; transparency is composited on white."""
    buffer = io.BytesIO()
    _flatten(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_thumbnail(data: bytes, *, filename: str, size: int = THUMB_MAX) -> bytes:
    """An RGB JPEG on white, from any accepted image, that fits in a ``size`` square."""
    loaded = _load(data, filename, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, decode_to=size)
    image = _prepare(loaded, filename, fit=size, resample=_THUMB_RESAMPLE)
    return to_jpeg(image)


def normalize_photo(data: bytes, *, filename: str, max_side: int = 2048) -> bytes:
    """A validated, upright RGB JPEG of at most ``max_side`` pixels a side (for scenes).

    No background is removed; transparency, if any, is composited on white.
    """
    loaded = _load(data, filename, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, decode_to=max_side)
    image = _prepare(loaded, filename, fit=max_side)
    return to_jpeg(image)


# -- decoding and validation ---------------------------------------------------------------------


@dataclass
class _Loaded:
    image: Image.Image  # fully decoded, possibly at a reduced JPEG scale, in its own mode
    source_format: str
    original_size: tuple[int, int]  # as stored, before orientation
    orientation: int  # EXIF orientation, 1..8


def _load(
    data: bytes, filename: str, *, max_bytes: int, max_pixels: int, decode_to: int
) -> _Loaded:
    """Open, check the limits on the header, and decode every byte; or raise InvalidImage.

    A JPEG is decoded at 1/2, 1/4 or 1/8 scale when its longest side stays at least
    ``decode_to``: the decoder still reads every byte, for far less work.
    """
    if not data:
        raise InvalidImage(filename, "the file is empty")
    if len(data) > max_bytes:
        raise InvalidImage(
            filename,
            f"the file is too large: {_human_bytes(len(data))}, "
            f"over the limit of {_human_bytes(max_bytes)}",
        )
    image = _open(data, filename, max_pixels)
    source_format = image.format or "unknown"
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage(filename, "the image has no pixels")
    if width * height > max_pixels:
        raise InvalidImage(
            filename,
            f"the image is {width}x{height} pixels ({_megapixels(width * height)} "
            f"megapixels), over the limit of {_megapixels(max_pixels)} megapixels",
        )
    if max(width, height) >= 2 * decode_to:
        scale = decode_to / max(width, height)
        with contextlib.suppress(Exception):  # a no-op for every format but JPEG
            image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        image.load()
    except Exception as error:
        raise InvalidImage(filename, f"the {source_format} data is truncated or corrupt") from error
    orientation = _read_orientation(image)
    return _Loaded(image, source_format, (width, height), orientation)


def _open(data: bytes, filename: str, max_pixels: int) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except Image.DecompressionBombError as error:
        found = _BOMB_PIXELS.search(str(error))
        declared = f"{_megapixels(int(found.group(1)))} megapixels" if found else "too many pixels"
        raise InvalidImage(
            filename,
            f"the image declares {declared}, over the limit of {_megapixels(max_pixels)} "
            "megapixels (a possible decompression bomb)",
        ) from error
    except Exception as error:
        raise InvalidImage(filename, _why_unreadable(data)) from error


def _why_unreadable(data: bytes) -> str:
    """The reason, in words, why Pillow could not open ``data`` as an accepted format."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return f"the {name} file is damaged and cannot be opened"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "the WEBP file is damaged and cannot be opened"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!doctype")) and b"<svg" in head):
        return f"SVG vector images are not supported; {_UPLOAD_HINT}"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        kind = _HEIF_BRANDS[data[8:12]]
        return f"{kind} images are not supported; export the photo as JPEG or PNG"
    for magic, name in _REFUSED_MAGIC:
        if data.startswith(magic):
            return f"{name} are not supported; {_UPLOAD_HINT}"
    if _looks_like_text(data[:4096]):
        return f"this is a text file, not an image; {_UPLOAD_HINT}"
    return f"not a recognised image format; {_UPLOAD_HINT}"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    printable = sum(1 for byte in head if byte >= 32 or byte in (9, 10, 13))
    return printable >= 0.95 * len(head)


def _read_orientation(image: Image.Image) -> int:
    """EXIF orientation (1..8); 1 when the EXIF is missing or cannot be read."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _prepare(
    loaded: _Loaded,
    filename: str,
    *,
    fit: int,
    resample: Image.Resampling = _RESAMPLE,
) -> Image.Image:
    """8-bit RGB or RGBA, at most ``fit`` pixels a side, upright."""
    image = _fit(_to_rgb(loaded.image, filename), fit, resample)
    transpose = _TRANSPOSE.get(loaded.orientation)
    return image.transpose(transpose) if transpose is not None else image


# -- colour modes --------------------------------------------------------------------------------


def _to_rgb(image: Image.Image, filename: str) -> Image.Image:
    """Convert any decoded mode to 8-bit ``RGB``, or ``RGBA`` when it has transparency."""
    mode = image.mode
    icc = image.info.get("icc_profile")
    try:
        if mode.startswith("I;16") or mode in ("I", "F"):
            return _high_depth_to_l(image).convert("RGB")
        if mode == "CMYK":
            return _with_profile(image, icc, "CMYK") or image.convert("RGB")
        transparent = (
            "transparency" in image.info
            or mode in ("RGBA", "RGBa", "LA", "La", "PA")
            or (mode == "P" and image.palette is not None and image.palette.mode == "RGBA")
        )
        if transparent:
            rgba = image if mode == "RGBA" else image.convert("RGBA")
            if isinstance(icc, bytes):
                rgb = _with_profile(rgba.convert("RGB"), icc, "RGB")
                if rgb is not None:
                    rgb.putalpha(rgba.getchannel("A"))
                    return rgb
            return rgba
        rgb = image if mode == "RGB" else image.convert("RGB")
        return _with_profile(rgb, icc, "RGB") or rgb
    except (ValueError, OSError) as error:
        raise InvalidImage(
            filename, f"its colour mode ({mode}) cannot be converted to RGB"
        ) from error


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float greyscale to 8-bit ``L``, scaling the range."""
    pixels = np.asarray(image)
    if image.mode == "F":
        values = pixels.astype(np.float64)
        peak = float(np.nanmax(values)) if values.size else 0.0
        scaled = values * 255.0 if peak <= 1.0 else values
        eight = np.clip(np.nan_to_num(scaled), 0, 255).round().astype(np.uint8)
    else:
        wide = pixels.astype(np.int64)
        if image.mode == "I" and wide.size and int(wide.max()) <= 255:
            eight = np.clip(wide, 0, 255).astype(np.uint8)
        else:
            eight = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
    return Image.fromarray(eight)


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached transform from the embedded profile to sRGB; None if not needed or unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = source.profile.xcolor_space.strip()
        if space != mode:
            return None
        if mode == "RGB" and "srgb" in ImageCms.getProfileDescription(source).lower():
            return None
        return ImageCms.buildTransform(
            source,
            _srgb_profile(),
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            # NOCACHE: the cached transform is shared by threads, and LittleCMS's one-pixel
            # cache is not safe to share.
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION | ImageCms.Flags.NOCACHE,
        )
    except Exception:
        return None


def _with_profile(image: Image.Image, icc: object, mode: str) -> Image.Image | None:
    """``image`` converted to sRGB through its embedded ICC profile, or None if it has none."""
    if not isinstance(icc, bytes) or not icc:
        return None
    transform = _transform_to_srgb(icc, mode)
    if transform is None:
        return None
    try:
        return ImageCms.applyTransform(image, transform)
    except Exception:
        return None


# -- background removal --------------------------------------------------------------------------


def _cut_out(image: Image.Image, filename: str) -> tuple[Image.Image, Image.Image | None, bool]:
    """Split into RGB and alpha (None when opaque); True when a plain background was removed.

    The alpha is the image's own, or, for a removed background, a hard 0/255 mask.
    """
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        low, high = _extrema(alpha)
        if high == 0:
            raise InvalidImage(filename, "the image is completely transparent")
        rgb = image.convert("RGB")
        if low < 255:
            return rgb, alpha, False
    else:
        rgb = image
    background = _plain_background(rgb)
    if background is None:
        return rgb, None, False
    # The hard mask; ingest_image softens its edge once it has cropped to the product.
    return rgb, Image.fromarray(np.where(background, np.uint8(0), np.uint8(255))), True


def _plain_background(rgb: Image.Image) -> NDArray[np.bool_] | None:
    """The pixels of a plain light background connected to the border, or None if there is none.

    The background colour is the median of a thin border ring. If most of the ring is close to
    it, and it is light and nearly grey, every pixel close to that colour and connected to the
    border (4-connectivity) is background. Light areas enclosed by the product (the inside of
    a white mug) are not connected, so they stay.
    """
    width, height = rgb.size
    if min(width, height) < 8:
        return None
    ycc = rgb.convert("YCbCr")
    edge = max(2, min(width, height) // 100)
    strips = (
        (0, 0, width, edge),
        (0, height - edge, width, height),
        (0, edge, edge, height - edge),
        (width - edge, edge, width, height - edge),
    )
    ring = np.concatenate([np.asarray(ycc.crop(strip)).reshape(-1, 3) for strip in strips])
    colour = np.median(ring, axis=0).round().astype(np.int16)
    if int(colour[0]) < BACKGROUND_MIN_LUMA:
        return None
    if int(np.abs(colour[1:] - 128).max()) > BACKGROUND_MAX_CHROMA:
        return None
    differences = np.abs(ring.astype(np.int16) - colour)
    deviation = np.maximum(np.maximum(differences[:, 0], differences[:, 1]), differences[:, 2])
    close = deviation[deviation <= BORDER_TOLERANCE]
    if len(close) < BORDER_PLAIN_FRACTION * len(ring):
        return None
    rank = (98 * (len(close) - 1)) // 100
    noise = int(np.partition(close, rank)[rank])  # the 98th percentile of the border's noise
    tolerance = min(max(noise + 10, FILL_TOLERANCE_MIN), FILL_TOLERANCE_MAX)

    fill = Image.new("YCbCr", ycc.size, (int(colour[0]), int(colour[1]), int(colour[2])))
    luma, blue, red = ImageChops.difference(ycc, fill).split()
    distance = ImageChops.lighter(ImageChops.lighter(luma, blue), red)
    background = _flood_from_border(np.asarray(distance) <= tolerance)

    kept = background.size - int(np.count_nonzero(background))
    if kept < max(16, background.size // 1000):
        return None  # nothing but background: a blank picture, or a product as light as it
    return background


class _Runs:
    """Maximal runs of True along the rows (or columns) of a mask, numbered from 1.

    Spreading marks every pixel of every run that holds a marked pixel. The numbers are
    ``intp``, numpy's own index type, which it gathers and scatters without converting.
    """

    def __init__(self, mask: NDArray[np.bool_], *, axis: int) -> None:
        starts = mask.copy()
        if axis == 1:
            starts[:, 1:] &= ~mask[:, :-1]
            # Row-major numbering: a run never crosses rows, since a row's first pixel starts one.
            ids = np.cumsum(starts, dtype=np.intp).reshape(mask.shape)
        else:
            starts[1:, :] &= ~mask[:-1, :]
            # Column-major numbering, through a transposed copy (a cumulative sum along axis 0
            # is strided, and far slower than two copies).
            by_column = np.cumsum(np.ascontiguousarray(starts.T), dtype=np.intp)
            ids = np.ascontiguousarray(by_column.reshape(mask.shape[::-1]).T)
        np.multiply(ids, mask, out=ids)  # 0: in no run
        self.ids = ids
        self.count = int(np.count_nonzero(starts))

    def spread(self, reached: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Every pixel of every run that holds a reached pixel."""
        hit = np.zeros(self.count + 1, dtype=bool)
        hit[self.ids[reached]] = True
        hit[0] = False
        result: NDArray[np.bool_] = hit[self.ids]
        return result


def _on_border(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The pixels of ``mask`` on the image's border."""
    edge = np.zeros_like(mask)
    edge[[0, -1], :] = mask[[0, -1], :]
    edge[:, [0, -1]] = mask[:, [0, -1]]
    return edge


def _connected_to_border(candidate: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The candidate pixels 4-connected to the image border, as a flood fill from the edges.

    Reachability spreads along whole horizontal runs, then whole vertical runs, and so on
    until a step adds nothing: a few vectorised steps for ordinary shapes (each step turns one
    corner). After ``_FLOOD_MAX_STEPS`` steps, a pathological maze keeps what was reached.
    """
    reached = _on_border(candidate)
    directions = (_Runs(candidate, axis=1), _Runs(candidate, axis=0))
    count = int(np.count_nonzero(reached))
    for step in range(_FLOOD_MAX_STEPS):
        # Each spread is idempotent, so the set is closed under the previous direction; when
        # this direction adds nothing either, it is closed under both: the fill is complete.
        reached = directions[step % 2].spread(reached)
        new_count = int(np.count_nonzero(reached))
        if new_count == count and step > 0:
            break
        count = new_count
    return reached


def _flood_from_border(candidate: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The candidate pixels connected to the border, found at half resolution, then refined.

    A 2x2 block is a candidate only when all four of its pixels are, so a thin dark line
    still separates (a mug's rim keeps its light inside). The blocks connected to the border
    are found with :func:`_connected_to_border` on a quarter of the pixels; the pixels of the
    partial blocks along the product's edge are then reached by a few steps of dilation
    inside the full-resolution candidates. Only background channels narrower than 3 pixels
    that reach deeper than that are missed; they stay opaque.
    """
    height, width = candidate.shape
    if min(height, width) < 16:
        return _connected_to_border(candidate)
    half_h, half_w = height // 2, width // 2
    even = candidate[: 2 * half_h, : 2 * half_w]
    blocks = even[0::2, 0::2] & even[1::2, 0::2] & even[0::2, 1::2] & even[1::2, 1::2]
    reached = np.zeros_like(candidate)
    reached[: 2 * half_h, : 2 * half_w] = np.repeat(
        np.repeat(_connected_to_border(blocks), 2, axis=0), 2, axis=1
    )
    reached |= _on_border(candidate)
    count = int(np.count_nonzero(reached))
    for _ in range(_REFINE_STEPS):
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= candidate
        reached, previous = grown, count
        count = int(np.count_nonzero(reached))
        if count == previous:
            break
    return reached


def _soften(hard: Image.Image, radius: int) -> Image.Image:
    """A box blur of ``radius``: the hard 0/255 edge becomes a linear ramp 2r+1 pixels wide.

    Separable sums in numpy, edges repeated; a few times faster than Pillow's BoxBlur here.
    """
    width = 2 * radius + 1
    padded = np.pad(np.asarray(hard), radius, mode="edge").astype(np.uint16)
    rows = padded[:, : padded.shape[1] - 2 * radius].copy()
    for shift in range(1, width):
        rows += padded[:, shift : shift + rows.shape[1]]
    total = rows[: rows.shape[0] - 2 * radius].astype(np.uint32)
    for shift in range(1, width):
        total += rows[shift : shift + total.shape[0]]
    area = width * width
    return Image.fromarray(((total + area // 2) // area).astype(np.uint8))


def _content_box(alpha: Image.Image, *, min_margin: int) -> tuple[int, int, int, int]:
    """Bounding box of the visible pixels plus a margin: 1% of the longest side, or more."""
    box = alpha.getbbox()
    width, height = alpha.size
    if box is None:
        return (0, 0, width, height)
    margin = max(min_margin, round(max(width, height) / 100))
    left, top, right, bottom = box
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(width, right + margin),
        min(height, bottom + margin),
    )


# -- small helpers -------------------------------------------------------------------------------


def _fit(image: Image.Image, max_side: int, resample: Image.Resampling = _RESAMPLE) -> Image.Image:
    """``image`` scaled down (never up) so that its longest side is at most ``max_side``."""
    width, height = image.size
    if max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, resample, reducing_gap=3.0)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _extrema(channel: Image.Image) -> tuple[int, int]:
    """Smallest and largest value of a single 8-bit channel."""
    return cast("tuple[int, int]", channel.getextrema())


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f}"


def _human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"
