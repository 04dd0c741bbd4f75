"""Review: one image large beside its product photo and scene, judged with the keyboard.

The queue (doubtful first) is read afresh in one query on every run, so a decision another
member made shows on the next image; each decision is saved at once, then the page moves to
the next undecided image. Pictures reach the browser by URL (the bucket's, presigned, or a
cached read on the embedded default), never through a per-picture query.

Keys: A approve · X reject · F favourite · N re-run with a note · ← → previous and next ·
L lineage · 1-9 pick that variant · B the bulk approval rule · E reject and re-run errors ·
D deliver the approved set.
"""

from __future__ import annotations

import time
import uuid

import streamlit as st

from streamlit_app.common import attempt, can, open_session, plain, scope
from streamlit_app.delivery import open_delivery, show_delivery
from streamlit_app.fidelity_review import show_gate_rule, show_measurement, show_reject_reasons
from streamlit_app.lineage import close_lineage, open_lineage, show_lineage
from visualizer_core.scope import Action
from visualizer_core.services import gallery, review

CURRENT = "review.current"
ADVANCE = "review.advance_from"
NOTICE = "review.notice"
DIALOG = "review.dialog"
REMEMBERED_AT = "review.remembered_at"
REMEMBER_EVERY_S = 10.0
BADGE = {
    "rule": ":violet[:material/rule: Approved by rule]",
    "approved": ":green[:material/check_circle: Approved]",
    "rejected": ":red[:material/block: Rejected]",
    "none": ":gray[Not reviewed yet]",
}

member = scope()
editor = can(member, Action.EDIT)
may_generate = can(member, Action.GENERATE)
session = open_session(member, page="review")
st.title(f"Review · {plain(session.name)}", anchor=False)

queue = attempt(review.review_queue, member, session_id=session.id)
if queue is None:
    st.stop()
assert queue is not None

notice = st.session_state.pop(NOTICE, None)
if notice:
    st.toast(notice)

if not queue.items:
    waiting = f" {queue.open} image(s) are still being made." if queue.open else ""
    st.info(f"No finished images to review in this session yet.{waiting}")
    st.stop()

# -- where we are ------------------------------------------------------------------------------

by_id = {item.id: item for item in queue.items}
advance_from = st.session_state.pop(ADVANCE, None)
current_id = st.session_state.get(CURRENT)
if advance_from is not None:
    upcoming = queue.next_undecided(advance_from)
    current_id = upcoming.id if upcoming is not None else advance_from
if current_id not in by_id:
    start = queue.start()
    assert start is not None
    current_id = start.id
st.session_state[CURRENT] = current_id
item = by_id[current_id]
position = queue.index_of(item.id) or 0


def go(step: int) -> None:
    """Previous or next image in review order (decided ones included)."""
    index = (position + step) % queue.total
    target = queue.items[index].id
    st.session_state[CURRENT] = target
    st.session_state.pop(DIALOG, None)
    close_lineage()
    remember(target)


def remember(image_id: uuid.UUID) -> None:
    """Keep the member's place for the next visit, at most every ``REMEMBER_EVERY_S``: the
    place is on the session row, which is large, and resuming from a place a few images back
    lands on the same next undecided image."""
    now = time.monotonic()
    if now - float(st.session_state.get(REMEMBERED_AT, -REMEMBER_EVERY_S)) >= REMEMBER_EVERY_S:
        st.session_state[REMEMBERED_AT] = now
        attempt(review.remember_position, member, session_id=session.id, image_id=image_id)


def decided(image_id: uuid.UUID, decision: review.Decision) -> None:
    if attempt(review.decide, member, image_id=image_id, decision=decision) is not None:
        st.session_state[ADVANCE] = image_id
        remember(image_id)
        st.session_state.pop(DIALOG, None)
        close_lineage()


def decided_after(image_id: uuid.UUID) -> None:
    """Move on after a decision made elsewhere on the page (a quick reject reason)."""
    st.session_state[ADVANCE] = image_id
    remember(image_id)
    st.session_state.pop(DIALOG, None)
    close_lineage()


def toggle_favourite(image_id: uuid.UUID, value: bool) -> None:
    attempt(review.set_favourite, member, image_id=image_id, favourite=value)


