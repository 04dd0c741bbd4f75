"""Clients (brands) and their members.

Invitations are the only way into a client, and only the person who controls the email accepts:
an owner invites by email (:func:`invite_member`), a single-use link valid for a week by
default. With ``SMTP_URL`` the link goes by e-mail and the owner never sees it; without, the
owner copies it, and an account made from such a link stays *unverified*. The invited person
accepts with :func:`visualizer_core.services.auth.accept_invite` (an existing account from its
own signed-in session) or by signing in with single sign-on. Owners never set or learn a
password, cannot add an existing account directly, and the answer to an invitation is the same
whether the email has an account or not.

Only the admin adds a user directly (:func:`create_user`, ``visualizer user create``). Owners
list members, change roles and remove members; a client always keeps at least one owner.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from visualizer_core import backends, mail, outbound
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Client, Member, User
from visualizer_core.errors import Conflict, InvalidInput, NotFound
from visualizer_core.scope import Action, ClientScope, Role, Scope
from visualizer_core.security import (
    check_password_rules,
    hash_password,
    invite_token,
    normalise_email,
)
from visualizer_core.services._accounts import replace_password, take_back
from visualizer_core.services._uow import client_row, own_client, parse_id, unit_of_work
from visualizer_core.services.budgets import budget_of

__all__ = [
    "ClientRead",
    "DayUsage",
    "FidelityGate",
    "Invitation",
    "MemberRead",
    "Usage",
    "UserRead",
    "client_usage",
    "create_client",
    "create_user",
    "fidelity_gate",
    "get_client",
    "invite_member",
    "list_clients",
    "list_members",
    "remove_member",
    "set_auto_approve",
    "set_daily_quota",
    "set_fidelity_check",
    "set_keep_product_pixels",
    "set_role",
    "set_webhook",
    "webhook_settings",
]

DEFAULT_DAILY_QUOTA = 100
INVITE_VALID_FOR = dt.timedelta(days=7)


@dataclass(frozen=True)
class ClientRead:
    id: uuid.UUID
    name: str
    plan: str
    daily_quota: int
    monthly_budget_usd: float | None = None  # None: no budget of its own

    @classmethod
    def of(cls, client: Client) -> ClientRead:
        return cls(
            id=client.id,
            name=client.name,
            plan=client.plan,
            daily_quota=client.daily_quota,
            monthly_budget_usd=budget_of(client),
        )


@dataclass(frozen=True)
class UserRead:
    id: uuid.UUID
    email: str
    name: str | None
    memberships_removed: tuple[str, ...] = ()
    """Clients whose memberships a take-back dropped (:func:`create_user` with a password on an
    unverified account): the admin tells the person, who asks those owners to invite again."""


def _clean_name(name: str) -> str:
    if not name or not name.strip():
        raise InvalidInput("a client needs a name")
    if len(name) > 200:
        raise InvalidInput("a client name may have at most 200 characters")
    return name


def create_client(scope: Scope, *, name: str, daily_quota: int = DEFAULT_DAILY_QUOTA) -> ClientRead:
    """A new client (admin only)."""
    scope.require(Action.ADMIN)
    if daily_quota < 0:
        raise InvalidInput("the daily quota cannot be negative")
    with unit_of_work() as db:
        client = Client(name=_clean_name(name), daily_quota=daily_quota)
        db.add(client)
        db.flush()
        return ClientRead.of(client)


def get_client(scope: Scope, *, client_id: uuid.UUID | str) -> ClientRead:
    scope.require(Action.READ)
    with unit_of_work() as db:
        return ClientRead.of(client_row(db, scope, client_id))


def list_clients(scope: Scope) -> list[ClientRead]:
    scope.require(Action.READ)
    with unit_of_work() as db:
        return [ClientRead.of(c) for c in repo.list_clients(db, client_id=scope.client_filter())]


def set_daily_quota(scope: Scope, *, client_id: uuid.UUID | str, daily_quota: int) -> ClientRead:
    """Change a client's daily generation quota (admin only)."""
    scope.require(Action.ADMIN)
    if daily_quota < 0:
        raise InvalidInput("the daily quota cannot be negative")
    with unit_of_work() as db:
        client = client_row(db, scope, client_id)
        client.daily_quota = daily_quota
        db.flush()
        return ClientRead.of(client)


