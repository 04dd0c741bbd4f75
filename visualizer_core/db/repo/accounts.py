"""Users, sign-in, and members of a client (invitations included)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from visualizer_core.db.models import Client, Member, User
from visualizer_core.db.repo._common import bulk


def user_by_email(db: Session, email: str) -> User | None:
    return db.scalars(select(User).where(User.email == email)).one_or_none()


def take_sign_in_attempt(
    db: Session, user_id: uuid.UUID, *, now: dt.datetime, max_attempts: int, lock_until: dt.datetime
) -> bool:
    """Count one sign-in attempt in one atomic UPDATE; whether this attempt may be checked.

    ``failed_logins`` counts attempts since the last success. The attempt that reaches
    ``max_attempts`` locks the account until ``lock_until``; attempts beyond it are refused
    until then, and the first attempt after the lock ran out counts from 1 again. Because the
    database increments the column itself (``failed_logins = failed_logins + 1 ... RETURNING``),
    concurrent attempts cannot read the same count: no more than ``max_attempts`` passwords
    are ever checked per lock period, however many arrive at once.
    """
    expired = and_(User.locked_until.is_not(None), User.locked_until <= now)
    counted = case((expired, 1), else_=User.failed_logins + 1)
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(
            failed_logins=counted,
            locked_until=case(
                (expired, case((counted >= max_attempts, lock_until), else_=None)),
                (and_(User.locked_until.is_(None), counted >= max_attempts), lock_until),
                else_=User.locked_until,
            ),
        )
        .returning(User.failed_logins)
    )
    count = bulk(db, stmt).scalar_one_or_none()
    return count is not None and count <= max_attempts


def user_by_reset_token(db: Session, token_hash: str) -> User | None:
    """The user whose open password reset has this token hash, locked until the end."""
    stmt = select(User).where(User.reset_token_hash == token_hash).with_for_update()
    return db.scalars(stmt).one_or_none()


def membership(
    db: Session, user_id: uuid.UUID, client_id: uuid.UUID, *, lock: bool = False
) -> Member | None:
    """The user's member row in the client, accepted or still an invitation."""
    stmt = select(Member).where(Member.user_id == user_id, Member.client_id == client_id)
    if lock:
        stmt = stmt.with_for_update()
    return db.scalars(stmt).one_or_none()


def memberships(db: Session, user_id: uuid.UUID) -> Sequence[tuple[Member, Client]]:
    """The user's accepted memberships (invitations not yet accepted grant nothing)."""
    rows = db.execute(
        select(Member, Client)
        .join(Client, Client.id == Member.client_id)
        .where(Member.user_id == user_id, Member.invite_token_hash.is_(None))
        .order_by(Client.name, Client.id)
    ).all()
    return [(m, c) for m, c in rows]


def member_by_invite(db: Session, token_hash: str) -> Member | None:
    """The invitation whose token has this hash, locked until the transaction ends."""
    stmt = select(Member).where(Member.invite_token_hash == token_hash).with_for_update()
    return db.scalars(stmt).one_or_none()


def invitations_of(db: Session, user_id: uuid.UUID) -> Sequence[Member]:
    """The user's invitations not yet accepted (expired ones included)."""
    stmt = select(Member).where(Member.user_id == user_id, Member.invite_token_hash.is_not(None))
    return db.scalars(stmt).all()


def count_owners(db: Session, client_id: uuid.UUID) -> int:
    """Accepted owners of the client."""
    stmt = select(func.count()).where(
        Member.client_id == client_id,
        Member.role == "owner",
        Member.invite_token_hash.is_(None),
    )
    return int(db.execute(stmt).scalar_one())


def members_of(db: Session, client_id: uuid.UUID) -> Sequence[tuple[Member, User]]:
    rows = db.execute(
        select(Member, User)
        .join(User, User.id == Member.user_id)
        .where(Member.client_id == client_id)
        .order_by(User.email)
    ).all()
    return [(m, u) for m, u in rows]


def remove_member(db: Session, member: Member) -> None:
    """Delete the member row (a membership or an invitation), at the next flush."""
    db.delete(member)
