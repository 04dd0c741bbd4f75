"""Review: one image large beside its product photo and scene, judged with the keyboard.

The queue (doubtful first) is read afresh in one query on every run, so a decision another
member made shows on the next image; each decision is saved at once, then the page moves to
the next undecided image. Pictures reach the browser by URL (the bucket's, presigned, or a
cached read on the embedded default), never through a per-picture query.

Keys: A approve · X reject · F favourite · N re-run with a note · Z undo · ← → previous and
next · L lineage · 1-9 pick that variant · B the bulk approval rule and E reject and re-run
the failed images (each shows the images it will touch and asks first) · D deliver the
approved set. The keyboard rule of :mod:`streamlit_app.dialogs` holds: one dialog at a time,
bound to the image it was opened for, no key acting behind it. Every decision says what it did
in a toast and can be taken back with Z (the last first).

The page's address names the session and the image shown (``?session=<id>&image=<id>``): a
refresh comes back to the same image, and a link a member shares opens it for a teammate.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import streamlit as st

from streamlit_app.common import (
    attempt,
    can,
    from_address,
    open_session,
    plain,
    scope,
    to_address,
)
from streamlit_app.delivery import open_delivery, show_delivery
from streamlit_app.dialogs import close_dialog, open_dialog, opened, shortcut
from streamlit_app.fidelity_review import (
    gate_dialog,
    show_gate_rule,
    show_measurement,
    show_reject_reasons,
    thumbnail_grid,
)
from streamlit_app.lineage import open_lineage, show_lineage
from visualizer_core.scope import Action
from visualizer_core.services import gallery, review

CURRENT = "review.current"
IMAGE_IN_URL = "review.image_in_url"  # the image id this tab last put in the address
ADVANCE = "review.advance_from"
NOTICE = "review.notice"
UNDO = "review.undo_steps"
RULE = "review.rule_images"
UNDO_KEPT = 50
REMEMBERED_AT = "review.remembered_at"
REMEMBER_EVERY_S = 10.0
BADGE = {
    "rule": ":violet[:material/rule: Approved by rule]",
    "approved": ":green[:material/check_circle: Approved]",
    "rejected": ":red[:material/block: Rejected]",
    "none": ":gray[Not reviewed yet]",
}


@dataclass(frozen=True)
class Undo:
    """What one decision changed, to take it back: each image's review state before and after,
    a favourite mark's value before, and the image to show again."""

    said: str
    changes: dict[uuid.UUID, tuple[review.Decision, review.Decision]] = field(default_factory=dict)
    favourite: tuple[uuid.UUID, bool] | None = None
    rule_images: tuple[uuid.UUID, ...] = ()
    back_to: uuid.UUID | None = None


def named(item: review.ReviewItem) -> str:
    """How a toast or a dialog names an image: its sku and variant (markdown-safe)."""
    return f"{plain(item.sku)} · variant {item.variant + 1}"


member = scope()
editor = can(member, Action.EDIT)
may_generate = can(member, Action.GENERATE)
session = open_session(member, page="review")
st.title(f"Review · {plain(session.name)}", anchor=False)

loaded = attempt(review.review_queue, member, session_id=session.id)
if loaded is None:
    st.stop()
assert loaded is not None
queue: review.ReviewQueue = loaded

notice = st.session_state.pop(NOTICE, None)
if notice:
    st.toast(notice)

if not queue.items:
    waiting = f" {queue.open} image(s) are still being made." if queue.open else ""
    st.info(f"No finished images to review in this session yet.{waiting}")
    st.stop()

# -- where we are ------------------------------------------------------------------------------

by_id = {item.id: item for item in queue.items}
linked = from_address("image", IMAGE_IN_URL)
if linked in by_id:  # a link or a refresh names the image
    st.session_state[CURRENT] = linked
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
to_address("image", current_id, IMAGE_IN_URL)
item = by_id[current_id]
position = queue.index_of(item.id) or 0