def set_fidelity_check(scope: Scope, *, client_id: uuid.UUID | str, mode: str) -> str:
    """Which of the client's images get the provider's paid fidelity judgement: ``uncertain``
    (the default: only those the gate is unsure of), ``all``, ``off`` or ``sample:SHARE``
    (``sample:0.2`` judges one image in five). Owners and admins."""
    from visualizer_core.services.jobs import parse_fidelity_check

    scope.require(Action.MANAGE)
    value = mode.strip().lower()
    parse_fidelity_check({"fidelity_check": value})  # InvalidInput names what is wrong
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        client.settings = {**(client.settings or {}), "fidelity_check": value}
    return value


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"role must be owner, editor or viewer, not {role!r}") from None


def create_user(
    scope: Scope,
    *,
    email: str,
    client_id: uuid.UUID | str,
    role: Role | str,
    password: str | None = None,
    name: str | None = None,
) -> UserRead:
    """A user and their membership of ``client_id`` (the admin only; owners invite).

    An existing user gains the membership. A ``password`` replaces theirs, which ends every
    login session of theirs. An existing account that is unverified (made through a copied
    invitation link: whoever held the link may have chosen its password) is not given the
    membership without a new ``password``; with one, it is taken back first, as a mailed reset
    does: the memberships accepted through copied links and the active client go, and
    ``memberships_removed`` names those clients. A pending invitation of the same person is
    accepted on the spot, with ``role``. The client becomes the user's active one if they had
    none, so that their first sign-in lands there.
    """
    scope.require(Action.ADMIN)
    cid = parse_id(client_id, "client")
    role = _role(role)
    address = normalise_email(email)
    if password is not None:
        check_password_rules(password)
    removed: list[str] = []
    try:
        with unit_of_work() as db:
            if repo.get(db, Client, cid, client_id=None) is None:
                raise NotFound("client", client_id)
            user = repo.user_by_email(db, address)
            if user is None:
                user = User(email=address, name=name, email_verified=True)
                if password is not None:
                    user.password_hash = hash_password(password)
                db.add(user)
            elif password is not None:
                # The admin vouches for who gets the password, not whoever claimed an unverified
                # account from a copied link: what the claimer accepted goes first (as a mailed
                # reset or single sign-on does); the new password ends every earlier session.
                removed = take_back(db, user)
                replace_password(user, password)
                user.email_verified = True
            elif not user.email_verified and user.password_hash is not None:
                raise Conflict(
                    f"{address} has an unverified account (made from a copied invitation link, "
                    "so someone else may hold its password): give it a new password with "
                    "--password-stdin, which ends its sessions, or let the person reset it "
                    "by e-mail first"
                )
            db.flush()
            member = repo.membership(db, user.id, cid)
            if member is not None and member.invite_token_hash is None:
                raise Conflict(f"{address} is already a member of this client")
            if member is None:
                db.add(Member(user_id=user.id, client_id=cid, role=role.value))
            else:
                member.role = role.value
                member.invite_token_hash = None
                member.invite_expires_at = None
            if user.active_client_id is None:
                user.active_client_id = cid
            db.flush()
            return UserRead(
                id=user.id, email=user.email, name=user.name, memberships_removed=tuple(removed)
            )
    except IntegrityError:
        raise Conflict(
            f"{address} was created at the same moment by someone else; try again"
        ) from None


