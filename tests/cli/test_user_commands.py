"""``visualizer user ...`` and start-up secrets, as an admin types them (real processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import ok_json, run
from visualizer_core.backends import Backends
from visualizer_core.scope import ADMIN
from visualizer_core.services import auth, clients

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


@pytest.mark.parametrize(
    "secret",
    [
        "x",
        "change-me-to-a-long-random-string",  # the .env.example placeholder
        "y" * 64,
        "0123456789abcdef0123456789abcdef",  # 32 bytes of text, 16 bytes of randomness at best
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