def go(step: int) -> None:
    """Previous or next image in review order (decided ones included)."""
    index = (position + step) % queue.total
    target = queue.items[index].id
    st.session_state[CURRENT] = target
    close_dialog()
    remember(target)


def remember(image_id: uuid.UUID) -> None:
    """Keep the member's place for the next visit, at most every ``REMEMBER_EVERY_S``: the
    place is on the session row, which is large, and resuming from a place a few images back
    lands on the same next undecided image."""
    now = time.monotonic()
    if now - float(st.session_state.get(REMEMBERED_AT, -REMEMBER_EVERY_S)) >= REMEMBER_EVERY_S:
        st.session_state[REMEMBERED_AT] = now
        attempt(review.remember_position, member, session_id=session.id, image_id=image_id)


def done(step: Undo, *, advance_from: uuid.UUID | None) -> None:
    """After a decision was saved: keep it for Z, say what it did, move on."""
    kept: list[Undo] = st.session_state.setdefault(UNDO, [])
    kept.append(step)
    del kept[:-UNDO_KEPT]
    st.session_state[NOTICE] = f"{step.said}. Press Z to undo."
    if advance_from is not None:
        st.session_state[ADVANCE] = advance_from
        remember(advance_from)
    close_dialog()


def decided(about: review.ReviewItem, decision: review.Decision) -> None:
    if attempt(review.decide, member, image_id=about.id, decision=decision) is not None:
        step = Undo(
            said=f"{decision.capitalize()} {named(about)}",
            changes={about.id: (about.review_state, decision)},  # type: ignore[dict-item]
            back_to=about.id,
        )
        done(step, advance_from=about.id)


def toggle_favourite(about: review.ReviewItem) -> None:
    value = not about.favourite
    if attempt(review.set_favourite, member, image_id=about.id, favourite=value) is not None:
        said = "Favourited" if value else "Unfavourited"
        step = Undo(said=f"{said} {named(about)}", favourite=(about.id, about.favourite))
        done(step, advance_from=None)


def pick(chosen: review.ReviewItem, among: list[review.ReviewItem]) -> None:
    changed = attempt(review.pick_variant, member, image_id=chosen.id)
    if changed is not None:
        changes = {
            v.id: (v.review_state, "approved" if v.id == chosen.id else "rejected") for v in among
        }
        step = Undo(
            said=f"Picked {named(chosen)}: {changed} image(s) updated",
            changes=changes,  # type: ignore[arg-type]
            back_to=chosen.id,
        )
        done(step, advance_from=chosen.id)


def rejected_because(about: review.ReviewItem, reason: str) -> None:
    """A quick reject reason: the rejection saved with its reason (a label), kept for Z."""
    saved = attempt(review.decide, member, image_id=about.id, decision="rejected", reason=reason)
    if saved is not None:
        step = Undo(
            said=f"Rejected {named(about)} ({reason})",
            changes={about.id: (about.review_state, "rejected")},  # type: ignore[dict-item]
            back_to=about.id,
        )
        done(step, advance_from=about.id)


def approved_by_gate(run: review.RuleRun, said: str) -> None:
    """The gate's rule run, kept for Z like any decision."""
    done(Undo(said=said, rule_images=tuple(run.approved)), advance_from=None)


def undo_rule_run(images: tuple[uuid.UUID, ...]) -> bool:
    """Take back the rule run that approved ``images`` (those still approved by it)."""
    now = attempt(review.review_queue, member, session_id=session.id)
    if now is None:
        return False
    wanted = set(images)
    batches = {i.rule_batch for i in now.items if i.id in wanted and i.by_rule and i.rule_batch}
    for batch in sorted(batches):
        if attempt(review.undo_rule, member, session_id=session.id, batch=batch) is None:
            return False
    return True


