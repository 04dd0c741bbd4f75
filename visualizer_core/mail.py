"""Outgoing mail: invitation and password-reset links, through ``SMTP_URL``.

``smtp://user:pass@host:587`` speaks plain SMTP and upgrades with STARTTLS whenever the server
offers it; with a user name it *requires* STARTTLS, so credentials never cross in clear.
``smtps://user:pass@host:465`` uses TLS from the first byte. Certificates are checked against
the system's trust store (``SSL_CERT_FILE`` adds a private CA). The standard library's
``smtplib`` does the talking: one connection per message, which is plenty for invitations.

Without ``SMTP_URL`` there is no mailer (:func:`mailer_for` returns None) and the services
hand the link to the owner instead, marking what follows from it as unverified.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from visualizer_core import smtp_address
from visualizer_core.config import Settings
from visualizer_core.errors import ConfigError, VisualizerError

__all__ = ["MailNotSent", "Mailer", "mailer_for", "parse_smtp_url"]

TIMEOUT_S = 20.0


class MailNotSent(VisualizerError):
    """The mail server could not be reached or refused the message."""


@dataclass(frozen=True)
class Mailer:
    """Where and how to send: from ``SMTP_URL`` and ``SMTP_FROM``."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None = field(repr=False)
    sender: str

    def send(self, *, to: str, subject: str, body: str) -> None:
        """Send one plain-text message; raises :class:`MailNotSent` saying why not."""
        message = EmailMessage()
        message["From"] = formataddr(("Visualizer", self.sender))
        message["To"] = to  # normalised addresses only: no spaces, no line breaks
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        context = ssl.create_default_context()
        try:
            if self.implicit_tls:
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=TIMEOUT_S, context=context
                )
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S)
            with server:
                if not self.implicit_tls:
                    server.ehlo()
                    if server.has_extn("starttls"):
                        server.starttls(context=context)
                        server.ehlo()
                    elif self.username:
                        raise MailNotSent(
                            f"the mail server {self.host} does not offer STARTTLS; refusing to "
                            "send the SMTP password in clear (use smtps://)"
                        )
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(message, to_addrs=[to])
        except MailNotSent:
            raise
        except (OSError, smtplib.SMTPException) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise MailNotSent(f"the e-mail to {to} could not be sent: {reason}") from None


def parse_smtp_url(url: str, sender: str | None = None) -> Mailer:
    """A :class:`Mailer` for ``smtp://`` or ``smtps://`` URLs; ValueError names what is wrong."""
    address = smtp_address.parse_smtp_url(url)
    return Mailer(
        host=address.host,
        port=address.port,
        implicit_tls=address.implicit_tls,
        username=address.username,
        password=address.password,
        sender=sender or f"visualizer@{address.host}",
    )


def mailer_for(settings: Settings) -> Mailer | None:
    """The configured mailer, or None when ``SMTP_URL`` is not set."""
    if settings.smtp_url is None:
        return None
    try:
        return parse_smtp_url(settings.smtp_url.get_secret_value(), settings.smtp_from)
    except ValueError as error:  # validated at start-up already; kept for direct callers
        raise ConfigError(f"SMTP_URL: {error}") from None