def pick(image_id: uuid.UUID) -> None:
    changed = attempt(review.pick_variant, member, image_id=image_id)
    if changed is not None:
        st.session_state[NOTICE] = f"Picked this variant: {changed} image(s) updated."
        st.session_state[ADVANCE] = image_id
        remember(image_id)


done_share = queue.reviewed / queue.total
st.progress(done_share, text=f"**{queue.reviewed} of {queue.total} reviewed**")
extra = []
if queue.open:
    extra.append(f"{queue.open} still being made")
if queue.errors:
    extra.append(f"{len(queue.errors)} failed")
st.caption(
    f"Image {position + 1} of {queue.total} · {review.GROUP_LABELS[item.group]}"
    + (f" · {' · '.join(extra)}" if extra else "")
)

# -- the image, its product and its scene ------------------------------------------------------

urls = review.pictures(item)
left, right = st.columns([3, 1.3], gap="medium")
with left:
    if "image" in urls:
        st.image(urls["image"], width="stretch")
    else:
        st.warning("The picture of this image is missing from storage.")
with right:
    st.caption("Product photo")
    if "product" in urls:
        st.image(urls["product"], width="stretch")
    st.caption(f"Scene · {plain(item.scene_name or item.scene_id or 'unknown')}")
    if "scene" in urls:
        st.image(urls["scene"], width="stretch")

star = ":orange[:material/star:] " if item.favourite else ""
score = "not scored yet" if item.fidelity_score is None else f"{item.fidelity_score:.2f}"
st.markdown(
    f"{star}**{plain(item.sku)}** · {plain(item.product_name)} · variant {item.variant + 1} · "
    f"fidelity **{score}** · {BADGE['rule' if item.by_rule else item.review_state]}"
    + (" · :orange[spot check]" if item.by_rule and item.spot_check else "")
)
show_measurement(item)
if item.match_reason:
    match = "" if item.match_score is None else f" (match {item.match_score:.2f})"
    st.caption(f"Why this scene: {plain(item.match_reason)}{match}")
elif item.rerun_of_id is not None:
    st.caption("A re-run: its scene was kept from the image it re-makes.")

# -- decisions ---------------------------------------------------------------------------------


def open_dialog(name: str, image_id: uuid.UUID) -> None:
    """Open a dialog about one image; it stays open across reruns until dismissed."""
    st.session_state[DIALOG] = (name, image_id)


def close_dialog() -> None:
    st.session_state.pop(DIALOG, None)


@st.dialog("Re-run with a note", on_dismiss=close_dialog)
def note_dialog(image_id: uuid.UUID) -> None:
    """Reject the image and make it again in the same scene, the note added to the prompt."""
    with st.form("review.note_form", border=False):
        note = st.text_input(
            "What should change?",
            placeholder="e.g. keep the legs wooden, softer light",
            max_chars=500,
            key="review.note",
        )
        sent = st.form_submit_button("Reject and re-run", type="primary")
    if sent:
        made = attempt(review.rerun_with_note, member, image_id=image_id, note=note)
        if made is not None:
            st.session_state[NOTICE] = "Rejected; a new version is on its way."
            st.session_state[ADVANCE] = image_id
            close_dialog()
            st.rerun()


buttons = st.columns(7)
buttons[0].button(
    "Previous",
    key="review.prev",
    icon=":material/arrow_back:",
    shortcut="Left",
    on_click=go,
    args=(-1,),
    width="stretch",
)
if editor:
    buttons[1].button(
        "Approve",
        key="review.approve",
        icon=":material/check:",
        shortcut="A",
        type="primary",
        on_click=decided,
        args=(item.id, "approved"),
        width="stretch",
    )
    buttons[2].button(
        "Reject",
        key="review.reject",
        icon=":material/close:",
        shortcut="X",
        on_click=decided,
        args=(item.id, "rejected"),
        width="stretch",
    )
    buttons[3].button(
        "Unfavourite" if item.favourite else "Favourite",
        key="review.favourite",
        icon=":material/star:",
        shortcut="F",
        on_click=toggle_favourite,
        args=(item.id, not item.favourite),
        width="stretch",
    )
    if may_generate:
        buttons[4].button(
            "Re-run",
            help="Reject and make it again with a note on what should change",
            key="review.rerun",
            icon=":material/edit_note:",
            shortcut="N",
            width="stretch",
            on_click=open_dialog,
            args=("note", item.id),
        )
