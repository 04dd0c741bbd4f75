"""The declarative base and the column types that are portable between PostgreSQL and SQLite.

- ``Uuid``: native ``uuid`` on PostgreSQL, ``CHAR(32)`` on SQLite (SQLAlchemy's own ``Uuid``).
- ``JSONType``: ``JSONB`` on PostgreSQL, JSON text on SQLite.
- ``TextArray``: ``TEXT[]`` on PostgreSQL (the seed's ``product_ids``), a JSON list on SQLite.
- ``UTCDateTime``: ``timestamptz``; values always come back timezone-aware in UTC, also from
  SQLite, which keeps no zone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, Text, TypeDecorator, Uuid
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

__all__ = ["NAMING_CONVENTION", "Base", "JSONType", "TextArray", "UTCDateTime", "new_id", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
TextArray = JSON().with_variant(postgresql.ARRAY(Text()), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp stored in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        utc: dt.datetime = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it as a class attribute
        uuid.UUID: Uuid(),
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }
