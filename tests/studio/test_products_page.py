"""Products page: the table with search and filters, CSV import with its report, photos, picking."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from tests.studio.conftest import Studio, button, errors, frame, jpeg, texts
from visualizer_core.services import products

CSV = (
    b"sku,name,category,image\n"
    b"LAMP-1,Arc Floor Lamp,floor lamp,lamp.jpg\n"
    b"RUG-1,Wool Rug,rug,missing.jpg\n"
    b",No Sku,chair,\n"
)


def table(app: AppTest):  # type: ignore[no-untyped-def]
    version = app.session_state["products.table_version"]
    return app.dataframe(key=f"products.table.{version}").value


def test_a_csv_with_photos_imports_good_rows_and_reports_bad_ones(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "products")
    app.file_uploader(key="products.csv").upload("catalog.csv", CSV, "text/csv")
    app.file_uploader(key="products.photos").upload("lamp.jpg", jpeg(), "image/jpeg")
    button(app, "Import").click().run()
    assert not app.exception
    warnings = [w.value for w in app.warning]
    assert any(
        w.startswith("2 imported · 0 updated · 1 failed · 1 photo(s) missing") for w in warnings
    )
    report = frame(app, "row", "error")
    assert list(report["row"]) == [2, 3]
    assert "missing.jpg" in report["error"][0]
    assert "sku" in report["error"][1]
    # The rug is kept, its photo listed as missing with the reason.
    assert {"LAMP-1", "RUG-1"} <= set(table(app)["sku"])
    missing = frame(app, "sku", "photo", "reason").set_index("sku")
    assert missing.loc["RUG-1", "photo"] == "missing.jpg"
    assert "no such file" in missing.loc["RUG-1", "reason"]


def test_search_and_category_filter_the_table(open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor", "products")
    assert len(table(app)) == 3
    app.text_input(key="products.search").input("desk").run()
    assert list(table(app)["sku"]) == ["DESK-1"]
    app.text_input(key="products.search").input("").run()
    app.selectbox(key="products.category").select("bed").run()
    assert list(table(app)["sku"]) == ["BED-1"]
    app.selectbox(key="products.analysed").select("Analysed").run()
    assert len(table(app)) == 0
    assert "0 of 3 product(s) shown" in texts(app)


def test_analysis_shows_as_columns(open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor", "products")
    app.button(key="products.analyse").click().run()
    assert not app.exception
    assert any("Analysed 3 product(s)" in s.value for s in app.success)
    shown = table(app).set_index("sku")
    assert shown.loc["SOFA-1", "kind"] == "sofa"
    assert "Living room" in shown.loc["SOFA-1", "rooms"]  # a label, not living_room
    assert "_" not in "".join(shown["rooms"])
    assert set(shown["analysed"]) == {"✓"}


def test_picking_products_narrows_the_generation(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "products")
    app.text_input(key="products.search").input("sofa").run()
    app.button(key="products.pick_shown").click().run()
    assert "1 picked for generation" in texts(app)
    assert app.session_state["studio.product_ids"] == [studio.product_ids["SOFA-1"]]
    assert list(table(app)["pick"]) == [True]  # one selection model: the Pick column shows it

    app.switch_page("views/generate.py").run()
    assert "1 product(s) picked on the Products page" in texts(app)
    assert list(frame(app, "sku", "scene", "score")["sku"]) == ["SOFA-1"]

    app.switch_page("views/products.py").run()
    app.button(key="products.clear").click().run()
    assert "0 picked for generation" in texts(app)


def test_a_photo_upload_adds_a_photo_and_a_bad_file_is_a_message(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "products")
    app.selectbox(key="products.photo_product").select(studio.product_ids["DESK-1"]).run()
    app.file_uploader(key="products.photo_file").upload("desk-2.jpg", jpeg(), "image/jpeg")
    button(app, "Upload photo").click().run()
    assert not app.exception
    assert "Photo added to DESK-1." in [s.value for s in app.success]
    desk = products.get_product(studio.scope(), product_id=studio.product_ids["DESK-1"])
    assert len(desk.image_ids) == 2

    app.file_uploader(key="products.photo_file").upload("notes.png", b"not a picture", "image/png")
    button(app, "Upload photo").click().run()
    assert not app.exception
    assert len(app.error) == 1 and "notes.png" in errors(app)[0]


def test_a_viewer_sees_the_table_but_no_import_or_upload(open_app: Callable[..., AppTest]) -> None:
    app = open_app("viewer", "products")
    assert len(table(app)) == 3
    assert len(app.file_uploader) == 0
    assert "products.analyse" not in [b.key for b in app.button]


def test_a_merchant_center_feed_imports_by_its_header(open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor", "products")
    feed = (
        b"id\ttitle\tdescription\tgoogle_product_category\n"
        b"MAT-1\tCoir Door Mat\tScrapes muddy boots\t2675\n"
    )
    app.file_uploader(key="products.csv").upload("feed.tsv", feed, "text/tab-separated-values")
    button(app, "Import").click().run()
    assert not app.exception
    assert "1 imported · 0 updated · 0 failed (merchant, UTF-8, tab)" in [
        s.value for s in app.success
    ]
    assert "MAT-1" in list(table(app)["sku"])


def test_the_open_sessions_products_come_first_and_can_be_filtered(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    from visualizer_core.services import analysis

    assert studio.session_id is not None
    analysis.match_session(
        studio.scope("editor"),
        session_id=studio.session_id,
        product_ids=[studio.product_ids["DESK-1"]],
    )
    app = open_app("editor", "products")
    rows = table(app)
    assert (rows["sku"].iloc[0], rows["session"].iloc[0]) == ("DESK-1", "✓")
    app.selectbox(key="products.where").select("In the open session").run()
    assert list(table(app)["sku"]) == ["DESK-1"]
    assert "1 of 3 product(s) shown" in texts(app)
