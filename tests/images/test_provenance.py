"""The provenance tag in every picture, read back with ExifTool: the AI source type is there,
the camera, GPS and personal metadata of the input is not, the pixels are the same."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms

from tests.exiftool import CAMERA_AND_GPS, gps_tags, read_tags, tag
from visualizer_core.images import provenance


def camera_jpeg() -> bytes:
    """A JPEG as a camera and an editor leave it: EXIF with make, model, software and GPS, a
    comment, an old XMP packet and an sRGB profile."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    exif[0x0131] = "Lightroom"
    exif[0x013B] = "Jane Doe"  # Artist
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.0)
    picture = Image.radial_gradient("L").convert("RGB").resize((320, 240))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    picture.save(
        out,
        "JPEG",
        quality=90,
        exif=exif,
        comment=b"shot at home by Jane",
        icc_profile=srgb,
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>",
    )
    return out.getvalue()


def test_a_camera_jpeg_keeps_its_pixels_and_loses_its_camera_and_gps(tmp_path: Path) -> None:
    original = camera_jpeg()
    source = tmp_path / "in.jpg"
    source.write_bytes(original)
    assert tag(read_tags([source])["in.jpg"], "Make") == ["Canon"]  # the test input has it

    stamped = provenance.restamp_jpeg(original, provenance.Provenance(provenance.COMPOSITE))
    path = tmp_path / "out.jpg"
    path.write_bytes(stamped)
    tags = read_tags([path])["out.jpg"]
    assert tag(tags, "DigitalSourceType") == [provenance.COMPOSITE]
    assert not gps_tags(tags)
    for name in CAMERA_AND_GPS:
        assert not tag(tags, name), name
    assert any("sRGB" in str(v) for v in tag(tags, "ProfileDescription"))
    # The compressed pixels were copied, not encoded again.
    assert stamped.endswith(original[original.index(b"\xff\xda") :])
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(stamped)) as b:
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    assert provenance.read(stamped) == provenance.COMPOSITE
    # Stamping twice leaves one packet, with the newer type.
    again = provenance.restamp_jpeg(stamped, provenance.Provenance(provenance.TRAINED))
    assert again.count(b"DigitalSourceType") == 1 and provenance.read(again) == provenance.TRAINED


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "png"])
def test_every_format_carries_the_tag_and_the_credit_line(fmt: str, tmp_path: Path) -> None:
    picture = Image.new("RGB", (64, 48), (200, 120, 40))
    stamp = provenance.Provenance(
        provenance.TRAINED, credit="Photo: Oak & Co <studio>", rights="© 2026 Oak & Co"
    )
    path = tmp_path / f"picture.{fmt}"
    path.write_bytes(provenance.encode(picture, fmt, stamp))  # type: ignore[arg-type]
    tags = read_tags([path])[path.name]
    assert tag(tags, "DigitalSourceType") == [provenance.TRAINED]
    assert tag(tags, "Credit") == ["Photo: Oak & Co <studio>"]
    assert tag(tags, "Rights") == ["© 2026 Oak & Co"]
    assert provenance.read(path.read_bytes()) == provenance.TRAINED


def test_a_credit_line_is_one_line_of_bounded_length() -> None:
    stamp = provenance.Provenance(credit="a\nb\x00c" + "x" * 1000)
    packet = stamp.packet().decode()
    kept = "a b c" + "x" * (provenance.MAX_CREDIT - 5)
    assert f'{kept}"' in packet  # the line ends where the cap is
    with pytest.raises(ValueError, match="digital source type"):
        provenance.Provenance("http://example.com/madeUp")


def test_what_is_not_a_jpeg_is_refused_by_the_splicer() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    with pytest.raises(ValueError, match="not a JPEG"):
        provenance.restamp_jpeg(out.getvalue(), provenance.Provenance())
    assert provenance.read(out.getvalue()) is None
    assert provenance.read(b"not a picture") is None