def set_webhook(
    scope: Scope, *, client_id: uuid.UUID | str, url: str | None, secret: str | None = None
) -> dict[str, str | None]:
    """Register (or, with ``url=None``, remove) the client's webhook; owners and the admin.

    Without a ``secret`` one is generated; it is returned once, to give to the receiver.
    """
    scope.require(Action.MANAGE)
    own_client(scope, client_id)  # another client's is not found, before the URL is judged
    if url is not None:
        outbound.check_url(url)  # http(s), no credentials, a public host (or an allowed one)
    if secret is not None and len(secret) < 16:
        raise InvalidInput("a webhook secret needs at least 16 characters")
    with unit_of_work() as db:
        client = client_row(db, scope, client_id)
        client.webhook_url = url
        client.webhook_secret = None if url is None else secret or secrets.token_urlsafe(32)
        return {"url": client.webhook_url, "secret": client.webhook_secret}


def webhook_settings(scope: Scope, *, client_id: uuid.UUID | str) -> dict[str, str | None]:
    """The client's webhook URL, without any credentials in it (owners and the admin).

    ``{"url": None}`` when there is none. The signing secret is never shown again.
    """
    scope.require(Action.MANAGE)
    with unit_of_work() as db:
        client = client_row(db, scope, client_id)
        return {"url": outbound.redact(client.webhook_url) if client.webhook_url else None}


# -- members -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRead:
    """A member of a client as the members page shows it.

    ``status`` is ``active``, ``invited`` (an invitation not yet accepted) or ``expired``.
    """

    user_id: uuid.UUID
    email: str
    name: str | None
    role: Role
    status: str
    invite_expires_at: dt.datetime | None

    @classmethod
    def of(cls, member: Member, user: User, now: dt.datetime) -> MemberRead:
        if member.invite_token_hash is None:
            status = "active"
        elif member.invite_expires_at is not None and member.invite_expires_at > now:
            status = "invited"
        else:
            status = "expired"
        return cls(
            user_id=user.id,
            email=user.email,
            # Until they accept, nothing of the account is shown: not even whether it exists.
            name=user.name if status == "active" else None,
            role=Role(member.role),
            status=status,
            invite_expires_at=member.invite_expires_at,
        )


@dataclass(frozen=True)
class Invitation:
    """A new invitation.

    ``mailed``: the link went to ``email`` by e-mail, and ``token`` is None (the owner never
    sees it). Otherwise ``token`` is shown once, for the owner to put in the link
    (``link_for``) and give to the person; an account made from it stays unverified.
    """

    token: str | None
    email: str
    role: Role
    client_id: uuid.UUID
    expires_at: dt.datetime
    mailed: bool = False

    def link_for(self, studio_url: str) -> str | None:
        """The invitation link at the studio's address, when the owner may see it."""
        return None if self.token is None else f"{studio_url.rstrip('/')}/?invite={self.token}"


def _managed_client(db: Session, scope: Scope, client_id: uuid.UUID | str) -> uuid.UUID:
    """The client the owner (or admin) manages, locked so that member changes happen in turn."""
    scope.require(Action.MANAGE)
    cid = own_client(scope, client_id)
    if repo.lock_client(db, cid) is None:
        raise NotFound("client", client_id)
    return cid


