# ruff: noqa: RUF001  (curly quotes, dashes and pound signs are what these files hold)
"""Catalog files as stores and spreadsheets really write them (issue 23's findings 2-5).

Each file here is written by the test, modelled on a real export (WooCommerce's batched export
and its localized headers, a Merchant Center TSV with item groups, a Shopify export saved by
European Excel as semicolon-separated Windows-1252, Excel's UTF-16 "Unicode Text").
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest

from visualizer_core import taxonomy
from visualizer_core.catalog import read_catalog_file
from visualizer_core.errors import InvalidInput

# -- WooCommerce -----------------------------------------------------------------------------

WOO_HEADER = [
    "ID", "Type", "SKU", "Name", "Published", "Short description", "Description",
    "Categories", "Tags", "Images", "Parent", "Attribute 1 name", "Attribute 1 value(s)",
    "Attribute 1 visible", "Attribute 1 global", "Meta: _plugin_a", "Meta: _plugin_b",
]  # fmt: skip


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, text: str, encoding: str = "utf-8-sig") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_a_woocommerce_export_written_in_batches_is_read_by_header_position(
    tmp_path: Path,
) -> None:
    # WooCommerce 9.x: the first batch was written before the plugins' Meta columns were
    # known, so its rows stop two cells short of the header; no product has a SKU.
    first_batch = [
        ["20", "variable", "", "Oak Bar Stool", "1", "Short", "<p>A <b>stool</b></p>",
         "Furniture > Stools", "", "https://shop.test/stool.jpg, https://shop.test/stool-2.jpg",
         "", "Colour", "Natural, Black", "1", "0"],
        ["21", "variation, virtual", "", "Oak Bar Stool - Natural", "1", "", "", "", "",
         "", "id:20", "Colour", "Natural", "", "0"],
        ["22", "variation, downloadable, virtual", "", "Oak Bar Stool - Black", "1", "", "", "",
         "", "https://shop.test/stool-black.jpg", "id:20", "Colour", "Black", "", "0"],
    ]  # fmt: skip
    second_batch = [
        ["30", "simple", "", "Linen Cushion", "1", "", "Soft", "Decor", "", "", "", "", "",
         "", "", "x", "y"],
        ["31", "variation", "", "Orphan Variation", "1", "", "", "", "", "", "id:99", "", "",
         "", "", "", ""],
    ]  # fmt: skip
    path = _write(
        tmp_path / "wc-product-export.csv", _csv_text(WOO_HEADER, first_batch + second_batch)
    )
    read = read_catalog_file(path)
    assert (read.format, read.encoding, read.delimiter) == (
        "woocommerce",
        "UTF-8 with BOM",
        "comma",
    )
    assert [r.error for r in read.rows] == [None, None, None]
    stool, cushion, orphan = (r.product for r in read.rows)
    assert stool is not None and cushion is not None and orphan is not None
    # Keyed by ID where the SKU is empty (WooCommerce's own "id:N"), variations folded.
    assert (stool.sku, stool.name) == ("id:20", "Oak Bar Stool")
    assert stool.description == "A stool"
    assert stool.colors == ["Natural", "Black"]
    assert stool.images == [
        "https://shop.test/stool.jpg",
        "https://shop.test/stool-2.jpg",
        "https://shop.test/stool-black.jpg",
    ]
    assert stool.source_ids is not None
    assert (stool.source_ids.format, stool.source_ids.ids) == ("woocommerce", ["20", "21", "22"])
    assert cushion.sku == "id:30" and cushion.category == "Decor"
    assert orphan.sku == "id:31"  # its parent is not in the file: a product of its own


# The same export as shops in other languages write it (headers only; cells stay English).
LOCALIZED = {
    "pt_BR": ["ID", "Tipo", "REF", "Nome", "Publicado", "Descrição curta", "Descrição",
              "Categorias", "Tags", "Imagens", "Produto ascendente", "Nome do atributo 1",
              "Valores do atributo 1"],
    "de": ["ID", "Typ", "Artikelnummer", "Name", "Veröffentlicht", "Kurzbeschreibung",
           "Beschreibung", "Kategorien", "Schlagwörter", "Bilder", "Übergeordnetes Produkt",
           "Attribut 1 Name", "Attribut 1 Wert(e)"],
    "fr": ["ID", "Type", "UGS", "Nom", "Publié", "Description courte", "Description",
           "Catégories", "Étiquettes", "Images", "Parent", "Nom de l’attribut 1",
           "Valeur(s) de l’attribut 1"],
    "es": ["ID", "Tipo", "SKU", "Nombre", "Publicado", "Descripción corta", "Descripción",
           "Categorías", "Etiquetas", "Imágenes", "Superior", "Nombre del atributo 1",
           "Valor(es) del atributo 1"],
    "it": ["ID", "Tipo", "COD", "Nome", "Pubblicato", "Breve descrizione", "Descrizione",
           "Categorie", "Tag", "Immagini", "Genitore", "Nome dell'attributo 1",
           "Valore(i) dell'attributo 1"],
    "nl": ["ID", "Type", "SKU", "Naam", "Gepubliceerd", "Korte beschrijving", "Beschrijving",
           "Categorieën", "Tags", "Afbeeldingen", "Hoofd", "Attribuut 1 naam",
           "Attribuut 1 waarde(n)"],
    "pl": ["ID", "Typ", "SKU", "Nazwa", "Opublikowany", "Krótki opis", "Opis", "Kategorie",
           "Tagi", "Zdjęcia", "Nadrzędny", "Nazwa atrybutu 1", "Wartość(i) atrybutu 1"],
    "sv": ["ID", "Typ", "Artikelnummer", "Namn", "Publicerad", "Kort beskrivning",
           "Beskrivning", "Kategorier", "Taggar", "Bilder", "Överordnad", "Attribut 1 namn",
           "Attribut 1 värde(n)"],
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(LOCALIZED))
def test_woocommerce_headers_in_the_shops_language(tmp_path: Path, language: str) -> None:
    colour = {"pt_BR": "Cor", "de": "Farbe", "fr": "Couleur", "es": "Color", "it": "Colore",
              "nl": "Kleur", "pl": "Kolor", "sv": "Färg"}[language]  # fmt: skip
    rows = [
        ["65", "variable", "", "Lamp Arc", "1", "Short", "<p>Tall arc lamp</p>", "Lighting",
         "", "https://shop.test/arc.jpg", "", colour, "Brass, Chrome"],
        ["66", "variation, virtual", "", "Lamp Arc - Brass", "1", "", "", "", "", "", "id:65",
         colour, "Brass"],
        ["67", "registrations", "ARC-2", "Lamp Dome", "1", "", "", "Lighting", "", "", "", "", ""],
    ]  # fmt: skip
    path = _write(tmp_path / f"export-{language}.csv", _csv_text(LOCALIZED[language], rows))
    read = read_catalog_file(path)
    assert read.format == "woocommerce"
    arc, dome = (r.product for r in read.rows)
    assert arc is not None and dome is not None
    assert (arc.sku, arc.name, arc.category, arc.description) == (
        "id:65",
        "Lamp Arc",
        "Lighting",
        "Tall arc lamp",
    )
    assert arc.colors == ["Brass", "Chrome"] and arc.images == ["https://shop.test/arc.jpg"]
    assert arc.source_ids is not None and arc.source_ids.ids == ["65", "66"]
    assert dome.sku == "ARC-2"


# -- Merchant Center -------------------------------------------------------------------------

MERCHANT_HEADER = [
    "id", "title", "description", "link", "image_link", "additional_image_link", "price",
    "google_product_category", "item_group_id", "color", "size",
]  # fmt: skip


def _merchant_rows() -> list[list[str]]:
    rows = []
    hoodie = "Apparel & Accessories > Clothing > Outerwear > Hoodies & Sweatshirts"
    for colour in ("Black", "Heather"):
        for size in ("S", "M", "L"):
            rows.append([
                f"hood-{colour}-{size}".lower(), f"Surf Crop Hoodie - {colour} / {size}",
                "A cropped hoodie", "https://shop.test/p/hood",
                f"https://cdn.shop.test/hood-{colour.lower()}.jpg", "", "45.00 USD", hoodie,
                "GROUP-HOOD", colour, size,
            ])  # fmt: skip
    rows.append([
        "mug-1", "Sunset Ceramic Mug", "A mug", "https://shop.test/p/mug",
        "https://cdn.shop.test/mug.jpg", "", "16.00 USD",
        "Home & Garden > Kitchen & Dining > Tableware > Drinkware > Mugs", "", "", "",
    ])  # fmt: skip
    return rows


def test_merchant_item_groups_become_one_product_with_its_variants(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "google_feed.tsv", _csv_text(MERCHANT_HEADER, _merchant_rows(), "\t"), "utf-8"
    )
    read = read_catalog_file(path)
    assert (read.format, read.encoding, read.delimiter) == ("merchant", "UTF-8", "tab")
    hoodie, mug = (r.product for r in read.rows)
    assert hoodie is not None and mug is not None
    assert (hoodie.sku, hoodie.name) == ("GROUP-HOOD", "Surf Crop Hoodie")
    assert hoodie.colors == ["Black", "Heather"]
    assert hoodie.dimensions == "sizes S, M, L"
    assert hoodie.images == ["https://cdn.shop.test/hood-black.jpg"]  # one picture a product
    ids = hoodie.source_ids
    assert ids is not None and ids.item_group_id == "GROUP-HOOD" and len(ids.ids) == 6
    assert ids.variants[0] == {"id": "hood-black-s", "color": "Black", "size": "S"}
    # A category path Google's list does not have stays the catalog's own text...
    assert hoodie.category == "Apparel & Accessories > Clothing > Outerwear > Hoodies & Sweatshirts"
    # ... and the classifier reads it as clothing (not riding crops from the name).
    found = taxonomy.classify(hoodie.name, hoodie.category)
    assert found.path is not None and found.path.startswith("Apparel & Accessories > Clothing")
    assert mug.sku == "mug-1" and mug.category is not None and mug.category.endswith("Mugs")

    per_colour = read_catalog_file(path, per_colour=True)
    products = [r.product for r in per_colour.rows if r.product is not None]
    assert [p.sku for p in products] == ["GROUP-HOOD/Black", "GROUP-HOOD/Heather", "mug-1"]
    assert products[1].images == ["https://cdn.shop.test/hood-heather.jpg"]
    assert products[1].colors == ["Heather"]


# -- encodings and delimiters ----------------------------------------------------------------

SHOPIFY_HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Variant SKU",
                  "Image Src", "Image Position"]  # fmt: skip
SHOPIFY_ROWS = [
    ["roller-blind", "Roller Blind – Blackout", "<p>From £29, it’s made to measure</p>",
     "Blinds Co", "Blinds", "", "RB-1", "https://cdn.shop.test/rb.jpg", "1"],
    ["roller-blind", "", "", "", "", "", "RB-2", "", ""],
    ["venetian", "Venetian Blind 50mm", "<p>Café style</p>", "Blinds Co", "Blinds", "", "VB-1",
     "", ""],
]  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "delimiter", "named", "delimiter_named"),
    [
        ("utf-8", ",", "UTF-8", "comma"),
        ("utf-8-sig", ";", "UTF-8 with BOM", "semicolon"),
        ("utf-16", "\t", "UTF-16 LE with BOM", "tab"),  # Excel's "Unicode Text"
        ("cp1252", ",", "Windows-1252", "comma"),
        ("cp1252", ";", "Windows-1252", "semicolon"),  # European Excel's CSV
    ],
)
def test_encodings_and_delimiters_are_detected_and_named(
    tmp_path: Path, encoding: str, delimiter: str, named: str, delimiter_named: str
) -> None:
    text = _csv_text(SHOPIFY_HEADER, SHOPIFY_ROWS, delimiter)
    path = tmp_path / "products_export.csv"
    path.write_bytes(text.encode(encoding))
    if encoding == "utf-16":
        assert path.read_bytes().startswith(codecs.BOM_UTF16_LE)
    read = read_catalog_file(path)
    assert (read.format, read.encoding, read.delimiter) == ("shopify", named, delimiter_named)
    blind, venetian = (r.product for r in read.rows)
    assert blind is not None and venetian is not None
    assert blind.name == "Roller Blind – Blackout"
    assert blind.description == "From £29, it’s made to measure"
    assert venetian.description == "Café style"
    assert blind.source_ids is not None and blind.source_ids.variant_skus == ["RB-1", "RB-2"]


def test_a_refusal_names_the_line_the_column_and_what_to_do(tmp_path: Path) -> None:
    rows = [
        list(SHOPIFY_ROWS[0]),
        ["venetian", "Venetian", "x", "y", "z", "", "VB-1", "", "", "extra"],
    ]
    path = _write(tmp_path / "export.csv", _csv_text(SHOPIFY_HEADER, rows, ";"))
    read = read_catalog_file(path)
    assert read.rows[0].product is not None
    refused = read.rows[1]
    assert refused.product is None and refused.line == 3
    assert refused.error == (
        "line 3 has 10 fields, the header has 9 (the row goes past column Image Position); "
        "check the delimiters and quotes of that line and import again"
    )
    unknown = _write(tmp_path / "unknown.csv", "Artikel;Preis;Farbe\nA;1;rot\n")
    with pytest.raises(InvalidInput) as refusal:
        read_catalog_file(unknown)
    message = str(refusal.value)
    assert "line 1 (the header, read as semicolon-separated: Artikel, Preis, Farbe)" in message
    assert "our CSV needs sku and name" in message
