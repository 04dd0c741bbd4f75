"""Sign-in page: signing in, wrong passwords, invitations, and switching between clients."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from tests.factories import create_client
from tests.studio.conftest import APP, PASSWORD, TIMEOUT, Studio, add_member, button, errors, texts
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import User
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.security import invite_token
from visualizer_core.services import auth, clients, sessions
from visualizer_core.services._uow import unit_of_work


def fresh_app() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception
    return app


def fill_sign_in(app: AppTest, email: str, password: str) -> AppTest:
    app.text_input(key="sign_in.email").input(email)
    app.text_input(key="sign_in.password").input(password)
    return button(app, "Sign in").click().run()


def test_signed_out_people_see_only_the_sign_in_form(studio: Studio) -> None:
    app = fresh_app()
    assert "Visualizer studio" in texts(app)
    assert [b.label for b in app.get("form_submit_button")] == ["Sign in"]
    assert "Sessions" not in [t.value for t in app.title]


def test_a_wrong_password_is_a_message_not_a_traceback(studio: Studio) -> None:
    app = fill_sign_in(fresh_app(), studio.emails["editor"], "not the password")
    assert not app.exception
    assert len(app.error) == 1 and errors(app)[0].startswith("Wrong email or password")
    assert "Sessions" not in [t.value for t in app.title]


def test_an_empty_form_asks_for_email_and_password(studio: Studio) -> None:
    app = button(fresh_app(), "Sign in").click().run()
    assert errors(app) == ["Enter your email and password."]


def test_signing_in_opens_the_sessions_of_the_client(studio: Studio) -> None:
    app = fill_sign_in(fresh_app(), studio.emails["editor"].upper(), PASSWORD)
    assert not app.exception
    assert "Sessions" in [t.value for t in app.title]
    assert f"Signed in as **{studio.emails['editor']}**" in texts(app)
    assert "auth.token" in app.session_state
    # Signing out forgets the token and shows the form again.
    button(app, "Sign out").click().run()
    assert "auth.token" not in app.session_state
    assert [b.label for b in app.get("form_submit_button")] == ["Sign in"]


def test_members_of_two_clients_switch_in_the_sidebar(studio: Studio) -> None:
    other = create_client(name="Second Brand")
    sessions.create_session(ADMIN, client_id=other.id, name="Second brand launch")
    clients.create_user(
        ADMIN, email=studio.emails["editor"], client_id=other.id, role="viewer", password=None
    )
    app = fill_sign_in(fresh_app(), studio.emails["editor"], PASSWORD)
    picker = app.selectbox(key="auth.client_picker")
    assert len(picker.options) == 2
    assert "Second brand launch" not in texts(app)

    picker.select(other.id).run()
    assert not app.exception
    assert "**Second brand launch**" in texts(app)
    # A viewer there: no form to create sessions.
    assert "Create" not in [b.label for b in app.get("form_submit_button")]
    # The choice is remembered for the next sign-in.
    again = fill_sign_in(fresh_app(), studio.emails["editor"], PASSWORD)
    assert "**Second brand launch**" in texts(again)


def test_a_removed_member_is_signed_out_with_a_reason(studio: Studio) -> None:
    email = add_member(studio.client_id, "editor")
    app = fill_sign_in(fresh_app(), email, PASSWORD)
    assert "Sessions" in [t.value for t in app.title]
    owner = ClientScope(client_id=studio.client_id, role=Role.OWNER)
    member = next(
        m for m in clients.list_members(owner, client_id=studio.client_id) if m.email == email
    )
    clients.remove_member(owner, client_id=studio.client_id, user_id=member.user_id)

    app.run()
    assert not app.exception
    assert "Sessions" not in [t.value for t in app.title]
    assert any("not a member of any client" in w.value for w in app.warning)


def test_an_invitation_link_lets_a_new_person_choose_a_password(studio: Studio) -> None:
    owner = ClientScope(client_id=studio.client_id, role=Role.OWNER)
    invitation = clients.invite_member(
        owner, client_id=studio.client_id, email="newcomer@brand.test", role="editor"
    )
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params["invite"] = invitation.token
    app.run()
    assert "Accept your invitation" in texts(app)
    app.text_input(key="sign_in.invite_password").input("a new long password")
    button(app, "Accept and sign in").click().run()
    assert not app.exception
    assert "Sessions" in [t.value for t in app.title]
    assert "Signed in as **newcomer@brand.test**" in texts(app)


def test_the_invitation_page_names_the_brand_the_role_and_who_invited(studio: Studio) -> None:
    owner = auth.scope_from_token(
        auth.issue_session_token(auth.sign_in(studio.emails["owner"], PASSWORD))
    )
    brand = clients.get_client(owner, client_id=studio.client_id).name
    invitation = clients.invite_member(
        owner, client_id=studio.client_id, email="offered@brand.test", role="viewer"
    )
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params["invite"] = invitation.token
    app.run()
    assert not app.exception
    said = texts(app).replace("**", "")
    assert f"{studio.emails['owner']} invites offered@brand.test to join {brand} as viewer" in said
    # An existing member who opens it while signed in reads the same on their account page.
    again = clients.invite_member(
        owner, client_id=studio.client_id, email="offered@brand.test", role="editor"
    )
    assert again.token is not None
    preview = auth.invitation_for(again.token)
    assert (preview.client_name, preview.role, preview.invited_by) == (
        brand,
        Role.EDITOR,
        studio.emails["owner"],
    )
    with pytest.raises(auth.InvitationInvalid):
        auth.invitation_for(invitation.token)  # replaced by the newer one


def test_a_used_invitation_is_refused_with_a_message(studio: Studio) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params["invite"] = "not-a-real-token"
    app.run()
    assert any("not valid" in e for e in errors(app))  # said before anything is typed
    app.text_input(key="sign_in.invite_password").input("a new long password")
    button(app, "Accept and sign in").click().run()
    assert not app.exception
    assert any("not valid" in e for e in errors(app))


AUTH_SECRETS = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a long random cookie secret for tests",
    "client_id": "studio",
    "client_secret": "secret",
    "server_metadata_url": "https://id.example.test/.well-known/openid-configuration",
}


def sso_app(user: dict[str, object]) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.secrets["auth"] = AUTH_SECRETS
    app.user = user
    return app.run()


def test_single_sign_on_offers_its_button_when_configured(studio: Studio) -> None:
    app = sso_app({"is_logged_in": False})
    assert not app.exception
    assert "Sign in with single sign-on" in [b.label for b in app.button]
    assert [b.label for b in app.get("form_submit_button")] == ["Sign in"]


def test_a_verified_email_of_a_member_signs_in(studio: Studio) -> None:
    app = sso_app({"is_logged_in": True, "email": studio.emails["viewer"]})
    assert not app.exception
    assert "Sessions" in [t.value for t in app.title]
    assert f"Signed in as **{studio.emails['viewer']}**" in texts(app)
    # Signing out also ends the provider's session, so nobody is signed straight back in.
    button(app, "Sign out").click().run()
    assert "Sessions" not in [t.value for t in app.title]
    assert app.user == {"is_logged_in": False}


def test_a_verified_email_without_an_account_is_refused(studio: Studio) -> None:
    app = sso_app({"is_logged_in": True, "email": "stranger@elsewhere.test"})
    assert not app.exception
    assert (
        len(app.error) == 1
        and "There is no account for stranger@elsewhere.test" in (errors(app)[0])
    )
    assert "Use another account" in [b.label for b in app.button]


def test_single_sign_on_with_a_copied_invitation_link_joins_nothing_without_a_click(
    studio: Studio,
) -> None:
    """Issue 24, finding 1: signed in at the provider, a person opens an invitation link someone
    copied to them. Loading the page joins nothing; only the "Accept" click does."""
    other = create_client(name="Lure Brand")
    invitation = clients.invite_member(
        ADMIN, client_id=other.id, email=studio.emails["viewer"], role="viewer"
    )
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.secrets["auth"] = AUTH_SECRETS
    app.user = {"is_logged_in": True, "email": studio.emails["viewer"]}
    app.query_params["invite"] = invitation.token
    app.run()
    assert not app.exception
    status = {m.email: m.status for m in clients.list_members(ADMIN, client_id=other.id)}
    assert status[studio.emails["viewer"]] == "invited"  # the page load accepted nothing
    assert "Sessions" not in [t.value for t in app.title]

    button(app, "Accept the invitation").click().run()
    assert not app.exception
    status = {m.email: m.status for m in clients.list_members(ADMIN, client_id=other.id)}
    assert status[studio.emails["viewer"]] == "active"
    assert len(app.selectbox(key="auth.client_picker").options) == 2


def test_single_sign_on_taking_an_account_back_tells_the_person_what_was_dropped(
    studio: Studio,
) -> None:
    """Issue 24, finding 2 in the studio: someone claimed the address from a copied link; the
    person signs in with single sign-on and reads which membership went."""
    claimed_client = create_client(name="Claimed Brand")
    copied = clients.invite_member(
        ADMIN, client_id=claimed_client.id, email="claimed@example.com", role="viewer"
    )
    assert copied.token is not None
    auth.accept_invite(copied.token, password="attacker's choice")
    app = sso_app({"is_logged_in": True, "email": "claimed@example.com"})
    assert not app.exception
    assert "Sessions" not in [t.value for t in app.title]
    warned = " ".join(w.value for w in app.warning)
    assert "Claimed Brand" in warned and "removed" in warned


# -- issue 12: invitations for existing accounts, resets, password change -------------------------


def test_an_existing_account_accepts_an_invitation_by_signing_in(studio: Studio) -> None:
    other = create_client(name="Other Brand")
    invitation = clients.invite_member(
        ADMIN, client_id=other.id, email=studio.emails["viewer"], role="editor"
    )
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params["invite"] = invitation.token
    app.run()
    # The invitation form never checks the account's password: it asks to sign in instead.
    app.text_input(key="sign_in.invite_password").input(PASSWORD)
    button(app, "Accept and sign in").click().run()
    assert not app.exception
    assert any("sign in with it first" in e for e in errors(app))
    assert "Sessions" not in [t.value for t in app.title]

    fill_sign_in(app, studio.emails["viewer"], PASSWORD)
    assert not app.exception
    assert "Sessions" in [t.value for t in app.title]
    assert len(app.selectbox(key="auth.client_picker").options) == 2  # and now in Other Brand


def test_a_signed_in_person_accepts_an_opened_invitation_on_their_account_page(
    studio: Studio,
) -> None:
    other = create_client(name="Third Brand")
    invitation = clients.invite_member(
        ADMIN, client_id=other.id, email=studio.emails["editor"], role="viewer"
    )
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["auth.token"] = auth.issue_session_token(
        auth.sign_in(studio.emails["editor"], PASSWORD)
    )
    app.query_params["invite"] = invitation.token
    app.run()
    assert not app.exception
    assert "Your account" in [t.value for t in app.title]
    button(app, "Accept the invitation").click().run()
    assert not app.exception
    assert "Invitation accepted" in texts(app)
    assert len(app.selectbox(key="auth.client_picker").options) == 2


def test_a_reset_link_sets_a_new_password_and_ends_other_sign_ins(studio: Studio) -> None:
    email = add_member(studio.client_id, "editor")
    elsewhere = auth.issue_session_token(auth.sign_in(email, PASSWORD))
    token, token_hash = invite_token()  # as request_password_reset stores it, mail aside
    with unit_of_work() as db:
        user = db.scalars(select(User).where(User.email == email)).one()
        user.reset_token_hash = token_hash
        user.reset_expires_at = utcnow() + auth.RESET_VALID_FOR
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params["reset"] = token
    app.run()
    app.text_input(key="sign_in.reset_password").input("a fresh password")
    app.text_input(key="sign_in.reset_again").input("a fresh password")
    button(app, "Set password and sign in").click().run()
    assert not app.exception
    assert "Sessions" in [t.value for t in app.title]
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(elsewhere)


def test_changing_the_password_keeps_this_sign_in_and_ends_the_others(studio: Studio) -> None:
    email = add_member(studio.client_id, "viewer")
    elsewhere = auth.issue_session_token(auth.sign_in(email, PASSWORD))
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["auth.token"] = auth.issue_session_token(auth.sign_in(email, PASSWORD))
    app.run()
    app.switch_page("views/account.py").run()
    app.text_input(key="account.old").input("not the password")
    app.text_input(key="account.new").input("a new long password")
    app.text_input(key="account.again").input("a new long password")
    button(app, "Change password").click().run()
    assert not app.exception
    assert any("current password is wrong" in e for e in errors(app))

    app.text_input(key="account.old").input(PASSWORD)
    app.text_input(key="account.new").input("a new long password")
    app.text_input(key="account.again").input("a new long password")
    button(app, "Change password").click().run()
    assert not app.exception
    assert "Password changed" in texts(app)
    app.run()  # this sign-in goes on
    assert "Your account" in [t.value for t in app.title]
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(elsewhere)
