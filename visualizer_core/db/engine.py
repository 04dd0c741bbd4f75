"""Engines and sessions: one engine per database URL, one session per unit of work."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import cycle, repeat
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from visualizer_core.errors import InvalidInput
from visualizer_core.text import check_text, control_character

__all__ = ["READ_ONLY", "make_engine", "make_sessionmaker", "transaction"]

READ_ONLY = "visualizer_read_only"
"""Execution option of an engine whose transactions only read (see :func:`_sqlite_setup`)."""


def _sqlite_setup(engine: Engine) -> None:
    """WAL, foreign keys and write-ahead locking for SQLite.

    Every transaction starts with ``BEGIN IMMEDIATE``, so two writers never deadlock upgrading
    read locks; the second waits on ``busy_timeout`` instead. This is SQLAlchemy's documented
    recipe for taking transaction control away from the sqlite3 module.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Read-only units of work (``READ_ONLY``) begin deferred: in WAL mode a reader never
        # waits behind a writer, and sees the last commit.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600; password hashes and webhook
    secrets are inside), in a folder made 0700; an existing file of ours is tightened to 0600.
    SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(path, 0o600)


_NUMBERED = re.compile(r"_\d+$")


def _field(name: object) -> str:
    """A bound parameter's name as the field it stands for (``email_1`` is the email)."""
    text = _NUMBERED.sub("", str(name)) if name is not None else "a value"
    return text.replace("_", " ") or "a value"


def _guard_text(engine: Engine) -> None:
    """The text boundary (:mod:`visualizer_core.text`): no value with a control character is
    bound to a statement, on either database, so a NUL from a sign-in form, a session name or a
    webhook secret is an :class:`InvalidInput` naming the field, never PostgreSQL's DataError."""

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if (
            many
            and isinstance(parameters, list | tuple)
            and parameters
            and isinstance(parameters[0], Mapping | list | tuple)
        ):
            rows = parameters
        else:  # one row, or several rows' values in one (insertmanyvalues)
            rows = [parameters]
        compiled = getattr(context, "compiled", None)
        names = list(getattr(compiled, "positiontup", None) or ())
        for row in rows or ():
            if isinstance(row, Mapping):
                pairs: Iterable[tuple[object, object]] = row.items()
            else:
                values = list(row or ())
                fits = bool(names) and len(values) % len(names) == 0
                pairs = zip(cycle(names) if fits else repeat(None), values, strict=False)
            for name, value in pairs:
                if isinstance(value, str) and (found := control_character(value)):
                    raise InvalidInput(
                        f"{_field(name)}: contains a control character ({found}); remove it"
                    )


def _check_rows(session: Session, _context: Any, _instances: Any) -> None:
    """Before a flush: every text attribute of a row being written, JSON values included,
    named as the person knows it (``studio session name``, ``studio session scenes[0].label``).

    A new row's values are all written; of a changed row only the attributes set since it was
    loaded are (what was read back passed this check when it was written, or predates it), so
    an update of one column does not read the row's large JSON again.
    """
    for row in (*session.new, *session.dirty):
        state = inspect(row)
        values = state.dict  # what the row holds now, without loading anything
        changed = None if state.key is None else state.committed_state
        mapper = state.mapper
        table = str(mapper.local_table.name).replace("_", " ")
        for column in mapper.column_attrs:
            key = column.key
            if key in values and (changed is None or key in changed):
                check_text(values[key], f"{table} {key.replace('_', ' ')}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and the setup above.

    Every engine guards the text it binds (:func:`_guard_text`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _sqlite_setup(engine)
        _guard_text(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    _guard_text(engine)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions of one unit of work each; every flush checks the text it writes."""
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "before_flush", _check_rows)
    return factory


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back when it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
