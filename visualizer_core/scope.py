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

__all__ = ["ADMIN", "Action", "AdminScope", "ClientScope", "Role", "Scope"]


class Role(StrEnum):
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


_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.EDITOR: frozenset({Action.READ, Action.EDIT, Action.GENERATE}),
    Role.OWNER: frozenset({Action.READ, Action.EDIT, Action.GENERATE, Action.MANAGE}),
}


@dataclass(frozen=True)
class ClientScope:
    """A member acting inside one client."""

    client_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return False

    def require(self, action: Action) -> None:
        if action not in _ALLOWED[self.role]:
            raise Forbidden(f"a {self.role.value} may not {action.value} in this client")

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

    @property
    def is_admin(self) -> bool:
        return True

    def require(self, action: Action) -> None:
        return None

    def check_client(self, client_id: uuid.UUID, kind: str, ident: object) -> None:
        return None

    def client_filter(self) -> uuid.UUID | None:
        return None


Scope = ClientScope | AdminScope
ADMIN = AdminScope()
