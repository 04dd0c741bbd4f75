"""The two routes of the sign-in cookie (:mod:`streamlit_app.session_cookie` says why and
how): ``start`` swaps a one-time code for the cookie, ``end`` deletes it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from streamlit_app import session_cookie
from visualizer_core import backends


def _from_the_studio(request: Request) -> bool:
    """Whether the browser came here from a studio page (not from a link on another site).

    Browsers say so in ``Sec-Fetch-Site``; a request without it (an old browser) is let
    through, since the code it carries is single-use and a minute long anyway.
    """
    return request.headers.get("sec-fetch-site", "same-origin") == "same-origin"


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return request.url.scheme == "https" or forwarded == "https"


async def start(request: Request) -> RedirectResponse:
    """Swap a one-time code for the session cookie, then go back to the page."""
    page = session_cookie.local_path(request.query_params.get("next"))
    response = RedirectResponse(page, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    token = session_cookie.take(request.query_params.get("code", ""))
    if token is None or not _from_the_studio(request):
        return response  # no cookie: the page shows the sign-in form
    response.set_cookie(
        session_cookie.COOKIE,
        token,
        max_age=backends.current().settings.visualizer_session_max_age_s,
        path=session_cookie.base_path or "/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


async def end(request: Request) -> RedirectResponse:
    """Delete the session cookie, then show the sign-in page (or end single sign-on first)."""
    then = "auth/logout" if request.query_params.get("then") == "sso" else ""
    response = RedirectResponse(f"{session_cookie.base_path}/{then}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    if _from_the_studio(request):
        response.delete_cookie(
            session_cookie.COOKIE,
            path=session_cookie.base_path or "/",
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )
    return response


def routes(base_path: str = "") -> list[Route]:
    """The routes under ``base_path`` (``server.baseUrlPath``: ``""`` or ``/studio``); the
    pages learn that they are served (:data:`session_cookie.routes_mounted`)."""
    session_cookie.base_path = base_path
    session_cookie.routes_mounted = True
    return [
        Route(f"{base_path}/{session_cookie.START}", start, methods=["GET"]),
        Route(f"{base_path}/{session_cookie.END}", end, methods=["GET"]),
    ]
