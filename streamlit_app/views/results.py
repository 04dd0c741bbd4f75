"""Results: live progress while images are made, then the gallery to review, re-run and download.

The progress block is a fragment that re-runs itself every two seconds only while images are
open; every few seconds, when images have finished, it re-runs the whole page so they join the
gallery; when the last one finishes it re-runs the page once more, which shows the finished
gallery and defines the fragment without a timer. The gallery shows one page of thumbnails at a
time.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from pathlib import Path

import streamlit as st

from streamlit_app.common import BATCH, attempt, can, open_session, plain, scope
from streamlit_app.delivery import open_delivery, show_delivery
from streamlit_app.lineage import open_lineage, show_lineage
from visualizer_core.schemas import ASPECT_RATIOS, ImageStatus
from visualizer_core.scope import Action
from visualizer_core.services import export, gallery, generation, plans, products, sessions

PAGE_SIZE = 24
GALLERY_REFRESH_S = 6.0  # while images are being made, the gallery catches up this often
COLUMNS = 4
STATUSES = ["completed", "error", "generating", "pending"]
REVIEW = {"none": "Not reviewed", "approved": "Approved", "rejected": "Rejected"}
BADGE = {
    "approved": ":green[:material/check_circle: approved]",
    "rejected": ":red[:material/block: rejected]",
    "none": "",
}

member = scope()
editor = can(member, Action.EDIT)
may_generate = can(member, Action.GENERATE)
session = open_session(member, page="results")
st.title(plain(session.name), anchor=False)
if st.button(
    "Review one by one", key="results.review_mode", icon=":material/rate_review:", type="primary"
):
    st.switch_page("views/review.py")

notice = st.session_state.pop("results.notice", None)
if notice:
    st.success(notice)

# -- progress ----------------------------------------------------------------------------------

status_now = attempt(sessions.session_status, member, session_id=session.id)
if status_now is None:
    st.stop()
assert status_now is not None
first: dict[str, int] = status_now
running = first["pending"] + first["generating"] > 0
rendered_at = time.monotonic()


def batch_progress() -> None:
    """The batch this person started last in this session, under the whole session's count
    (which holds every image the session ever made)."""
    started = st.session_state.get(BATCH)
    if not started or started[0] != session.id:
        return
    batch = attempt(generation.batch_status, member, flow_id=started[1])
    if not batch or not batch["total"]:
        return
    finished = batch["completed"] + batch["error"]
    failed = f" ({batch['error']} failed)" if batch["error"] else ""
    st.progress(
        finished / batch["total"],
        text=f"**This batch: {finished} of {batch['total']} done**{failed}",
    )


@st.fragment(run_every="2s" if running else None)
def progress() -> None:
    """Counts by status; while running, refreshed every 2 s; at the end, one full re-run."""
    counts = attempt(sessions.session_status, member, session_id=session.id)
    if counts is None:
        return
    open_now = counts["pending"] + counts["generating"]
    done = counts["completed"] + counts["error"]
    if counts["total"]:
        label = (
            f"{done} of {counts['total']} done"
            if open_now
            else f"All {counts['total']} image(s) done"
        )
        st.progress(done / counts["total"], text=label)
        batch_progress()
    else:
        st.info("No images yet: start a generation on the Match & generate page.")
    st.caption(
        f"{counts['completed']} completed · {counts['generating']} generating · "
        f"{counts['pending']} pending · {counts['error']} failed"
    )
    if open_now:
        # A model whose day's quota is used up: its images wait (not failed) and resume alone.
        for paused in attempt(sessions.paused_models, member, session_id=session.id) or []:
            resets = str(paused["until"])[:16].replace("T", " ")
            st.warning(
                f"{paused['images']} image(s) paused: the daily quota of {paused['model']} is"
                f" used up. They resume by themselves when it resets ({resets} UTC).",
                icon=":material/schedule:",
            )
    if running and open_now == 0:
        st.rerun()  # the whole page: the gallery shows the finished set, the timer stops
    finished_since = counts["completed"] + counts["error"] > first["completed"] + first["error"]
    if running and finished_since and time.monotonic() - rendered_at >= GALLERY_REFRESH_S:
        st.rerun()  # the whole page, now and then, so that finished images join the gallery


progress()
if not first["total"]:
    st.stop()

# -- filters -----------------------------------------------------------------------------------


def back_to_first_page() -> None:
    st.session_state["results.page"] = 1


catalog = {p.id: p for p in attempt(products.list_products, member) or []}
with st.container(border=True):
    row = st.columns([2, 3, 2, 2, 1.4])
    status = row[0].multiselect(
        "Status",
        STATUSES,
        default=["completed"],
        key="results.status",
        on_change=back_to_first_page,
    )
    product_ids = row[1].multiselect(
        "Product",
        list(catalog),
        format_func=lambda pid: f"{catalog[pid].sku} · {catalog[pid].name}",
        key="results.products",
        on_change=back_to_first_page,
    )
    review = row[2].multiselect(
        "Review",
        list(REVIEW),
        format_func=REVIEW.__getitem__,
        key="results.review",
        on_change=back_to_first_page,
    )
    min_fidelity = row[3].slider(
        "Fidelity at least",
        0.0,
        1.0,
        0.0,
        0.05,
        key="results.fidelity",
        on_change=back_to_first_page,
        help="How closely the image keeps the product (when scored); 0 shows all.",
    )
    favourites = row[4].toggle(
        ":material/star: only", key="results.favourites", on_change=back_to_first_page
    )

if "results.page" not in st.session_state:
    st.session_state["results.page"] = 1
found = attempt(
    gallery.list_images,
    member,
    session_id=session.id,
    page=int(st.session_state["results.page"]),
    page_size=PAGE_SIZE,
    status=status or None,
    review_state=review or None,
    product_ids=product_ids or None,
    favourites_only=favourites,
    min_fidelity=min_fidelity or None,
)
if found is None:
    st.stop()
assert found is not None
listing: gallery.GalleryPage = found
if listing.page > listing.pages:
    st.session_state["results.page"] = listing.pages
    st.rerun()

# -- the gallery -------------------------------------------------------------------------------


def pick_key(image_id: uuid.UUID) -> str:
    return f"results.pick.{image_id}"


def decide(image_ids: list[uuid.UUID], **change: object) -> None:
    """Approve, reject or favourite; the page shows the change on its next run."""
    changed = attempt(gallery.review_images, member, image_ids=image_ids, **change)
    if changed is not None:
        st.session_state["results.notice"] = f"{changed} image(s) updated."


st.caption(f"{listing.total} image(s) · page {listing.page} of {listing.pages}")
if not listing.cards:
    st.info(
        "Images appear here as they finish."
        if running and first["completed"] == 0
        else "No images match these filters."
    )
columns = st.columns(COLUMNS)
for index, card in enumerate(listing.cards):
    with columns[index % COLUMNS], st.container(border=True):
        if card.thumbnail_url:
            st.image(card.thumbnail_url)
        else:
            st.markdown(f"_{card.status}_")
        star = ":orange[:material/star:] " if card.favourite else ""
        score = f" · {card.fidelity_label}" if card.fidelity_label else ""
        st.markdown(f"{star}**{plain(card.sku)}** · v{card.variant + 1} {BADGE[card.review_state]}")
        st.caption(f"{plain(card.product_name)}{score}")
        if card.error_message:
            st.error(card.error_message)
        st.button(
            "Lineage",
            key=f"results.lineage.{card.id}",
            icon=":material/account_tree:",
            type="tertiary",
            on_click=open_lineage,
            args=(card.id,),
            help="Earlier versions of this image and what changed",
        )
        if editor:
            st.checkbox("Select", key=pick_key(card.id))
            buttons = st.columns(3)
            buttons[0].button(
                ":material/star:" if card.favourite else ":material/star_border:",
                key=f"results.fav.{card.id}",
                help="Remove from favourites" if card.favourite else "Add to favourites",
                on_click=decide,
                args=([card.id],),
                kwargs={"favourite": not card.favourite},
            )
            if card.status == ImageStatus.COMPLETED:
                buttons[1].button(
                    ":material/check:",
                    key=f"results.approve.{card.id}",
                    help="Approve",
                    on_click=decide,
                    args=([card.id],),
                    kwargs={"review_state": "approved"},
                )
                buttons[2].button(
                    ":material/close:",
                    key=f"results.reject.{card.id}",
                    help="Reject",
                    on_click=decide,
                    args=([card.id],),
                    kwargs={"review_state": "rejected"},
                )


def turn_page(step: int) -> None:
    st.session_state["results.page"] = int(st.session_state["results.page"]) + step


pager = st.columns([1, 1, 6])
pager[0].button(
    "← Previous", key="results.prev", disabled=listing.page <= 1, on_click=turn_page, args=(-1,)
)
pager[1].button(
    "Next →",
    key="results.next",
    disabled=listing.page >= listing.pages,
    on_click=turn_page,
    args=(1,),
)

# -- acting on the selection -------------------------------------------------------------------

if editor:
    selected = [c for c in listing.cards if st.session_state.get(pick_key(c.id))]

    def select_page(value: bool) -> None:
        for card in listing.cards:
            st.session_state[pick_key(card.id)] = value

    st.subheader(f"Selected: {len(selected)}")
    actions = st.columns(5)
    actions[0].button("Select page", key="results.select_all", on_click=select_page, args=(True,))
    actions[1].button("Clear", key="results.select_none", on_click=select_page, args=(False,))
    ids = [c.id for c in selected]
    actions[2].button(
        "Approve selected",
        key="results.approve_selected",
        disabled=not ids,
        on_click=decide,
        args=(ids,),
        kwargs={"review_state": "approved"},
    )
    actions[3].button(
        "Reject selected",
        key="results.reject_selected",
        disabled=not ids,
        on_click=decide,
        args=(ids,),
        kwargs={"review_state": "rejected"},
    )
    actions[4].button(
        ":material/star: selected",
        key="results.fav_selected",
        disabled=not ids,
        on_click=decide,
        args=(ids,),
        kwargs={"favourite": True},
    )

    def regenerate(chosen: list[gallery.ImageCard]) -> None:
        """The chosen images made again in their scenes, with the settings in the form."""
        made = attempt(
            plans.rerun,
            member,
            image_ids=[card.id for card in chosen],
            overrides={
                "aspect_ratio": st.session_state["results.rerun_ratio"],
                "variants": int(st.session_state["results.rerun_variants"]),
                "prompt": st.session_state["results.rerun_prompt"],
            },
        )
        if made is not None:
            select_page(False)
            new = sum(len(ids) for ids in made.made.values())
            st.session_state["results.notice"] = f"Regenerating: {new} new image(s) on their way."

    if may_generate:
        with st.expander(f"Regenerate {len(selected)} selected with changed settings"):
            left, middle = st.columns(2)
            ratio = left.selectbox("Aspect ratio", ASPECT_RATIOS, key="results.rerun_ratio")
            variants = middle.number_input(
                "Variants", min_value=1, max_value=8, value=1, key="results.rerun_variants"
            )
            prompt = st.text_area("Extra prompt text", max_chars=2000, key="results.rerun_prompt")
            st.button(
                "Regenerate",
                key="results.rerun",
                type="primary",
                disabled=not selected,
                on_click=regenerate,
                args=(selected,),
            )

# -- download ----------------------------------------------------------------------------------

st.subheader("Download")
if st.button("Prepare ZIP of approved images", key="results.prepare"):
    with tempfile.TemporaryDirectory(prefix="visualizer-export-") as folder:
        target = Path(folder) / "approved.zip"
        made = attempt(
            export.export_session, member, session_id=session.id, out=target, approved_only=True
        )
        if made is not None:
            if made["images"] == 0:
                st.warning("No approved images yet: approve some in the gallery first.")
            else:
                st.session_state["results.zip"] = (session.id, made["images"], target.read_bytes())
st.button(
    "Deliver at a store's sizes",
    key="results.deliver",
    icon=":material/local_shipping:",
    on_click=open_delivery,
)
show_delivery(member, session_id=session.id, session_name=session.name)
show_lineage(member)
ready = st.session_state.get("results.zip")
if ready and ready[0] == session.id:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", session.name).strip("-") or "session"
    st.download_button(
        f"Download {ready[1]} approved image(s) with manifest.csv",
        data=ready[2],
        file_name=f"{slug}-approved.zip",
        mime="application/zip",
        key="results.download",
        type="primary",
    )
