"""The sign-in cookie's routes (``streamlit_app.cookie_routes``) over HTTP: what the browser is
told to keep, for how long, and what is refused. The browser side (refresh, restart, sign-out
everywhere) is ``test_sign_in_browser.py``."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from streamlit_app import cookie_routes, session_cookie
from tests.studio.conftest import PASSWORD, Studio
from visualizer_core import backends
from visualizer_core.services import auth


@pytest.fixture
def client(embedded: backends.Backends) -> Iterator[TestClient]:
    """The two routes at the root, as ``streamlit_app/server.py`` mounts them."""
    before = (session_cookie.routes_mounted, session_cookie.base_path)
    app = Starlette(routes=cookie_routes.routes(""))
    try:
        with TestClient(app, base_url="http://studio.test", follow_redirects=False) as http:
            yield http
    finally:
        session_cookie.routes_mounted, session_cookie.base_path = before


def set_cookie(response) -> SimpleCookie:  # type: ignore[no-untyped-def]
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


def test_a_handed_over_token_becomes_an_http_only_same_site_cookie(
    client: TestClient, studio: Studio
) -> None:
    token = auth.issue_session_token(auth.sign_in(studio.emails["editor"], PASSWORD))
    code = session_cookie.hand_over(token)
    answer = client.get(session_cookie.start_url(code, "/review?session=abc"))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/review?session=abc"
    morsel = set_cookie(answer)[session_cookie.COOKIE]
    assert morsel.value == token
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == embedded_max_age()
    assert not morsel["secure"]  # plain HTTP here; HTTPS below
    # What the page reads back from the cookie is the member it was issued to.
    assert auth.identity_from_token(morsel.value).email == studio.emails["editor"]

    again = client.get(session_cookie.start_url(code, "/"))  # a code works once
    assert again.status_code == 303 and session_cookie.COOKIE not in set_cookie(again)


def embedded_max_age() -> int:
    return backends.current().settings.visualizer_session_max_age_s


def test_behind_https_the_cookie_is_secure(client: TestClient, studio: Studio) -> None:
    token = auth.issue_session_token(auth.sign_in(studio.emails["viewer"], PASSWORD))
    answer = client.get(
        session_cookie.start_url(session_cookie.hand_over(token), "/"),
        headers={"X-Forwarded-Proto": "https"},
    )
    assert set_cookie(answer)[session_cookie.COOKIE]["secure"] is True


def test_unknown_codes_links_from_other_sites_and_other_hosts_are_refused(
    client: TestClient, studio: Studio
) -> None:
    assert session_cookie.COOKIE not in set_cookie(client.get("/studio-session/start?code=made-up"))
    token = auth.issue_session_token(auth.sign_in(studio.emails["owner"], PASSWORD))
    # A code sent in a link on another site (login CSRF: the attacker's own session) is not used.
    code = session_cookie.hand_over(token)
    answer = client.get(
        session_cookie.start_url(code, "/"), headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 303 and session_cookie.COOKIE not in set_cookie(answer)
    # Signing in never leads off the studio.
    for elsewhere in ("//evil.test/x", "https://evil.test/", "/\\evil.test", "javascript:x"):
        code = session_cookie.hand_over(token)
        answer = client.get(
            f"/studio-session/start?code={code}&next={elsewhere}",
        )
        assert answer.headers["location"] == "/", elsewhere


def test_the_end_route_deletes_the_cookie(client: TestClient) -> None:
    answer = client.get(session_cookie.end_url())
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    morsel = set_cookie(answer)[session_cookie.COOKIE]
    assert morsel.value in ("", '""') and int(morsel["max-age"]) == 0
    with_provider = client.get(session_cookie.end_url(single_sign_on=True))
    assert with_provider.headers["location"] == "/auth/logout"  # Streamlit's own sign-out next
    elsewhere = client.get(session_cookie.end_url(), headers={"Sec-Fetch-Site": "cross-site"})
    assert session_cookie.COOKIE not in set_cookie(elsewhere)  # no sign-out by a foreign link


def test_a_notice_carried_over_arrives_once(client: TestClient, studio: Studio) -> None:
    token = auth.issue_session_token(auth.sign_in(studio.emails["editor"], PASSWORD))
    code = session_cookie.hand_over(token, {"account.notice": "Password changed."})
    assert session_cookie.arrived(token) == {}  # not before the cookie is set
    client.get(session_cookie.start_url(code, "/account"))
    assert session_cookie.arrived(token) == {"account.notice": "Password changed."}
    assert session_cookie.arrived(token) == {}
