"""The cryptography of accounts: passwords, signed session tokens, invitation tokens.

- Passwords are hashed with argon2id (argon2-cffi); a hash from older parameters is upgraded at
  the next successful sign-in (:func:`needs_rehash`).
- A login session is a token signed with ``AUTH_SECRET`` (itsdangerous): it carries the user's
  id, the user's ``session_version`` and when it was issued. It is checked against a maximum
  age, and bumping ``session_version`` ("sign out everywhere") makes every older token void.
- An invitation token is 32 random bytes; only its SHA-256 is stored, so a copy of the database
  cannot be used to accept invitations.

Nothing here touches the database; :mod:`visualizer_core.services.auth` does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from visualizer_core.errors import ConfigError, InvalidInput

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "SessionClaims",
    "SessionTokenError",
    "check_password_rules",
    "hash_password",
    "invite_token",
    "invite_token_hash",
    "needs_rehash",
    "normalise_email",
    "read_session_token",
    "sign_session_token",
    "verify_password",
]


def _make_hasher() -> PasswordHasher:
    """argon2id at argon2-cffi's defaults (RFC 9106's low-memory choice: 3 passes over 64 MiB).

    ``VISUALIZER_PASSWORD_COST=test`` is the test suite's knob, never a deployment's: the same
    algorithm at its smallest cost (one pass over 8 KiB), so that the suite's thousand accounts
    do not spend minutes hashing. A hash made so is upgraded at its next sign-in without it.
    """
    cost = os.environ.get("VISUALIZER_PASSWORD_COST", "standard")
    if cost == "test" and "pytest" not in sys.modules:
        # Copied from a test environment into a real one: passwords keep their full cost.
        logging.getLogger(__name__).warning(
            "VISUALIZER_PASSWORD_COST=test is ignored outside the test suite"
        )
        cost = "standard"
    if cost == "standard":
        return PasswordHasher()
    if cost == "test":
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    raise ConfigError(f"VISUALIZER_PASSWORD_COST: 'standard' or 'test', not {cost!r}")


_hasher = _make_hasher()

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 would take anything; a megabyte "password" is an attack

_SESSION_SALT = "visualizer.session.v1"


# -- passwords -----------------------------------------------------------------------------------


def check_password_rules(password: str) -> None:
    """Refuse a password that is too short (or absurdly long) with a sentence saying so."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of a password, with a fresh salt."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash; a malformed hash never matches."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


_LOCAL_PART = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+$")
_DOMAIN_LABEL = re.compile(r"^[^\W_]([^\W_]|-)*(?<!-)$")


def normalise_email(email: str) -> str:
    """An email address as accounts are keyed: trimmed and lower-cased; refuses non-addresses.

    Only plain addresses: no display names, quotes, commas or angle brackets, which a mail
    header would read as something else (``a,b@evil.test`` is two recipients there).
    """
    cleaned = email.strip().lower()
    local, at, domain = cleaned.partition("@")
    labels = domain.split(".")
    if (
        not at
        or len(cleaned) > 320
        or not _LOCAL_PART.match(local)
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
    ):
        raise InvalidInput(f"not an email address: {email!r}")
    return cleaned


# -- session tokens ------------------------------------------------------------------------------


class _ClockedSigner(TimestampSigner):
    """A timestamp signer whose clock is given, so "now" is one value for a whole check."""

    def __init__(self, *args: Any, now: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return self._now


def _serializer(secret: str, now: float) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt=_SESSION_SALT, signer=_ClockedSigner, signer_kwargs={"now": int(now)}
    )


@dataclass(frozen=True)
class SessionClaims:
    """What a valid session token says: whose it is and which session version it belongs to."""

    user_id: uuid.UUID
    session_version: int


class SessionTokenError(Exception):
    """A session token that is forged, damaged or too old (``expired`` says which)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def sign_session_token(secret: str, claims: SessionClaims, *, now: float) -> str:
    """A URL-safe token carrying the claims, signed with ``secret`` at time ``now``."""
    payload = {"u": claims.user_id.hex, "v": claims.session_version}
    return _serializer(secret, now).dumps(payload)


def read_session_token(secret: str, token: str, *, max_age_s: int, now: float) -> SessionClaims:
    """The claims of a token signed with ``secret`` at most ``max_age_s`` seconds before ``now``.

    Raises :class:`SessionTokenError` for anything else (also a token from the future).
    """
    try:
        payload = _serializer(secret, now).loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise SessionTokenError(expired=True) from None
    except BadData:
        raise SessionTokenError(expired=False) from None
    try:
        return SessionClaims(user_id=uuid.UUID(hex=payload["u"]), session_version=int(payload["v"]))
    except (KeyError, TypeError, ValueError):
        raise SessionTokenError(expired=False) from None


# -- invitation tokens ---------------------------------------------------------------------------


def invite_token() -> tuple[str, str]:
    """A new invitation token and the hash to store for it: ``(token, hash)``."""
    token = secrets.token_urlsafe(32)
    return token, invite_token_hash(token)


def invite_token_hash(token: str) -> str:
    """The stored form of an invitation token (SHA-256, hex): enough for 256-bit random tokens."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
