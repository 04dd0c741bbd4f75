"""Sessions of the active client: open one, start one, rename or archive one."""

from __future__ import annotations

import streamlit as st

from streamlit_app.common import SESSION, attempt, can, plain, scope
from visualizer_core.scope import Action
from visualizer_core.services import sessions

member = scope()
editor = can(member, Action.EDIT)

st.title("Sessions")
st.caption("A session is one collection: its inspiration scenes, matches and generated images.")

if editor:
    with st.form("sessions.new", clear_on_submit=True):
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        name = left.text_input("New session", key="sessions.new_name", placeholder="Spring 2027")
        if right.form_submit_button("Create", type="primary"):
            created = attempt(
                sessions.create_session, member, client_id=member.client_id, name=name
            )
            if created is not None:
                st.session_state[SESSION] = created.id
                st.toast(f"Session “{plain(created.name)}” created")

show_archived = st.toggle("Show archived", key="sessions.show_archived")
rows = attempt(sessions.list_sessions, member, include_archived=show_archived) or []
if not rows:
    st.info("No sessions yet." + (" Create the first one above." if editor else ""))

for row in rows:
    counts = attempt(sessions.session_status, member, session_id=row.id)
    with st.container(border=True):
        left, middle, right = st.columns([4, 3, 4], vertical_alignment="center")
        archived = row.status == "archived"
        left.markdown(f"**{plain(row.name)}**" + (" · _archived_" if archived else ""))
        left.caption(f"{len(row.scenes)} scene(s) · {len(row.matches)} match(es)")
        if counts is not None:
            middle.caption(
                f"{counts['total']} image(s): {counts['completed']} completed · "
                f"{counts['pending'] + counts['generating']} open · {counts['error']} failed"
            )
        buttons = right.columns(3)
        if buttons[0].button("Open", key=f"sessions.open.{row.id}", type="primary"):
            st.session_state[SESSION] = row.id
            st.switch_page(
                "views/results.py" if counts and counts["total"] else "views/products.py"
            )
        if editor:
            with buttons[1].popover("Rename"):
                new_name = st.text_input("Name", value=row.name, key=f"sessions.name.{row.id}")
                if st.button("Save", key=f"sessions.rename.{row.id}") and (
                    attempt(sessions.rename_session, member, session_id=row.id, name=new_name)
                    is not None
                ):
                    st.rerun()
            label = "Restore" if archived else "Archive"
            if buttons[2].button(label, key=f"sessions.archive.{row.id}") and (
                attempt(sessions.archive_session, member, session_id=row.id, archived=not archived)
                is not None
            ):
                st.rerun()
