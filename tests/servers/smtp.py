"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

``SmtpServer.start()`` listens on a free port of 127.0.0.1; with ``tls`` (a trustme CA's
server certificate) it offers STARTTLS and requires it before AUTH, with one user and password.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.plugin import wait_until

USER, PASSWORD = "mailer", "mail-password-123"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    tls: ssl.SSLContext | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    controller: Controller | None = None
    port: int = 0

    @property
    def url(self) -> str:
        """``SMTP_URL`` for this server (with credentials when it does TLS)."""
        if self.tls is None:
            return f"smtp://127.0.0.1:{self.port}"
        return f"smtp://{USER}:{PASSWORD}@localhost:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(USER)
        return AuthResult(success=ok)

    def start(self) -> SmtpServer:
        self.port = _free_port()
        options: dict[str, Any] = {}
        if self.tls is not None:
            options = {
                "tls_context": self.tls,
                "require_starttls": True,
                "auth_require_tls": True,
                "authenticator": self._authenticate,
            }
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        wait_until(lambda: len(self.messages) >= count, timeout, f"{count} mail(s)", every_s=0.02)
        return self.messages


def link_token(message: EmailMessage, name: str) -> str:
    """The token of the ``?{name}=`` link in a mail's text."""
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(rf"[?&]{name}=([A-Za-z0-9_\-]+)", body.get_content())
    assert found, f"no ?{name}= link in the mail"
    return found.group(1)
