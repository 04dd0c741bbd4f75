"""Migrations on a live PostgreSQL (and SQLite): up, down, up again; models match the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import create_postgres_database, drop_postgres_database
from visualizer_core.db import migrate
from visualizer_core.db.base import Base
from visualizer_core.db.engine import make_engine

SEED_TABLES = {
    "client",
    "user",
    "member",
    "product",
    "product_image",
    "studio_session",
    "flow",
    "generated_image",
}


@pytest.fixture(params=["postgres", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgres":
        url = create_postgres_database("vz_migrate")
        yield url
        drop_postgres_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'm.db'}"


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    engine = make_engine(empty_database)
    try:
        head = migrate.head_revision()
        assert migrate.upgrade(engine) == head
        assert set(inspect(engine).get_table_names()) == SEED_TABLES | {"alembic_version"}
        assert migrate.upgrade(engine) == head  # idempotent
        assert migrate.downgrade(engine, "base") is None
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert migrate.upgrade(engine) == head
        assert set(inspect(engine).get_table_names()) == SEED_TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_models_match_the_migrated_schema(empty_database: str) -> None:
    engine = make_engine(empty_database)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_models_are_exactly_the_seed_tables() -> None:
    assert set(Base.metadata.tables) == SEED_TABLES


@pytest.mark.postgres
def test_postgres_uses_native_types() -> None:
    url = create_postgres_database("vz_types")
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("flow")}
        assert columns["product_ids"].__class__.__name__ == "ARRAY"
        assert columns["settings"].__class__.__name__ == "JSONB"
        assert columns["id"].__class__.__name__ == "UUID"
        stamps = {c["name"]: c["type"] for c in inspect(engine).get_columns("generated_image")}
        assert stamps["created_at"].timezone is True
    finally:
        engine.dispose()
        drop_postgres_database(url)