def invite_member(
    scope: Scope,
    *,
    client_id: uuid.UUID | str,
    email: str,
    role: Role | str,
    valid_for: dt.timedelta = INVITE_VALID_FOR,
) -> Invitation:
    """Invite a person by email to the client with a role (owners and the admin).

    With ``SMTP_URL`` the link is e-mailed and not returned; without, the single-use token is
    returned once. Only its hash is kept; it is valid for ``valid_for`` (a week by default).
    Inviting someone again replaces their earlier invitation. The answer is the same whether or
    not the email has an account anywhere (an account is made now, without a password, if it
    has none; it grants nothing until the invitation is accepted).
    """
    role = _role(role)
    address = normalise_email(email)
    if not dt.timedelta(minutes=5) <= valid_for <= dt.timedelta(days=30):
        raise InvalidInput("an invitation is valid for 5 minutes to 30 days")
    settings = backends.current().settings
    mailer = mail.mailer_for(settings)
    token, token_hash = invite_token()
    expires_at = utcnow() + valid_for
    try:
        with unit_of_work() as db:
            cid = _managed_client(db, scope, client_id)
            client = repo.get(db, Client, cid, client_id=None)
            client_name = client.name if client is not None else ""
            user = repo.user_by_email(db, address)
            if user is None:
                user = User(email=address)
                db.add(user)
                db.flush()
            member = repo.membership(db, user.id, cid, lock=True)
            if member is not None and member.invite_token_hash is None:
                raise Conflict(f"{address} is already a member of this client")
            if member is None:
                member = Member(user_id=user.id, client_id=cid, role=role.value)
                db.add(member)
            member.role = role.value
            member.invite_token_hash = token_hash
            member.invite_expires_at = expires_at
            member.invite_mailed = mailer is not None
            member.invited_by = scope.user_id if isinstance(scope, ClientScope) else None
            inviter = (
                repo.get(db, User, member.invited_by, client_id=None) if member.invited_by else None
            )
            inviter_name = (inviter.name or inviter.email) if inviter is not None else None
            db.flush()
    except IntegrityError:
        raise Conflict(f"{address} was invited at the same moment by someone else") from None
    invitation = Invitation(
        token=token, email=address, role=role, client_id=cid, expires_at=expires_at
    )
    if mailer is None:
        return invitation
    link = invitation.link_for(settings.visualizer_studio_url)
    body = (
        f"{inviter_name or 'An owner'} invited you to join {client_name} on Visualizer as "
        f"{role.value}.\n\n"
        f"Open this link before {expires_at:%Y-%m-%d %H:%M} UTC to accept:\n{link}\n\n"
        "If you did not expect this invitation, ignore this mail."
    )
    try:
        mailer.send(to=address, subject="Your invitation to Visualizer", body=body)
    except mail.MailNotSent:
        _withdraw_unsent(cid, token_hash)
        raise
    return dataclasses.replace(invitation, token=None, mailed=True)


def _withdraw_unsent(client_id: uuid.UUID, token_hash: str) -> None:
    """Take back an invitation whose mail did not go: nobody can ever hold its link."""
    with unit_of_work() as db:
        member = repo.member_by_invite(db, token_hash)
        if member is not None and member.client_id == client_id:
            repo.remove_member(db, member)


def list_members(scope: Scope, *, client_id: uuid.UUID | str) -> list[MemberRead]:
    """The client's members and open invitations, by email (owners and the admin)."""
    scope.require(Action.MANAGE)
    now = utcnow()
    with unit_of_work() as db:
        cid = client_row(db, scope, client_id).id
        return [MemberRead.of(m, u, now) for m, u in repo.members_of(db, cid)]


def _member(db: Session, cid: uuid.UUID, user_id: uuid.UUID | str) -> tuple[Member, User]:
    uid = parse_id(user_id, "member")
    member = repo.membership(db, uid, cid, lock=True)
    user = repo.get(db, User, uid, client_id=None)
    if member is None or user is None:
        raise NotFound("member", user_id)
    return member, user


def _keep_an_owner(db: Session, cid: uuid.UUID, member: Member, user: User) -> None:
    """Refuse to take away the client's last owner."""
    is_owner = member.role == Role.OWNER.value and member.invite_token_hash is None
    if is_owner and repo.count_owners(db, cid) <= 1:
        raise Conflict(
            f"{user.email} is the last owner of this client: make another member an owner first"
        )


def set_role(
    scope: Scope, *, client_id: uuid.UUID | str, user_id: uuid.UUID | str, role: Role | str
) -> MemberRead:
    """Change a member's role (owners and the admin); the last owner stays an owner."""
    role = _role(role)
    with unit_of_work() as db:
        cid = _managed_client(db, scope, client_id)
        member, user = _member(db, cid, user_id)
        if role is not Role.OWNER:
            _keep_an_owner(db, cid, member, user)
        member.role = role.value
        db.flush()
        return MemberRead.of(member, user, utcnow())


