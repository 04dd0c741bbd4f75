"""Settings page (owners only): members and roles, invitations, the webhook, usage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from tests.plugin import wait_until
from tests.studio.conftest import (
    TIMEOUT,
    Studio,
    button,
    errors,
    frame,
    generate_and_wait,
    texts,
)
from visualizer_core.db.models import Client
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import budgets, clients, notify
from visualizer_core.services._uow import unit_of_work


def test_only_owners_have_a_settings_page(open_app: Callable[..., AppTest]) -> None:
    for role in ("editor", "viewer"):
        app = open_app(role)
        with pytest.raises(ValueError):
            app.switch_page("views/settings.py")
    app = open_app("owner", "settings")
    assert not app.exception
    assert "Settings" in [t.value for t in app.title]


def test_usage_against_the_quota(studio: Studio, open_app: Callable[..., AppTest]) -> None:
    generate_and_wait(studio)
    app = open_app("owner", "settings")
    assert app.get("progress")[0].proto.text == "Today: 3 of 200 images used (UTC day)"
    assert "197 image(s) left today. An admin can change the daily quota." in texts(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Images, last 30 days"] == "3" and metrics["Completed"] == "3"


def test_the_monthly_budget_is_shown_with_what_the_ledger_says_was_spent(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("owner", "settings")
    assert not any("monthly budget" in (p.proto.text or "") for p in app.get("progress"))
    budgets.set_monthly_budget(ADMIN, client_id=studio.client_id, monthly_budget_usd=40)
    app = open_app("owner", "settings")
    shown = [p.proto.text for p in app.get("progress") if "monthly budget" in p.proto.text]
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert shown == [f"{month}: USD 0.00 of the monthly budget of USD 40.00 spent"]
    assert "USD 40.00 left this month; a generation the budget cannot take is refused." in (
        texts(app)
    )


def test_members_are_listed_and_roles_changed(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("owner", "settings")
    members = frame(app, "email", "role", "status").set_index("email")
    assert members.loc[studio.emails["viewer"], "role"] == "viewer"
    viewer = next(
        m
        for m in clients.list_members(studio.scope(), client_id=studio.client_id)
        if m.email == studio.emails["viewer"]
    )
    app.selectbox(key="settings.member").select(viewer.user_id).run()
    app.selectbox(key="settings.member_role").select("editor").run()
    button(app, "Set role").click().run()
    assert not app.exception
    assert f"{studio.emails['viewer']} is now editor." in [s.value for s in app.success]
    assert frame(app, "email", "role").set_index("email").loc[studio.emails["viewer"], "role"] == (
        "editor"
    )


def test_the_role_picker_starts_from_the_picked_members_role(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    """Picking an editor shows "editor": one click of "Set role" cannot promote them."""
    app = open_app("owner", "settings")
    by_email = {
        m.email: m for m in clients.list_members(studio.scope(), client_id=studio.client_id)
    }
    for role in ("editor", "viewer", "owner"):
        app.selectbox(key="settings.member").select(by_email[studio.emails[role]].user_id).run()
        assert not app.exception
        assert app.selectbox(key="settings.member_role").value == role
        assert app.button(key="settings.set_role").disabled  # nothing would change
    app.selectbox(key="settings.member").select(by_email[studio.emails["editor"]].user_id).run()
    app.selectbox(key="settings.member_role").select("viewer").run()
    assert not app.button(key="settings.set_role").disabled
    app.button(key="settings.set_role").click().run()
    assert f"{studio.emails['editor']} is now viewer." in [s.value for s in app.success]
    assert app.selectbox(key="settings.member").value == by_email[studio.emails["editor"]].user_id
    assert app.selectbox(key="settings.member_role").value == "viewer"


def test_the_last_owner_cannot_be_demoted(studio: Studio, open_app: Callable[..., AppTest]) -> None:
    app = open_app("owner", "settings")
    owner = next(
        m
        for m in clients.list_members(studio.scope(), client_id=studio.client_id)
        if m.role is Role.OWNER
    )
    app.selectbox(key="settings.member").select(owner.user_id).run()
    app.selectbox(key="settings.member_role").select("viewer").run()
    button(app, "Set role").click().run()
    assert not app.exception
    assert len(app.error) == 1 and "last owner" in errors(app)[0]


def test_an_invitation_shows_its_link_once(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("owner", "settings")
    app.text_input(key="settings.invite_email").input("new.person@brand.test")
    app.selectbox(key="settings.invite_role").select("viewer")
    button(app, "Invite").click().run()
    assert not app.exception
    assert any("Invitation for new.person@brand.test (viewer)" in s.value for s in app.success)
    assert "?invite=" in app.code[0].value
    members = frame(app, "email", "status").set_index("email")
    assert members.loc["new.person@brand.test", "status"] == "invited"

    button(app, "Invite").click().run()  # an empty email
    assert len(app.error) == 1


def test_the_webhook_is_saved_with_its_secret_and_a_bad_url_refused(
    open_app: Callable[..., AppTest],
) -> None:
    app = open_app("owner", "settings")
    app.text_input(key="settings.webhook_url").input("ftp://example.test/hook")
    button(app, "Save webhook").click().run()
    assert len(app.error) == 1 and "https://" in errors(app)[0]

    app.text_input(key="settings.webhook_url").input("https://93.184.215.14/visualizer")
    button(app, "Save webhook").click().run()
    assert not app.exception
    assert any("https://93.184.215.14/visualizer" in s.value for s in app.success)
    assert len(app.code[0].value) >= 16


def test_owners_see_the_webhook_delivery_log(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("owner", "settings")
    assert "No deliveries yet: one is made when a session's generation finishes." in texts(app)

    # A receiver that the outbound guard refuses when the delivery is made (a name that now
    # resolves to loopback, say): the delivery fails at once and nothing leaves the machine.
    with unit_of_work() as db:
        row = db.get(Client, studio.client_id)
        assert row is not None
        row.webhook_url = "https://127.0.0.1:8443/hooks/visualizer?key=secret-in-query"
        row.webhook_secret = "the-receivers-shared-secret-0123456789"
    generate_and_wait(studio)
    wait_until(
        lambda: notify.delivery_log(studio.scope(), client_id=studio.client_id),
        TIMEOUT,
        "the finished flow's delivery to be on record",
    )

    app = open_app("owner", "settings")
    assert not app.exception
    log = frame(app, "when", "flow", "event", "host", "status", "error", "attempts")
    assert len(log) == 1
    [delivery] = log.to_dict("records")
    assert (delivery["event"], delivery["host"], delivery["result"]) == (
        "flow.finished",
        "127.0.0.1:8443",
        "failed",
    )
    assert "loopback" in delivery["error"] and delivery["attempts"] == 0
    assert "secret-in-query" not in log.to_string()
    assert "The last 1 deliveries, newest first" in texts(app)


def test_owners_see_what_matching_learned_and_forget_it(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    from visualizer_core.services import analysis
    from visualizer_core.services import learning as taught

    assert studio.session_id is not None
    analysis.match_session(studio.scope("editor"), session_id=studio.session_id)
    sofa, bed = studio.product_ids["SOFA-1"], studio.product_ids["BED-1"]
    bedroom = studio.scene_ids[1]
    analysis.set_match(
        studio.scope("editor"), session_id=studio.session_id, product_id=sofa, scene_id=bedroom
    )
    analysis.set_match(
        studio.scope("editor"), session_id=studio.session_id, product_id=bed, scene_id=bedroom
    )
    app = open_app("owner", "settings")
    learned = frame(app, "product kind", "room", "placed").set_index("product kind")
    assert learned.loc["Sofa", "placed"] == "Bedroom 1"
    assert learned.loc["Sofa", "room"] == "not decided yet"
    assert learned.loc["Bed", "placed"] == "Bedroom 1"

    app.selectbox(key="settings.forget_kind").set_value("Sofa")
    button(app, "Forget what was learned").click().run(timeout=TIMEOUT)
    assert not app.exception
    assert "Forget what matching learned about Sofa?" in texts(app)  # asked first
    assert len(taught.taught_rooms(studio.scope("owner"), client_id=studio.client_id)) == 2
    button(app, "Yes, forget").click().run(timeout=TIMEOUT)
    assert not app.exception
    assert "Matching forgot 1 product kind(s)." in texts(app)
    left = taught.taught_rooms(studio.scope("owner"), client_id=studio.client_id)
    assert [lesson["category"] for lesson in left] == ["bed"]


def test_removing_a_member_or_the_webhook_asks_first(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    editor = next(
        m
        for m in clients.list_members(studio.scope(), client_id=studio.client_id)
        if m.email == studio.emails["editor"]
    )

    def members() -> set[str]:
        return {m.email for m in clients.list_members(studio.scope(), client_id=studio.client_id)}

    app = open_app("owner", "settings")
    app.selectbox(key="settings.member").select(editor.user_id).run()
    button(app, "Remove").click().run()
    assert not app.exception
    assert f"Remove {studio.emails['editor']} (editor) from" in texts(app)
    assert studio.emails["editor"] in members()  # nothing yet
    button(app, "Cancel").click().run()
    assert not app.exception
    assert "Remove " + studio.emails["editor"] not in texts(app)
    assert studio.emails["editor"] in members()

    button(app, "Remove").click().run()
    button(app, "Yes, remove").click().run()
    assert not app.exception
    assert f"{studio.emails['editor']} removed." in [s.value for s in app.success]
    assert studio.emails["editor"] not in members()

    app.text_input(key="settings.webhook_url").input("https://93.184.215.14/visualizer")
    button(app, "Save webhook").click().run()
    button(app, "Remove webhook").click().run()
    assert not app.exception
    assert "Remove the webhook https://93.184.215.14/visualizer?" in texts(app)
    hook = clients.webhook_settings(studio.scope(), client_id=studio.client_id)
    assert hook["url"] == "https://93.184.215.14/visualizer"  # still set
    button(app, "Yes, remove the webhook").click().run()
    assert not app.exception
    assert "Webhook removed." in [s.value for s in app.success]
    assert clients.webhook_settings(studio.scope(), client_id=studio.client_id)["url"] is None
