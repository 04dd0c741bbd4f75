"""Test configuration: hermetic settings, and the two backend sets every service test runs on.

- ``embedded``: a SQLite file and a storage folder in a temporary directory.
- ``postgres``: the live PostgreSQL server (``TEST_POSTGRES_URL``, the machine's own by default)
  and a real S3 API server process on loopback.

A missing PostgreSQL or Redis fails the run; nothing here skips.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

# Nothing from the developer's own environment may leak into a test.
for _name in list(os.environ):
    if _name.startswith(("R2_", "GEMINI_", "UNSPLASH_", "VISUALIZER_", "AWS_")) or _name in (
        "DATABASE_URL",
        "REDIS_URL",
        "APP_ENV",
        "AUTH_SECRET",
    ):
        del os.environ[_name]
os.environ["VISUALIZER_HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"vz-{os.getpid()}")
# Passwords hashed at argon2id's smallest cost: the same code, without ~0.2 s of CPU per hash.
os.environ["VISUALIZER_PASSWORD_COST"] = "test"

from visualizer_core import backends  # noqa: E402
from visualizer_core.config import Settings, load_settings, new_secret  # noqa: E402
from visualizer_core.db import migrate  # noqa: E402
from visualizer_core.db.base import Base  # noqa: E402
from visualizer_core.db.engine import make_engine  # noqa: E402

pytest_plugins = ["tests.servers.s3", "tests.plugin"]

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# AUTH_SECRET is required off the embedded default. Made afresh for each run (and handed to the
# processes the run starts), never written in a file: a secret published in the tests would be
# one anybody could sign sessions with, which start-up refuses.
TEST_AUTH_SECRET = os.environ.setdefault("TEST_AUTH_SECRET", new_secret())


def create_postgres_database(prefix: str = "vz_test") -> str:
    """A new empty database on the test server; returns its URL. Fails loudly if none answers."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; tests empty its tables after use."""
    url = create_postgres_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    cleaner = _cleaners.pop(url, None)
    if cleaner is not None:
        cleaner.dispose()
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each embedded test copies."""
    path = tmp_path_factory.mktemp("template") / "visualizer.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


# One engine per test database for emptying it after each test (dropped with the database).
_cleaners: dict[str, Engine] = {}


def _empty_all_tables(url: str) -> None:
    """Every row deleted, children first: on tables of a few rows DELETE takes milliseconds
    where TRUNCATE, which gives every table new files, took a quarter of a second a test."""
    engine = _cleaners.get(url) or _cleaners.setdefault(url, make_engine(url))
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def settings_for(kind: str, home: Path, **extra: object) -> Settings:
    """Settings of one backend set, as a user would configure them."""
    return load_settings(visualizer_home=home, **extra)


@pytest.fixture(params=["embedded", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[backends.Backends]:
    """The current backends, once embedded and once on PostgreSQL with S3."""
    home = tmp_path / "home"
    home.mkdir()
    if request.param == "embedded":
        shutil.copy(sqlite_template, home / "visualizer.db")
        settings = settings_for("embedded", home)
    else:
        url = request.getfixturevalue("postgres_url")
        storage = request.getfixturevalue("s3_storage")
        settings = settings_for(
            "postgres",
            home,
            database_url=url,
            r2_bucket=storage.bucket,
            r2_endpoint=storage.endpoint_url,
            r2_access_key_id="test",
            r2_secret_access_key="test",
            auth_secret=TEST_AUTH_SECRET,  # required off the embedded default
        )
    built = backends.build(settings)
    try:
        with backends.using(built):
            yield built
    finally:
        built.close()
        if request.param == "postgres":
            _empty_all_tables(settings.effective_database_url)


@pytest.fixture
def embedded(tmp_path: Path, sqlite_template: Path) -> Iterator[backends.Backends]:
    """Only the embedded default (for tests about it in particular)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "visualizer.db")
    built = backends.build(settings_for("embedded", home))
    try:
        with backends.using(built):
            yield built
    finally:
        built.close()
