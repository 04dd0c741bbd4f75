"""The lineage dialog, one click from an image on Review and Results: the image and the
earlier versions it re-made, each with what changed (prompt, scene, model, seed, cost)."""

from __future__ import annotations

import uuid

import streamlit as st

from streamlit_app.common import attempt, plain
from streamlit_app.dialogs import close_dialog, open_dialog, opened
from visualizer_core.scope import ClientScope
from visualizer_core.services import gallery, review

NAME = "lineage"


def open_lineage(image_id: uuid.UUID) -> None:
    """Open the dialog for this image (it stays open across reruns until dismissed)."""
    open_dialog(NAME, image_id)


def show_lineage(member: ClientScope) -> None:
    """The dialog, when it was opened on this page (about the image it was opened for)."""
    about = opened(NAME)
    if about is not None and about.subject is not None:
        lineage_dialog(member, about.subject)


@st.dialog("Lineage", width="large", on_dismiss=close_dialog)
def lineage_dialog(member: ClientScope, image_id: uuid.UUID) -> None:
    versions = attempt(review.lineage, member, image_id=image_id)
    if not versions:
        return
    if len(versions) == 1:
        st.caption("The first version of this image: nothing re-made it yet.")
    thumbs = gallery.browser_urls([v.thumbnail_key for v in versions])
    for number, version in enumerate(versions):
        row = st.columns([1, 3])
        if version.thumbnail_key in thumbs:
            row[0].image(thumbs[version.thumbnail_key])
        label = "This image" if number == 0 else f"Earlier version {number}"
        cost = "" if version.cost_usd is None else f" · cost \\${version.cost_usd:.4f}"
        fidelity = (
            "" if version.fidelity_score is None else f" · fidelity {version.fidelity_score:.2f}"
        )
        row[1].markdown(f"**{label}** · {version.status} · {version.review_state}{fidelity}{cost}")
        row[1].caption(
            f"{version.created_at:%Y-%m-%d %H:%M} · model {plain(version.model or '?')} · "
            f"seed {version.seed} · {version.aspect_ratio} · scene {plain(version.scene_id or '?')}"
        )
        if number + 1 < len(versions):
            changed = ", ".join(version.changes) if version.changes else "nothing else"
            row[1].caption(f"Changed from the version before: {changed}")
        if version.prompt:
            with row[1].expander("Prompt"):
                st.text(version.prompt)
