"""Roles: viewers read; editors also create, import, generate and review; owners also manage.

The role matrix is checked three ways: the table itself (:func:`actions_of`), a member of each
role calling each kind of thing in their own client, and every scoped service function of the
tenancy registry refusing the roles that lack what it needs, on their own client's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.services.test_tenancy import FUNCTIONS, REGISTRY, Case, World, least_role
from visualizer_core import backends
from visualizer_core.errors import Forbidden
from visualizer_core.scope import ADMIN, Action, ClientScope, Role, actions_of
from visualizer_core.services import clients, gallery, generation, products, sessions

ORDER = (Role.VIEWER, Role.EDITOR, Role.OWNER)
ADMIN_CLIENT = uuid.uuid4()

MATRIX: dict[Role, set[Action]] = {
    Role.VIEWER: {Action.READ},
    Role.EDITOR: {Action.READ, Action.EDIT, Action.GENERATE},
    Role.OWNER: {Action.READ, Action.EDIT, Action.GENERATE, Action.MANAGE},
}


@pytest.mark.parametrize("role", ORDER)
@pytest.mark.parametrize("action", list(Action))
def test_the_role_matrix(role: Role, action: Action) -> None:
    scope = ClientScope(client_id=ADMIN_CLIENT, role=role)
    if action in MATRIX[role]:
        scope.require(action)
    else:
        with pytest.raises(Forbidden) as refused:
            scope.require(action)
        assert role.value in str(refused.value) or "admin" in str(refused.value)
    assert (action in actions_of(role)) == (action in MATRIX[role])


def test_the_admin_scope_may_do_everything() -> None:
    for action in Action:
        ADMIN.require(action)


@given(low=st.sampled_from(ORDER), high=st.sampled_from(ORDER), action=st.sampled_from(Action))
def test_a_higher_role_may_do_all_that_a_lower_one_may(
    low: Role, high: Role, action: Action
) -> None:
    if ORDER.index(low) > ORDER.index(high):
        low, high = high, low
    assert actions_of(low) <= actions_of(high)
    if action in actions_of(low):
        ClientScope(client_id=ADMIN_CLIENT, role=high).require(action)


@given(client=st.uuids(), role=st.sampled_from(ORDER), action=st.sampled_from(Action))
def test_no_member_role_has_the_admin_action(client: uuid.UUID, role: Role, action: Action) -> None:
    scope = ClientScope(client_id=client, role=role)
    allowed = True
    try:
        scope.require(action)
    except Forbidden:
        allowed = False
    assert allowed == (action in actions_of(role))
    assert Action.ADMIN not in actions_of(role)


# -- what each role can do in its own client ----------------------------------------------------


@pytest.fixture
def world(backend: backends.Backends, tmp_path: Path) -> World:
    return World(tmp_path)


Capability = Callable[[ClientScope, World], Any]

CAPABILITIES: dict[str, Capability] = {
    "browse sessions": lambda s, w: sessions.list_sessions(s),
    "look at a product": lambda s, w: products.get_product(s, product_id=w.a.product_id),
    "look at the gallery": lambda s, w: gallery.list_images(s, session_id=w.a.session_id),
    "see the quota left": lambda s, w: generation.quota_left(s, client_id=w.a.client_id),
    "create a session": lambda s, w: sessions.create_session(
        s, client_id=w.a.client_id, name="New"
    ),
    "import products": lambda s, w: products.import_products(
        s, client_id=w.a.client_id, records=[{"sku": "IMP-1", "name": "Lamp"}]
    ),
    "generate": lambda s, w: generation.generate(
        s, session_id=w.a.session_id, product_ids=[w.a.product_id], dispatch=False
    ),
    "review": lambda s, w: gallery.review_images(s, image_ids=[w.a.image_id], favourite=True),
    "see the members": lambda s, w: clients.list_members(s, client_id=w.a.client_id),
    "invite a member": lambda s, w: clients.invite_member(
        s, client_id=w.a.client_id, email="invitee@example.com", role="viewer"
    ),
    "set the webhook": lambda s, w: clients.set_webhook(
        s, client_id=w.a.client_id, url="https://93.184.215.14/x"
    ),
    "see usage": lambda s, w: clients.client_usage(s, client_id=w.a.client_id),
    "create a client": lambda s, w: clients.create_client(s, name="Another"),
    "change the daily quota": lambda s, w: clients.set_daily_quota(
        s, client_id=w.a.client_id, daily_quota=1
    ),
}

READ = {"browse sessions", "look at a product", "look at the gallery", "see the quota left"}
EDIT = READ | {"create a session", "import products", "generate", "review"}
CAN: dict[Role, set[str]] = {
    Role.VIEWER: READ,
    Role.EDITOR: EDIT,
    Role.OWNER: EDIT | {"see the members", "invite a member", "set the webhook", "see usage"},
}


@pytest.mark.parametrize("role", ORDER)
def test_what_each_role_can_do_in_its_own_client(role: Role, world: World) -> None:
    w = world
    w.a.scene_id, w.a.image_id  # noqa: B018 - rows to act on, made before acting
    scope = w.a.scope(role)
    for capability, act in CAPABILITIES.items():
        if capability in CAN[role]:
            act(scope, w)
        else:
            with pytest.raises(Forbidden):
                act(scope, w)


# -- every scoped service function, by the registry --------------------------------------------

RESTRICTED = sorted(
    name
    for name, entry in REGISTRY.items()
    if isinstance(entry, Case) and entry.call is not None and entry.action is not Action.READ
)


@pytest.mark.parametrize("name", RESTRICTED)
def test_roles_without_the_action_are_refused_on_their_own_client(name: str, world: World) -> None:
    entry = REGISTRY[name]
    assert isinstance(entry, Case) and entry.call is not None
    needed = ORDER.index(least_role(entry.action)) if entry.action is not Action.ADMIN else 3
    for role in ORDER[:needed]:
        with pytest.raises(Forbidden):
            FUNCTIONS[name](world.a.scope(role), **_own(entry.call(world.a, world)))


def _own(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != "_"}


def test_an_owner_sees_the_clients_usage(world: World) -> None:
    w = world
    w.a.image_id  # noqa: B018 - one image generated and completed
    usage = clients.client_usage(w.a.scope(Role.OWNER), client_id=w.a.client_id, days=7)
    assert (usage.used_today, usage.images, usage.daily_quota) == (1, 1, 100)
    assert [(d.images, d.completed, d.failed) for d in usage.days] == [(1, 1, 0)]
    assert usage.cost_usd == 0.0  # the local AI is free
    other = clients.client_usage(ADMIN, client_id=w.b.client_id)
    assert (other.used_today, other.days) == (0, [])
