"""Catalog formats read by their header: ours, Shopify's export, Merchant Center feeds, frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from visualizer_core.catalog import read_catalog, read_records, strip_html
from visualizer_core.errors import InvalidInput

SHOPIFY = (
    "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,"
    "Option1 Value,Variant SKU,Variant Price,Image Src,Image Position,Image Alt Text\n"
    'oslo-sofa,Oslo Sofa,"<p>A deep <strong>three-seater</strong>.</p><ul><li>Feather &amp; '
    'down</li></ul>",Nord,Furniture > Sofas,Sofas,"living, new",TRUE,Color,Sage,OSLO-SAGE,'
    "999,https://cdn.example/oslo-2.jpg,2,side\n"
    "oslo-sofa,,,,,,,,,Rust,OSLO-RUST,999,https://cdn.example/oslo-1.jpg,1,front\n"
    "oslo-sofa,,,,,,,,,,,,https://cdn.example/oslo-3.jpg,3,back\n"
    "hood,Chimney Cooker Hood,<p>Three speeds.</p>,Ardent,,Kitchen Appliances,,TRUE,Title,"
    "Default Title,,499,https://cdn.example/hood.jpg,1,\n"
)

MERCHANT_TSV = (
    "id\ttitle\tdescription\tlink\timage_link\tadditional_image_link\tgoogle_product_category"
    "\tproduct_type\tbrand\tcolor\tmaterial\tsize\n"
    "MAT-1\tCoir Door Mat\tScrapes boots.\thttps://shop.example/mat\thttps://cdn.example/mat.jpg"
    "\thttps://cdn.example/mat-2.jpg,https://cdn.example/mat-3.jpg\t2675\tHall > Mats\tNord"
    "\tNatural/Black\tCoir\t60 x 40 cm\n"
    "HOOD-9\tCooker Hood\t<b>Quiet</b> extraction\thttps://shop.example/hood"
    "\thttps://cdn.example/hood.jpg\t\tHome & Garden > Kitchen & Dining > Kitchen Appliances > "
    "Range Hoods\tKitchen > Hoods\tArdent\tSilver\tSteel\t\n"
)

MERCHANT_RSS = """<?xml version="1.0"?>
<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0">
  <channel>
    <title>Nord</title>
    <item>
      <g:id>TENT-1</g:id>
      <title>Starry Bed Tent</title>
      <description>&lt;p&gt;Pop-up &lt;em&gt;canopy&lt;/em&gt;&lt;/p&gt;</description>
      <g:image_link>https://cdn.example/tent.jpg</g:image_link>
      <g:additional_image_link>https://cdn.example/tent-2.jpg</g:additional_image_link>
      <g:additional_image_link>https://cdn.example/tent-3.jpg</g:additional_image_link>
      <g:product_type>Kids &gt; Bedroom</g:product_type>
      <g:color>Navy</g:color>
    </item>
    <item>
      <g:id>TOY-2</g:id>
      <g:title>Bunny Soft Toy</g:title>
      <g:google_product_category>1259</g:google_product_category>
    </item>
  </channel>
</rss>
"""

MERCHANT_ATOM = """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <title>Nord</title>
  <entry>
    <g:id>LAMP-7</g:id>
    <title>Arc Floor Lamp</title>
    <summary>Marble base.</summary>
    <link href="https://shop.example/lamp"/>
    <g:image_link>https://cdn.example/lamp.jpg</g:image_link>
    <g:material>Marble/Steel</g:material>
  </entry>
</feed>
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shopify_rows_of_one_handle_are_one_product(tmp_path: Path) -> None:
    rows = read_catalog(_write(tmp_path, "products_export.csv", SHOPIFY))
    assert [r.row for r in rows] == [1, 4]
    sofa, hood = (r.product for r in rows)
    assert sofa is not None and hood is not None
    assert (sofa.sku, sofa.name) == ("OSLO-SAGE", "Oslo Sofa")
    assert sofa.images == [
        "https://cdn.example/oslo-1.jpg",
        "https://cdn.example/oslo-2.jpg",
        "https://cdn.example/oslo-3.jpg",
    ]  # in Image Position order, not row order
    assert sofa.description is not None
    assert "<" not in sofa.description and "three-seater" in sofa.description
    assert "Feather & down" in sofa.description and "Tags: living, new" in sofa.description
    assert sofa.category == "Furniture > Sofas"  # the catalog's own taxonomy category
    assert sofa.colors == ["Sage", "Rust"]
    # no Variant SKU: the handle is the sku; no taxonomy category: the Type is the category
    assert (hood.sku, hood.category, hood.description) == (
        "hood",
        "Kitchen Appliances",
        "Three speeds.",
    )


