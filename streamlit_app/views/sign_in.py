"""Sign in: single sign-on (when ``[auth]`` is configured) or email and password; or accept an
owner's invitation (a link with ``?invite=``).

Members of several clients start in the client they used last and switch in the sidebar.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.common import SIGNED_OUT_BECAUSE, attempt, sign_in, sso_configured, sso_email
from visualizer_core.services import auth

st.title("Visualizer studio")
st.caption("Your catalog, placed into rooms: import products, pick scenes, generate, review.")

why = st.session_state.pop(SIGNED_OUT_BECAUSE, None)
if why:
    st.warning(why)

invite = st.query_params.get("invite")
if invite:
    st.subheader("Accept your invitation")
    with st.form("sign_in.invite"):
        st.caption("New here? Choose a password. Already have an account? Enter its password.")
        name = st.text_input("Your name (optional)", key="sign_in.invite_name")
        password = st.text_input("Password", type="password", key="sign_in.invite_password")
        accepted = st.form_submit_button("Accept and sign in", type="primary")
    if accepted:
        who = attempt(auth.accept_invite, invite, password=password or None, name=name or None)
        if who is not None and sign_in(who):
            del st.query_params["invite"]
            st.rerun()
    st.divider()
    st.caption("Or sign in without accepting:")

if sso_configured():
    verified = sso_email()
    if verified is None:
        st.button(
            "Sign in with single sign-on", type="primary", key="sign_in.sso", on_click=st.login
        )
    else:
        who = attempt(auth.user_for_sso_email, verified)
        if who is not None and not who.memberships:
            st.error("Your account is not a member of any client yet: ask an owner to add you.")
        elif who is not None and sign_in(who):
            st.rerun()
        st.button("Use another account", key="sign_in.sso_logout", on_click=st.logout)
    st.caption("Or with email and password:")

with st.form("sign_in.form"):
    email = st.text_input("Email", key="sign_in.email")
    password = st.text_input("Password", type="password", key="sign_in.password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    if not email.strip() or not password:
        st.error("Enter your email and password.")
    else:
        who = attempt(auth.sign_in, email, password)
        if who is not None:
            if not who.memberships:
                st.error("Your account is not a member of any client yet: ask an owner to add you.")
            elif sign_in(who):
                st.rerun()
