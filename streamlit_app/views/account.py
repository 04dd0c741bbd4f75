"""The signed-in person's own account: their password, and an invitation link they opened."""

from __future__ import annotations

import streamlit as st

from streamlit_app.common import (
    TOKEN,
    attempt,
    identity,
    keep_signed_in,
    plain,
    scope,
    show_invitation,
)
from visualizer_core.services import auth

member = scope()
me = identity()
st.title("Your account")
if me is not None:
    st.caption(f"Signed in as **{plain(me.email)}**")

invite = st.query_params.get("invite")
if invite:
    st.subheader("An invitation")
    show_invitation(invite)
    st.write("Accepting it adds this client to your account.")
    columns = st.columns(2)
    if columns[0].button("Accept the invitation", type="primary", key="account.accept"):
        joined = attempt(auth.accept_invite, invite, session_token=st.session_state.get(TOKEN))
        if joined is not None:
            del st.query_params["invite"]
            st.session_state["account.notice"] = "Invitation accepted: you are in its client now."
            st.rerun()
    if columns[1].button("Ignore it", key="account.ignore"):
        del st.query_params["invite"]
        st.rerun()

notice = st.session_state.pop("account.notice", None)
if notice:
    st.success(notice)

st.subheader("Change your password")
st.caption("Your other sign-ins (other browsers, other devices) end when you change it.")
with st.form("account.password", clear_on_submit=True):
    old = st.text_input("Current password", type="password", key="account.old")
    new = st.text_input("New password", type="password", key="account.new")
    again = st.text_input("Repeat the new password", type="password", key="account.again")
    change = st.form_submit_button("Change password", type="primary")
if change:
    if new != again:
        st.error("The two new passwords differ.")
    else:
        token = attempt(auth.change_password, member, old_password=old, new_password=new)
        if token is not None:
            st.session_state[TOKEN] = token  # this sign-in goes on; every other one ended
            st.session_state["account.notice"] = "Password changed. Your other sign-ins ended."
            keep_signed_in(token)  # the cookie's token is void now: this tab keeps the new one
            st.rerun()