def test_merchant_tsv(tmp_path: Path) -> None:
    mat, hood = (r.product for r in read_catalog(_write(tmp_path, "feed.tsv", MERCHANT_TSV)))
    assert mat is not None and hood is not None
    assert (mat.sku, mat.name, mat.category) == (
        "MAT-1",
        "Coir Door Mat",
        "Home & Garden > Decor > Door Mats",
    )
    assert mat.images == [
        "https://cdn.example/mat.jpg",
        "https://cdn.example/mat-2.jpg",
        "https://cdn.example/mat-3.jpg",
    ]
    assert (mat.colors, mat.materials, mat.dimensions) == (
        ["Natural", "Black"],
        ["Coir"],
        "60 x 40 cm",
    )
    assert hood.category is not None and hood.category.endswith("Range Hoods")
    assert hood.description == "Quiet extraction"


def test_merchant_rss_and_atom_with_the_g_namespace(tmp_path: Path) -> None:
    tent, toy = (r.product for r in read_catalog(_write(tmp_path, "feed.xml", MERCHANT_RSS)))
    assert tent is not None and toy is not None
    assert (tent.sku, tent.name, tent.category, tent.colors) == (
        "TENT-1",
        "Starry Bed Tent",
        "Kids > Bedroom",
        ["Navy"],
    )
    assert tent.description == "Pop-up canopy"
    assert len(tent.images) == 3
    assert toy.category == "Toys & Games > Toys > Dolls, Playsets & Toy Figures > Stuffed Animals"
    [lamp] = (r.product for r in read_catalog(_write(tmp_path, "atom.xml", MERCHANT_ATOM)))
    assert lamp is not None
    assert (lamp.sku, lamp.name, lamp.description, lamp.materials) == (
        "LAMP-7",
        "Arc Floor Lamp",
        "Marble base.",
        ["Marble", "Steel"],
    )


def test_hostile_xml_is_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><rss><channel><item><g:id>&lol2;</g:id>'
        "</item></channel></rss>"
    )
    with pytest.raises(InvalidInput, match="refused XML"):
        read_catalog(_write(tmp_path, "bomb.xml", bomb))
    with pytest.raises(InvalidInput, match="not <html>"):
        read_catalog(_write(tmp_path, "page.xml", "<html><body>hi</body></html>"))


def test_dataframes_with_each_column_set() -> None:
    ours = read_records(
        pd.DataFrame([{"sku": "A", "name": "Sofa", "image": float("nan")}]).to_dict("records")
    )
    assert ours[0].product is not None and ours[0].product.images == []
    merchant = read_records(
        pd.DataFrame([{"id": "M1", "title": "Door Mat", "google_product_category": 2675}]).to_dict(
            "records"
        )
    )
    assert merchant[0].product is not None
    assert merchant[0].product.category == "Home & Garden > Decor > Door Mats"
    shopify = read_records(
        pd.DataFrame(
            [
                {
                    "Handle": "h",
                    "Title": "Bunny",
                    "Variant SKU": "B-1",
                    "Image Src": "https://x/1.jpg",
                    "Image Position": 1,
                },
                {
                    "Handle": "h",
                    "Title": None,
                    "Variant SKU": "B-2",
                    "Image Src": "https://x/0.jpg",
                    "Image Position": 0,
                },
            ]
        ).to_dict("records")
    )
    assert len(shopify) == 1 and shopify[0].product is not None
    assert shopify[0].product.images == ["https://x/0.jpg", "https://x/1.jpg"]
    with pytest.raises(InvalidInput, match="sku and name"):
        read_records([{"title": "no id"}])


def test_an_unknown_taxonomy_id_is_a_row_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "c.csv", "sku,name,google_product_category\nA,Sofa,99999999\nB,Sofa,460\n"
    )
    bad, good = read_catalog(path)
    assert bad.product is None and "99999999 is not a Google product taxonomy id" in (
        bad.error or ""
    )
    assert good.product is not None and good.product.category == "Furniture > Sofas"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f"])
def test_control_characters_are_row_errors(tmp_path: Path, char: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"sku,name,description\nA,Sofa{char}X,ok\nB,Lamp,fine\n", encoding="utf-8")
    bad, good = read_catalog(path)
    assert bad.row == 1 and bad.product is None
    assert f"U+{ord(char):04X}" in (bad.error or "") and "name" in (bad.error or "")
    assert good.product is not None and good.product.name == "Lamp"


