"""Sign in: single sign-on (when ``[auth]`` is configured) or email and password; accept an
owner's invitation (a link with ``?invite=``); choose a new password from a reset link
(``?reset=``) or ask for one (when the studio can send mail).

Members of several clients start in the client they used last and switch in the sidebar.
A person who has an account accepts an invitation by signing in here with that account: the
invitation form never checks a password of an existing account.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.common import (
    SIGNED_OUT_BECAUSE,
    TAKE_BACK_NOTICE,
    attempt,
    get_backends,
    plain,
    show_invitation,
    sign_in,
    sso_configured,
    sso_email,
    succeeded,
)
from visualizer_core.services import auth
from visualizer_core.services.auth import Identity

st.title("Visualizer studio")
st.caption("Your catalog, placed into rooms: import products, pick scenes, generate, review.")

why = st.session_state.pop(SIGNED_OUT_BECAUSE, None)
if why:
    st.warning(why)

invite = st.query_params.get("invite")
reset = st.query_params.get("reset")
mail_available = get_backends().settings.smtp_url is not None


def enter(who: Identity, *, accept: bool = True) -> None:
    """Sign ``who`` in; with an invitation link open and ``accept``, accept it from that session
    first (only ever on a click: the invitation form, the sign-in form under it, or the single
    sign-on "Accept" button; being signed in at the provider is no consent)."""
    if who.notice:  # a take-back dropped memberships: the person reads which (sidebar)
        st.session_state[TAKE_BACK_NOTICE] = who.notice
    if invite and accept:
        token = attempt(auth.issue_session_token, who)
        joined = token and attempt(auth.accept_invite, invite, session_token=token)
        if not joined:
            return
        who = joined
        del st.query_params["invite"]
    if not who.memberships:
        notice = st.session_state.pop(TAKE_BACK_NOTICE, None)
        if notice:
            st.warning(plain(notice[:1].upper() + notice[1:]))
        st.error("Your account is not a member of any client yet: ask an owner to invite you.")
    elif sign_in(who):
        st.rerun()


if reset:
    st.subheader("Choose a new password")
    with st.form("sign_in.reset"):
        new = st.text_input("New password", type="password", key="sign_in.reset_password")
        again = st.text_input("Repeat it", type="password", key="sign_in.reset_again")
        chosen = st.form_submit_button("Set password and sign in", type="primary")
    if chosen:
        if new != again:
            st.error("The two passwords differ.")
        else:
            who = attempt(auth.reset_password, reset, new_password=new)
            if who is not None:
                del st.query_params["reset"]
                enter(who)
    st.divider()

if invite:
    st.subheader("Accept your invitation")
    show_invitation(invite)
    with st.form("sign_in.invite"):
        st.caption(
            "New here? Choose a password. Already have an account? Sign in with it below: "
            "the invitation is accepted when you do."
        )
        name = st.text_input("Your name (optional)", key="sign_in.invite_name")
        password = st.text_input("Password", type="password", key="sign_in.invite_password")
        accepted = st.form_submit_button("Accept and sign in", type="primary")
    if accepted:
        who = attempt(auth.accept_invite, invite, password=password or None, name=name or None)
        if who is not None and sign_in(who):
            del st.query_params["invite"]
            st.rerun()
    st.divider()
    st.caption("Or sign in with your account to accept:")

if sso_configured():
    verified = sso_email()
    if verified is None:
        st.button(
            "Sign in with single sign-on", type="primary", key="sign_in.sso", on_click=st.login
        )
    else:
        who = attempt(auth.user_for_sso_email, verified)
        if who is not None and who.notice:  # told once, whichever click follows
            st.session_state[TAKE_BACK_NOTICE] = who.notice
        if who is not None and not invite:
            enter(who)
        elif who is not None:  # joining a client takes this click, never a page load
            st.caption(f"Signed in as {plain(verified)} with single sign-on.")
            if st.button("Accept the invitation", type="primary", key="sign_in.sso_accept"):
                enter(who)
            elif who.memberships and st.button("Not now", key="sign_in.sso_not_now"):
                enter(who, accept=False)  # the account page offers it again
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
            enter(who)

if mail_available and not reset:
    with st.expander("Forgot your password?"):
        with st.form("sign_in.forgot", clear_on_submit=True):
            address = st.text_input("Your email", key="sign_in.forgot_email")
            asked = st.form_submit_button("Send me a reset link")
        sent = asked and address.strip() and succeeded(auth.request_password_reset, address)
        if sent:
            st.success(
                "If that address has an account, a link to choose a new password is on its "
                "way (valid for an hour)."
            )
