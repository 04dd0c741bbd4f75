"""The fidelity gate on the Review page: what was measured, quick reject reasons, and the rule.

Kept apart from the page's keyboard flow (``views/review.py``), which calls these sections:

- :func:`show_measurement`: a placement warning when the scene is a room the product does not
  belong in ("Sofas in a kitchen: change the scene?"), the measured signals and reasons under
  the picture ("colour changed: ΔE 18 on the product"), whose pixels show the product, the
  judgement if one was asked;
- :func:`show_reject_reasons`: one click rejects with a reason that becomes a label;
- :func:`show_gate_rule`: "approve everything the gate trusts" (the images shown first, asked
  once, as every bulk rule is), what the threshold rests on,
  the images approved by rule with their spot-check sample, and the one-step undo.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import streamlit as st

from streamlit_app.common import attempt, plain
from streamlit_app.dialogs import close_dialog, open_dialog, opened
from visualizer_core.db.models import REJECT_REASONS
from visualizer_core.scope import ClientScope
from visualizer_core.services import clients, gallery, review

NOTICE = "review.notice"
SIGNAL_LABELS = {
    "delta_e": "colour ΔE",
    "delta_e_worst": "worst colour ΔE",
    "outline_iou": "outline overlap",
    "aspect_change": "proportions change",
    "structure": "structure",
    "edges": "edges",
    "pattern": "pattern",
    "pattern_worst": "worst pattern part",
    "detail": "detail",
    "visible": "in frame",
    "missing": "product missing",
    "location_confidence": "found with confidence",
    "light_tint": "light tint",
}


def show_measurement(item: review.ReviewItem) -> None:
    """What the gate measured on this image, in words first, then the signals."""
    fidelity = item.fidelity or {}
    if item.placement:  # the scene is a room the product does not belong in
        st.markdown(f":orange[:material/warning: **Placement:** {plain(item.placement)}]")
    if item.reasons:
        st.markdown(
            "**What was measured:** " + " · ".join(plain(reason) for reason in item.reasons),
            help="The product was looked for in the picture and only its region compared with "
            "the product photo: colour after the light is undone, outline, structure, detail.",
        )
    judgement = fidelity.get("judgement")
    if isinstance(judgement, dict) and judgement.get("score") is not None:
        st.caption(
            f"Gemini's judgement: {float(judgement['score']):.2f}"
            + (f" · {plain(str(judgement.get('reason') or ''))}" if judgement.get("reason") else "")
        )
    elif fidelity.get("judged") == "saved":
        st.caption("Gemini's judgement was not asked: the measurement was sure (a call saved).")
    pixels = (
        ":blue[:material/verified: product pixels composited from the photo]"
        if item.product_pixels == "composited"
        else "product pixels generated"
    )
    note = f" · {plain(item.product_pixels_note)}" if item.product_pixels_note else ""
    st.caption(f"{pixels}{note}")
    if item.signals:
        with st.expander("Signals"):
            st.dataframe(
                [
                    {"signal": SIGNAL_LABELS.get(name, name), "value": round(value, 3)}
                    for name, value in item.signals.items()
                    if name != "found"
                ],
                hide_index=True,
                key=f"review.signals.{item.id}",
            )


def show_reject_reasons(item: review.ReviewItem, reject: Callable[[str], None]) -> None:
    """The quick reject reasons: each button calls ``reject(reason)`` (the page saves the
    decision with its reason, keeps it for undo and moves on)."""
    cells = st.columns(len(REJECT_REASONS) + 1)
    cells[0].caption("Reject because:")
    for cell, reason in zip(cells[1:], REJECT_REASONS, strict=True):
        cell.button(
            reason.capitalize(),
            key=f"review.reason.{reason.replace(' ', '_')}",
            on_click=reject,
            args=(reason,),
            width="stretch",
        )
    if item.reject_reason:
        st.caption(f"Rejected because: {plain(item.reject_reason)}")


@st.dialog("Approve what the gate trusts?", width="large", on_dismiss=close_dialog)
def gate_dialog(
    member: ClientScope,
    queue: review.ReviewQueue,
    *,
    session_id: uuid.UUID,
    approved: Callable[[review.RuleRun, str], None] | None = None,
) -> None:
    """The images the gate's rule would approve (count and thumbnails), and one question.

    Drawn by the page with its other dialogs when the slot is ``"gate"``
    (:mod:`streamlit_app.dialogs`); ``approved(run, said)`` as for :func:`show_gate_rule`."""
    if opened("gate") is None:  # approved just now: a click reruns only the dialog, so the
        st.rerun()  # whole page is run again (the dialog is then not drawn, and closes)
    trusted = attempt(review.trusted, member, session_id=session_id) or []
    by_id = {i.id: i for i in queue.items}
    touched = [by_id[i] for i in trusted if i in by_id]
    st.markdown(
        f"**{len(touched)} image(s)** nobody decided yet that the fidelity gate trusts will be "
        "approved by rule, a share of them drawn for a spot check. Z takes it back."
    )
    thumbnail_grid(touched)

    def approve_trusted() -> None:
        close_dialog()
        run = attempt(
            review.approve_trusted, member, session_id=session_id, only=[i.id for i in touched]
        )
        if run is not None:
            said = (
                f"Approved {run.count} image(s) by rule; {len(run.spot_checks)} drawn for "
                "a spot check"
            )
            st.session_state[NOTICE] = f"{said}."
            if approved is not None:
                approved(run, said)

    if st.button(
        f"Approve {len(touched)} image(s) by rule",
        key="review.gate_confirm",
        type="primary",
        disabled=not touched,
        on_click=approve_trusted,
    ):
        st.rerun()
    st.caption("Enter approves · Esc cancels.")


def show_gate_rule(
    member: ClientScope,
    queue: review.ReviewQueue,
    *,
    session_id: uuid.UUID,
    approved: Callable[[review.RuleRun, str], None] | None = None,
) -> None:
    """Approve everything the gate trusts; the images approved by rule, sampled, undoable.

    ``approved(run, said)``, when given, is told of each run (the page keeps it for its undo)."""
    gate = attempt(clients.fidelity_gate, member, client_id=member.client_id)
    trusted = attempt(review.trusted, member, session_id=session_id) or []
    with st.container(border=True, key="review.gate"):
        st.markdown(f"**Approve everything the gate trusts: {len(trusted)} image(s)**")
        if gate is not None:
            st.caption(f"The fidelity gate: {plain(gate.description)}.")

        st.button(
            f"Approve {len(trusted)} trusted image(s) by rule...",
            key="review.gate_run",
            icon=":material/rule:",
            disabled=not trusted,
            on_click=open_dialog,
            args=("gate",),
            help="Shows the images first and asks once",
        )

        by_rule = queue.by_rule()
        sampled = queue.spot_checks()
        st.markdown(f"**Approved by rule: {len(by_rule)}**")
        if not by_rule:
            st.caption("No image is approved by rule in this session.")
            return
        st.caption(
            f"{len(sampled)} of them drawn for a spot check: they come first in the review, "
            "marked; approve or reject each as you would any image."
        )
        thumbs = gallery.browser_urls([i.thumbnail_key for i in sampled[:8]])
        if sampled:
            cells = st.columns(max(len(sampled[:8]), 4))
            for cell, item in zip(cells, sampled[:8], strict=False):
                if item.thumbnail_key in thumbs:
                    cell.image(thumbs[item.thumbnail_key], caption=f"spot check · {item.sku}")

        def undo() -> None:
            undone = attempt(review.undo_rule, member, session_id=session_id)
            if undone is not None:
                st.session_state[NOTICE] = f"Undone: {undone} approval(s) by rule are open again."

        st.button(
            f"Undo the {len(by_rule)} approval(s) by rule",
            key="review.gate_undo",
            icon=":material/undo:",
            on_click=undo,
        )


def thumbnail_grid(images: Sequence[review.ReviewItem], *, most: int = 24) -> None:
    """The pictures a bulk rule would act on, eight to a row, each with its sku and variant,
    so a person sees what they are about to approve before saying yes."""
    thumbs = gallery.browser_urls([i.thumbnail_key for i in images[:most]])
    grid = st.columns(8)
    for number, shown in enumerate(images[:most]):
        with grid[number % 8]:
            if shown.thumbnail_key in thumbs:
                st.image(thumbs[shown.thumbnail_key], width="stretch")
            st.caption(f"{plain(shown.sku)} · v{shown.variant + 1}")
    if len(images) > most:
        st.caption(f"and {len(images) - most} more")