def test_an_unclosed_quote_is_reported_on_its_row(tmp_path: Path) -> None:
    text = 'sku,name,description\nA,Sofa,fine\nB,Lamp,"never closed\nC,Rug,swallowed\nD,Vase,too\n'
    rows = read_catalog(_write(tmp_path, "c.csv", text))
    assert rows[0].product is not None and rows[0].product.sku == "A"
    assert rows[1].row == 2 and rows[1].product is None
    assert "line 3, column description: a quote opens there and is never closed" in (
        rows[1].error or ""
    )
    assert rows[1].line == 3
    assert len(rows) == 2  # nothing after it pretends to be a product


def test_quotes_inside_fields_are_fine(tmp_path: Path) -> None:
    text = 'sku,name,description\nA,"Sofa, 3 seat","He said ""hi""\nover two lines"\nB,5" Vase,ok\n'
    a, b = read_catalog(_write(tmp_path, "c.csv", text))
    assert a.product is not None and a.product.description == 'He said "hi"\nover two lines'
    assert b.product is not None and b.product.name == '5" Vase'


def test_strip_html() -> None:
    assert strip_html("<p>One</p><p>Two &amp; three<script>x()</script></p>") == "One\nTwo & three"
    assert strip_html("plain &amp; simple") == "plain & simple"


def test_a_header_of_no_known_format_names_what_each_needs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Shopify product export Handle and Title"):
        read_catalog(_write(tmp_path, "c.csv", "foo,bar\n1,2\n"))


def test_other_exports_with_sku_and_name_map_their_column_names(tmp_path: Path) -> None:
    text = (
        "ID,Type,SKU,Name,Short description,Description,Categories,Images\n"
        "1,simple,WC-1,Oak Side Table,,<p>Solid oak</p>,Furniture > Tables,"
        '"https://cdn.example/a.jpg, https://cdn.example/b.jpg"\n'
    )
    [row] = read_catalog(_write(tmp_path, "wc.csv", text))
    assert row.product is not None
    assert (row.product.category, row.product.description) == ("Furniture > Tables", "Solid oak")
    assert row.product.images == ["https://cdn.example/a.jpg", "https://cdn.example/b.jpg"]


def test_woocommerce_variations_fold_into_their_parent(tmp_path: Path) -> None:
    """A colour of a sofa is the same sofa to picture: one product, not one per variation."""
    header = (
        "ID,Type,SKU,Name,Parent,Short description,Description,Categories,Images,"
        "Attribute 1 name,Attribute 1 value(s),Attribute 2 name,Attribute 2 value(s)\n"
    )
    text = header + (
        "10,variable,SOFA-H,Harbor Sofa,,,<p>Three seats</p>,Sofas,https://cdn.example/s.jpg,"
        'Color,"Blue, Grey",Material,Linen\n'
        "11,variation,SOFA-H-BLU,Harbor Sofa - Blue,SOFA-H,,,,https://cdn.example/blue.jpg,"
        "Color,Blue,,\n"
        "12,variation,,Harbor Sofa - Grey,id:10,,,,https://cdn.example/grey.jpg,Color,Grey,,\n"
        "13,simple,LAMP-1,Arc Floor Lamp,,,,Lighting,https://cdn.example/l.jpg,"
        "Colour,Brass,,\n"
        "14,variation,RUG-RED,Kilim Rug - Red,id:99,,,Rugs,https://cdn.example/r.jpg,"
        "Color,Red,,\n"
    )
    rows = read_catalog(_write(tmp_path, "woo.csv", text))
    assert [r.error for r in rows] == [None, None, None]
    sofa, lamp, rug = (r.product for r in rows)
    assert sofa is not None and lamp is not None and rug is not None
    assert (sofa.sku, sofa.name, sofa.description) == ("SOFA-H", "Harbor Sofa", "Three seats")
    assert sofa.colors == ["Blue", "Grey"] and sofa.materials == ["Linen"]
    assert sofa.images == [
        "https://cdn.example/s.jpg",
        "https://cdn.example/blue.jpg",
        "https://cdn.example/grey.jpg",
    ]
    assert (lamp.sku, lamp.colors) == ("LAMP-1", ["Brass"])
    # A variation whose parent is not in the file stands on its own.
    assert (rug.sku, rug.colors, rows[2].row) == ("RUG-RED", ["Red"], 5)
