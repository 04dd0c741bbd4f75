"""What every page shares: the backends, the signed-in scope, the open session, errors.

State keys are prefixed by their owner: ``auth.*`` (who is signed in, the active client),
``studio.*`` (the open session and the products picked for it, shared by the pages), and each
page's own ``<page>.*``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from pydantic import ValidationError
from streamlit.errors import StreamlitSecretNotFoundError

from streamlit_app import session_cookie
from visualizer_core import backends
from visualizer_core.errors import Forbidden, VisualizerError, first_problem
from visualizer_core.scope import Action, ClientScope
from visualizer_core.services import auth, sessions
from visualizer_core.services.auth import Identity

T = TypeVar("T")
log = logging.getLogger("visualizer.studio")

TOKEN = "auth.token"
IDENTITY = "auth.identity"
SCOPE = "auth.scope"
CLIENT = "auth.client_id"
SIGNED_OUT_BECAUSE = "auth.signed_out_because"
TAKE_BACK_NOTICE = "auth.take_back_notice"
COOKIE_IGNORED = "auth.cookie_ignored"  # the cookie this tab signed out of (or that was refused)
WANTED = "auth.wanted_url"  # the address opened before signing in: where signing in leads
CARRIED = (TAKE_BACK_NOTICE, "account.notice")  # notices that outlive the trip to the cookie
SESSION = "studio.session_id"
SESSION_IN_URL = "studio.session_in_url"  # the session id this tab last put in the address
PICKED = "studio.product_ids"
BATCH = "studio.batch"  # (session id, flow id) of the generation this person started last


@st.cache_resource(show_spinner=False)
def _embedded_worker(_current: backends.Backends, database_url: str) -> object:
    """One in-process worker per database for the life of the server (embedded default)."""
    from visualizer_core.jobqueue import EmbeddedWorker
    from visualizer_core.services import TASKS

    threads = _current.settings.visualizer_workers
    return EmbeddedWorker(_current, threads=threads, tasks=TASKS).start()


def _served() -> bool:
    """Whether a real Streamlit server runs this script (AppTest runs it on a stand-in)."""
    from streamlit.runtime import Runtime

    return Runtime.exists() and type(Runtime.instance()) is Runtime


def get_backends() -> backends.Backends:
    """The process's backends; under a real studio server on the embedded default, its worker.

    Under ``AppTest`` (no server runtime) no worker is started: the backends' own queue runs
    the jobs, and the test that activated them stops it.
    """
    current = backends.current()
    if current.settings.redis_url is None and _served():
        _embedded_worker(current, current.settings.effective_database_url)
    return current


def sso_configured() -> bool:
    """Whether single sign-on is set up (an ``[auth]`` section in the studio's secrets)."""
    try:
        return "auth" in st.secrets
    except (StreamlitSecretNotFoundError, FileNotFoundError):
        return False


def sso_email() -> str | None:
    """The email the identity provider verified, when someone is signed in there."""
    if not sso_configured() or not st.user.get("is_logged_in"):
        return None
    email = st.user.get("email")
    return str(email) if email else None


def sign_in(who: Identity) -> bool:
    """Start a login session for a user who just proved who they are; False if refused.

    Under the studio's server the session is also kept in the sign-in cookie
    (:func:`keep_signed_in`), and the browser comes back to the address first opened.
    """
    token = attempt(auth.issue_session_token, who)
    if token is None:
        return False
    st.session_state[TOKEN] = token
    keep_signed_in(token, then=_return_address())
    return True


def keep_signed_in(token: str, *, then: str | None = None) -> None:
    """Keep ``token`` in the browser's sign-in cookie, then show ``then`` (this page if None).

    Sends the browser to the cookie route (:mod:`streamlit_app.session_cookie`) and stops the
    run; where the server has no such route (``AppTest``, a bare ``streamlit run app.py``)
    it does nothing and the sign-in lasts as long as the page's session.
    """
    if not session_cookie.routes_mounted:
        return
    carried = {key: st.session_state[key] for key in CARRIED if key in st.session_state}
    code = session_cookie.hand_over(token, carried)
    _go_to(session_cookie.start_url(code, then or _current_address()))


def _go_to(address: str) -> None:
    """Send the browser to ``address`` (a path of this studio) and end this run."""
    quoted = json.dumps(address).replace("<", "\\u003c")
    st.html(f"<script>window.location.replace({quoted})</script>", unsafe_allow_javascript=True)
    st.stop()


def _current_address() -> str:
    return session_cookie.local_path(st.context.url)


def _return_address() -> str:
    """The address opened before signing in, without the invitation or reset it carried."""
    wanted = session_cookie.local_path(st.session_state.get(WANTED) or st.context.url)
    path, _, query = wanted.partition("?")
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in ("invite", "reset")]
    return path + ("?" + "&".join(kept) if kept else "")


