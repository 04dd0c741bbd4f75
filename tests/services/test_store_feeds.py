"""Back into the store: a Shopify export and a Merchant Center feed imported, generated,
approved and exported with a feed; the project's own importer reads the feed back as the same
products with the new pictures in order. Both backend sets (local folder and S3)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree as SafeXML

from tests import factories
from visualizer_core import backends, catalog, feeds
from visualizer_core.db import repo
from visualizer_core.demo import art as demo_art
from visualizer_core.errors import InvalidInput
from visualizer_core.scope import ADMIN
from visualizer_core.services import analysis, export, gallery, generation, products

BASE = "https://cdn.oak.example/spring"


def _approved_set(backend: backends.Backends, client_id: Any, session_id: Any) -> list[Any]:
    factories.add_rooms(session_id, ("living_room", "bedroom"))
    analysis.match_session(ADMIN, session_id=session_id)
    flow = generation.generate(ADMIN, session_id=session_id, dispatch=False)
    with backend.transaction() as db:
        rows = [r.id for r in repo.images_of_flow(db, flow.flow_id)]
    for image_id in rows:
        assert generation.process_image(image_id, worker_id="test") == "completed"
    gallery.review_images(ADMIN, image_ids=rows, review_state="approved")
    return rows


def _photos(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, category in enumerate(("sofa", "bed")):
        photo = demo_art.draw_product(category, color=(90, 60, 60), seed=index, size=(400, 400))
        (folder / f"{category}.jpg").write_bytes(photo)


def _unzip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def test_a_shopify_export_comes_back_as_its_products_with_the_new_pictures(
    backend: backends.Backends, tmp_path: Path
) -> None:
    folder = tmp_path / "shop"
    _photos(folder)
    (folder / "products_export.csv").write_text(
        "Handle,Title,Body (HTML),Type,Variant SKU,Option1 Name,Option1 Value,Image Src,"
        "Image Position\n"
        "linen-sofa,Linen Sofa,<p>Deep seats</p>,Sofa,SOFA-GRY,Color,Grey,sofa.jpg,1\n"
        "linen-sofa,,,,SOFA-BLU,Color,Blue,,\n"
        "haven-bed,Haven Bed,<p>Upholstered</p>,Bed,BED-1,Color,Pink,bed.jpg,1\n",
        encoding="utf-8",
    )
    client = factories.create_client()
    report = products.import_products(
        ADMIN, client_id=client.id, csv_path=folder / "products_export.csv"
    )
    assert report.failed == 0
    session = factories.create_session(client.id)
    _approved_set(backend, client.id, session.id)

    out = tmp_path / "shopify.zip"
    result = export.export_session(
        ADMIN,
        session_id=session.id,
        out=out,
        approved_only=True,
        preset="shopify",
        feed="shopify-csv",
        base_url=BASE,
    )
    files = _unzip(out)
    assert result["feed"] == "shopify-images.csv" and "shopify-images.csv" in files
    pictures = sorted(n for n in files if n.endswith(".jpg"))
    feed_path = tmp_path / "shopify-images.csv"
    feed_path.write_bytes(files["shopify-images.csv"])
    rows = list(csv.DictReader(io.StringIO(files["shopify-images.csv"].decode())))
    assert list(rows[0]) == ["Handle", "Title", "Image Src", "Image Position", "Image Alt Text"]
    by_handle: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_handle.setdefault(row["Handle"], []).append(row)
    assert sorted(by_handle) == ["haven-bed", "linen-sofa"]
    for handle_rows in by_handle.values():
        assert [r["Image Position"] for r in handle_rows] == [
            str(n) for n in range(1, len(handle_rows) + 1)
        ]
        assert all(0 < len(r["Image Alt Text"]) <= 512 for r in handle_rows)
    assert "Linen Sofa" in by_handle["linen-sofa"][0]["Image Alt Text"]

    # The project's own importer reads the file back: the same products, the new pictures.
    read = catalog.read_catalog(feed_path)
    assert all(r.error is None for r in read), [r.error for r in read]
    back = {r.product.source_ids.handle: r.product for r in read if r.product}
    assert sorted(back) == ["haven-bed", "linen-sofa"]
    assert back["linen-sofa"].name == "Linen Sofa" and back["haven-bed"].name == "Haven Bed"
    assert back["linen-sofa"].sku == "linen-sofa" or back["linen-sofa"].sku.startswith("SOFA")
    linked = sorted(src.rsplit("/", 1)[-1] for p in back.values() for src in p.images)
    assert linked == pictures
    assert all(src.startswith(BASE + "/") for p in back.values() for src in p.images)


def test_a_merchant_feed_comes_back_with_lifestyle_image_links(
    backend: backends.Backends, tmp_path: Path
) -> None:
    folder = tmp_path / "merchant"
    _photos(folder)
    (folder / "feed.xml").write_text(
        '<?xml version="1.0"?>\n<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">'
        "<channel><title>Oak</title>"
        "<item><g:id>SOFA-GRY</g:id><g:item_group_id>SOFA</g:item_group_id>"
        "<g:title>Linen Sofa</g:title><g:product_type>Sofa</g:product_type>"
        "<g:image_link>sofa.jpg</g:image_link></item>"
        "<item><g:id>BED-1</g:id><g:title>Haven Bed</g:title>"
        "<g:product_type>Bed</g:product_type><g:image_link>bed.jpg</g:image_link></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    client = factories.create_client()
    report = products.import_products(ADMIN, client_id=client.id, csv_path=folder / "feed.xml")
    assert report.failed == 0, report.errors
    session = factories.create_session(client.id)
    _approved_set(backend, client.id, session.id)

    for feed, name in (("merchant-xml", "merchant-supplemental.xml"), ("merchant-tsv", None)):
        out = tmp_path / f"{feed}.zip"
        export.export_session(
            ADMIN,
            session_id=session.id,
            out=out,
            approved_only=True,
            preset="merchant-lifestyle",
            feed=feed,
            base_url=BASE,
        )
        files = _unzip(out)
        pictures = sorted(n for n in files if n.endswith(".jpg"))
        if name is None:
            tsv = files["merchant-supplemental.tsv"].decode()
            assert tsv.splitlines()[0] == "id\ttitle\tlifestyle_image_link"
            continue
        path = tmp_path / name
        path.write_bytes(files[name])
        root = SafeXML.fromstring(files[name])
        ns = {"g": feeds.GOOGLE_NS}
        items = {
            i.findtext("g:id", namespaces=ns): [
                e.text for e in i.findall("g:lifestyle_image_link", namespaces=ns)
            ]
            for i in root.iter("item")
        }
        assert sorted(items) == ["BED-1", "SOFA-GRY"]
        assert sorted(link.rsplit("/", 1)[-1] for v in items.values() for link in v) == pictures
        # The importer reads it back as the same products (Merchant ids, titles).
        read = catalog.read_catalog(path)
        assert all(r.error is None for r in read), [r.error for r in read]
        back = {r.product.sku: r.product.name for r in read if r.product}
        assert back == {"SOFA-GRY": "Linen Sofa", "BED-1": "Haven Bed"}


def test_a_feed_needs_an_address_for_the_pictures(
    backend: backends.Backends, tmp_path: Path
) -> None:
    session = factories.create_session(factories.create_client().id)
    with pytest.raises(InvalidInput, match="base URL"):
        export.export_session(
            ADMIN, session_id=session.id, out=tmp_path / "x.zip", feed="shopify-csv"
        )
    with pytest.raises(InvalidInput, match="unknown feed"):
        export.export_session(
            ADMIN, session_id=session.id, out=tmp_path / "x.zip", feed="ebay", base_url=BASE
        )
    assert not (tmp_path / "x.zip").exists()


def test_alt_text_is_short_and_says_product_colour_material_room() -> None:
    text = feeds.alt_text(
        "Oak Dining Table", colors=["natural"], materials=["oak"], room="dining_room"
    )
    assert text == "Oak Dining Table, natural oak, in a dining room"
    long = feeds.alt_text("Sofa " * 60, colors=[], materials=[], room=None)
    assert len(long) <= feeds.ALT_TEXT_TARGET and not long.endswith(" ")
