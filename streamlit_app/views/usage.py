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
if by_client is None:
    st.stop()
assert by_client is not None
total = by_client[0] if by_client else None
figures = st.columns(4)
if total is None:
    figures[0].metric("Cost per approved image", "n/a")
    figures[1].metric("Provider cost", "$0.00")
    figures[2].metric("Provider calls", "0")
    figures[3].metric("Approved images", "0")
    st.info("No provider calls in this period: nothing was spent.")
    st.stop()
assert total is not None
per_approved = total.cost_per_approved_usd
figures[0].metric(
    "Cost per approved image",
    f"${per_approved:,.4f}" if per_approved is not None else "n/a",
    help="Everything spent (every attempt, retry, refusal, judgement and analysis) divided by"
    " the images approved in review.",
)
figures[1].metric("Provider cost", f"${total.cost_usd:,.4f}")
figures[2].metric("Provider calls", f"{total.calls:,}", help=f"{total.failed} failed or refused")
figures[3].metric("Approved images", f"{total.approved or 0:,}")
if per_approved is None:
    st.caption("Approve images in the review to see what an approved image costs.")
if total.judgements_saved:
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
