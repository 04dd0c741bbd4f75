"""Who is acting: a member of one client with a role, or the admin.

Every service takes a scope as its first argument. ``scope.require(action)`` refuses what the
role may not do; ``scope.check_client(client_id)`` turns another client's id into ``NotFound``
so that nothing about it is revealed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from visualizer_core.errors import Forbidden, NotFound

__all__ = ["ADMIN", "Action", "AdminScope", "ClientScope", "Role", "Scope", "actions_of"]


class Role(StrEnum):
    """A member's role in a client; each role may do all that the one below it may, and more."""

    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class Action(StrEnum):
    """What a service may be asked to do; each role allows a set of them."""

    READ = "read"
    EDIT = "edit"  # import products, create sessions, add scenes, analyse, match, review
    GENERATE = "generate"  # spend the client's generation quota
    MANAGE = "manage"  # members, webhook, usage
    ADMIN = "admin"  # across clients: create clients, recover the queue


# No role has ADMIN: only the admin scope of the command and the notebooks does.
_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.EDITOR: frozenset({Action.READ, Action.EDIT, Action.GENERATE}),
    Role.OWNER: frozenset({Action.READ, Action.EDIT, Action.GENERATE, Action.MANAGE}),
}


_WHAT = {
    Action.READ: "see this",
    Action.EDIT: "make changes",
    Action.GENERATE: "generate images",
    Action.MANAGE: "manage members, the webhook or usage",
}


def actions_of(role: Role | str) -> frozenset[Action]:
    """What a member with ``role`` may do (for pages deciding what to show)."""
    return _ALLOWED[Role(role)]


@dataclass(frozen=True)
class ClientScope:
    """A member acting inside one client."""

    client_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None

    def require(self, action: Action) -> None:
        """Raise ``Forbidden`` unless the role allows ``action``."""
        if action not in _ALLOWED[self.role]:
            if action is Action.ADMIN:
                raise Forbidden("only an admin may do this (with the visualizer command)")
            what = _WHAT[action]
            raise Forbidden(f"a {self.role.value} may not {what} in this client; ask an owner")

    def check_client(self, client_id: uuid.UUID, kind: str, ident: object) -> None:
        """Raise ``NotFound(kind, ident)`` when the row belongs to another client."""
        if client_id != self.client_id:
            raise NotFound(kind, ident)

    def client_filter(self) -> uuid.UUID | None:
        """The client every query must be limited to."""
        return self.client_id


@dataclass(frozen=True)
class AdminScope:
    """The admin actor of the command and the notebooks: every client, every action."""

    actor: str = "admin"

    def require(self, action: Action) -> None:
        """The admin may do everything."""
        return None

    def check_client(self, client_id: uuid.UUID, kind: str, ident: object) -> None:
        """Every client's rows are the admin's."""
        return None

    def client_filter(self) -> uuid.UUID | None:
        """No client filter: queries span every client."""
        return None


Scope = ClientScope | AdminScope
ADMIN = AdminScope()
