"""Benchmark of the text boundary (:mod:`visualizer_core.text`): what the control-character
check costs each statement and each flush.

Run with ``python -m bench text_boundary``. The check runs twice on the way to the database:
every value bound to a statement (the engine's ``before_cursor_execute`` listener that
:func:`visualizer_core.db.engine.make_engine` adds) and every text attribute of a row being
flushed, JSON included (the ``before_flush`` listener of ``make_sessionmaker``). On the
embedded database (SQLite, a file, as a user has it) this prints, for typical statements:

- the whole statement's time on the guarded engine, and the guard's own share: the engine's
  listener called alone on the very arguments the statement gave it (captured once);
- a flush of new rows with the check and without it (the same engine, a session factory
  without the listener), per row;
- the check itself on texts of typical sizes (a name, a 2 KB prompt, 64 KB of JSON text).

Each figure is the median of ``RUNS`` rounds. The last line reads::

    text_boundary: per statement 2.3 us (select by email), ...; per flushed row +30 us
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from visualizer_core.db.base import Base, utcnow
from visualizer_core.db.engine import make_engine, make_sessionmaker
from visualizer_core.db.models import Client, User
from visualizer_core.text import check_text, control_character

RUNS = 7
STATEMENTS = 400  # statements per round
FLUSH_ROWS = 200  # rows per flush
PROMPT = ("Place the oak chair by the window, soft morning light, keep its grain. " * 30)[:2048]
SETTINGS = {"fidelity_check": "all", "preset": {"name": "shopify", "size": 2048}, "note": PROMPT}


def _median_us(rounds: list[float], per: int) -> float:
    return statistics.median(rounds) / per * 1e6


def _timed(work: Callable[[], None], per: int) -> float:
    """Median microseconds per unit of ``work()`` (which does ``per`` units), over RUNS."""
    work()  # warm up: caches, the first connection
    rounds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        rounds.append(time.perf_counter() - started)
    return _median_us(rounds, per)


class Captured:
    """The arguments of the guarded engine's listener for the last statement, kept once."""

    def __init__(self, engine: Engine) -> None:
        self.arguments: tuple[Any, ...] | None = None
        self.on = False
        # Registered after the guard: it sees exactly what the guard saw.
        event.listen(engine, "before_cursor_execute", self._keep)

    def _keep(self, *arguments: Any) -> None:
        if self.on:
            self.arguments = arguments
            self.on = False


def _statements(engine: Engine) -> list[tuple[str, Callable[[Any, int], None]]]:
    """Typical statements, each ``run(connection, n)`` at the n-th repetition."""

    def insert_one(connection: Any, n: int) -> None:
        connection.execute(
            insert(Client).values(
                id=uuid.uuid4(),
                name=f"Brand {n}",
                plan="free",
                daily_quota=100,
                webhook_url="https://hooks.brand.test/visualizer",
                webhook_secret="a-secret-of-the-receiver-0123456789",
                settings=SETTINGS,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )

    def update_prompt(connection: Any, n: int) -> None:
        connection.execute(
            update(User).where(User.email == "person-0@brand.test").values(name=PROMPT)
        )

    def select_by_email(connection: Any, n: int) -> None:
        connection.execute(select(User.id).where(User.email == f"p{n}@brand.test"))

    def insert_many(connection: Any, n: int) -> None:
        connection.execute(
            insert(User),
            [
                {
                    "id": uuid.uuid4(),
                    "email": f"bulk-{n}-{i}-{uuid.uuid4().hex[:6]}@brand.test",
                    "name": f"Person {i}",
                    "session_version": 1,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for i in range(50)
            ],
        )

    with engine.begin() as connection:
        connection.execute(
            insert(User).values(
                id=uuid.uuid4(),
                email="person-0@brand.test",
                session_version=1,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return [
        ("select by email (1 text value)", select_by_email),
        ("1-row insert (9 values, 2 KB JSON)", insert_one),
        ("update of a 2 KB text", update_prompt),
        ("50-row insert (one statement)", insert_many),
    ]


def _statement_figures(engine: Engine) -> list[tuple[str, float, float]]:
    """(what, whole statement us, the guard's own us) for each typical statement."""
    [guard] = list(engine.dispatch.before_cursor_execute)  # make_engine's text guard
    captured = Captured(engine)
    figures = []
    for what, run in _statements(engine):
        count = STATEMENTS if "50-row" not in what else STATEMENTS // 20

        def statements(run: Callable[[Any, int], None] = run, count: int = count) -> None:
            with engine.begin() as connection:
                for n in range(count):
                    run(connection, n)

        whole = _timed(statements, count)
        with engine.begin() as connection:
            captured.on = True
            run(connection, -1)
        assert captured.arguments is not None
        arguments = captured.arguments

        def guard_alone(count: int = count, arguments: tuple[Any, ...] = arguments) -> None:
            for _ in range(count):
                guard(*arguments)

        figures.append((what, whole, _timed(guard_alone, count)))
    return figures


def _flush_figures(engine: Engine) -> tuple[float, float]:
    """Microseconds per flushed row: with the flush check, and without it."""
    checked = make_sessionmaker(engine)
    bare = sessionmaker(engine, expire_on_commit=False)

    def flush_with(factory: sessionmaker[Session]) -> Callable[[], None]:
        def flush() -> None:
            with factory() as session:
                session.add_all(
                    Client(name=f"Brand {i}", settings=SETTINGS, webhook_url=PROMPT[:200])
                    for i in range(FLUSH_ROWS)
                )
                session.flush()
                session.rollback()

        return flush

    return _timed(flush_with(checked), FLUSH_ROWS), _timed(flush_with(bare), FLUSH_ROWS)


def _check_figures() -> list[tuple[str, float]]:
    texts = {
        "a 40-character name": "Oak dining chair, natural finish (set 2)",
        "a 2 KB prompt": PROMPT,
        "64 KB of JSON text": json.dumps([SETTINGS] * 30)[:65536],
    }
    found = []
    for what, text in texts.items():
        repeat = 2000 if len(text) < 100 else 50

        def check(text: str = text, repeat: int = repeat) -> None:
            for _ in range(repeat):
                control_character(text)

        found.append((what, _timed(check, repeat)))

    def check_json(repeat: int = 200) -> None:
        for _ in range(repeat):
            check_text(SETTINGS, "client settings")

    found.append(("a settings mapping (check_text)", _timed(check_json, 200)))
    return found


def main() -> None:
    """Run the benchmark and print its figures."""
    one, five, _ = os.getloadavg()
    print(f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="vz-bench-text-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        Base.metadata.create_all(engine)
        try:
            statements = _statement_figures(engine)
            checked, bare = _flush_figures(engine)
        finally:
            engine.dispose()
    for what, whole, guard in statements:
        print(
            f"statement, {what}: {whole:.0f} us in all, the text guard {guard:.1f} us "
            f"({guard / whole:.1%})"
        )
    print(
        f"flush of {FLUSH_ROWS} new client rows (2 KB JSON each): {checked:.0f} us a row with "
        f"the check, {bare:.0f} us without ({checked - bare:+.0f} us, "
        f"{(checked - bare) / bare:+.0%})"
    )
    checks = _check_figures()
    for what, us in checks:
        print(f"control-character check of {what}: {us:.1f} us")
    summary = ", ".join(f"{guard:.1f} us ({what.split(' (')[0]})" for what, _, guard in statements)
    print(
        f"text_boundary: per statement {summary}; per flushed row {checked - bare:+.0f} us "
        f"(median of {RUNS})"
    )
