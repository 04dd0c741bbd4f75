"""The delivery dialog shared by Review and Results: the approved set at a store's preset.

The preset (a store's rules or a size, format, file-name pattern) opens as the client chose it
last; the rule check's answer (pictures a store refuses, enlargements, crops) shows before
preparing, and a refused set cannot be prepared; preparing the ZIP remembers the choice for the
whole client (editors and owners). Keys: P prepares, S saves.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path

import streamlit as st

from streamlit_app.common import attempt, can, plain
from streamlit_app.dialogs import close_dialog, open_dialog, opened
from visualizer_core.images.store_rules import store_rules
from visualizer_core.scope import Action, ClientScope
from visualizer_core.services import export

READY = "delivery.zip"
NAME = "delivery"
CHECK = "delivery.check"
FORMATS = {"jpeg": "JPEG", "webp": "WebP", "png": "PNG"}
SIZE_TARGET = "size"
STORES = {
    "merchant-lifestyle": "Google Merchant Center: lifestyle images",
    "merchant-additional": "Google Merchant Center: additional images",
    "shopify": "Shopify",
    "amazon-secondary": "Amazon: secondary images",
}


def open_delivery() -> None:
    """Open the dialog (it stays open across reruns until it is dismissed)."""
    open_dialog(NAME)


def show_delivery(member: ClientScope, *, session_id: uuid.UUID, session_name: str) -> None:
    """The dialog, when it was opened on this page."""
    if opened(NAME) is not None:
        delivery_dialog(member, session_id=session_id, session_name=session_name)


@st.dialog("Deliver approved images", width="large", on_dismiss=close_dialog)
def delivery_dialog(member: ClientScope, *, session_id: uuid.UUID, session_name: str) -> None:
    """Pick a store or a size, see the rule check's answer, prepare the ZIP, download it."""
    current = attempt(export.client_preset, member, client_id=member.client_id)
    if current is None:
        return
    assert current is not None
    targets = [*STORES, SIZE_TARGET]
    target = st.selectbox(
        "Deliver to",
        targets,
        index=targets.index(current.store or SIZE_TARGET),
        format_func=lambda t: STORES.get(t, "A size of my choice"),
        key="delivery.target",
    )
    left, right = st.columns(2)
    store = None if target == SIZE_TARGET else target
    if store is None:
        sizes = list(export.SIZES)
        size = left.radio(
            "Size",
            sizes,
            index=sizes.index(current.size),
            format_func=export.SIZE_LABELS.__getitem__,
            key="delivery.size",
        )
        formats = list(FORMATS)
    else:
        size = "original"
        formats = [f for f in FORMATS if f in store_rules()[store].formats]
        left.caption(plain(store_rules()[store].label))
    fmt = right.radio(
        "Format",
        formats,
        index=formats.index(current.format) if current.format in formats else 0,
        format_func=FORMATS.__getitem__,
        key="delivery.format" if store is None else f"delivery.format.{store}",
        horizontal=True,
    )
    pattern = right.text_input(
        "File names",
        value=current.pattern,
        key="delivery.pattern",
        max_chars=export.MAX_PATTERN,
        help="Placeholders: {sku} {variant} {product} {session} {scene} {image_id} {n}",
    )
    st.caption(
        "Every picture is converted to sRGB and tagged as made with AI (IPTC digital source "
        "type), with no other metadata. A store's preset never enlarges a picture; crops go "
        "around the product. `manifest.csv` lists each file."
    )
    preset = attempt(
        export.parse_preset,
        {"size": size, "format": fmt, "store": store, "pattern": pattern or "{sku}"},
    )
    if preset is None:
        return
    assert preset is not None
    check = _checked(member, session_id, preset)
    if check is not None:
        _show_check(check)
    refused = check is not None and not check.ok
    if st.button(
        "Prepare ZIP",
        key="delivery.prepare",
        type="primary",
        shortcut="P",
        disabled=refused or (check is not None and check.images == 0),
    ):
        if can(member, Action.EDIT):
            attempt(export.remember_preset, member, client_id=member.client_id, preset=preset)
        with (
            st.spinner("Converting the approved images..."),
            tempfile.TemporaryDirectory(prefix="visualizer-delivery-") as folder,
        ):
            zipped = Path(folder) / "delivery.zip"
            made = attempt(
                export.export_session,
                member,
                session_id=session_id,
                out=zipped,
                approved_only=True,
                preset=preset,
            )
            if made is not None:
                if made["images"] == 0:
                    st.warning("No approved images yet: approve some first.")
                else:
                    st.session_state[READY] = (session_id, made["images"], zipped.read_bytes())
    ready = st.session_state.get(READY)
    if ready and ready[0] == session_id:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", session_name).strip("-") or "session"
        st.download_button(
            f"Save {ready[1]} image(s) with manifest.csv",
            data=ready[2],
            file_name=f"{slug}-{preset.store or preset.size}-{preset.format}.zip",
            mime="application/zip",
            key="delivery.download",
            type="primary",
            shortcut="S",
            on_click="ignore",
        )


def _checked(
    member: ClientScope, session_id: uuid.UUID, preset: export.DeliveryPreset
) -> export.DeliveryCheck | None:
    """The rule check of the approved set at this preset (kept while the preset is the same)."""
    key = (session_id, preset.model_dump_json())
    kept = st.session_state.get(CHECK)
    if kept and kept[0] == key:
        answer: export.DeliveryCheck = kept[1]
        return answer
    found = attempt(export.check_delivery, member, session_id=session_id, preset=preset)
    if found is not None:
        st.session_state[CHECK] = (key, found)
    return found


def _show_check(check: export.DeliveryCheck) -> None:
    """The check's answer: refusals (nothing will be written) and warnings, one line each."""
    if check.images == 0:
        st.info("No approved images yet: approve some first.")
        return
    if check.refusals:
        st.error(
            f"{len(check.refusals)} of {check.images} picture(s) break the store's rules; "
            "nothing is prepared until they are re-made or another preset is chosen."
        )
        for finding in check.refusals[:20]:
            st.markdown("- " + plain(finding.sentence()))
    else:
        st.success(f"{check.images} approved picture(s) fit {plain(check.preset)}.")
    for finding in check.warnings[:20]:
        st.caption(":material/warning: " + plain(finding.sentence()))
    if len(check.warnings) > 20:
        st.caption(f"... and {len(check.warnings) - 20} more warnings")
