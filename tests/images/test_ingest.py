"""Product-photo ingest: derivatives, background removal, colour modes, and hostile input.

Every fixture is drawn here with Pillow (or written byte by byte, for the hostile headers).
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import threading
import warnings
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw

from visualizer_core.errors import InvalidImage, InvalidInput
from visualizer_core.images import ingest
from visualizer_core.images.ingest import (
    PREVIEW_MAX,
    THUMB_MAX,
    IngestedImage,
    image_size,
    ingest_image,
    make_thumbnail,
    normalize_photo,
    to_jpeg,
    to_png,
)

RED = (210, 20, 20)
WHITE = (255, 255, 255)

# -- fixtures drawn in code ----------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def red_square_on_white(size: tuple[int, int] = (240, 200), background: int = 255) -> Image.Image:
    """A red square in the middle of a plain light background."""
    image = Image.new("RGB", size, (background,) * 3)
    width, height = size
    ImageDraw.Draw(image).rectangle(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=RED
    )
    return image


def lifestyle(size: tuple[int, int] = (300, 200), seed: int = 0) -> Image.Image:
    """A busy picture with no plain border: colour gradients and noise."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack(
        [x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1
    ).astype(np.int16)
    pixels += rng.integers(-20, 20, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def noisy(size: tuple[int, int] = (400, 300), seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(
    width: int, height: int, *, bit_depth: int, colour_type: int, rows: bytes | None = None
) -> bytes:
    """A PNG written by hand (for what Pillow cannot write: 16-bit RGB, absurd dimensions)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    data = zlib.compress(rows if rows is not None else b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def huge_gif(width: int, height: int) -> bytes:
    """A GIF whose logical screen claims ``width`` x ``height`` around a 1x1 frame."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"
        + b","
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        + b"\x02\x02\x4c\x01\x00"
        + b";"
    )


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def is_reddish(rgb: tuple[int, ...]) -> bool:
    return rgb[0] > 170 and rgb[1] < 80 and rgb[2] < 80


def assert_derivatives(result: IngestedImage) -> tuple[Image.Image, Image.Image, Image.Image]:
    """The three derivatives decode to what the contract says; returns them decoded."""
    base = decode(result.base_png)
    preview = decode(result.preview_jpeg)
    thumb = decode(result.thumbnail_jpeg)
    assert (base.format, base.mode) == ("PNG", "RGBA")
    assert (preview.format, preview.mode) == ("JPEG", "RGB")
    assert (thumb.format, thumb.mode) == ("JPEG", "RGB")
    assert base.size == (result.width, result.height)
    assert max(preview.size) <= PREVIEW_MAX
    assert max(thumb.size) <= THUMB_MAX
    # The preview is the base on white, the thumbnail the preview made small.
    assert abs(preview.width / preview.height - base.width / base.height) < 0.02
    assert abs(thumb.width / thumb.height - base.width / base.height) < 0.05
    assert result.has_alpha == (int(np.asarray(base.getchannel("A")).min()) < 255)
    assert len(result.sha256) == 64
    return base, preview, thumb


# -- every accepted kind -------------------------------------------------------------------------


def _palette_png() -> bytes:
    return encode(red_square_on_white().convert("P", palette=Image.Palette.ADAPTIVE), "PNG")


def _palette_transparent_png() -> bytes:
    image = Image.new("P", (120, 90), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * 762)
    ImageDraw.Draw(image).ellipse((20, 10, 100, 80), fill=1)
    return encode(image, "PNG", transparency=0)


def _la_png() -> bytes:
    image = Image.new("LA", (120, 90), (0, 0))
    ImageDraw.Draw(image).ellipse((20, 10, 100, 80), fill=(90, 255))
    return encode(image, "PNG")


def _grey_png() -> bytes:
    return encode(red_square_on_white().convert("L"), "PNG")


def _one_bit_png() -> bytes:
    return encode(red_square_on_white().convert("1"), "PNG")


def _i16_png() -> bytes:
    ramp = (np.arange(80 * 60, dtype=np.uint32).reshape(60, 80) * 13).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def _rgb16_png() -> bytes:
    width, height = 40, 30
    rows = b"".join(
        b"\x00" + struct.pack(">" + "H" * 3 * width, *([60000, 5000, 5000] * width))
        for _ in range(height)
    )
    return raw_png(width, height, bit_depth=16, colour_type=2, rows=rows)


def _int32_tiff() -> bytes:
    ramp = (np.arange(60 * 50, dtype=np.int32).reshape(50, 60) * 20).astype(np.int32)
    return encode(Image.fromarray(ramp), "TIFF")


def _float_tiff() -> bytes:
    ramp = np.linspace(0.0, 1.0, 60 * 50, dtype=np.float32).reshape(50, 60)
    return encode(Image.fromarray(ramp), "TIFF")


def _gif() -> bytes:
    return encode(red_square_on_white().convert("P", palette=Image.Palette.ADAPTIVE), "GIF")


def _mpo() -> bytes:
    frames = [red_square_on_white(), Image.new("RGB", (240, 200), (0, 0, 255))]
    return encode(frames[0], "MPO", save_all=True, append_images=frames[1:])


ACCEPTED: dict[str, tuple[Callable[[], bytes], str]] = {
    "jpeg": (lambda: encode(red_square_on_white(), "JPEG", quality=92), "JPEG"),
    "png-rgb": (lambda: encode(red_square_on_white(), "PNG"), "PNG"),
    "png-rgba": (lambda: encode(red_square_on_white().convert("RGBA"), "PNG"), "PNG"),
    "png-palette": (_palette_png, "PNG"),
    "png-palette-transparent": (_palette_transparent_png, "PNG"),
    "png-la": (_la_png, "PNG"),
    "png-grey": (_grey_png, "PNG"),
    "png-1bit": (_one_bit_png, "PNG"),
    "png-16bit-grey": (_i16_png, "PNG"),
    "png-16bit-rgb": (_rgb16_png, "PNG"),
    "webp-lossy": (lambda: encode(red_square_on_white(), "WEBP", quality=90), "WEBP"),
    "webp-lossless": (lambda: encode(red_square_on_white(), "WEBP", lossless=True), "WEBP"),
    "webp-alpha": (lambda: encode(Image.open(io.BytesIO(_la_png())), "WEBP"), "WEBP"),
    "gif": (_gif, "GIF"),
    "bmp": (lambda: encode(red_square_on_white(), "BMP"), "BMP"),
    "tiff": (lambda: encode(red_square_on_white(), "TIFF"), "TIFF"),
    "tiff-int32": (_int32_tiff, "TIFF"),
    "tiff-float": (_float_tiff, "TIFF"),
    "mpo": (_mpo, "MPO"),
    "cmyk-jpeg": (lambda: encode(red_square_on_white().convert("CMYK"), "JPEG"), "JPEG"),
}


@pytest.mark.parametrize("kind", list(ACCEPTED))
def test_every_accepted_kind_yields_the_three_derivatives(kind: str) -> None:
    make, source_format = ACCEPTED[kind]
    data = make()
    result = ingest_image(data, filename=f"photo.{kind}")
    assert result.source_format == source_format
    assert_derivatives(result)
    # Any accepted image also makes a thumbnail, a scene photo and a size.
    assert max(decode(make_thumbnail(data, filename="t")).size) <= THUMB_MAX
    assert decode(normalize_photo(data, filename="n")).mode == "RGB"
    assert min(image_size(data, filename="s")) > 0


def test_derivatives_are_deterministic() -> None:
    data = encode(red_square_on_white(), "JPEG")
    assert ingest_image(data, filename="a.jpg") == ingest_image(data, filename="a.jpg")


def test_sha256_is_of_the_uploaded_bytes() -> None:
    data = encode(lifestyle(), "PNG")
    assert ingest_image(data, filename="a.png").sha256 == hashlib.sha256(data).hexdigest()


# -- background removal --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_red_square_on_white_becomes_a_soft_edged_cutout(fmt: str) -> None:
    result = ingest_image(encode(red_square_on_white((240, 200)), fmt), filename="square.x")
    assert result.background_removed and result.has_alpha
    base, preview, thumb = assert_derivatives(result)

    # Cropped to the square (121x101) plus a small margin on each side.
    assert 121 < base.width <= 121 + 12 and 101 < base.height <= 101 + 12
    alpha = np.asarray(base.getchannel("A"))
    for corner in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert alpha[corner] == 0
    centre = (base.width // 2, base.height // 2)
    assert alpha[centre[1], centre[0]] == 255
    assert is_reddish(pixel(base, centre))
    # Soft edge: the row through the centre ramps from 0 to 255 over a few partial pixels.
    row = alpha[base.height // 2]
    partial = np.flatnonzero((row > 0) & (row < 255))
    assert 1 <= len(partial) <= 8
    # The preview is on white where the background was (give or take JPEG's own ringing).
    assert min(pixel(preview, (0, 0))) >= 235
    assert is_reddish(pixel(preview, (preview.width // 2, preview.height // 2)))
    assert min(pixel(thumb, (0, 0))) >= 240


def test_light_grey_background_is_removed_too() -> None:
    result = ingest_image(encode(red_square_on_white(background=225), "PNG"), filename="g.png")
    assert result.background_removed
    base = decode(result.base_png)
    assert base.getpixel((0, 0))[3] == 0  # type: ignore[index]


def test_white_mug_interior_not_connected_to_the_border_stays_opaque() -> None:
    image = Image.new("RGB", (300, 260), WHITE)
    draw = ImageDraw.Draw(image)
    draw.ellipse((60, 40, 240, 220), fill=WHITE, outline=(40, 40, 120), width=8)  # rim
    draw.rectangle((20, 110, 60, 130), fill=(40, 40, 120))  # handle
    result = ingest_image(encode(image, "PNG"), filename="mug.png")
    assert result.background_removed
    base = decode(result.base_png)
    centre = (base.width // 2 + 10, base.height // 2)
    assert pixel(base, centre) == (255, 255, 255, 255)
    assert pixel(base, (0, 0))[3] == 0


def test_thin_dark_outline_still_encloses_its_light_inside() -> None:
    image = Image.new("RGB", (200, 200), WHITE)
    ImageDraw.Draw(image).rectangle((50, 50, 150, 150), outline=(0, 0, 0), width=1)
    result = ingest_image(encode(image, "PNG"), filename="outline.png")
    base = decode(result.base_png)
    assert pixel(base, (base.width // 2, base.height // 2))[3] == 255


def test_background_between_parts_is_removed() -> None:
    """A U shape: the light gap between its arms opens onto the border, so it goes."""
    image = Image.new("RGB", (300, 300), WHITE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 60, 100, 280), fill=RED)
    draw.rectangle((200, 60, 240, 280), fill=RED)
    draw.rectangle((60, 240, 240, 280), fill=RED)
    base = decode(ingest_image(encode(image, "PNG"), filename="u.png").base_png)
    alpha = np.asarray(base.getchannel("A"))
    assert alpha[alpha.shape[0] // 3, alpha.shape[1] // 2] == 0  # between the arms


def test_product_touching_the_border_is_still_cut_out() -> None:
    image = Image.new("RGB", (240, 240), WHITE)
    ImageDraw.Draw(image).rectangle((80, 60, 160, 239), fill=RED)  # stands on the bottom edge
    result = ingest_image(encode(image, "PNG"), filename="floor.png")
    assert result.background_removed
    base = decode(result.base_png)
    assert pixel(base, (base.width // 2, base.height - 1))[3] == 255


def test_existing_alpha_is_kept_and_nothing_is_removed() -> None:
    image = Image.new("RGBA", (200, 160), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 30, 160, 130), fill=(*RED, 255))
    draw.rectangle((90, 70, 110, 90), fill=(255, 255, 255, 128))  # half-transparent white
    result = ingest_image(encode(image, "PNG"), filename="cutout.png")
    assert result.has_alpha and not result.background_removed
    base = decode(result.base_png)
    assert base.size[0] < 200 and base.size[1] < 160  # cropped to the visible part
    centre = (base.width // 2, base.height // 2)
    assert pixel(base, centre)[3] == 128
    assert pixel(base, (0, 0))[3] == 0
    alpha_values = set(np.unique(np.asarray(base.getchannel("A"))).tolist())
    assert alpha_values <= set(np.unique(np.asarray(image.getchannel("A"))).tolist())


def test_opaque_alpha_channel_counts_as_no_alpha() -> None:
    """An RGBA PNG whose alpha is all 255 is an ordinary photo: its white background goes."""
    result = ingest_image(encode(red_square_on_white().convert("RGBA"), "PNG"), filename="a.png")
    assert result.background_removed and result.has_alpha


def test_lifestyle_photo_stays_opaque_and_uncropped() -> None:
    result = ingest_image(encode(lifestyle((300, 200)), "PNG"), filename="room.png")
    assert not result.has_alpha and not result.background_removed
    base, _, _ = assert_derivatives(result)
    assert base.size == (300, 200)
    assert base.getchannel("A").getextrema() == (255, 255)


def test_dark_plain_background_is_not_removed() -> None:
    result = ingest_image(encode(red_square_on_white(background=40), "PNG"), filename="d.png")
    assert not result.background_removed and not result.has_alpha


def test_blank_white_picture_is_kept_opaque() -> None:
    result = ingest_image(encode(Image.new("RGB", (100, 80), WHITE), "PNG"), filename="w.png")
    assert not result.background_removed
    assert (result.width, result.height) == (100, 80)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 7), (16, 9), (1, 300)])
def test_tiny_images_do_not_crash(size: tuple[int, int]) -> None:
    result = ingest_image(encode(Image.new("RGB", size, RED), "PNG"), filename="tiny.png")
    assert (result.width, result.height) == size


def test_large_photo_is_worked_on_at_2048_and_previewed_at_1600() -> None:
    data = encode(lifestyle((3000, 2000)), "JPEG", quality=80)
    result = ingest_image(data, filename="big.jpg")
    base, preview, thumb = assert_derivatives(result)
    assert base.size == (2048, 1365)
    assert preview.size == (1600, 1066)  # from the 2048x1365 base
    assert thumb.size == (320, 213)
    assert image_size(data, filename="big.jpg") == (3000, 2000)


def test_very_large_jpeg_is_decoded_at_a_reduced_scale() -> None:
    """4000 pixels decode at half scale to 2000: within WORK_MAX, no resampling needed."""
    data = encode(lifestyle((4000, 1000)), "JPEG", quality=70)
    result = ingest_image(data, filename="huge.jpg")
    assert (result.width, result.height) == (2000, 500)
    assert image_size(data, filename="huge.jpg") == (4000, 1000)
    assert decode(normalize_photo(data, filename="huge.jpg")).size == (2048, 512)
    assert decode(make_thumbnail(data, filename="huge.jpg")).size == (320, 80)


# -- orientation, colour -------------------------------------------------------------------------


def oriented_jpeg(orientation: int) -> bytes:
    """300x200 as stored, with a red block in the stored top-left corner."""
    image = lifestyle((300, 200))
    ImageDraw.Draw(image).rectangle((0, 0, 40, 40), fill=RED)
    return encode(image, "JPEG", quality=92, exif=exif_with_orientation(orientation))


def test_exif_orientation_is_applied() -> None:
    data = oriented_jpeg(6)  # "rotate 90 degrees clockwise to display"
    result = ingest_image(data, filename="phone.jpg")
    assert (result.width, result.height) == (200, 300)
    _, preview, _ = assert_derivatives(result)
    assert is_reddish(pixel(preview, (preview.width - 10, 10)))  # top-left went top-right
    assert not is_reddish(pixel(preview, (10, 10)))
    assert image_size(data, filename="phone.jpg") == (200, 300)
    assert decode(normalize_photo(data, filename="phone.jpg")).size == (200, 300)
    assert decode(make_thumbnail(data, filename="phone.jpg")).size == (200, 300)  # no upscale


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (300, 200)), (3, (300, 200)), (5, (200, 300)), (8, (200, 300))]
)
def test_every_orientation(orientation: int, size: tuple[int, int]) -> None:
    result = ingest_image(oriented_jpeg(orientation), filename="o.jpg")
    assert (result.width, result.height) == size


@pytest.mark.parametrize(
    "exif",
    [
        b"Exif\x00\x00" + b"\xde\xad\xbe\xef" * 8,
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03",  # cut short
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # first directory far outside
    ],
)
def test_broken_exif_is_ignored(exif: bytes) -> None:
    data = encode(lifestyle((120, 80)), "JPEG", exif=exif)
    result = ingest_image(data, filename="broken-exif.jpg")
    assert (result.width, result.height) == (120, 80)


def test_cmyk_red_comes_out_red() -> None:
    image = Image.new("CMYK", (64, 64), (0, 255, 255, 0))
    data = encode(image, "JPEG", quality=95)
    assert decode(data).mode == "CMYK"
    _, preview, _ = assert_derivatives(ingest_image(data, filename="print.jpg"))
    assert is_reddish(pixel(preview, (32, 32)))


def test_cmyk_with_an_unusable_profile_falls_back_to_the_plain_conversion() -> None:
    image = Image.new("CMYK", (64, 64), (0, 255, 255, 0))
    data = encode(image, "JPEG", icc_profile=b"not a profile")
    _, preview, _ = assert_derivatives(ingest_image(data, filename="print.jpg"))
    assert is_reddish(pixel(preview, (32, 32)))


def _renamed_srgb_profile() -> bytes:
    """sRGB under another name, so ingest converts through it (the result is unchanged)."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return srgb.replace("sRGB".encode("utf-16-be"), "xRGB".encode("utf-16-be"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_embedded_rgb_profile_is_converted_to_srgb(fmt: str) -> None:
    profile = _renamed_srgb_profile()
    assert ingest._transform_to_srgb(profile, "RGB") is not None
    image = Image.new("RGB", (64, 64), (30, 160, 40))
    result = ingest_image(encode(image, fmt, icc_profile=profile), filename="p3.x")
    colour = pixel(decode(result.preview_jpeg), (32, 32))
    assert all(abs(a - b) <= 6 for a, b in zip(colour, (30, 160, 40), strict=True))


def test_embedded_profile_on_a_transparent_image_keeps_the_alpha() -> None:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((8, 8, 56, 56), fill=(*RED, 255))
    data = encode(image, "PNG", icc_profile=_renamed_srgb_profile())
    result = ingest_image(data, filename="p.png")
    assert result.has_alpha and not result.background_removed
    base = decode(result.base_png)
    assert is_reddish(pixel(base, (base.width // 2, base.height // 2)))


def test_srgb_profile_needs_no_transform() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert ingest._transform_to_srgb(srgb, "RGB") is None
    assert ingest._transform_to_srgb(srgb, "CMYK") is None  # wrong colour space


def test_16bit_png_is_scaled_to_8_bits() -> None:
    values = np.full((20, 30), 32896, dtype=np.uint16)  # the middle of 0..65535
    values[:, :10] = 65535
    values[:, 20:] = 0
    data = encode(Image.fromarray(values), "PNG")
    assert decode(data).mode.startswith("I")
    base = decode(ingest_image(data, filename="scan.png").base_png)
    assert pixel(base, (5, 10))[:3] == (255, 255, 255)
    assert all(abs(v - 128) <= 1 for v in pixel(base, (15, 10))[:3])
    assert pixel(base, (25, 10))[:3] == (0, 0, 0)


def test_16bit_rgb_png_keeps_its_colour() -> None:
    preview = decode(ingest_image(_rgb16_png(), filename="deep.png").preview_jpeg)
    assert is_reddish(pixel(preview, (20, 15)))


def test_gif_first_frame_is_used() -> None:
    frames = [Image.new("RGB", (80, 60), RED), Image.new("RGB", (80, 60), (20, 20, 210))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert getattr(decode(data), "n_frames", 1) == 2
    result = ingest_image(data, filename="anim.gif")
    assert result.source_format == "GIF"
    assert is_reddish(pixel(decode(result.preview_jpeg), (40, 30)))


# -- hostile input -------------------------------------------------------------------------------


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


HOSTILE: dict[str, tuple[Callable[[], bytes], dict[str, int], tuple[str, ...]]] = {
    "empty": (lambda: b"", {}, ("empty",)),
    "text": (lambda: b"name,price\nmug,12.50\n" * 20, {}, ("text file", "not an image")),
    "svg": (
        lambda: (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
            b'height="10"><rect width="10" height="10"/></svg>'
        ),
        {},
        ("SVG", "not supported", "PNG", "JPEG"),
    ),
    "bare-svg": (lambda: b"<svg><circle r='4'/></svg>", {}, ("SVG",)),
    "heic": (lambda: b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, {}, ("HEIC", "not supported")),
    "pdf": (lambda: b"%PDF-1.7\n" + b"\x00" * 64, {}, ("PDF", "not supported")),
    "random": (
        lambda: b"\x01" + random.Random(0).randbytes(4000),
        {},
        ("not a recognised image format",),
    ),
    "truncated-jpeg": (
        lambda: _truncated(encode(noisy(), "JPEG", quality=95)),
        {},
        ("JPEG", "truncated or corrupt"),
    ),
    "truncated-png": (
        lambda: _truncated(encode(noisy(), "PNG")),
        {},
        ("PNG", "truncated or corrupt"),
    ),
    "damaged-png-header": (
        lambda: encode(noisy(), "PNG")[:20],
        {},
        ("PNG", "damaged", "cannot be opened"),
    ),
    "oversized-bytes": (
        lambda: encode(noisy((64, 64)), "PNG"),
        {"max_bytes": 1000},
        ("too large", "KB, over the limit of 1000 bytes"),
    ),
    "huge-png-header": (
        lambda: raw_png(50000, 50000, bit_depth=8, colour_type=2),
        {},
        ("2500.0 megapixels", "decompression bomb"),
    ),
    "huge-gif-header": (
        lambda: huge_gif(50000, 50000),
        {},
        ("2500.0 megapixels", "decompression bomb"),
    ),
    # Over Pillow's warning threshold (89 MP) but under its error: our own check refuses it.
    "pillow-warning-png": (
        lambda: raw_png(10000, 10000, bit_depth=8, colour_type=2),
        {},
        ("10000x10000", "100.0 megapixels", "over the limit of 64.0"),
    ),
    "over-our-pixel-limit": (
        lambda: encode(noisy((200, 150)), "PNG"),
        {"max_pixels": 10_000},
        ("200x150", "over the limit of 0.0 megapixels"),
    ),
    "zero-width-png": (
        lambda: raw_png(0, 10, bit_depth=8, colour_type=2),
        {},
        ("PNG", "damaged"),
    ),
    "fully-transparent": (
        lambda: encode(Image.new("RGBA", (50, 40), (255, 0, 0, 0)), "PNG"),
        {},
        ("completely transparent",),
    ),
    "psd": (lambda: b"8BPS\x00\x01" + b"\x00" * 64, {}, ("Photoshop", "not supported")),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_input_raises_invalid_image_naming_file_and_reason(case: str) -> None:
    make, limits, words = HOSTILE[case]
    filename = f"upload-{case}.bin"
    with pytest.raises(InvalidImage) as caught:
        ingest_image(make(), filename=filename, **limits)
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.filename == filename
    assert filename in str(error)
    for word in words:
        assert word in error.reason, (word, error.reason)


def test_hostile_reasons_are_distinct() -> None:
    reasons = set()
    for make, limits, _ in HOSTILE.values():
        with pytest.raises(InvalidImage) as caught:
            ingest_image(make(), filename="f", **limits)
        reasons.add(caught.value.reason)
    # Shared on purpose: the two SVGs, the two bombs, the two PNGs too damaged to open.
    assert len(reasons) >= len(HOSTILE) - 3


@pytest.mark.parametrize("case", ["empty", "svg", "truncated-jpeg", "huge-png-header", "random"])
@pytest.mark.parametrize("function", [make_thumbnail, normalize_photo, image_size])
def test_every_entry_point_validates(case: str, function: Callable[..., object]) -> None:
    make, _, words = HOSTILE[case]
    with pytest.raises(InvalidImage) as caught:
        function(make(), filename="scene.jpg")
    assert words[0] in caught.value.reason


def test_a_bomb_leaves_warnings_and_pillow_settings_as_they_were() -> None:
    filters = list(warnings.filters)
    limit = Image.MAX_IMAGE_PIXELS
    for case in ("huge-png-header", "pillow-warning-png"):
        with pytest.raises(InvalidImage):
            ingest_image(HOSTILE[case][0](), filename="bomb.png")
    assert warnings.filters == filters
    assert limit == Image.MAX_IMAGE_PIXELS


def test_a_raised_pixel_limit_lets_a_large_image_through() -> None:
    """With max_pixels above Pillow's warning threshold, the warning must not interfere."""
    data = encode(Image.new("L", (10, 10), 0), "PNG")
    original = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 50  # the test, not the module, lowers Pillow's threshold
    try:
        result = ingest_image(data, filename="ok.png", max_pixels=100)
    finally:
        Image.MAX_IMAGE_PIXELS = original
    assert (result.width, result.height) == (10, 10)


def test_threads_ingest_concurrently() -> None:
    photos = [encode(red_square_on_white(), "JPEG"), encode(lifestyle(), "PNG"), b"", b"junk"]
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(data: bytes) -> None:
        for _ in range(5):
            try:
                ingest_image(data, filename="t")
                outcome = "ok"
            except InvalidImage:
                outcome = "invalid"
            with lock:
                outcomes.append(outcome)

    filters = list(warnings.filters)
    threads = [threading.Thread(target=work, args=(photo,)) for photo in photos * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["invalid", "ok"]
    assert outcomes.count("ok") == 20
    assert warnings.filters == filters


# -- the helpers ---------------------------------------------------------------------------------


def test_to_jpeg_composites_transparency_on_white() -> None:
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    jpeg = decode(to_jpeg(image))
    assert jpeg.mode == "RGB" and min(pixel(jpeg, (10, 10))) >= 250
    for mode in ("L", "P", "CMYK", "LA"):
        assert decode(to_jpeg(Image.new(mode, (8, 8)))).mode == "RGB"


def test_to_png_keeps_the_mode() -> None:
    for mode in ("RGB", "RGBA", "L"):
        assert decode(to_png(Image.new(mode, (8, 8)))).mode == mode


def test_make_thumbnail_fits_and_flattens() -> None:
    image = Image.new("RGBA", (900, 300), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((300, 100, 600, 200), fill=(*RED, 255))
    thumb = decode(make_thumbnail(encode(image, "PNG"), filename="gen.png"))
    assert thumb.size == (320, 107)
    assert min(pixel(thumb, (2, 2))) >= 250
    assert is_reddish(pixel(thumb, (160, 53)))
    small = decode(make_thumbnail(encode(image, "PNG"), filename="gen.png", size=64))
    assert small.size == (64, 21)


def test_normalize_photo_bounds_the_size_and_keeps_the_background() -> None:
    data = encode(red_square_on_white((3000, 1500)), "JPEG")
    photo = decode(normalize_photo(data, filename="scene.jpg"))
    assert photo.size == (2048, 1024)
    assert min(pixel(photo, (5, 5))) >= 245  # white stays white: no background removal
    assert decode(normalize_photo(data, filename="scene.jpg", max_side=600)).size == (600, 300)


def test_image_size_does_not_need_a_complete_decode_to_be_right() -> None:
    assert image_size(encode(lifestyle((123, 45)), "WEBP"), filename="s.webp") == (123, 45)


def test_bench_runs() -> None:
    from bench import ingest as bench

    result = bench.run(4, rounds=1, workers=1)
    assert result.images == 4 and result.floor_per_s > 0 and result.ingest_per_s > 0
    assert result.line().startswith("ingest: 4 images  floor ")
