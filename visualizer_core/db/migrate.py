"""Alembic, driven from code: ``visualizer db upgrade`` and the tests call these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["current_revision", "downgrade", "head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _run(engine: Engine, action: str, target: str) -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, target)


def upgrade(engine: Engine, target: str = "head") -> str | None:
    """Apply migrations up to ``target``; idempotent. Returns the revision now in force."""
    _run(engine, "upgrade", target)
    return current_revision(engine)


def downgrade(engine: Engine, target: str = "base") -> str | None:
    _run(engine, "downgrade", target)
    return current_revision(engine)
