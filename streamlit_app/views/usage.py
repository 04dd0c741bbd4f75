"""Usage: what the active client's provider calls cost, and what an approved image cost."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from streamlit_app.common import attempt, can, scope
from visualizer_core.scope import Action
from visualizer_core.services import spend

SPANS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "All time": None}

member = scope()
st.title("Usage")
if not can(member, Action.MANAGE):
    st.warning("Only the client's owners can see what its generations cost.")
    st.stop()

span = st.segmented_control("Period", list(SPANS), default="Last 30 days", key="usage.span")
days = SPANS.get(span or "Last 30 days")
since = None if days is None else dt.datetime.now(dt.UTC) - dt.timedelta(days=days)

by_client = attempt(spend.spend, member, client_id=member.client_id, since=since, by="client")
by_model = attempt(spend.cost_per_approved, member, client_id=member.client_id, since=since)
if by_client is None or by_model is None:
    st.stop()
assert by_client is not None and by_model is not None
total = by_client[0] if by_client else None
per_approved = spend.paid_cost_per_approved(by_model)
approved = sum(row.approved for row in by_model)
figures = st.columns(4)
figures[0].metric(
    "Cost per approved image",
    f"${per_approved:,.4f}" if per_approved is not None else "n/a",
    help="What the paid images cost (every attempt, retry, refusal and judgement) divided by"
    " the approved images that spend made. Images made offline cost nothing and are counted"
    " apart (the table below).",
)
figures[1].metric("Provider cost", f"${total.cost_usd:,.4f}" if total else "$0.00")
figures[2].metric(
    "Provider calls",
    f"{total.calls:,}" if total else "0",
    help=f"{total.failed} failed or refused" if total else None,
)
figures[3].metric("Approved images", f"{approved:,}", help="On every backend, offline included.")
if total is None:
    st.info("No provider calls in this period: nothing was spent.")
if per_approved is None and total is not None:
    st.caption("Approve paid images in the review to see what an approved image costs.")
if total is not None and total.judgements_saved:
    worth = (
        f", about ${total.judgements_saved_usd:,.4f}"
        if total.judgements_saved_usd is not None
        else ""
    )
    st.caption(
        f"Judgement calls saved: **{total.judgements_saved:,}**{worth}. The fidelity gate "
        f"asked Gemini's paid judgement only where its own score was uncertain "
        f"({total.judgements:,} asked)."
    )

if by_model:
    st.subheader("Cost per approved image, by backend and model")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "backend": row.backend,
                    "model": row.model,
                    "images": row.images,
                    "approved": row.approved,
                    "cost_usd": round(row.cost_usd, 4),
                    "cost_per_approved_usd": (
                        None
                        if row.cost_per_approved_usd is None
                        else round(row.cost_per_approved_usd, 4)
                    ),
                }
                for row in by_model
            ]
        ),
        hide_index=True,
        key="usage.models_approved",
    )
if total is None:
    st.stop()
assert total is not None

st.subheader("By session")
sessions = attempt(spend.spend, member, client_id=member.client_id, since=since, by="session")
if sessions:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "session": row.label,
                    "calls": row.calls,
                    "cost_usd": round(row.cost_usd, 4),
                    "approved": row.approved,
                    "cost_per_approved_usd": (
                        None
                        if row.cost_per_approved_usd is None
                        else round(row.cost_per_approved_usd, 4)
                    ),
                }
                for row in sessions
            ]
        ),
        hide_index=True,
        key="usage.sessions",
    )

left, right = st.columns(2)
with left:
    st.subheader("By kind of call")
    kinds = attempt(spend.spend, member, client_id=member.client_id, since=since, by="kind") or []
    st.dataframe(
        pd.DataFrame(
            [
                {"kind": r.key, "calls": r.calls, "failed": r.failed, "cost_usd": r.cost_usd}
                for r in kinds
            ]
        ),
        hide_index=True,
        key="usage.kinds",
    )
with right:
    st.subheader("By model")
    models = attempt(spend.spend, member, client_id=member.client_id, since=since, by="model") or []
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "model": r.key,
                    "calls": r.calls,
                    "input_tokens": r.input_tokens,
                    "output_tokens": r.output_tokens,
                    "cost_usd": r.cost_usd,
                }
                for r in models
            ]
        ),
        hide_index=True,
        key="usage.models",
    )

per_day = attempt(spend.spend, member, client_id=member.client_id, since=since, by="day") or []
if per_day:
    st.subheader("By day (UTC)")
    st.bar_chart(
        pd.DataFrame([{"day": r.key, "cost_usd": r.cost_usd} for r in per_day]).set_index("day"),
        height=200,
    )
