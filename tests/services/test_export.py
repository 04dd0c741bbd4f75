"""Export on both backend sets: the ZIP of completed images and its spreadsheet-safe manifest."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms

from tests import factories
from tests.exiftool import CAMERA_AND_GPS, gps_tags, read_tags, tag
from visualizer_core import admin, backends
from visualizer_core.db import repo
from visualizer_core.db.models import GeneratedImage
from visualizer_core.errors import Forbidden, InvalidInput, NotFound, StorageError
from visualizer_core.images import provenance
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import analysis, export, gallery, generation
from visualizer_core.services.export import spreadsheet_safe

# Product names a spreadsheet would run as formulas, and one it would not.
CATALOG = (
    ("SOFA-EQ", '=HYPERLINK("http://evil.example","click")', "sofa", "living_room", (90, 60, 60)),
    ("BED-PLUS", "+1 Haven Bed", "bed", "bedroom", (150, 120, 160)),
    ("DESK-MINUS", "-2+3 Writing Desk", "desk", "home_office", (120, 85, 60)),
    ("LAMP-AT", "@SUM(A1:A9) Floor Lamp", "floor lamp", "living_room", (200, 190, 120)),
    ("TABLE", "Oak Dining Table", "dining table", "dining_room", (160, 120, 80)),
)


@pytest.fixture
def generated(backend: backends.Backends) -> Iterator[dict[str, Any]]:
    """A session whose five images were made: four completed, one failed."""
    client = factories.create_client()
    session = factories.create_session(client.id)
    products = factories.import_catalog(client.id, CATALOG)
    factories.add_rooms(session.id)
    analysis.match_session(ADMIN, session_id=session.id)
    flow = generation.generate(ADMIN, session_id=session.id, dispatch=False)
    with backend.transaction() as db:
        rows = {r.product_id: r.id for r in repo.images_of_flow(db, flow.flow_id)}
    failed = rows[products["TABLE"]]
    for image_id in rows.values():
        if image_id != failed:
            assert generation.process_image(image_id, worker_id="test") == "completed"
    with backend.transaction() as db:  # the table's image failed: it has no picture
        repo.update_image(
            db, failed, expect_status="pending", status="error", error_message="refused"
        )
    yield {"client": client, "session": session, "products": products, "images": rows}


def read_zip(path: Path) -> tuple[dict[str, bytes], list[dict[str, str]]]:
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = files.pop("manifest.csv").decode("utf-8")
    return files, list(csv.DictReader(io.StringIO(manifest)))


def test_export_has_the_completed_images_and_a_manifest(
    generated: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "exports" / "spring.zip"
    result = export.export_session(ADMIN, session_id=generated["session"].id, out=out)
    assert result == {"images": 4, "path": str(out)}

    files, manifest = read_zip(out)
    assert len(files) == 4 and len(manifest) == 4
    assert {row["file"] for row in manifest} == set(files)
    by_sku = {row["sku"]: row for row in manifest}
    assert set(by_sku) == {"SOFA-EQ", "BED-PLUS", "DESK-MINUS", "LAMP-AT"}
    for row in manifest:
        assert row["file"].endswith(".jpg")
        image_id = uuid.UUID(row["image_id"])
        card = gallery.image_bytes(ADMIN, image_id=image_id, thumbnail=False)
        assert files[row["file"]] == card
        assert row["model"] == "local-compositor-v1" and row["prompt_version"]
        assert row["completed_at"]


def test_manifest_cells_that_would_run_as_formulas_are_escaped(
    generated: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "spring.zip"
    export.export_session(ADMIN, session_id=generated["session"].id, out=out)
    _files, manifest = read_zip(out)
    names = {row["sku"]: row["product_name"] for row in manifest}
    assert names["SOFA-EQ"] == '\'=HYPERLINK("http://evil.example","click")'
    assert names["BED-PLUS"] == "'+1 Haven Bed"
    assert names["DESK-MINUS"] == "'-2+3 Writing Desk"
    assert names["LAMP-AT"] == "'@SUM(A1:A9) Floor Lamp"
    for row in manifest:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20", "'+44 20"),
        ("-3", "'-3"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("Sofa = comfy", "Sofa = comfy"),
        ("", ""),
        (None, ""),
        (3, "3"),
    ],
)
def test_spreadsheet_safe(value: object, shown: str) -> None:
    assert spreadsheet_safe(value) == shown


def test_export_of_approved_images_only(generated: dict[str, Any], tmp_path: Path) -> None:
    session_id = generated["session"].id
    bed = generated["images"][generated["products"]["BED-PLUS"]]
    gallery.review_images(ADMIN, image_ids=[bed], review_state="approved")
    out = tmp_path / "approved.zip"
    result = export.export_session(ADMIN, session_id=session_id, out=out, approved_only=True)
    assert result["images"] == 1
    _files, manifest = read_zip(out)
    assert [(row["image_id"], row["review_state"]) for row in manifest] == [(str(bed), "approved")]


def test_an_empty_session_exports_just_the_manifest_header(
    backend: backends.Backends, tmp_path: Path
) -> None:
    session = factories.create_session(factories.create_client().id)
    out = tmp_path / "empty.zip"
    assert export.export_session(ADMIN, session_id=session.id, out=out)["images"] == 0
    files, manifest = read_zip(out)
    assert files == {} and manifest == []
    with zipfile.ZipFile(out) as archive:
        header = archive.read("manifest.csv").decode().splitlines()[0]
    assert header.split(",") == list(export.MANIFEST_COLUMNS)


def test_a_failed_export_leaves_no_file_behind(generated: dict[str, Any], tmp_path: Path) -> None:
    sofa = generated["images"][generated["products"]["SOFA-EQ"]]
    with backends.current().transaction() as db:
        row = db.get(GeneratedImage, sofa)
        assert row is not None and row.image_key
        key = row.image_key
    backends.current().storage.delete(key)
    out = tmp_path / "exports" / "broken.zip"
    with pytest.raises(StorageError, match=key):
        export.export_session(ADMIN, session_id=generated["session"].id, out=out)
    assert list(out.parent.iterdir()) == []


def test_export_is_scoped_to_the_client(generated: dict[str, Any], tmp_path: Path) -> None:
    stranger = factories.member_scope(factories.create_client().id, Role.OWNER)
    with pytest.raises(NotFound):
        export.export_session(stranger, session_id=generated["session"].id, out=tmp_path / "x.zip")
    viewer = factories.member_scope(generated["client"].id, Role.VIEWER)
    assert (
        export.export_session(viewer, session_id=generated["session"].id, out=tmp_path / "y.zip")[
            "images"
        ]
        == 4
    )


# -- delivery presets --------------------------------------------------------------------------


def srgb(picture: Image.Image) -> bool:
    profile = picture.info.get("icc_profile")
    if not profile:
        return False
    described = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile)))
    return "sRGB" in described


@pytest.mark.parametrize(
    ("preset", "size", "extension"),
    [
        ("square-2048", (2048, 2048), "jpg"),
        ({"size": "portrait_1600x2000", "format": "webp"}, (1600, 2000), "webp"),
    ],
)
def test_delivery_preset_sizes_names_srgb_and_no_metadata(
    generated: dict[str, Any], tmp_path: Path, preset: Any, size: tuple[int, int], extension: str
) -> None:
    approved = [generated["images"][generated["products"][s]] for s in ("BED-PLUS", "SOFA-EQ")]
    gallery.review_images(ADMIN, image_ids=approved, review_state="approved")
    out = tmp_path / "delivery.zip"
    result = export.export_session(
        ADMIN, session_id=generated["session"].id, out=out, approved_only=True, preset=preset
    )
    assert result["images"] == 2
    files, manifest = read_zip(out)
    assert sorted(files) == [f"BED-PLUS_1.{extension}", f"SOFA-EQ_1.{extension}"]
    for row in manifest:
        with Image.open(io.BytesIO(files[row["file"]])) as picture:
            assert picture.size == size
            assert (int(row["width"]), int(row["height"])) == size
            assert picture.mode == "RGB" and srgb(picture)
            assert not picture.getexif()  # no EXIF (camera, GPS, software ...)
            assert "exif" not in picture.info
        assert row["format"] == ("jpeg" if extension == "jpg" else "webp")


def test_render_embeds_srgb_and_drops_exif() -> None:
    source = Image.new("RGB", (300, 200), (200, 30, 30))
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    source.save(buffer, "JPEG", exif=exif.tobytes())
    data, width, height = export.render(buffer.getvalue(), export.PRESETS["original-size"])
    with Image.open(io.BytesIO(data)) as out:
        assert (width, height) == (300, 200) == out.size
        assert srgb(out) and not out.getexif()


def test_file_name_patterns_and_their_mistakes(generated: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "named.zip"
    export.export_session(
        ADMIN,
        session_id=generated["session"].id,
        out=out,
        preset={"size": "original", "pattern": "{session}/{sku} v{variant}"},
    )
    files, _ = read_zip(out)
    assert all("/" not in name and " " not in name for name in files)
    with pytest.raises(InvalidInput, match=r"unknown placeholder \{colour\}"):
        export.parse_preset({"pattern": "{sku}_{colour}"})
    with pytest.raises(InvalidInput, match="unknown preset"):
        export.parse_preset("poster-a0")
    # Two images that would get one name both arrive, under different names.
    export.export_session(
        ADMIN,
        session_id=generated["session"].id,
        out=out,
        preset={"size": "original", "pattern": "{variant}"},
    )
    files, manifest = read_zip(out)
    assert len(files) == 4 == len({row["file"] for row in manifest})


def test_the_chosen_preset_is_remembered_per_client(generated: dict[str, Any]) -> None:
    client_id = generated["client"].id
    editor = factories.member_scope(client_id, Role.EDITOR)
    viewer = factories.member_scope(client_id, Role.VIEWER)
    assert export.client_preset(viewer, client_id=client_id) == export.PRESETS["square-2048"]
    export.remember_preset(editor, client_id=client_id, preset="square-2048-webp")
    assert export.client_preset(viewer, client_id=client_id).format == "webp"
    with pytest.raises(Forbidden):
        export.remember_preset(viewer, client_id=client_id, preset="original")


def test_admin_export_uses_the_clients_preset(generated: dict[str, Any], tmp_path: Path) -> None:
    bed = generated["images"][generated["products"]["BED-PLUS"]]
    gallery.review_images(ADMIN, image_ids=[bed], review_state="approved")
    export.remember_preset(ADMIN, client_id=generated["client"].id, preset="portrait-1600x2000")
    result = admin.export(generated["session"].id, tmp_path / "a.zip")
    files, manifest = read_zip(tmp_path / "a.zip")
    assert result["images"] == 1 and list(files) == ["BED-PLUS_1.jpg"]
    assert (manifest[0]["width"], manifest[0]["height"]) == ("1600", "2000")
    result = admin.export(generated["session"].id, tmp_path / "b.zip", preset="original")
    assert result["preset"]["size"] == "original"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\uff1d"])
def test_every_formula_start_is_neutralised(start: str) -> None:
    assert spreadsheet_safe(f"{start}cmd|' /C calc'!A0").startswith("'")


# -- provenance ---------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", [None, *export.PRESETS])
def test_every_file_of_every_preset_says_it_was_made_with_ai(
    generated: dict[str, Any], tmp_path: Path, preset: str | None
) -> None:
    """ExifTool reads each delivered file: the IPTC source type (the local compositor puts the
    product's own pixels in: a composite), the client's credit line, no camera or GPS data."""
    client_id = generated["client"].id
    export.set_credit_line(
        ADMIN, client_id=client_id, credit="Oak & Co studio", rights="(c) Oak & Co"
    )
    out = tmp_path / "delivery.zip"
    export.export_session(ADMIN, session_id=generated["session"].id, out=out, preset=preset)
    files, _manifest = read_zip(out)
    assert len(files) == 4
    folder = tmp_path / "files"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    tags = read_tags(sorted(folder.iterdir()))
    assert sorted(tags) == sorted(files)
    for name, entry in tags.items():
        assert tag(entry, "DigitalSourceType") == [provenance.COMPOSITE], name
        assert tag(entry, "Credit") == ["Oak & Co studio"], name
        assert tag(entry, "Rights") == ["(c) Oak & Co"], name
        assert not gps_tags(entry), name
        assert not [n for n in CAMERA_AND_GPS if tag(entry, n)], name


def test_stored_images_and_their_thumbnails_carry_the_tag(
    generated: dict[str, Any], tmp_path: Path
) -> None:
    image_id = generated["images"][generated["products"]["BED-PLUS"]]
    for thumbnail in (False, True):
        data = gallery.image_bytes(ADMIN, image_id=image_id, thumbnail=thumbnail)
        path = tmp_path / f"stored-{thumbnail}.jpg"
        path.write_bytes(data)
        entry = read_tags([path])[path.name]
        assert tag(entry, "DigitalSourceType") == [provenance.COMPOSITE]


def test_a_credit_line_is_the_owners_and_one_plain_line(generated: dict[str, Any]) -> None:
    client_id = generated["client"].id
    editor = factories.member_scope(client_id, Role.EDITOR)
    with pytest.raises(Forbidden):
        export.set_credit_line(editor, client_id=client_id, credit="Mine")
    with pytest.raises(InvalidInput, match="control character"):
        export.set_credit_line(ADMIN, client_id=client_id, credit="a\x00b")
    with pytest.raises(InvalidInput, match="at most 300"):
        export.set_credit_line(ADMIN, client_id=client_id, rights="r" * 301)
    export.set_credit_line(ADMIN, client_id=client_id, credit=" Oak ")
    assert export.credit_line(editor, client_id=client_id) == {"credit": "Oak", "rights": ""}
