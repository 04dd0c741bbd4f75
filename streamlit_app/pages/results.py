"""A session's results: live progress, then a paginated gallery of thumbnails."""

from __future__ import annotations

import streamlit as st

from streamlit_app.common import attempt, scope
from visualizer_core.services import gallery, sessions

member = scope()
all_sessions = sessions.list_sessions(member)
if not all_sessions:
    st.info("No sessions yet.")
    st.stop()
ids = [s.id for s in all_sessions]
names = {s.id: s.name for s in all_sessions}
current = st.session_state.get("results.session_id")
session_id = st.sidebar.selectbox(
    "Session",
    ids,
    index=ids.index(current) if current in ids else 0,
    format_func=names.__getitem__,
    key="results.session",
)
st.title(names[session_id])


@st.fragment(run_every="2s")
def progress() -> None:
    counts = sessions.session_status(member, session_id=session_id)
    done = counts["completed"] + counts["error"]
    if counts["total"]:
        st.progress(done / counts["total"], text=f"{done} of {counts['total']} done")
    st.caption(
        f"{counts['completed']} completed · {counts['generating']} generating · "
        f"{counts['pending']} pending · {counts['error']} failed"
    )
    if counts["pending"] + counts["generating"] == 0 and st.session_state.get("results.open"):
        st.session_state["results.open"] = False
        st.rerun()  # the gallery below shows the finished set
    st.session_state["results.open"] = counts["pending"] + counts["generating"] > 0


progress()

status_filter = st.sidebar.multiselect(
    "Status",
    ["completed", "error", "pending", "generating"],
    default=["completed"],
    key="results.status",
)
page_size = 24
page_number = st.sidebar.number_input("Page", min_value=1, value=1, key="results.page")
page = attempt(
    gallery.list_images,
    member,
    session_id=session_id,
    page=int(page_number),
    page_size=page_size,
    status=status_filter or None,
)
if page is None:
    st.stop()
st.caption(f"{page.total} image(s) · page {page.page} of {page.pages}")
columns = st.columns(4)
for index, card in enumerate(page.cards):
    with columns[index % 4]:
        if card.thumbnail_key:
            st.image(
                gallery.image_bytes(member, image_id=card.id),
                caption=f"{card.sku} · {card.product_name}",
            )
        else:
            st.markdown(f"**{card.sku}** · {card.status}")
            if card.error_message:
                st.caption(card.error_message)