def _cookie() -> str | None:
    """The sign-in cookie this page was opened with (a string, or None: under ``AppTest`` the
    request is a stand-in whose cookies are not strings)."""
    value = st.context.cookies.get(session_cookie.COOKIE)
    return value if isinstance(value, str) and value else None


def _cookie_token() -> str | None:
    """The session token in the sign-in cookie, unless this tab signed out of it."""
    token = _cookie()
    return None if token is None or token == st.session_state.get(COOKIE_IGNORED) else token


def resolve_sign_in() -> Identity | None:
    """Who is signed in, read afresh from the login token on every run (role and client too).

    The token is the page session's, else the sign-in cookie's. A token that expired, was
    revoked or forged signs the person out with a message saying why.
    """
    token = st.session_state.get(TOKEN)
    if not token:
        token = _cookie_token()
        if token:  # the page loaded with the cookie: notices carried over from signing in
            st.session_state.update(session_cookie.arrived(token))
    if not token:
        if WANTED not in st.session_state:
            st.session_state[WANTED] = st.context.url
        return None
    try:
        who = auth.identity_from_token(token)
        if not who.memberships or who.active_client_id is None:
            raise Forbidden("your account is not a member of any client any more")
        member = auth.scope_for(who, who.active_client_id)
    except VisualizerError as error:
        sign_out()
        st.session_state[SIGNED_OUT_BECAUSE] = _sentence(str(error))
        return None
    st.session_state[TOKEN] = token
    if st.session_state.get(CLIENT) not in (None, member.client_id):
        for key in (SESSION, PICKED):  # they belonged to the client used before
            st.session_state.pop(key, None)
    st.session_state[IDENTITY] = who
    st.session_state[CLIENT] = member.client_id
    st.session_state[SCOPE] = member
    return who


def identity() -> Identity | None:
    """Who is signed in, as read at the start of this run."""
    value = st.session_state.get(IDENTITY)
    return value if isinstance(value, Identity) else None


def sign_out() -> None:
    """Forget who is signed in and everything the pages remembered for them.

    The sign-in cookie this page was opened with is not read again in this tab; :func:`leave`
    deletes it from the browser.
    """
    cookie = _cookie()
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if cookie:
        st.session_state[COOKIE_IGNORED] = cookie


def leave(*, single_sign_on: bool = False) -> None:
    """After :func:`sign_out`: delete the sign-in cookie and show the sign-in page.

    With ``single_sign_on`` the identity provider's session ends too (``st.logout``), or it
    would sign the person straight back in.
    """
    if session_cookie.routes_mounted:
        _go_to(session_cookie.end_url(single_sign_on=single_sign_on))
    if single_sign_on:
        st.logout()
    st.rerun()


def scope() -> ClientScope:
    """The signed-in member's scope in the active client; stops the page if signed out."""
    member = st.session_state.get(SCOPE)
    if not isinstance(member, ClientScope):
        st.warning("Please sign in.")
        st.stop()
    assert isinstance(member, ClientScope)
    return member


def can(member: ClientScope, action: Action) -> bool:
    """Whether the member's role allows the action (to decide what to show)."""
    try:
        member.require(action)
    except VisualizerError:
        return False
    return True