def undo_last() -> None:
    """Take the last decision back (Z) and show its image again."""
    kept: list[Undo] = st.session_state.get(UNDO) or []
    if not kept:
        return
    step = kept.pop()
    close_dialog()
    if step.changes and attempt(review.undo_decisions, member, changes=step.changes) is None:
        return
    if step.rule_images and not undo_rule_run(step.rule_images):
        return
    if step.favourite is not None:
        image_id, before = step.favourite
        if attempt(review.set_favourite, member, image_id=image_id, favourite=before) is None:
            return
    if step.back_to is not None:
        st.session_state[CURRENT] = step.back_to
    st.session_state[NOTICE] = f"Undone: {step.said}."


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

# -- the image on screen, and what can be done with it -----------------------------------------

star = ":orange[:material/star:] " if item.favourite else ""
score = "not scored yet" if item.fidelity_score is None else f"{item.fidelity_score:.2f}"
st.markdown(
    f"{star}**{plain(item.sku)}** · {plain(item.product_name)} · variant {item.variant + 1} · "
    f"fidelity **{score}** · {BADGE['rule' if item.by_rule else item.review_state]}"
    + (" · :orange[spot check]" if item.by_rule and item.spot_check else "")
)
variants = queue.variants(item)
kept_undo: list[Undo] = st.session_state.get(UNDO) or []

buttons = st.columns(8)
buttons[0].button(
    "Previous",
    key="review.prev",
    icon=":material/arrow_back:",
    shortcut=shortcut("Left"),
    on_click=go,
    args=(-1,),
    width="stretch",
)
if editor:
    buttons[1].button(
        "Approve",
        key="review.approve",
        icon=":material/check:",
        shortcut=shortcut("A"),
        type="primary",
        on_click=decided,
        args=(item, "approved"),
        width="stretch",
    )
    buttons[2].button(
        "Reject",
        key="review.reject",
        icon=":material/close:",
        shortcut=shortcut("X"),
        on_click=decided,
        args=(item, "rejected"),
        width="stretch",
    )
    buttons[3].button(
        "Unfavourite" if item.favourite else "Favourite",
        key="review.favourite",
        icon=":material/star:",
        shortcut=shortcut("F"),
        on_click=toggle_favourite,
        args=(item,),
        width="stretch",
    )
    if may_generate:
        buttons[4].button(
            "Re-run",
            help="Reject and make it again with a note on what should change",
            key="review.rerun",
            icon=":material/edit_note:",
            shortcut=shortcut("N"),
            width="stretch",
            on_click=open_dialog,
            args=("note", item.id),
        )
    buttons[6].button(
        "Undo",
        key="review.undo",
        icon=":material/undo:",
        shortcut=shortcut("Z"),
        help=f"Take back: {kept_undo[-1].said}" if kept_undo else "Nothing to take back yet",
        disabled=not kept_undo,
        on_click=undo_last,
        width="stretch",
    )
buttons[5].button(
    "Lineage",
    key="review.lineage",
    icon=":material/account_tree:",
    shortcut=shortcut("L"),
    width="stretch",
    on_click=open_lineage,
    args=(item.id,),
)
buttons[7].button(
    "Next",
    key="review.next",
    icon=":material/arrow_forward:",
    shortcut=shortcut("Right"),
    on_click=go,
    args=(1,),
    width="stretch",
)
if editor:
    show_reject_reasons(item, lambda reason: rejected_because(item, reason))
if not editor:
    st.caption("You can look through the images; deciding is for editors and owners.")

# -- the image, its product, its scene, and the product's variants as a filmstrip -------------

STATE_WORD = {"approved": ":green[approved]", "rejected": ":red[rejected]", "none": "undecided"}


