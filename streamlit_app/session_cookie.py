"""The login session kept in a cookie, so a refresh, a new tab or a server restart keeps a
member signed in and a link to a page can be shared.

How it works, in the way Streamlit's own ``st.login`` keeps its session (a cookie set by a
server route, signed, ``HttpOnly``, ``SameSite=Lax``, read back from the WebSocket's request):

1. A page run signs someone in and gets their session token
   (:func:`visualizer_core.services.auth.issue_session_token`). A script run cannot set a
   cookie, so it hands the token to this module (:func:`hand_over`) for a one-time code,
   valid :data:`HANDOVER_TTL_S` seconds and usable once, and sends the browser to
   ``/studio-session/start?code=...&next=<the page>``.
2. That route (served by the studio's :mod:`streamlit_app.server`) swaps the code for the token
   and answers with ``Set-Cookie: visualizer_session=<token>; HttpOnly; SameSite=Lax; Path=/``
   (``Secure`` over HTTPS) and a redirect back to the page.
3. Every later page load opens a WebSocket whose request carries the cookie; the script reads
   it from ``st.context.cookies`` and checks it like any session token: signature, age, and the
   user's ``session_version`` (so a password change or "sign out everywhere" ends it).
4. Signing out sends the browser to ``/studio-session/end``, which deletes the cookie.

The token is the one :mod:`visualizer_core.security` signs: the user's id, their session
version and when it was issued, signed with ``AUTH_SECRET``. Nothing else is in the cookie.

Only the server started by ``visualizer studio`` (``streamlit_app/server.py``) has the routes
(:data:`routes_mounted`); run any other way (``AppTest``, ``streamlit run app.py``), the
sign-in lives in the page's session state only, as before.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

COOKIE = "visualizer_session"
START = "studio-session/start"
END = "studio-session/end"
HANDOVER_TTL_S = 60

routes_mounted = False
"""Set by :mod:`streamlit_app.server` when it serves the routes below."""
base_path = ""
"""``server.baseUrlPath`` as the server found it (``""`` or ``/studio``), set with the routes."""

# code -> (token, what the page carries over, expiry); token -> (carried, expiry)
_handovers: dict[str, tuple[str, dict[str, Any], float]] = {}
_arrivals: dict[str, tuple[dict[str, Any], float]] = {}
_lock = threading.Lock()


def _forget_late(now: float) -> None:
    for code, (_, _, expires) in list(_handovers.items()):
        if expires <= now:
            del _handovers[code]
    for token, (_, expires) in list(_arrivals.items()):
        if expires <= now:
            del _arrivals[token]


def hand_over(token: str, carried: dict[str, Any] | None = None) -> str:
    """A one-time code for ``token``, for the start route to swap (within a minute, once).

    ``carried``: session-state values (a notice to show) that the page loaded with the cookie
    receives once (:func:`arrived`), since the page's own session state does not survive the
    trip.
    """
    code = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _lock:
        _forget_late(now)
        _handovers[code] = (token, dict(carried or {}), now + HANDOVER_TTL_S)
    return code


def take(code: str) -> str | None:
    """The token handed over under ``code``, once; None for an unknown, used or late code."""
    now = time.monotonic()
    with _lock:
        found = _handovers.pop(code, None)
        if found is None or found[2] <= now:
            return None
        token, carried, _ = found
        if carried:
            _arrivals[token] = (carried, now + HANDOVER_TTL_S)
    return token


def arrived(token: str) -> dict[str, Any]:
    """What the page that handed ``token`` over carried (once; empty if nothing)."""
    with _lock:
        found = _arrivals.pop(token, None)
    return {} if found is None or found[1] <= time.monotonic() else found[0]


def local_path(url: object) -> str:
    """The path and query of ``url`` when it points into this studio, else ``/``.

    Only a path on this host is ever a redirect target (no ``//host`` or scheme): a crafted
    link cannot send someone elsewhere after signing in.
    """
    if not isinstance(url, str) or not url:
        return "/"
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.scheme not in ("", "http", "https") or (parts.netloc and not parts.scheme):
        return "/"  # another scheme, or a "//host" with none (the page's own URL has both)
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path + (f"?{parts.query}" if parts.query else "")


def start_url(code: str, next_path: str) -> str:
    """Where the browser goes to have the cookie set, then come back to ``next_path``."""
    return f"{base_path}/{START}?{urlencode({'code': code, 'next': local_path(next_path)})}"


def end_url(*, single_sign_on: bool = False) -> str:
    """Where the browser goes to have the cookie deleted; then, with ``single_sign_on``, to
    Streamlit's ``/auth/logout`` (which ends the identity provider's session too)."""
    return f"{base_path}/{END}" + ("?then=sso" if single_sign_on else "")
