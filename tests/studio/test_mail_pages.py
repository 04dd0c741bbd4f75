"""The studio with mail set up (a real SMTP server on loopback): invitation links are mailed and
never shown to the owner; "Forgot your password?" mails a reset link that works once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from tests.servers.smtp import SmtpServer, link_token
from tests.studio.conftest import APP, PASSWORD, TIMEOUT, Studio, button, signed_in, texts
from visualizer_core import backends
from visualizer_core.services import auth

STUDIO = "https://studio.brand.test"


@pytest.fixture
def mailing(studio: Studio, embedded: backends.Backends) -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    settings = embedded.settings.model_copy(
        update={"smtp_url": SecretStr(server.url), "visualizer_studio_url": STUDIO}
    )
    mailed = backends.build(settings)
    with backends.using(mailed):
        yield server
    mailed.close()
    server.stop()


def test_an_invitation_goes_by_mail_and_its_link_is_not_shown(
    studio: Studio, mailing: SmtpServer
) -> None:
    app = signed_in(studio.emails["owner"], page="settings")
    app.text_input(key="settings.invite_email").input("colleague@brand.test")
    app.selectbox(key="settings.invite_role").select("viewer")
    button(app, "Invite").click().run()
    assert not app.exception
    assert "sent by e-mail" in texts(app)
    [mail] = mailing.wait_for(1)
    token = link_token(mail, "invite")
    assert token not in texts(app) and not any(token in c.value for c in app.code)
    assert f"{STUDIO}/?invite={token}" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_forgot_password_mails_a_link_that_sets_a_new_one(
    studio: Studio, mailing: SmtpServer
) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.text_input(key="sign_in.forgot_email").input(studio.emails["viewer"])
    button(app, "Send me a reset link").click().run()
    assert not app.exception
    assert "If that address has an account" in texts(app)
    [mail] = mailing.wait_for(1)

    reset = AppTest.from_file(APP, default_timeout=TIMEOUT)
    reset.query_params["reset"] = link_token(mail, "reset")
    reset.run()
    reset.text_input(key="sign_in.reset_password").input("chosen after a reset")
    reset.text_input(key="sign_in.reset_again").input("chosen after a reset")
    button(reset, "Set password and sign in").click().run()
    assert not reset.exception
    assert "Sessions" in [t.value for t in reset.title]
    with pytest.raises(auth.SignInFailed):
        auth.sign_in(studio.emails["viewer"], PASSWORD)