def filmstrip(variants: list[review.ReviewItem]) -> None:
    """The product's images side by side, numbered: 1-9 picks one (approves it, rejects the
    others)."""
    st.caption(f"Variants of {plain(item.sku)} · 1-9 picks one and rejects the others")
    thumbs = gallery.browser_urls([v.thumbnail_key for v in variants])
    strip = st.columns(min(len(variants), 3))
    for number, variant in enumerate(variants[:9], start=1):
        with strip[(number - 1) % len(strip)]:
            if variant.thumbnail_key in thumbs:
                st.image(thumbs[variant.thumbnail_key], width="stretch")
            fidelity = "-" if variant.fidelity_score is None else f"{variant.fidelity_score:.2f}"
            here = " · :blue[shown]" if variant.id == item.id else ""
            st.caption(
                f"**{number}** · v{variant.variant + 1} · {fidelity} · "
                f"{STATE_WORD[variant.review_state]}{here}"
            )
            if editor:
                st.button(
                    "Pick",
                    key=f"review.pick.{variant.id}",
                    shortcut=shortcut(str(number)),
                    on_click=pick,
                    args=(variant, variants),
                    width="stretch",
                    help="Approve this variant and reject the product's others",
                )


urls = review.pictures(item)
left, right = st.columns([3, 1.3], gap="medium")
with left:
    if "image" in urls:
        st.image(urls["image"], width="stretch")
    else:
        st.warning("The picture of this image is missing from storage.")
with right:
    if len(variants) > 1:
        filmstrip(variants)
    st.caption("Product photo")
    if "product" in urls:
        st.image(urls["product"], width="stretch")
    st.caption(f"Scene · {plain(item.scene_name or item.scene_id or 'unknown')}")
    if "scene" in urls:
        st.image(urls["scene"], width="stretch")
if item.match_reason:
    match = "" if item.match_score is None else f" (match {item.match_score:.2f})"
    st.caption(f"Why this scene: {plain(item.match_reason)}{match}")
elif item.rerun_of_id is not None:
    st.caption("A re-run: its scene was kept from the image it re-makes.")
show_measurement(item)

# -- dialogs: one at a time, each bound to what it was opened for ------------------------------


def about_image(about: review.ReviewItem) -> None:
    """The head of a dialog about one image: its thumbnail, sku, name and variant."""
    thumb, words = st.columns([1, 4], vertical_alignment="center")
    shown = gallery.browser_urls([about.thumbnail_key])
    if about.thumbnail_key in shown:
        thumb.image(shown[about.thumbnail_key], width="stretch")
    words.markdown(
        f"**{plain(about.sku)}** · {plain(about.product_name)} · variant {about.variant + 1}"
    )
    words.caption(BADGE[about.review_state])


@st.dialog("Re-run with a note", on_dismiss=close_dialog)
def note_dialog(image_id: uuid.UUID) -> None:
    """Reject the image and make it again in the same scene, the note added to the prompt."""
    about = by_id.get(image_id)
    if about is None:
        st.warning("This image is no longer in the review.")
        return
    about_image(about)
    with st.form(f"review.note_form.{image_id}", border=False):
        note = st.text_input(
            "What should change?",
            placeholder="e.g. keep the legs wooden, softer light",
            max_chars=500,
            key=f"review.note.{image_id}",
        )
        sent = st.form_submit_button("Reject and re-run", type="primary")
    st.caption("Enter sends it · Esc closes without a change.")
    if sent:
        made = attempt(review.rerun_with_note, member, image_id=image_id, note=note)
        if made is not None:
            st.session_state[NOTICE] = f"Rejected {named(about)}; a new version is on its way."
            st.session_state[ADVANCE] = image_id
            close_dialog()
            st.rerun()


def ask_rule(images: list[uuid.UUID], threshold: float) -> None:
    """B: show the images the rule would approve and ask once (nothing changes yet)."""
    st.session_state[RULE] = (images, threshold)
    open_dialog("rule")


def approve_rule(images: list[uuid.UUID], threshold: float) -> None:
    changed = attempt(
        review.approve_by_rule,
        member,
        session_id=session.id,
        min_fidelity=threshold,
        only=images,
    )
    if changed is not None:
        step = Undo(said=f"Approved {changed} image(s) by the rule", rule_images=tuple(images))
        done(step, advance_from=None)


