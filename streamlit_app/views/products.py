"""Products: the catalog as a table with search, filters and analysis; import; photos; picking.

The products picked here (``studio.product_ids``) are the ones the Match & generate page works
on; with none picked it works on the whole catalog.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st

from streamlit_app.common import PICKED, SESSION, attempt, can, plain, scope
from visualizer_core.scope import Action
from visualizer_core.services import analysis, gallery, previews, products, sessions
from visualizer_core.taxonomy import ROOM_TYPES

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp"]


def category_label(path: str) -> str:
    """A category as people say it: "Sofas" for "Furniture > Sofas" ("All" stays)."""
    return path.split(">")[-1].strip() if path else ""


member = scope()
editor = can(member, Action.EDIT)
st.title("Products")

# -- import ------------------------------------------------------------------------------------

if editor:
    with st.expander(
        "Import a catalog (CSV and photos)", expanded="products.report" in st.session_state
    ):
        st.caption(
            "Our CSV (sku, name, category, description, colors, materials, dimensions, image: "
            "photo file names or http(s) URLs, several joined by |), a Shopify or WooCommerce "
            "product export, or a Google Merchant Center feed (TSV, CSV, RSS/Atom XML): the "
            "format, encoding and delimiter are read from the file. Rows with a known sku "
            "update that product; bad rows are reported and skipped; a product whose photo "
            "cannot be fetched is kept with its photo marked missing."
        )
        with st.form("products.import", clear_on_submit=True):
            csv_file = st.file_uploader(
                "Catalog file", type=["csv", "tsv", "txt", "xml"], key="products.csv"
            )
            photos = st.file_uploader(
                "Photos named in the CSV",
                type=PHOTO_TYPES,
                accept_multiple_files=True,
                key="products.photos",
            )
            run_import = st.form_submit_button("Import", type="primary")
        if run_import:
            if csv_file is None:
                st.error("Choose a CSV file to import.")
            else:
                with tempfile.TemporaryDirectory(prefix="visualizer-import-") as folder:
                    root = Path(folder)
                    csv_path = root / f"catalog{Path(csv_file.name).suffix or '.csv'}"
                    csv_path.write_bytes(csv_file.getvalue())
                    for photo in photos or []:
                        (root / Path(photo.name).name).write_bytes(photo.getvalue())
                    bar = st.progress(0.0, text="Importing…")

                    def advance(done: int, total: int) -> None:
                        bar.progress(done / total, text=f"Downloading photos: {done} of {total}")

                    report = attempt(
                        products.import_products,
                        member,
                        client_id=member.client_id,
                        csv_path=csv_path,
                        images_dir=root,
                        progress=advance,
                    )
                    bar.empty()
                if report is not None:
                    st.session_state["products.report"] = report.as_dict()
        report_dict = st.session_state.get("products.report")
        if report_dict:
            message = (
                f"{report_dict['imported']} imported · {report_dict['updated']} updated · "
                f"{report_dict['failed']} failed"
            )
            if report_dict.get("photos_missing"):
                message += f" · {report_dict['photos_missing']} photo(s) missing"
            how = ", ".join(
                str(report_dict[k])
                for k in ("format", "encoding", "delimiter")
                if report_dict.get(k)
            )
            if how:
                message += f" ({how})"
            problems = report_dict["failed"] or report_dict.get("photos_missing")
            (st.warning if problems else st.success)(message)
            for host in report_dict.get("hosts_down") or []:
                st.warning(
                    f"{host['host']}: given up after the first failures, "
                    f"{host['photos']} photo(s) not fetched: {host['reason']}"
                )
            if report_dict["errors"]:
                st.dataframe(
                    pd.DataFrame(report_dict["errors"], columns=["row", "error"]),
                    hide_index=True,
                    width="stretch",
                    key="products.errors",
                )

# -- the table ---------------------------------------------------------------------------------

everything = attempt(products.list_products, member) or []
categories = sorted({p.category for p in everything if p.category})
open_id = st.session_state.get(SESSION)
open_session = attempt(sessions.get_session, member, session_id=open_id) if open_id else None
in_session = {uuid.UUID(pid) for pid in open_session.matches} if open_session else set()
left, middle, right, last = st.columns([3, 2, 2, 2])
search = left.text_input("Search by name or SKU", key="products.search")
category = middle.selectbox(
    "Category", ["All", *categories], key="products.category", format_func=category_label
)
analysed = right.selectbox("Analysis", ["All", "Analysed", "Not analysed"], key="products.analysed")
where = last.selectbox(
    "Products",
    ["All", "In the open session"],
    key="products.where",
    disabled=open_session is None,
    help=(f"Those matched in {plain(open_session.name)}" if open_session else "No session is open"),
)

shown = attempt(
    products.list_products,
    member,
    search=search.strip() or None,
    category=None if category == "All" else category,
)
shown = shown or []
if analysed != "All":
    shown = [p for p in shown if (p.analysis is not None) == (analysed == "Analysed")]
if where != "All":
    shown = [p for p in shown if p.id in in_session]
shown.sort(key=lambda p: p.id not in in_session)  # the open session's products first

picked: set[uuid.UUID] = set(st.session_state.get(PICKED) or [])
picked &= {p.id for p in everything}


def _join(value: object) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value or "")


def _rooms(value: object) -> str:
    rooms = value if isinstance(value, list) else []
    return ", ".join(ROOM_TYPES.get(str(r), str(r).replace("_", " ")) for r in rooms)


# Thumbnails reach the browser by URL: the bucket's (presigned, cached) or a cached read.
photo_urls = gallery.browser_urls(p.thumbnail_keys[0] for p in shown if p.thumbnail_keys)
table = pd.DataFrame(
    [
        {
            "pick": p.id in picked,
            "photo": photo_urls.get(p.thumbnail_keys[0]) if p.thumbnail_keys else None,
            "sku": p.sku,
            "name": p.name,
            "session": "✓" if p.id in in_session else "",
            "category": category_label(p.category or ""),
            "photos": len(p.image_ids) if p.image_ids else "missing",
            "analysed": "✓" if p.analysis is not None else "not yet",
            "kind": (p.analysis or {}).get("category", ""),
            "rooms": _rooms((p.analysis or {}).get("room_types", [])),
            "style": _join((p.analysis or {}).get("style", [])),
            "materials": _join((p.analysis or {}).get("materials", []) or p.materials),
            "colours": _join((p.analysis or {}).get("colors", []) or p.colors),
        }
        for p in shown
    ],
    columns=[
        "pick",
        "photo",
        "sku",
        "name",
        "session",
        "category",
        "photos",
        "analysed",
        "kind",
        "rooms",
        "style",
        "materials",
        "colours",
    ],
)
st.caption(
    f"{len(shown)} of {len(everything)} product(s) shown · {len(picked)} picked for generation"
    + ("" if picked else " (none picked: generation uses every product)")
)
# One way to pick: the Pick column (ticked here, or by the buttons below). The editor's key
# moves on with every change of the picks, so it always starts from them.
version = st.session_state.setdefault("products.table_version", 0)
edited = st.data_editor(
    table,
    hide_index=True,
    width="stretch",
    key=f"products.table.{version}",
    disabled=[c for c in table.columns if c != "pick"],
    column_config={
        "pick": st.column_config.CheckboxColumn("Pick", width="small"),
        "photo": st.column_config.ImageColumn("Photo", width="small"),
        "session": st.column_config.TextColumn(
            "In session", width="small", help="Matched in the open session"
        ),
        "photos": st.column_config.TextColumn("Photos", width="small"),
        "analysed": st.column_config.TextColumn("Analysed", width="small"),
        "kind": st.column_config.TextColumn("Analysed as"),
        "rooms": st.column_config.TextColumn("Fits in"),
    },
)
for index, ticked in enumerate(edited["pick"] if len(edited) else []):
    (picked.add if ticked else picked.discard)(shown[index].id)

buttons = st.columns(3)
if buttons[0].button(f"Pick all shown ({len(shown)})", key="products.pick_shown"):
    picked |= {p.id for p in shown}
if buttons[1].button("Unpick shown", key="products.unpick_shown"):
    picked -= {p.id for p in shown}
if buttons[2].button("Clear picks", key="products.clear"):
    picked = set()
if picked != set(st.session_state.get(PICKED) or []):
    st.session_state[PICKED] = sorted(picked, key=str)
    st.session_state["products.table_version"] = version + 1
    st.rerun()

if editor:
    session_id = st.session_state.get(SESSION)
    if st.button(
        "Analyse products without analysis",
        key="products.analyse",
        disabled=session_id is None,
        help=None if session_id else "Open a session first (the analysis runs in one).",
    ):
        with st.spinner("Analysing…"):
            done = attempt(analysis.analyze_session, member, session_id=session_id)
        if done is not None:
            st.session_state["products.analysed_report"] = done
            st.rerun()
    done = st.session_state.pop("products.analysed_report", None)
    if done is not None:
        st.success(f"Analysed {done['products']} product(s) and {done['scenes']} scene(s).")
        for failure in done["failed"]:
            st.warning(failure["error"])

without_photo = [p for p in everything if p.photo_state == "missing"]
if without_photo:
    with st.expander(f"{len(without_photo)} product(s) without a photo (generation skips them)"):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "sku": p.sku,
                        "name": p.name,
                        "photo": p.photo_errors[0]["url"] if p.photo_errors else "",
                        "reason": p.photo_errors[0]["reason"]
                        if p.photo_errors
                        else "the catalog names no photo",
                    }
                    for p in without_photo
                ],
                columns=["sku", "name", "photo", "reason"],
            ),
            hide_index=True,
            width="stretch",
            key="products.missing_photos",
        )

# -- one product: its photo, and another one --------------------------------------------------

if everything:
    st.subheader("Photos")
    by_id = {p.id: p for p in everything}
    chosen = st.selectbox(
        "Product",
        list(by_id),
        format_func=lambda pid: f"{by_id[pid].sku} · {by_id[pid].name}",
        key="products.photo_product",
    )
    product = by_id[chosen]
    left, right = st.columns([1, 3])
    if product.image_ids:
        picture = attempt(previews.product_picture, member, product_id=product.id)
        if picture is not None:
            left.image(picture, caption=f"{len(product.image_ids)} photo(s)")
    else:
        left.info("No photo yet: it is needed to generate.")
    if editor:
        with right.form("products.photo", clear_on_submit=True):
            upload = st.file_uploader("Add a photo", type=PHOTO_TYPES, key="products.photo_file")
            if st.form_submit_button("Upload photo"):
                if upload is None:
                    st.error("Choose a photo to upload.")
                elif attempt(
                    products.add_product_photo,
                    member,
                    product_id=product.id,
                    data=upload.getvalue(),
                    filename=upload.name,
                ):
                    st.success(f"Photo added to {plain(product.sku)}.")