def remove_member(scope: Scope, *, client_id: uuid.UUID | str, user_id: uuid.UUID | str) -> None:
    """Remove a member or withdraw an invitation (owners and the admin); not the last owner.

    The person loses access at once: their next request finds no membership.
    """
    with unit_of_work() as db:
        cid = _managed_client(db, scope, client_id)
        member, user = _member(db, cid, user_id)
        _keep_an_owner(db, cid, member, user)
        repo.remove_member(db, member)
        if user.active_client_id == cid:
            user.active_client_id = None


# -- usage ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayUsage:
    """One UTC day of a client's generations."""

    day: str  # YYYY-MM-DD
    images: int
    completed: int
    failed: int
    cost_usd: float


@dataclass(frozen=True)
class Usage:
    """What a client has used: today against its quota, and each day of the period."""

    client_id: uuid.UUID
    daily_quota: int
    used_today: int
    days: list[DayUsage]

    @property
    def images(self) -> int:
        """Images asked for over the whole period."""
        return sum(d.images for d in self.days)

    @property
    def cost_usd(self) -> float:
        """What the AI provider charged over the period (the local backend is free)."""
        return sum(d.cost_usd for d in self.days)


def client_usage(scope: Scope, *, client_id: uuid.UUID | str, days: int = 30) -> Usage:
    """The client's generations per UTC day over the last ``days`` days (owners and the admin)."""
    scope.require(Action.MANAGE)
    if not 1 <= days <= 366:
        raise InvalidInput("usage covers 1 to 366 days")
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    with unit_of_work() as db:
        client = client_row(db, scope, client_id)
        cid, quota = client.id, client.daily_quota
        rows = repo.usage_by_day(db, cid, today - dt.timedelta(days=days - 1))
    per_day = [DayUsage(*row) for row in rows]
    used_today = sum(d.images for d in per_day if d.day == today.date().isoformat())
    return Usage(client_id=cid, daily_quota=quota, used_today=used_today, days=per_day)


@dataclass(frozen=True)
class FidelityGate:
    """A client's fidelity gate: its settings and what its threshold rests on."""

    auto_approve: bool
    keep_product_pixels: bool
    fidelity_check: str
    threshold: float
    precision: float
    decisions: int
    source: str  # "shipped" or "client"
    description: str  # Calibration.describe(): "auto-approve at 0.83: 98 % of the images ..."


def fidelity_gate(scope: Scope, *, client_id: uuid.UUID | str) -> FidelityGate:
    """The client's gate settings and its calibration (from its own review decisions once
    there are enough, else the shipped one), with the sentence saying what it rests on."""
    from visualizer_core.services import gate

    scope.require(Action.READ)
    with unit_of_work() as db:
        client = client_row(db, scope, client_id)
        settings = dict(client.settings or {})
        calibration = gate.calibration_of(db, client.id)
    return FidelityGate(
        auto_approve=bool(settings.get("auto_approve", False)),
        keep_product_pixels=bool(settings.get("keep_product_pixels", False)),
        fidelity_check=str(settings.get("fidelity_check", "uncertain")),
        threshold=calibration.threshold,
        precision=calibration.precision,
        decisions=calibration.decisions,
        source=calibration.source,
        description=calibration.describe(),
    )


def _set_flag(scope: Scope, client_id: uuid.UUID | str, name: str, value: bool) -> bool:
    scope.require(Action.MANAGE)
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        client.settings = {**(client.settings or {}), name: bool(value)}
    return bool(value)


def set_auto_approve(scope: Scope, *, client_id: uuid.UUID | str, enabled: bool) -> bool:
    """Auto-approve at generation time (off by default): each new image the fidelity gate
    trusts is approved *by rule*, a share drawn for a spot check in review. Owners and admins."""
    return _set_flag(scope, client_id, "auto_approve", enabled)


def set_keep_product_pixels(scope: Scope, *, client_id: uuid.UUID | str, enabled: bool) -> bool:
    """Pixel-exact mode for the client's flows (a flow's own setting wins): the product photo's
    own pixels composited back where the product was found. Owners and admins."""
    return _set_flag(scope, client_id, "keep_product_pixels", enabled)
