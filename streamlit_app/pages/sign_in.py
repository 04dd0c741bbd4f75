"""Sign in with email and password."""

from __future__ import annotations

import streamlit as st

from streamlit_app.common import attempt
from visualizer_core.services import auth

st.title("Visualizer studio")
with st.form("sign_in.form"):
    email = st.text_input("Email", key="sign_in.email")
    password = st.text_input("Password", type="password", key="sign_in.password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    who = attempt(auth.sign_in, email, password)
    if who is not None:
        if not who.memberships:
            st.error("Your account is not a member of any client yet.")
        else:
            st.session_state["auth.identity"] = who
            st.session_state["auth.client_id"] = who.memberships[0].client_id
            st.rerun()