@st.dialog("Approve by the rule?", width="large", on_dismiss=close_dialog)
def rule_dialog() -> None:
    images, threshold = st.session_state.get(RULE) or ([], 0.0)
    touched = [by_id[i] for i in images if i in by_id]
    st.markdown(
        f"**{len(touched)} image(s)** with fidelity at least **{threshold:.2f}** that nobody "
        "decided yet will be approved. Z takes it back."
    )
    thumbnail_grid(touched)
    if st.button(
        f"Approve {len(touched)} image(s)",
        key="review.rule_confirm",
        type="primary",
        disabled=not touched,
        on_click=approve_rule,
        args=([i.id for i in touched], threshold),
    ):
        st.rerun()
    st.caption("Enter approves · Esc cancels.")


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
            "are left alone. You see them and confirm before anything changes."
        )
        st.button(
            f"Approve {count} image(s)...",
            key="review.rule_run",
            shortcut=shortcut("B"),
            disabled=count == 0,
            on_click=ask_rule,
            args=(matching, threshold),
        )
    with errors, st.container(border=True):
        failed = len(queue.unrerun_errors())
        st.markdown(f"**Failed images not re-made yet: {failed}**")
        st.caption("Rejects each and makes it again with its flow's settings, in its scene.")

        st.button(
            f"Reject and re-run {failed} error(s)...",
            key="review.errors_run",
            shortcut=shortcut("E"),
            disabled=failed == 0 or not may_generate,
            on_click=open_dialog,
            args=("errors",),
        )


def rerun_failed() -> None:
    changed = attempt(review.rerun_errors, member, session_id=session.id)
    if changed is not None:
        st.session_state[NOTICE] = f"Re-running {changed} failed image(s)."
    close_dialog()


@st.dialog("Re-run the failed images?", width="large", on_dismiss=close_dialog)
def errors_dialog() -> None:
    """E: the failed images that would be rejected and made again, and one question."""
    if opened("errors") is None:  # done just now (a click reruns only the dialog): the page
        st.rerun()
    failed_now = queue.unrerun_errors()
    st.markdown(
        f"**{len(failed_now)} failed image(s)** will be rejected and made again with their "
        "flow's settings, each in its scene. New images count against today's quota; this "
        "cannot be taken back with Z."
    )
    for shown in failed_now[:24]:
        reason = f" · {plain(shown.error_message)}" if shown.error_message else ""
        st.caption(f"{plain(shown.sku)} · v{shown.variant + 1}{reason}")
    if len(failed_now) > 24:
        st.caption(f"and {len(failed_now) - 24} more")
    if st.button(
        f"Re-run {len(failed_now)} image(s)",
        key="review.errors_confirm",
        type="primary",
        disabled=not failed_now,
        on_click=rerun_failed,
    ):
        st.rerun()
    st.caption("Enter re-runs them · Esc cancels.")


# -- the fidelity gate: approve what it trusts, by rule; undo in one step ----------------------

if editor:
    show_gate_rule(member, queue, session_id=session.id, approved=approved_by_gate)

# -- delivery ----------------------------------------------------------------------------------

st.subheader("Deliver", anchor=False)
approved = sum(1 for i in queue.items if i.review_state == "approved")
st.caption(f"{approved} approved image(s) ready to deliver at a store's sizes.")
st.button(
    "Deliver approved images",
    key="review.deliver",
    icon=":material/local_shipping:",
    shortcut=shortcut("D"),
    disabled=approved == 0,
    on_click=open_delivery,
)

# The one open dialog, if any (each draws only when the slot is its own).
note_open = opened("note")
if note_open is not None and note_open.subject is not None and may_generate:
    note_dialog(note_open.subject)
if opened("rule") is not None and editor:
    rule_dialog()
if opened("errors") is not None and may_generate:
    errors_dialog()
if opened("gate") is not None and editor:
    gate_dialog(member, queue, session_id=session.id, approved=approved_by_gate)
show_lineage(member)
show_delivery(member, session_id=session.id, session_name=session.name)
