"""Catalog import on both backend sets: good rows land whole, bad rows leave nothing."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tests import factories
from visualizer_core import backends
from visualizer_core.errors import Forbidden, InvalidInput, NotFound, StorageError
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import products
from visualizer_core.storage import keys

pytestmark = pytest.mark.usefixtures("backend")


def _objects(client_id: object) -> list[str]:
    return backends.current().storage.list(keys.client_prefix(str(client_id)))


def test_good_rows_land_with_every_derivative_at_the_seed_keys(tmp_path: Path) -> None:
    client = factories.create_client()
    csv_path = factories.write_catalog(
        tmp_path,
        [
            {
                "sku": "SOFA-1",
                "name": "Velvet Sofa",
                "category": "Sofa",
                "image": "sofa.jpg",
                "colors": "green|gold",
                "materials": "velvet, oak",
            },
            {"sku": "LAMP-1", "name": "Arc Floor Lamp", "image": "lamp.png|lamp-side.jpg"},
            {"sku": "RUG-1", "name": "Wool Rug"},
        ],
        {
            "sofa.jpg": factories.product_photo((40, 120, 60)),
            "lamp.png": factories.product_photo((20, 20, 20), fmt="PNG"),
            "lamp-side.jpg": factories.product_photo((30, 30, 30)),
        },
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    assert (report.imported, report.updated, report.failed, report.errors) == (3, 0, 0, [])
    assert len(report.product_ids) == 3

    sofa = products.get_product(ADMIN, product_id=report.product_ids[0])
    assert sofa.sku == "SOFA-1"
    assert sofa.colors == ["green", "gold"]
    assert sofa.materials == ["velvet", "oak"]
    assert len(sofa.image_ids) == 1
    image_id = sofa.image_ids[0]
    storage = backends.current().storage
    assert sofa.base_keys == [keys.product_base(client.id, sofa.id, image_id)]
    assert sofa.base_keys[0] == (
        f"clients/{client.id}/products/{sofa.id}/media/images/base/{image_id}.png"
    )
    base = Image.open(io.BytesIO(storage.get(sofa.base_keys[0])))
    assert (base.format, base.mode) == ("PNG", "RGBA")
    assert base.getpixel((0, 0))[3] == 0  # the white background is gone
    preview = Image.open(io.BytesIO(storage.get(sofa.preview_keys[0])))
    assert (preview.format, preview.mode) == ("JPEG", "RGB")
    thumb = Image.open(io.BytesIO(storage.get(sofa.thumbnail_keys[0])))
    assert max(thumb.size) <= 320

    lamp = products.get_product(ADMIN, product_id=report.product_ids[1])
    assert len(lamp.image_ids) == 2
    assert len(_objects(client.id)) == 3 * 3


def test_each_bad_row_is_reported_and_leaves_nothing_behind(tmp_path: Path) -> None:
    client = factories.create_client()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(factories.product_photo())
    images = tmp_path / "images"
    csv_path = factories.write_catalog(
        images,
        [
            {"sku": "OK-1", "name": "Good Chair", "image": "good.jpg"},
            {"sku": "", "name": "No Sku"},
            {"sku": "NONAME"},
            {"sku": "ESC-1", "name": "Escape", "image": "../secret.jpg"},
            {"sku": "MISS-1", "name": "Missing", "image": "nowhere.jpg"},
            {"sku": "BAD-1", "name": "Corrupt", "image": "broken.jpg"},
            {"sku": "SVG-1", "name": "Vector", "image": "logo.svg"},
            {"sku": "OK-1", "name": "Duplicate"},
            {"sku": "HALF-1", "name": "One good one bad", "image": "good2.jpg|broken.jpg"},
            {"sku": "OK-2", "name": "Second Good"},
        ],
        {
            "good.jpg": factories.product_photo(),
            "good2.jpg": factories.product_photo((0, 0, 200)),
            "broken.jpg": factories.product_photo()[:300],
            "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="5"/></svg>',
        },
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    # Rows without the data of a product are refused; a photo that cannot be used leaves its
    # product stored with the data, the photo named with its reason.
    assert (report.imported, report.failed) == (7, 3)
    refused = {e["row"]: e["error"] for e in report.errors if "url" not in e}
    assert set(refused) == {2, 3, 8}
    assert "sku" in refused[2]
    assert "name" in refused[3]
    assert "row 1" in refused[8]
    photos = {(e["row"], e["url"]): e["error"] for e in report.errors if "url" in e}
    assert set(photos) == {
        (4, "../secret.jpg"),
        (5, "nowhere.jpg"),
        (6, "broken.jpg"),
        (7, "logo.svg"),
        (9, "broken.jpg"),
    }
    assert "leaves the images folder" in photos[(4, "../secret.jpg")]
    assert "SVG" in photos[(7, "logo.svg")]
    assert report.photos_missing == 5

    landed = {p.sku: p for p in products.list_products(ADMIN, client_id=client.id)}
    assert sorted(landed) == ["BAD-1", "ESC-1", "HALF-1", "MISS-1", "OK-1", "OK-2", "SVG-1"]
    assert landed["OK-1"].name == "Good Chair"
    assert landed["OK-1"].photo_state == "ok" and landed["OK-1"].photo_errors == []
    assert landed["HALF-1"].photo_state == "ok"  # its good photo is stored
    assert landed["HALF-1"].photo_errors[0]["url"] == "broken.jpg"
    missing = landed["MISS-1"]
    assert missing.photo_state == "missing" and missing.image_ids == []
    assert [e["url"] for e in missing.photo_errors] == ["nowhere.jpg"]
    assert "no such file" in missing.photo_errors[0]["reason"]
    assert "nowhere.jpg" in (missing.missing_photo_reason or "")
    assert landed["OK-2"].photo_state == "missing"  # the catalog names no photo
    assert len(_objects(client.id)) == 2 * 3  # good.jpg's and good2.jpg's derivatives


def test_an_import_from_a_studio_page_does_not_run_the_page_in_its_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Streamlit installs the page it runs as __main__; a spawned process runs __main__'s file
    # first. A catalog large enough for the ingest processes must not start the page in each.
    ran = tmp_path / "the page ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(ran)!r}, 'w').close()\nraise SystemExit('the page ran')\n")
    streamlit_main = types.ModuleType("__main__")
    streamlit_main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", streamlit_main)
    client = factories.create_client()
    count = products._PARALLEL_FROM + 2
    csv_path = factories.write_catalog(
        tmp_path,
        [{"sku": f"VASE-{n}", "name": f"Vase {n}", "image": f"vase-{n}.jpg"} for n in range(count)],
        {f"vase-{n}.jpg": factories.product_photo((10 * n, 90, 140)) for n in range(count)},
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    assert (report.imported, report.failed, report.errors) == (count, 0, [])
    assert not ran.exists()
    assert sys.modules["__main__"] is streamlit_main


def test_reimport_updates_and_adds_nothing(tmp_path: Path) -> None:
    client = factories.create_client()
    rows = [
        {"sku": "A", "name": "Oak Table", "image": "a.jpg"},
        {"sku": "B", "name": "Side Table", "image": "b.jpg"},
    ]
    photos = {"a.jpg": factories.product_photo(), "b.jpg": factories.product_photo((0, 90, 0))}
    csv_path = factories.write_catalog(tmp_path, rows, photos)
    first = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    objects = _objects(client.id)

    rows[0]["name"] = "Oak Dining Table"
    csv_path = factories.write_catalog(tmp_path, rows)
    second = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    assert (second.imported, second.updated, second.failed) == (0, 2, 0)
    assert second.product_ids == first.product_ids
    assert _objects(client.id) == objects
    assert products.get_product(ADMIN, product_id=first.product_ids[0]).name == "Oak Dining Table"


def test_a_replaced_photo_replaces_its_objects(tmp_path: Path) -> None:
    client = factories.create_client()
    csv_path = factories.write_catalog(
        tmp_path,
        [{"sku": "A", "name": "Chair", "image": "a.jpg"}],
        {"a.jpg": factories.product_photo()},
    )
    first = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    old = products.get_product(ADMIN, product_id=first.product_ids[0])
    (tmp_path / "a.jpg").write_bytes(factories.product_photo((0, 0, 250)))
    products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    new = products.get_product(ADMIN, product_id=first.product_ids[0])
    assert new.image_ids != old.image_ids
    assert len(new.image_ids) == 1
    assert sorted(_objects(client.id)) == sorted(
        new.base_keys + new.preview_keys + new.thumbnail_keys
    )


def test_text_is_stored_verbatim(tmp_path: Path) -> None:
    client = factories.create_client()
    name = '  Sofá "Lumière", 3-seat  '
    description = "Line one,\nline two; =SUM(A1) ✓"
    csv_path = factories.write_catalog(
        tmp_path, [{"sku": "ß-1", "name": name, "description": description}]
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    product = products.get_product(ADMIN, product_id=report.product_ids[0])
    assert (product.sku, product.name, product.description) == ("ß-1", name, description)


def test_a_dataframe_imports_like_a_csv(tmp_path: Path) -> None:
    client = factories.create_client()
    (tmp_path / "p.jpg").write_bytes(factories.product_photo())
    frame = pd.DataFrame(
        [
            {
                "sku": "D-1",
                "name": "Desk",
                "category": "desk",
                "image": "p.jpg",
                "colors": ["white"],
            },
            {"sku": "D-2", "name": None, "category": None, "image": None, "colors": None},
        ]
    )
    report = products.import_products(
        ADMIN, client_id=client.id, records=frame.to_dict("records"), images_dir=tmp_path
    )
    assert (report.imported, report.failed) == (1, 1)
    assert report.errors[0]["row"] == 2
    desk = products.get_product(ADMIN, product_id=report.product_ids[0])
    assert desk.colors == ["white"]
    assert len(desk.image_ids) == 1


def test_a_storage_failure_fails_the_row_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = factories.create_client()
    csv_path = factories.write_catalog(
        tmp_path,
        [
            {"sku": "A", "name": "Chair", "image": "a.jpg"},
            {"sku": "B", "name": "Stool", "image": "b.jpg"},
        ],
        {"a.jpg": factories.product_photo(), "b.jpg": factories.product_photo((0, 0, 200))},
    )
    storage = backends.current().storage
    real_put = storage.put
    calls = {"n": 0}

    def flaky_put(key: str, data: bytes, *, content_type: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the first row's preview
            raise StorageError(f"simulated outage writing {key}")
        real_put(key, data, content_type=content_type)

    monkeypatch.setattr(storage, "put", flaky_put)
    report = products.import_products(ADMIN, client_id=client.id, csv_path=csv_path)
    assert (report.imported, report.failed) == (1, 1)
    assert "simulated outage" in report.errors[0]["error"]
    assert [p.sku for p in products.list_products(ADMIN, client_id=client.id)] == ["B"]
    assert len(_objects(client.id)) == 3


def test_file_level_problems_are_refused_whole(tmp_path: Path) -> None:
    client = factories.create_client()
    no_header = tmp_path / "bad.csv"
    no_header.write_text("name,category\nChair,chair\n")
    with pytest.raises(InvalidInput, match="missing column"):
        products.import_products(ADMIN, client_id=client.id, csv_path=no_header)
    latin = tmp_path / "latin.csv"  # not UTF-8: read in the encoding found, and named
    latin.write_bytes("sku,name\n1,Caf\xe9 Chair\n".encode("cp1252"))
    report = products.import_products(ADMIN, client_id=client.id, csv_path=latin)
    assert (report.imported, report.encoding, report.delimiter) == (1, "Windows-1252", "comma")
    assert products.get_product(ADMIN, product_id=report.product_ids[0]).name == "Café Chair"
    with pytest.raises(NotFound):
        products.import_products(ADMIN, client_id="not-an-id", csv_path=latin)


def test_roles_and_tenancy(tmp_path: Path) -> None:
    mine, theirs = factories.create_client(), factories.create_client()
    csv_path = factories.write_catalog(tmp_path, [{"sku": "X", "name": "Thing"}])
    viewer = factories.member_scope(mine.id, Role.VIEWER)
    with pytest.raises(Forbidden):
        products.import_products(viewer, client_id=mine.id, csv_path=csv_path)
    editor = factories.member_scope(mine.id, Role.EDITOR)
    with pytest.raises(NotFound):
        products.import_products(editor, client_id=theirs.id, csv_path=csv_path)
    report = products.import_products(ADMIN, client_id=theirs.id, csv_path=csv_path)
    with pytest.raises(NotFound):
        products.get_product(editor, product_id=report.product_ids[0])
    assert products.list_products(editor) == []


def test_control_characters_and_unclosed_quotes_are_row_errors(tmp_path: Path) -> None:
    client = factories.create_client()
    path = tmp_path / "catalog.csv"
    path.write_text(
        "sku,name,description\n"
        "NUL-1,Sofa\x00,has a NUL\n"
        "ESC-1,Lamp,bell \x07 and escape \x1b\n"
        "OK-1,Rug,fine\n"
        'QUOTE-1,Vase,"opened and never closed\n'
        "LOST-1,Desk,swallowed by the quote\n",
        encoding="utf-8",
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=path)
    assert (report.imported, report.failed) == (1, 3)
    errors = {e["row"]: e["error"] for e in report.errors}
    assert "U+0000" in errors[1] and "U+0007" in errors[2]
    assert "line 5, column description: a quote opens there and is never closed" in errors[4]
    [landed] = products.list_products(ADMIN, client_id=client.id)
    assert landed.sku == "OK-1"
