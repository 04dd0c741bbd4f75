"""What ``SMTP_URL`` says: the mail server's address, its TLS mode and the credentials.

Its own module because two others need it: :mod:`visualizer_core.config` checks the URL at
start-up, and :mod:`visualizer_core.mail` sends through the server it names (and reads the
settings), so neither has to import the other back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ["SmtpAddress", "parse_smtp_url"]


@dataclass(frozen=True)
class SmtpAddress:
    """Where and how to connect: ``smtp://`` (STARTTLS) or ``smtps://`` (TLS from the start)."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None = field(repr=False)


def parse_smtp_url(url: str) -> SmtpAddress:
    """The address in an ``smtp://`` or ``smtps://`` URL; ValueError names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("names no host")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    return SmtpAddress(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
