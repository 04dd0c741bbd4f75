"""Sessions of the active client: open one, or start a new one."""

from __future__ import annotations

import streamlit as st

from streamlit_app.common import attempt, identity, scope
from visualizer_core.services import sessions

member = scope()
who = identity()
assert who is not None
if len(who.memberships) > 1:
    names = {m.client_id: m.client_name for m in who.memberships}
    chosen = st.sidebar.selectbox(
        "Client", list(names), format_func=names.__getitem__, key="sessions.client"
    )
    if chosen != st.session_state.get("auth.client_id"):
        st.session_state["auth.client_id"] = chosen
        st.rerun()

st.title("Sessions")
rows = sessions.list_sessions(member)
if not rows:
    st.info("No sessions yet.")
for row in rows:
    counts = sessions.session_status(member, session_id=row.id)
    left, middle, right = st.columns([4, 4, 1])
    left.markdown(f"**{row.name}**  \n{len(row.scenes)} scene(s)")
    middle.caption(
        f"{counts['completed']} completed · {counts['pending'] + counts['generating']} open · "
        f"{counts['error']} failed"
    )
    if right.button("Open", key=f"sessions.open.{row.id}"):
        st.session_state["results.session_id"] = row.id
        st.switch_page("pages/results.py")

if member.role.value != "viewer":
    with st.form("sessions.new"):
        name = st.text_input("New session", key="sessions.new_name")
        if st.form_submit_button("Create") and attempt(
            sessions.create_session, member, client_id=member.client_id, name=name
        ):
            st.rerun()
