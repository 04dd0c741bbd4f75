"""The delivery dialog shared by Review and Results: the approved set at a store's preset.

The preset (format, size, file-name pattern) opens as the client chose it last; preparing the
ZIP remembers the choice for the whole client (editors and owners). Keys: P prepares, S saves.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path

import streamlit as st

from streamlit_app.common import attempt, can
from visualizer_core.scope import Action, ClientScope
from visualizer_core.services import export

READY = "delivery.zip"
OPEN = "delivery.open"
FORMATS = {"jpeg": "JPEG", "webp": "WebP"}


def open_delivery() -> None:
    """Open the dialog (it stays open across reruns until it is dismissed)."""
    st.session_state[OPEN] = True


def _dismissed() -> None:
    st.session_state.pop(OPEN, None)


def show_delivery(member: ClientScope, *, session_id: uuid.UUID, session_name: str) -> None:
    """The dialog, when it was opened on this page."""
    if st.session_state.get(OPEN):
        delivery_dialog(member, session_id=session_id, session_name=session_name)


@st.dialog("Deliver approved images", width="large", on_dismiss=_dismissed)
def delivery_dialog(member: ClientScope, *, session_id: uuid.UUID, session_name: str) -> None:
    """Pick a preset, prepare the ZIP of the approved images, download it."""
    current = attempt(export.client_preset, member, client_id=member.client_id)
    if current is None:
        return
    assert current is not None
    sizes = list(export.SIZES)
    left, right = st.columns(2)
    size = left.radio(
        "Size",
        sizes,
        index=sizes.index(current.size),
        format_func=export.SIZE_LABELS.__getitem__,
        key="delivery.size",
    )
    fmt = right.radio(
        "Format",
        list(FORMATS),
        index=list(FORMATS).index(current.format),
        format_func=FORMATS.__getitem__,
        key="delivery.format",
        horizontal=True,
    )
    pattern = right.text_input(
        "File names",
        value=current.pattern,
        key="delivery.pattern",
        help="Placeholders: {sku} {variant} {product} {session} {scene} {image_id} {n}",
    )
    st.caption(
        "Every picture is converted to sRGB and tagged as made with AI (IPTC digital source "
        "type), with no other metadata; sizes other than the "
        "original are cropped to the shape from the centre. `manifest.csv` lists each file."
    )
    preset = attempt(
        export.parse_preset, {"size": size, "format": fmt, "pattern": pattern or "{sku}"}
    )
    if preset is None:
        return
    assert preset is not None
    if st.button("Prepare ZIP", key="delivery.prepare", type="primary", shortcut="P"):
        if can(member, Action.EDIT):
            attempt(export.remember_preset, member, client_id=member.client_id, preset=preset)
        with (
            st.spinner("Converting the approved images..."),
            tempfile.TemporaryDirectory(prefix="visualizer-delivery-") as folder,
        ):
            target = Path(folder) / "delivery.zip"
            made = attempt(
                export.export_session,
                member,
                session_id=session_id,
                out=target,
                approved_only=True,
                preset=preset,
            )
            if made is not None:
                if made["images"] == 0:
                    st.warning("No approved images yet: approve some first.")
                else:
                    st.session_state[READY] = (session_id, made["images"], target.read_bytes())
    ready = st.session_state.get(READY)
    if ready and ready[0] == session_id:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", session_name).strip("-") or "session"
        st.download_button(
            f"Save {ready[1]} image(s) with manifest.csv",
            data=ready[2],
            file_name=f"{slug}-{preset.size}-{preset.format}.zip",
            mime="application/zip",
            key="delivery.download",
            type="primary",
            shortcut="S",
            on_click="ignore",
        )