buttons[5].button(
    "Lineage",
    key="review.lineage",
    icon=":material/account_tree:",
    shortcut="L",
    width="stretch",
    on_click=open_lineage,
    args=(item.id,),
)
buttons[6].button(
    "Next",
    key="review.next",
    icon=":material/arrow_forward:",
    shortcut="Right",
    on_click=go,
    args=(1,),
    width="stretch",
)
if editor:
    show_reject_reasons(member, item, decided_after)
if not editor:
    st.caption("You can look through the images; deciding is for editors and owners.")
show_lineage(member)
opened = st.session_state.get(DIALOG)
if opened is not None:
    which, about = opened
    if which == "note" and may_generate:
        note_dialog(about)

# -- the product's variants side by side -------------------------------------------------------

variants = queue.variants(item)
if len(variants) > 1:
    st.subheader(f"Variants of {plain(item.sku)}", anchor=False)
    thumbs = gallery.browser_urls([v.thumbnail_key for v in variants])
    cells = st.columns(max(len(variants), 4))
    for number, variant in enumerate(variants[:9], start=1):
        with cells[number - 1], st.container(border=True):
            if variant.thumbnail_key in thumbs:
                st.image(thumbs[variant.thumbnail_key], width="stretch")
            here = " · :blue[shown above]" if variant.id == item.id else ""
            fidelity = "-" if variant.fidelity_score is None else f"{variant.fidelity_score:.2f}"
            st.markdown(f"**{number}** · fidelity {fidelity}{here}")
            st.caption(BADGE[variant.review_state])
            if editor:
                st.button(
                    "Pick this one",
                    key=f"review.pick.{variant.id}",
                    shortcut=str(number),
                    on_click=pick,
                    args=(variant.id,),
                    width="stretch",
                    help="Approve this variant and reject the product's others",
                )

# -- bulk decisions with a rule ----------------------------------------------------------------

if editor:
    st.subheader("Decide many at once", anchor=False)
    rule, errors = st.columns(2)
    with rule, st.container(border=True):
        threshold = st.slider(
            "Approve every image with fidelity at least",
            0.0,
            1.0,
            0.85,
            0.01,
            key="review.rule_fidelity",
        )
        matching = [i.id for i in queue.rule_matches(threshold)]
        count = len(matching)
        st.caption(
            f"that nobody decided yet: **{count}** image(s). Rejected and unscored images "
            "are left alone."
        )

        def approve_rule() -> None:
            changed = attempt(
                review.approve_by_rule,
                member,
                session_id=session.id,
                min_fidelity=threshold,
                only=matching,
            )
            if changed is not None:
                st.session_state[NOTICE] = f"Approved {changed} image(s) by the rule."

        st.button(
            f"Approve {count} image(s)",
            key="review.rule_run",
            shortcut="B",
            disabled=count == 0,
            on_click=approve_rule,
        )
    with errors, st.container(border=True):
        failed = len(queue.unrerun_errors())
        st.markdown(f"**Failed images not re-made yet: {failed}**")
        st.caption("Rejects each and makes it again with its flow's settings, in its scene.")

        def rerun_failed() -> None:
            changed = attempt(review.rerun_errors, member, session_id=session.id)
            if changed is not None:
                st.session_state[NOTICE] = f"Re-running {changed} failed image(s)."

        st.button(
            f"Reject and re-run {failed} error(s)",
            key="review.errors_run",
            shortcut="E",
            disabled=failed == 0 or not may_generate,
            on_click=rerun_failed,
        )

# -- the fidelity gate: approve what it trusts, by rule; undo in one step ----------------------

if editor:
    show_gate_rule(member, queue, session_id=session.id)

# -- delivery ----------------------------------------------------------------------------------

st.subheader("Deliver", anchor=False)
approved = sum(1 for i in queue.items if i.review_state == "approved")
st.caption(f"{approved} approved image(s) ready to deliver at a store's sizes.")
st.button(
    "Deliver approved images",
    key="review.deliver",
    icon=":material/local_shipping:",
    shortcut="D",
    disabled=approved == 0,
    on_click=open_delivery,
)
show_delivery(member, session_id=session.id, session_name=session.name)