def attempt(action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run a service call; a deliberate error becomes a message on the page, never a traceback."""
    try:
        return action(*args, **kwargs)
    except VisualizerError as error:  # messages quote what people typed: shown as plain text
        st.error(plain(_sentence(str(error))))
        return None
    except ValidationError as error:
        st.error(plain(first_problem(error, "value")))
        return None
    except Exception as error:  # a bug or an outage: a message and a reference, not a traceback
        report_failure(error)
        if not failures_as_messages():
            raise
        return None


def succeeded(action: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
    """Run a service call that returns nothing, as :func:`attempt` does; whether it worked."""
    return attempt(lambda: (action(*args, **kwargs), True)[1]) is True


def failures_as_messages() -> bool:
    """Whether an unexpected error becomes a message (the served studio) or stays an exception
    (under ``AppTest``, so that a test sees the bug instead of a polite sentence)."""
    return _served()


def report_failure(error: BaseException) -> str:
    """Log ``error`` with its traceback under a short reference and show people only a message
    with that reference (never the exception, whose text may quote SQL or someone's input)."""
    reference = uuid.uuid4().hex[:10]
    log.error("studio failure, reference %s", reference, exc_info=error)
    st.error(
        f"Something went wrong here and it was not your doing (reference {reference}). Try "
        "again; if it keeps happening, give the reference to an admin: the studio's log has "
        "the details under it."
    )
    return reference


def _sentence(message: str) -> str:
    """The service's message as a sentence; one that starts with a name (a file, an id) stays."""
    if not message:
        return "Something went wrong."
    first = message.split(" ", 1)[0]
    return message[:1].upper() + message[1:] if first.isalpha() and first.islower() else message


# Every ASCII punctuation sign but the hyphen, which only means something at a line's start.
_MARKDOWN_SIGNS = re.compile(r"([!-,./:-@\[-`{-~])")


def plain(text: object) -> str:
    """Text a person typed (a sku, a product or session name), safe inside ``st.markdown``.

    Punctuation is escaped, so no link, image, emphasis, colour or icon directive, HTML tag,
    formula or bare-URL autolink can be made from it: an editor cannot put a link or a picture
    in front of a viewer through a product name. Line breaks become spaces, and a leading
    hyphen is escaped (it would start a list).
    """
    flat = _MARKDOWN_SIGNS.sub(r"\\\1", " ".join(str(text).split()))
    return "\\" + flat if flat.startswith("-") else flat


def safe_link_target(url: object) -> str | None:
    """An http(s) URL fit for a markdown link, or None: another scheme (``javascript:``), a
    control character or a space is refused, and the signs that would end the link or start
    another (parentheses, brackets, angle brackets, quotes, backslashes) are percent-encoded."""
    text = str(url or "").strip()
    if not re.match(r"https?://[^/\s]", text, re.IGNORECASE) or re.search(r"[\s\x00-\x1f]", text):
        return None
    return "".join(f"%{ord(c):02X}" if c in "()[]<>\"'\\`" else c for c in text)


def markdown_link(text: object, url: object) -> str:
    """``[text](url)`` with the text escaped (:func:`plain`) and the URL checked
    (:func:`safe_link_target`); the plain text alone when the URL is not fit to link."""
    target = safe_link_target(url)
    return f"[{plain(text)}]({target})" if target else plain(text)


def open_session(member: ClientScope, *, page: str) -> sessions.SessionRead:
    """The session this page works on, chosen in the sidebar; stops the page when there is none.

    The choice is shared by every page (``studio.session_id``); ``page`` prefixes the widget.
    It is also in the page's address (``?session=<id>``): a refresh, or a link a member shares
    with a teammate of the same client, opens the same session.
    """
    rows = attempt(sessions.list_sessions, member)
    if not rows:
        st.info("No sessions yet: create one on the Sessions page.")
        st.stop()
    assert rows is not None
    ids = [row.id for row in rows]
    by_id = {row.id: row for row in rows}
    linked = from_address("session", SESSION_IN_URL)
    if linked in by_id:  # a link or a refresh names the session
        st.session_state[SESSION] = linked
    current = st.session_state.get(SESSION)
    if current not in by_id:
        current = ids[0]
        st.session_state[SESSION] = current

    def remember() -> None:
        st.session_state[SESSION] = st.session_state[picker]

    picker = f"{page}.session"
    if st.session_state.get(picker) != current:  # the picker shows the session in use
        st.session_state[picker] = current
    st.sidebar.selectbox(
        "Session",
        ids,
        format_func=lambda sid: by_id[sid].name,  # a select box shows plain text
        key=picker,
        on_change=remember,
    )
    chosen = by_id[st.session_state[SESSION]]
    to_address("session", chosen.id, SESSION_IN_URL)
    return chosen


def from_address(name: str, seen_key: str) -> uuid.UUID | None:
    """The id the page's address names in its query parameter ``name``, when it is new to this
    tab: a link opened, a refresh, the browser's back button. An address this tab wrote itself
    (``seen_key`` remembers it) gives None, so a choice made on the page since is kept."""
    value = st.query_params.get(name)
    if not value or value == st.session_state.get(seen_key):
        return None
    st.session_state[seen_key] = value
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def to_address(name: str, value: uuid.UUID | None, seen_key: str) -> None:
    """Put ``value`` in the page's address (query parameter ``name``), so that a refresh or a
    link shared with a teammate opens the same session or image."""
    text = str(value) if value is not None else None
    st.session_state[seen_key] = text
    if text is None:
        st.query_params.pop(name, None)
    elif st.query_params.get(name) != text:
        st.query_params[name] = text


def picked_products() -> list[uuid.UUID] | None:
    """The products picked on the Products page, or None for "all of them"."""
    value = st.session_state.get(PICKED)
    return list(value) if value else None


def account_sidebar(who: Identity) -> None:
    """Who is signed in, the client switcher for members of several clients, and sign-out."""
    with st.sidebar:
        st.caption(f"Signed in as **{plain(who.email)}**")
        notice = st.session_state.pop(TAKE_BACK_NOTICE, None)
        if notice:  # memberships a take-back dropped at this sign-in
            st.warning(plain(_sentence(str(notice))))
        if len(who.memberships) > 1:
            names = {m.client_id: f"{m.client_name} ({m.role.value})" for m in who.memberships}
            ids = list(names)
            active = st.session_state.get(CLIENT)
            st.selectbox(
                "Client",
                ids,
                index=ids.index(active) if active in ids else 0,
                format_func=names.__getitem__,
                key="auth.client_picker",
                on_change=_switch_client,
            )
        if st.button("Sign out", key="auth.sign_out", icon=":material/logout:", width="stretch"):
            provider = sso_email() is not None
            sign_out()
            leave(single_sign_on=provider)
        if st.button(
            "Sign out everywhere",
            key="auth.sign_out_all",
            help="Ends your sign-in on every device",
            width="stretch",
        ):
            attempt(auth.sign_out_everywhere, scope())
            provider = sso_email() is not None
            sign_out()
            leave(single_sign_on=provider)


def _switch_client() -> None:
    """Make the picked client the active one (remembered for the next sign-in too)."""
    member = attempt(auth.switch_client, scope(), client_id=st.session_state["auth.client_picker"])
    if member is not None:
        st.session_state[SCOPE] = member
        st.session_state[CLIENT] = member.client_id
        for key in (SESSION, PICKED):
            st.session_state.pop(key, None)


def show_invitation(token: str) -> bool:
    """What an invitation link offers (the brand, the role, who invited, until when), or why it
    is not valid; False then."""
    offer = attempt(auth.invitation_for, token)
    if offer is None:
        return False
    inviter = f"**{plain(offer.invited_by)}**" if offer.invited_by else "An owner"
    st.markdown(
        f"{inviter} invites **{plain(offer.email)}** to join **{plain(offer.client_name)}** as "
        f"**{offer.role.value}** ({ROLE_MEANS[offer.role.value]})."
    )
    st.caption(f"The invitation is valid until {offer.expires_at:%Y-%m-%d %H:%M} UTC.")
    return True


ROLE_MEANS = {
    "viewer": "sees the sessions, products and images, and downloads them",
    "editor": "also imports products, generates and reviews images",
    "owner": "also manages the members, the webhook and the usage",
}
