"""Whole tables for analysis: every generation, product, session, client or provider call.

Each is one query however many rows it has, returned as ``(columns, rows)`` for the notebook
API to turn into a DataFrame. A scope sees its own client's rows; the admin scope every
client's, or one client's with ``client_id``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from visualizer_core.db import ledger, repo
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import client_in_scope, unit_of_work

__all__ = ["Rows", "calls", "clients", "generations", "products", "sessions"]

Rows = repo.Rows
"""A table: its column names, and its rows as tuples in that order."""


def _client(scope: Scope, client_id: uuid.UUID | str | None) -> uuid.UUID | None:
    scope.require(Action.READ)
    return client_in_scope(scope, client_id)


def generations(
    scope: Scope,
    *,
    client_id: uuid.UUID | str | None = None,
    since: dt.datetime | None = None,
    flow_ids: Sequence[uuid.UUID] | None = None,
) -> Rows:
    """One row per generated image, with its client, session, flow, product and timings."""
    cid = _client(scope, client_id)
    with unit_of_work() as db:
        return repo.generation_table(db, client_id=cid, since=since, flow_ids=flow_ids)


def products(scope: Scope, *, client_id: uuid.UUID | str | None = None) -> Rows:
    """One row per product, with its photos and its images by outcome."""
    cid = _client(scope, client_id)
    with unit_of_work() as db:
        return repo.product_table(db, client_id=cid)


def sessions(scope: Scope, *, client_id: uuid.UUID | str | None = None) -> Rows:
    """One row per studio session, with its flows and images by outcome."""
    cid = _client(scope, client_id)
    with unit_of_work() as db:
        return repo.session_table(db, client_id=cid)


def clients(scope: Scope) -> Rows:
    """One row per client (the admin's view across clients)."""
    scope.require(Action.ADMIN)
    with unit_of_work() as db:
        return repo.client_table(db)


def calls(
    scope: Scope, *, client_id: uuid.UUID | str | None = None, since: dt.datetime | None = None
) -> list[ledger.LedgerCall]:
    """The ledger: one entry per provider call, oldest first (for who may see spend)."""
    scope.require(Action.MANAGE)
    cid = _client(scope, client_id)
    with unit_of_work() as db:
        return list(ledger.calls(db, client_id=cid, since=since))
