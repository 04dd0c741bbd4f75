"""``visualizer user ...`` and start-up secrets, as an admin types them (real processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import factories
from tests.cli.helpers import ok_json, run
from visualizer_core.ai.usage import Pricing, Tokens
from visualizer_core.backends import Backends
from visualizer_core.db import ledger
from visualizer_core.scope import ADMIN
from visualizer_core.services import auth, clients, sessions

ROOT = Path(__file__).resolve().parents[2]


def test_8_set_password_replaces_it_and_ends_every_session(backend: Backends) -> None:
    client = clients.create_client(ADMIN, name="Acme")
    user = clients.create_user(
        ADMIN, email="owner@acme.test", client_id=client.id, role="owner", password="first one!"
    )
    token = auth.issue_session_token(auth.sign_in(user.email, "first one!"))

    done = ok_json(
        backend,
        "user",
        "set-password",
        "Owner@Acme.test",
        "--password-stdin",
        stdin="the second one\n",
    )
    assert done == {"id": str(user.id), "email": "owner@acme.test"}
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token)
    assert auth.sign_in(user.email, "the second one").user_id == user.id

    refused = run(
        backend, "user", "set-password", "nobody@acme.test", "--password-stdin", stdin="x" * 12
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: user nobody@acme.test not found"
    short = run(backend, "user", "set-password", user.email, "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    assert "Traceback" not in short.stderr + refused.stderr
    assert run(backend, "user", "set-password", user.email).returncode == 2  # no stdin flag


def test_8_user_create_with_a_password_on_an_existing_user_ends_their_sessions(
    backend: Backends,
) -> None:
    client = clients.create_client(ADMIN, name="Acme")
    user = clients.create_user(
        ADMIN, email="e@acme.test", client_id=client.id, role="editor", password="first one!"
    )
    token = auth.issue_session_token(auth.sign_in(user.email, "first one!"))
    other = clients.create_client(ADMIN, name="Other")
    ok_json(
        backend,
        "user",
        "create",
        user.email,
        "--client",
        str(other.id),
        "--role",
        "viewer",
        "--password-stdin",
        stdin="replaced by admin\n",
    )
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token)


def test_2_user_create_refuses_to_merge_an_unverified_account(backend: Backends) -> None:
    a, b = clients.create_client(ADMIN, name="A"), clients.create_client(ADMIN, name="B")
    copied = clients.invite_member(ADMIN, client_id=a.id, email="claimed@x.test", role="viewer")
    assert copied.token is not None
    auth.accept_invite(copied.token, password="chosen by the link holder")
    done = run(
        backend, "user", "create", "claimed@x.test", "--client", str(b.id), "--role", "owner"
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "unverified" in done.stderr
    assert [
        m.client_id for m in auth.sign_in("claimed@x.test", "chosen by the link holder").memberships
    ] == [a.id]


def test_2_user_create_with_a_password_takes_an_unverified_account_back(
    backend: Backends,
) -> None:
    a, b = clients.create_client(ADMIN, name="A"), clients.create_client(ADMIN, name="B")
    copied = clients.invite_member(ADMIN, client_id=a.id, email="claimed@x.test", role="editor")
    assert copied.token is not None
    auth.accept_invite(copied.token, password="chosen by the link holder")
    done = ok_json(
        backend,
        "user",
        "create",
        "claimed@x.test",
        "--client",
        str(b.id),
        "--role",
        "owner",
        "--password-stdin",
        stdin="the person's own one\n",
    )
    assert done["email"] == "claimed@x.test" and done["memberships_removed"] == ["A"]
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("claimed@x.test", "chosen by the link holder")
    person = auth.sign_in("claimed@x.test", "the person's own one")
    assert [m.client_id for m in person.memberships] == [b.id]


@pytest.mark.parametrize(
    "secret",
    [
        "x",
        "change-me-to-a-long-random-string",  # the .env.example placeholder
        "y" * 64,
        "0123456789abcdef0123456789abcdef",  # 32 bytes of text, 16 bytes of randomness at best
        # issue 24, finding 5: each of these passed the old check, and a token signed with it
        # signed in as an owner
        "Password1!" * 6,  # a repeated password
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",  # alphabet runs
        "qwertyuiopasdfghjklzxcvbnm1234567890qwertyuiop",  # a keyboard walk
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",  # a keyboard walk, by columns
        "AcmeHomeStudioSecretKeyForSessions2026!",  # a company phrase
        "correct horse battery staple acme home studio 2026",  # words with spaces
        "TheQuickBrownFoxJumpsOverTheLazyDogAcme2026",
        "wl8q4XNgj1eT2OJL3d7TMmIjBBS7Dlaqnyi-3CL4P9c",  # the secret the test files published
    ],
)
def test_7_a_weak_auth_secret_stops_start_up_with_one_line(tmp_path: Path, secret: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "VISUALIZER_HOME": str(tmp_path),
        # a database that does not exist: if the secret were accepted, nothing could be written
        "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/vz_no_such_database",
        "AUTH_SECRET": secret,
    }
    done = subprocess.run(
        [sys.executable, "-m", "visualizer_cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: AUTH_SECRET: ")
    assert secret not in done.stderr.removeprefix("error: AUTH_SECRET: ") or len(secret) < 3
    assert "Traceback" not in done.stderr


def test_7_the_env_example_placeholder_is_refused() -> None:
    from visualizer_core.config import secret_weakness

    line = next(
        row
        for row in (ROOT / ".env.example").read_text().splitlines()
        if row.startswith("AUTH_SECRET=")
    )
    assert secret_weakness(line.split("=", 1)[1]) is not None


def test_5_visualizer_secret_prints_one_that_start_up_accepts(tmp_path: Path) -> None:
    """``visualizer secret`` runs even while the configured AUTH_SECRET is refused (that is when
    one needs it), and what it prints is accepted."""
    from visualizer_core.config import new_secret, secret_weakness

    env = {"PATH": "/usr/bin:/bin", "VISUALIZER_HOME": str(tmp_path), "AUTH_SECRET": "x"}
    done = subprocess.run(
        [sys.executable, "-m", "visualizer_cli", "secret"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert len(printed) == 43 and secret_weakness(printed) is None
    # the rule holds for random bytes of the stated length every time, not by luck
    assert all(secret_weakness(new_secret()) is None for _ in range(300))


def test_5_no_secret_is_written_in_the_test_files() -> None:
    """The suite makes its AUTH_SECRET afresh per run: none is published in a file."""
    from tests.conftest import TEST_AUTH_SECRET

    for path in (ROOT / "tests").rglob("*.py"):
        assert TEST_AUTH_SECRET not in path.read_text(encoding="utf-8"), path


def test_set_quota_changes_a_clients_daily_quota(backend: Backends) -> None:
    client = clients.create_client(ADMIN, name="Quota Brand", daily_quota=5)
    done = ok_json(backend, "client", "set-quota", str(client.id), "--daily-quota", "250")
    assert done == {"id": str(client.id), "daily_quota": 250}
    assert [c.daily_quota for c in clients.list_clients(ADMIN) if c.id == client.id] == [250]
    unknown = run(backend, "client", "set-quota", "9" * 8, "--daily-quota", "3")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert (
        run(backend, "client", "set-quota", str(client.id), "--daily-quota", "-1").returncode == 2
    )


def test_set_budget_sets_and_removes_a_clients_monthly_budget(backend: Backends) -> None:
    client = clients.create_client(ADMIN, name="Budget Brand")
    done = ok_json(backend, "client", "set-budget", str(client.id), "--monthly-usd", "250.5")
    assert done == {"id": str(client.id), "monthly_budget_usd": 250.5}
    assert clients.get_client(ADMIN, client_id=client.id).monthly_budget_usd == 250.5
    done = ok_json(backend, "client", "set-budget", str(client.id), "--none")
    assert done == {"id": str(client.id), "monthly_budget_usd": None}
    assert clients.get_client(ADMIN, client_id=client.id).monthly_budget_usd is None
    unknown = run(backend, "client", "set-budget", "9" * 8, "--monthly-usd", "3")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    for wrong in (["--monthly-usd", "-1"], [], ["--monthly-usd", "3", "--none"]):
        assert run(backend, "client", "set-budget", str(client.id), *wrong).returncode == 2


def test_generate_over_the_monthly_budget_is_refused_with_one_line(backend: Backends) -> None:
    client = clients.create_client(ADMIN, name="Spent Brand")
    session = factories.create_session(client.id)
    catalog = factories.import_catalog(client.id)
    factories.add_rooms(session.id)
    record = Pricing().record("analysis", "gemini-3.8-flash", Tokens(input_text=1))
    record.cost_usd = 3.0  # what the ledger says this client spent this month
    with backend.transaction() as db:
        ledger.add_product_calls(db, next(iter(catalog.values())), [record])
    ok_json(backend, "client", "set-budget", str(client.id), "--monthly-usd", "2")

    refused = run(backend, "generate", "--session", str(session.id), "--json")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert "monthly budget of USD 2.00" in refused.stderr and "USD 3.00 spent" in refused.stderr
    assert sessions.session_status(ADMIN, session_id=session.id)["total"] == 0

    ok_json(backend, "client", "set-budget", str(client.id), "--monthly-usd", "3")
    made = ok_json(backend, "generate", "--session", str(session.id))
    assert len(made["image_ids"]) == len(catalog)
