"""Issue 24, finding 6 in the studio: what people see when something fails.

Bad input is a sentence naming the field; a failure that is nobody's input (a bug, an outage)
is a message with a reference to the log line that has the traceback, never the exception.
"""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from streamlit_app import common
from tests.studio.conftest import APP, TIMEOUT, Studio, button, errors, signed_in
from visualizer_core.services import sessions


def test_a_nul_in_the_sign_in_form_is_a_sentence_naming_the_field(studio: Studio) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.text_input(key="sign_in.email").input("owner\x00@brand.test")
    app.text_input(key="sign_in.password").input("anything at all")
    button(app, "Sign in").click().run()
    assert not app.exception
    assert any("email" in e and "control character" in e for e in errors(app)), errors(app)


def test_an_unexpected_failure_shows_a_reference_never_the_exception(
    studio: Studio, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As the served studio does (under AppTest a bug stays an exception, for the tests)."""
    monkeypatch.setattr(common, "failures_as_messages", lambda: True)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError('DataError: SELECT password_hash FROM "user" WHERE email = %s')

    monkeypatch.setattr(sessions, "list_sessions", broken)
    with caplog.at_level(logging.ERROR, logger="visualizer.studio"):
        app = signed_in(studio.emails["viewer"])
    assert not app.exception
    shown = " ".join(errors(app))
    assert "reference" in shown and "password_hash" not in shown and "DataError" not in shown
    reference = shown.split("reference ", 1)[1].split(")", 1)[0]
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the log line holds the traceback
