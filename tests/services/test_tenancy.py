"""Tenancy over the whole service surface: a member of client A never reaches client B.

Every public function of every ``visualizer_core.services`` module (its ``__all__``) is found by
introspection and must have an entry in :data:`REGISTRY` saying how to call it on client B's
ids. A new service function without an entry fails :func:`test_member_of_another_client_is_refused`
with a message saying what to add, so nobody has to remember.

For each function the test checks, on both backends (embedded and PostgreSQL with S3):

- the owner of client A (the strongest role there) calling it with client B's ids gets
  ``NotFound``, as a random id would; admin-only functions are ``Forbidden`` to every member;
- where a function takes a container and items (a session of A, a product of B), mixing gets
  ``NotFound`` too;
- listings called by A contain nothing of B;
- the same call made by a member of B with the least role allowed to make it succeeds, which
  proves the ids were real and the refusal came from tenancy, not from a typo in the test.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import pkgutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visualizer_core.services
from tests.conftest import TEST_AUTH_SECRET
from tests.factories import product_photo, scene_photo
from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db.models import Client, Flow
from visualizer_core.errors import Forbidden, InvalidInput, NotFound
from visualizer_core.inspiration import InspirationPhoto
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN, Action, ClientScope, Role, actions_of
from visualizer_core.services import (
    auth,
    budgets,
    clients,
    economy,
    export,
    gallery,
    gate,
    generation,
    inspiration,
    jobs,
    notify,
    plans,
    products,
    sessions,
    spend,
)
from visualizer_core.services._uow import unit_of_work

ROOT = Path(__file__).resolve().parents[2]

# -- the service surface ------------------------------------------------------------------------


def service_modules() -> list[Any]:
    """Every module of ``visualizer_core.services`` but the private ones (``_uow``)."""
    found = []
    for info in pkgutil.iter_modules(visualizer_core.services.__path__):
        if not info.name.startswith("_"):
            found.append(importlib.import_module(f"visualizer_core.services.{info.name}"))
    return found


def service_functions() -> dict[str, Callable[..., Any]]:
    """``module.function`` -> function, for every function a services module exports."""
    found: dict[str, Callable[..., Any]] = {}
    for module in service_modules():
        short = module.__name__.rsplit(".", 1)[1]
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                found[f"{short}.{name}"] = obj
    return found


# Public names (no underscore) that are not exported, and why no member can reach them.
INTERNAL: dict[str, str] = {
    "sessions.load_session": "repository helper of the services: takes an open db session first",
    "products.no_photo_reason": "words a product's stored photo errors for a person; no ids",
    "learning.note_placement": "counts inside the caller's unit of work, after its scope check",
    "learning.lessons_of": "read inside match_session's unit of work, after its scope check",
    "budgets.budget_of": "reads a client row the caller's unit of work loaded; no ids",
    "budgets.refuse_over_budget": "inside generate's unit of work, after its scope check",
    "budgets.image_cost_usd": "called by generate and plans after their scope checks",
    "generation.flow_status": "helper of wait_for_flows, called after the scope check there",
    "notify.deliver_flow_webhook": "worker task: the queue calls it with a flow id it dispatched",
    "generation.process_image": "worker task: the queue calls it with an image id it dispatched",
    "generation.judge_image": "worker task: the queue calls it with an image id it dispatched",
}


# -- a world of two clients ---------------------------------------------------------------------


class Tenant:
    """One client with an owner and an editor; its other rows are made on first use."""

    def __init__(self, label: str, folder: Path) -> None:
        self.label = label
        self.folder = folder
        self.client = clients.create_client(ADMIN, name=f"Tenant {label} {uuid.uuid4().hex[:6]}")
        self.client_id = self.client.id
        # No password: hashing one is slow on purpose, and most tests never sign in.
        self.owner = clients.create_user(
            ADMIN,
            email=f"owner-{label}-{uuid.uuid4().hex[:6]}@example.com",
            client_id=self.client_id,
            role=Role.OWNER,
        )

    def scope(self, role: Role = Role.OWNER) -> ClientScope:
        """This client's scope with ``role``, acting as its owner's user."""
        return ClientScope(client_id=self.client_id, role=role, user_id=self.owner.id)

    @functools.cached_property
    def editor(self) -> clients.UserRead:
        return clients.create_user(
            ADMIN,
            email=f"editor-{self.label}-{uuid.uuid4().hex[:6]}@example.com",
            client_id=self.client_id,
            role=Role.EDITOR,
        )

    @functools.cached_property
    def product_id(self) -> uuid.UUID:
        (self.folder / f"{self.label}.jpg").write_bytes(product_photo())
        report = products.import_products(
            ADMIN,
            client_id=self.client_id,
            records=[
                {"sku": f"SKU-{self.label}", "name": "Oak chair", "image": f"{self.label}.jpg"}
            ],
            images_dir=self.folder,
        )
        assert report.failed == 0, report.errors
        return uuid.UUID(report.product_ids[0])

    @functools.cached_property
    def session_id(self) -> uuid.UUID:
        return sessions.create_session(ADMIN, client_id=self.client_id, name="Spring").id

    @functools.cached_property
    def scene_id(self) -> str:
        added = sessions.add_scenes(
            ADMIN,
            session_id=self.session_id,
            files=[("room.jpg", scene_photo())],
            room_type="living room",
        )
        return added.scene_ids[0]

    @functools.cached_property
    def flow(self) -> generation.FlowRead:
        self.scene_id  # noqa: B018 - a session with a scene, to match against
        flow = generation.generate(
            ADMIN, session_id=self.session_id, product_ids=[self.product_id], dispatch=False
        )
        for image_id in flow.image_ids:
            assert generation.process_image(image_id, worker_id="tenancy") == "completed"
        # The finished flow's webhook is delivered on a thread of the in-process queue; let it
        # end before the test does, so the database is not emptied under it.
        for thread in threading.enumerate():
            if thread.name == f"webhook-{flow.flow_id}":
                thread.join()
        return flow

    @property
    def flow_id(self) -> uuid.UUID:
        return self.flow.flow_id

    @property
    def image_id(self) -> uuid.UUID:
        return self.flow.image_ids[0]

    @functools.cached_property
    def identity(self) -> auth.Identity:
        return auth.user_for_sso_email(self.owner.email)

    @functools.cached_property
    def token(self) -> str:
        return auth.issue_session_token(self.identity)

    def secrets(self) -> list[str]:
        """What of this tenant must never show up in another tenant's results."""
        known = [str(self.client_id), self.client_id.hex, self.client.name, self.owner.email]
        for name in ("product_id", "session_id", "scene_id"):
            if name in self.__dict__:
                value = self.__dict__[name]
                known += [str(value), getattr(value, "hex", str(value))]
        return known


class World:
    """Clients A (the actor) and B (the one that must stay out of reach)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "a").mkdir()
        (folder / "b").mkdir()
        self.a = Tenant("a", folder / "a")
        self.b = Tenant("b", folder / "b")


@pytest.fixture
def world(backend: backends.Backends, tmp_path: Path) -> World:
    return World(tmp_path)


def _flow_request(session_of: Tenant, product_of: Tenant) -> plans.FlowRequest:
    """A flow of ``session_of``'s session over ``product_of``'s product, in its own scene."""
    return plans.FlowRequest(
        client_id=session_of.client_id,
        client_name=session_of.label,
        session_id=session_of.session_id,
        settings=FlowSettings(),
        name="Tenancy",
        product_ids=[product_of.product_id],
        scenes={product_of.product_id: session_of.scene_id},
    )


def _planned(session_of: Tenant, product_of: Tenant) -> plans.Planned:
    return plans.Planned(
        session_id=session_of.session_id,
        product_id=product_of.product_id,
        scene_id=session_of.scene_id,
    )


# -- the registry -------------------------------------------------------------------------------

Kwargs = Callable[["Tenant", "World"], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """How to call a scoped service function.

    ``call(t, w)`` gives keyword arguments that name tenant ``t``'s rows: the test passes
    client B's tenant and acts as client A. ``mixed`` give arguments that mix A's container
    with B's items (acting as A). ``listing`` gives arguments for a call naming no ids, whose
    result must show nothing of B. ``action`` is what the function needs; ``Action.ADMIN``
    means no member may call it at all. ``control`` is False where B's own call is too costly
    to make in a test (and is covered by that function's own tests). ``check`` is a further
    test of its own, for refusals a function reports in its result rather than raises.
    """

    action: Action
    call: Kwargs | None = None
    mixed: tuple[Callable[[World], dict[str, Any]], ...] = ()
    listing: Kwargs | None = None
    control: bool = True
    check: Callable[[World], None] | None = None


@dataclass(frozen=True)
class Special:
    """A function with no ids of a client to misuse, and why; ``check`` tests its tenancy.

    The entry points of signing in (they make scopes), worker tasks (the queue calls them with
    ids it dispatched itself), pure helpers, and functions that act on the scope's own user.
    """

    reason: str
    check: Callable[[World], None] | None = None


Entry = Case | Special


def _scope_for_refuses_other_clients(w: World) -> None:
    assert auth.scope_for(w.a.identity, w.a.client_id).client_id == w.a.client_id
    with pytest.raises(NotFound):
        auth.scope_for(w.a.identity, w.b.client_id)


def _token_gives_own_client(w: World) -> None:
    scope = auth.scope_from_token(w.a.token)
    assert scope.client_id == w.a.client_id
    assert {m.client_id for m in auth.identity_from_token(w.a.token).memberships} == {w.a.client_id}


def _sign_in_knows_only_own_clients(w: World) -> None:
    user = clients.create_user(
        ADMIN, email="pw@example.com", client_id=w.a.client_id, role="viewer", password="pa55word"
    )
    identity = auth.sign_in(user.email, "pa55word")
    assert [m.client_id for m in identity.memberships] == [w.a.client_id]


def _sso_knows_only_own_clients(w: World) -> None:
    identity = auth.user_for_sso_email(w.a.owner.email)
    assert [m.client_id for m in identity.memberships] == [w.a.client_id]


def _invite_admits_to_its_client_only(w: World) -> None:
    invitation = clients.invite_member(
        w.b.scope(), client_id=w.b.client_id, email="new@example.com", role=Role.VIEWER
    )
    identity = auth.accept_invite(invitation.token, password="a new password")
    assert [m.client_id for m in identity.memberships] == [w.b.client_id]
    # A's owner invites B's owner and holds the link: no password opens it, nor A's own
    # session; only B's owner, signed in, can accept (and then belongs to A by consent).
    lure = clients.invite_member(
        w.a.scope(), client_id=w.a.client_id, email=w.b.owner.email, role=Role.VIEWER
    )
    with pytest.raises(auth.SignInRequired):
        auth.accept_invite(lure.token, password="any guess at all")
    with pytest.raises(auth.InvitationInvalid):
        auth.accept_invite(lure.token, session_token=w.a.token)
    assert [m.client_id for m in auth.identity_from_token(w.b.token).memberships] == [w.b.client_id]


def _invitation_shows_its_own_client(w: World) -> None:
    invitation = clients.invite_member(
        w.b.scope(), client_id=w.b.client_id, email="preview@example.com", role=Role.VIEWER
    )
    assert invitation.token is not None
    shown = auth.invitation_for(invitation.token)
    assert shown.client_name == clients.get_client(ADMIN, client_id=w.b.client_id).name
    with pytest.raises(auth.InvitationInvalid):
        auth.invitation_for("made-up-invitation-token")


def _password_change_is_own(w: World) -> None:
    user = clients.create_user(
        ADMIN,
        email="pw-change@example.com",
        client_id=w.a.client_id,
        role="viewer",
        password="pa55word-old",
    )
    scope = ClientScope(client_id=w.a.client_id, role=Role.VIEWER, user_id=user.id)
    token_b = w.b.token
    auth.change_password(scope, old_password="pa55word-old", new_password="pa55word-new")
    assert auth.scope_from_token(token_b).client_id == w.b.client_id  # B's sessions go on
    assert [m.client_id for m in auth.sign_in(user.email, "pa55word-new").memberships] == [
        w.a.client_id
    ]


def _reset_needs_the_mailed_link(w: World) -> None:
    # Without SMTP nobody gets a reset link, for any address; a made-up token opens nothing.
    with pytest.raises(InvalidInput):
        auth.request_password_reset(w.b.owner.email)
    with pytest.raises(auth.InvitationInvalid):
        auth.reset_password("made-up-reset-token", new_password="a new password")


def _sign_out_is_own(w: World) -> None:
    token_a, token_b = w.a.token, w.b.token
    auth.sign_out_everywhere(w.a.scope(Role.VIEWER))
    assert auth.scope_from_token(token_b).client_id == w.b.client_id
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token_a)


def _library_photo(t: Tenant) -> InspirationPhoto:
    return InspirationPhoto(
        id=f"scene-{t.scene_id}",
        source="session",
        description="a room",
        ref={"session_id": str(t.session_id), "scene_id": t.scene_id},
    )


def _inspiration_from_another_client_fails(w: World) -> None:
    stolen = [
        _library_photo(w.b),
        InspirationPhoto(
            id="gen", source="generation", description="", ref={"image_id": str(w.b.image_id)}
        ),
    ]
    result = inspiration.add_inspiration(w.a.scope(), session_id=w.a.session_id, photos=stolen)
    assert result.scene_ids == []
    assert [f["error"].endswith("not found") for f in result.failed] == [True, True]


def _delivery_log_shows_own_deliveries_only(w: World) -> None:
    for tenant in (w.a, w.b):
        tenant.flow  # noqa: B018 - finished (and announced to nobody) before a webhook is set
        with unit_of_work() as db:  # an address the guard refuses: recorded, nothing sent
            row = db.get(Client, tenant.client_id)
            assert row is not None
            row.webhook_url, row.webhook_secret = "http://127.0.0.1:9/hook", "s" * 32
        assert notify.deliver_flow_webhook(tenant.flow_id) == "failed"
    for tenant in (w.a, w.b):
        log = notify.delivery_log(tenant.scope(), client_id=tenant.client_id)
        assert [d.flow_id for d in log] == [tenant.flow_id], log


# -- checks behind the Special entries: pure helpers, the queue's steps, picture addresses ------


def _no_data_backends(folder: Path) -> backends.Backends:
    """Backends whose database and store cannot be reached: a closed port for both."""
    folder.mkdir(exist_ok=True)
    return backends.build(
        load_settings(
            visualizer_home=folder,
            database_url="postgresql+psycopg://postgres@127.0.0.1:9/no_such_database",
            r2_bucket="no-such-bucket",
            r2_endpoint="http://127.0.0.1:9",
            r2_access_key_id="none",
            r2_secret_access_key="none",
            auth_secret=TEST_AUTH_SECRET,
        )
    )


def _reads_no_data(prepare: Callable[[World], Callable[[], object]]) -> Callable[[World], None]:
    """A check that the helper reads and writes no client's data: its arguments are made on
    the real backends (from client A's scoped reads where it takes rows), then it runs on
    backends whose database and store are out of reach, and still answers."""

    def check(w: World) -> None:
        call = prepare(w)
        expected = call()
        unreachable = _no_data_backends(w.folder / "no-data")
        try:
            with backends.using(unreachable):
                assert call() == expected
        finally:
            unreachable.close()

    return check


ENTRY_POINTS = (ROOT / "streamlit_app", ROOT / "visualizer_cli", ROOT / "visualizer_core/admin.py")


def _entry_point_sources() -> list[tuple[str, str]]:
    """The code of every page, command and notebook (a person's ways in), with its name."""
    found = []
    for place in ENTRY_POINTS:
        for path in sorted(place.rglob("*.py")) if place.is_dir() else [place]:
            found.append((str(path.relative_to(ROOT)), path.read_text()))
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        found.append((str(path.relative_to(ROOT)), code))
    return found


def _only_the_queue_calls(module: str) -> Callable[[World], None]:
    """A check that no page, command or notebook reaches ``services.<module>``: its functions
    run only inside the services (after their scope checks) and in the queue's tasks."""

    def check(w: World) -> None:
        reached = []
        for name, source in _entry_point_sources():
            for node in ast.walk(ast.parse(source)):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                if f"visualizer_core.services.{module}" in names:
                    reached.append(f"{name}:{node.lineno}")
        assert not reached, f"services.{module} is reached from a person's way in: {reached}"

    return check


PICTURE_ADDRESSES = {"browser_urls", "pictures"}


def _picture_keys_come_from_scoped_reads(w: World) -> None:
    """Every page that asks for picture addresses passes keys of rows a scoped service call
    returned (attributes of its results), never text from the person: no query parameter,
    session state or widget value reaches ``browser_urls`` or ``review.pictures``."""
    calls = 0
    for name, source in _entry_point_sources():
        for node in ast.walk(ast.parse(source)):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in PICTURE_ADDRESSES
            ):
                continue
            calls += 1
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                used = {n.id for n in ast.walk(arg) if isinstance(n, ast.Name)}
                attributes = {n.attr for n in ast.walk(arg) if isinstance(n, ast.Attribute)}
                assert "st" not in used, f"{name}:{node.lineno} passes the page's own state"
                assert not attributes & {"query_params", "session_state"}, (
                    f"{name}:{node.lineno} passes what a person typed as a storage key"
                )
    assert calls >= 5  # the pages that show pictures were found


def _verdict_on_a_calibration(w: World) -> Callable[[], object]:
    with unit_of_work() as db:  # the calibration a service reads for client A, in its scope
        calibration = gate.calibration_of(db, w.a.client_id)
    return functools.partial(gate.verdict, 0.9, None, calibration)


_WORKER = "worker task: the queue calls it with ids it dispatched itself, never a person"
_PURE = "pure helper: reads and writes no data"

REGISTRY: dict[str, Entry] = {
    # analysis
    "analysis.analyze_session": Case(Action.EDIT, lambda t, w: {"session_id": t.session_id}),
    "analysis.match_session": Case(
        Action.EDIT,
        lambda t, w: {"session_id": t.session_id, "_": t.scene_id},
        mixed=(lambda w: {"session_id": w.a.session_id, "product_ids": [w.b.product_id]},),
    ),
    "analysis.set_match": Case(
        Action.EDIT,
        lambda t, w: {
            "session_id": t.session_id,
            "product_id": t.product_id,
            "scene_id": t.scene_id,
        },
        mixed=(
            lambda w: {
                "session_id": w.a.session_id,
                "product_id": w.b.product_id,
                "scene_id": w.a.scene_id,
            },
        ),
    ),
    # auth: the entry points that make scopes
    "auth.accept_invite": Special(
        "signing in: the invitation token is the credential", _invite_admits_to_its_client_only
    ),
    "auth.invitation_for": Special(
        "signing in: the invitation token is the credential", _invitation_shows_its_own_client
    ),
    "auth.identity_from_token": Special(
        "signing in: the signed session token is the credential", _token_gives_own_client
    ),
    "auth.issue_session_token": Special(
        "signing in: takes an identity that sign-in produced", _token_gives_own_client
    ),
    "auth.scope_for": Special(
        "makes a scope from an identity's own memberships", _scope_for_refuses_other_clients
    ),
    "auth.scope_from_token": Special(
        "signing in: the signed session token is the credential", _token_gives_own_client
    ),
    "auth.sign_in": Special("signing in: email and password", _sign_in_knows_only_own_clients),
    "auth.user_for_sso_email": Special(
        "signing in: an email the identity provider verified", _sso_knows_only_own_clients
    ),
    "auth.sign_out_everywhere": Special(
        "takes a scope but no ids: acts on the scope's own user only", _sign_out_is_own
    ),
    "auth.change_password": Special(
        "takes a scope but no ids: acts on the scope's own user only", _password_change_is_own
    ),
    "auth.set_password": Case(
        Action.ADMIN, lambda t, w: {"email": t.owner.email, "password": "set by the admin"}
    ),
    "auth.request_password_reset": Special(
        "takes an email; the link goes only to that address's mailbox",
        _reset_needs_the_mailed_link,
    ),
    "auth.reset_password": Special(
        "signing in: the mailed reset token is the credential", _reset_needs_the_mailed_link
    ),
    "auth.switch_client": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    # clients and members
    "clients.client_usage": Case(
        Action.MANAGE, lambda t, w: {"client_id": t.client_id, "_": t.image_id}
    ),
    "clients.create_client": Case(Action.ADMIN, lambda t, w: {"name": "Another brand"}),
    "clients.create_user": Case(
        Action.ADMIN,
        lambda t, w: {
            "client_id": t.client_id,
            "email": f"someone-{uuid.uuid4().hex[:6]}@example.com",
            "role": Role.VIEWER,
        },
    ),
    "clients.get_client": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    "clients.invite_member": Case(
        Action.MANAGE,
        lambda t, w: {"client_id": t.client_id, "email": "invitee@example.com", "role": "editor"},
    ),
    "clients.list_clients": Case(Action.READ, listing=lambda t, w: {}),
    "clients.list_members": Case(Action.MANAGE, lambda t, w: {"client_id": t.client_id}),
    "clients.remove_member": Case(
        Action.MANAGE,
        lambda t, w: {"client_id": t.client_id, "user_id": t.editor.id},
        mixed=(lambda w: {"client_id": w.a.client_id, "user_id": w.b.editor.id},),
    ),
    "clients.set_daily_quota": Case(
        Action.ADMIN, lambda t, w: {"client_id": t.client_id, "daily_quota": 5}
    ),
    "budgets.set_monthly_budget": Case(
        Action.ADMIN, lambda t, w: {"client_id": t.client_id, "monthly_budget_usd": 25.0}
    ),
    "budgets.monthly_budget": Case(Action.MANAGE, lambda t, w: {"client_id": t.client_id}),
    "clients.fidelity_gate": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    "clients.set_auto_approve": Case(
        Action.MANAGE, lambda t, w: {"client_id": t.client_id, "enabled": True}
    ),
    "clients.set_keep_product_pixels": Case(
        Action.MANAGE, lambda t, w: {"client_id": t.client_id, "enabled": True}
    ),
    "clients.set_fidelity_check": Case(
        Action.MANAGE, lambda t, w: {"client_id": t.client_id, "mode": "sample:0.5"}
    ),
    "clients.set_role": Case(
        Action.MANAGE,
        lambda t, w: {"client_id": t.client_id, "user_id": t.editor.id, "role": Role.VIEWER},
        mixed=(
            lambda w: {"client_id": w.a.client_id, "user_id": w.b.owner.id, "role": Role.VIEWER},
        ),
    ),
    "clients.set_webhook": Case(
        Action.MANAGE,
        lambda t, w: {"client_id": t.client_id, "url": "https://93.184.215.14/visualizer"},
    ),
    "clients.webhook_settings": Case(Action.MANAGE, lambda t, w: {"client_id": t.client_id}),
    # learning
    "learning.taught_rooms": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    "learning.forget_taught_rooms": Case(
        Action.MANAGE, lambda t, w: {"client_id": t.client_id, "category": None}
    ),
    # demo
    "demo.create_demo": Case(
        Action.ADMIN, lambda t, w: {"generate": False, "dispatch": False}, control=False
    ),
    # economy (the provider's batch mode)
    "economy.decide_economy": Case(
        Action.GENERATE,
        lambda t, w: {"flow_id": t.flow_id, "choice": "full_price"},
        control=False,  # nothing of B's flow waits for a decision (tests/services/test_economy)
    ),
    "economy.economy_available": Special(
        "reads the configuration only", _reads_no_data(lambda w: economy.economy_available)
    ),
    # models (the registry and the configuration; no client's rows)
    "models.account_pause": Case(Action.READ, listing=lambda t, w: {}),
    "models.check_flow_model": Case(Action.READ, listing=lambda t, w: {"settings": FlowSettings()}),
    "models.image_size_prices": Case(Action.READ, listing=lambda t, w: {}),
    "models.image_sizes": Case(Action.READ, listing=lambda t, w: {}),
    "models.model_warnings": Case(Action.READ, listing=lambda t, w: {}),
    "economy.economy_status": Case(Action.READ, lambda t, w: {"flow_id": t.flow_id}),
    "economy.poll_economy": Case(Action.ADMIN, lambda t, w: {}),
    "economy.submit_economy": Case(Action.GENERATE, lambda t, w: {"flow_id": t.flow_id}),
    # estimates
    "estimates.estimate_generation": Case(
        Action.READ, lambda t, w: {"client_id": t.client_id, "products": 3}
    ),
    # spend (the ledger of provider calls)
    "spend.cost_per_image": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    "spend.cost_per_approved": Case(Action.MANAGE, lambda t, w: {"client_id": t.client_id}),
    "spend.backend_of": Special(
        "pure: a model's name to its backend; no ids",
        _reads_no_data(lambda w: functools.partial(spend.backend_of, "gemini-2.5-flash-image")),
    ),
    "spend.paid_cost_per_approved": Special(
        "pure: sums rows a scoped call returned; no ids",
        _reads_no_data(
            lambda w: functools.partial(
                spend.paid_cost_per_approved,
                spend.cost_per_approved(w.a.scope(), client_id=w.a.client_id),
            )
        ),
    ),
    "export.image_size_for": Special(
        "pure: a delivery preset to a generation size; no ids",
        _reads_no_data(
            lambda w: functools.partial(export.image_size_for, export.parse_preset("square-2048"))
        ),
    ),
    "export.with_delivery_size": Case(
        Action.READ, lambda t, w: {"session_id": t.session_id, "settings": FlowSettings()}
    ),
    "generation.batch_status": Case(Action.READ, lambda t, w: {"flow_id": t.flow_id}),
    "review.undo_decisions": Case(
        Action.EDIT, lambda t, w: {"changes": {t.image_id: ("none", "approved")}}
    ),
    "spend.spend": Case(Action.MANAGE, lambda t, w: {"client_id": t.client_id, "_": t.image_id}),
    # export
    "export.export_session": Case(
        Action.READ,
        lambda t, w: {"session_id": t.session_id, "out": w.folder / f"{uuid.uuid4().hex}.zip"},
    ),
    "export.client_preset": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    "export.check_delivery": Case(
        Action.READ, lambda t, w: {"session_id": t.session_id, "preset": "shopify"}
    ),
    "export.parse_preset": Special(
        _PURE, _reads_no_data(lambda w: functools.partial(export.parse_preset, "shopify"))
    ),
    "export.remember_preset": Case(
        Action.EDIT, lambda t, w: {"client_id": t.client_id, "preset": "original"}
    ),
    "export.render": Special(
        _PURE,
        _reads_no_data(
            lambda w: functools.partial(
                export.render, product_photo(), export.parse_preset("square-2048")
            )
        ),
    ),
    "export.credit_line": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    "export.set_signing_credentials": Case(
        Action.MANAGE,
        lambda t, w: {"client_id": t.client_id, "certificate_chain": "", "private_key": ""},
    ),
    "export.set_credit_line": Case(
        Action.MANAGE, lambda t, w: {"client_id": t.client_id, "credit": "Photo: Brand"}
    ),
    "export.spreadsheet_safe": Special(
        _PURE, _reads_no_data(lambda w: functools.partial(export.spreadsheet_safe, "=1+2"))
    ),
    # gallery
    "gallery.browser_urls": Special(
        "takes storage keys the caller's scope read; no ids", _picture_keys_come_from_scoped_reads
    ),
    "gallery.image_bytes": Case(Action.READ, lambda t, w: {"image_id": t.image_id}),
    "gallery.list_images": Case(
        Action.READ, lambda t, w: {"session_id": t.session_id, "_": t.image_id}
    ),
    "gallery.review_images": Case(
        Action.EDIT,
        lambda t, w: {"image_ids": [t.image_id], "review_state": "approved"},
        mixed=(lambda w: {"image_ids": [w.a.image_id, w.b.image_id], "favourite": True},),
    ),
    # generation
    "generation.generate": Case(
        Action.GENERATE,
        lambda t, w: {
            "session_id": t.session_id,
            "product_ids": [t.product_id],
            "dispatch": False,
            "_": t.scene_id,
        },
        mixed=(
            lambda w: {
                "session_id": w.a.session_id,
                "product_ids": [w.b.product_id],
                "dispatch": False,
            },
            lambda w: {
                "session_id": w.a.session_id,
                "product_ids": [w.a.product_id],
                "parent_flow_id": w.b.flow_id,
                "dispatch": False,
                "_": w.a.scene_id,
            },
            lambda w: {
                "session_id": w.a.session_id,
                "product_ids": [w.a.product_id],
                "rerun_of": {w.a.product_id: w.b.image_id},
                "dispatch": False,
                "_": w.a.scene_id,
            },
        ),
    ),
    "generation.quota_left": Case(Action.READ, lambda t, w: {"client_id": t.client_id}),
    "generation.recover": Case(Action.ADMIN, lambda t, w: {"dispatch": False}),
    "generation.wait_for_flows": Case(
        Action.READ, lambda t, w: {"flow_ids": [t.flow_id], "timeout": 0}
    ),
    # inspiration
    "inspiration.add_inspiration": Case(
        Action.EDIT,
        lambda t, w: {"session_id": t.session_id, "photos": [_library_photo(t)]},
        check=_inspiration_from_another_client_fails,
    ),
    "inspiration.generation_as_scene": Case(
        Action.EDIT,
        lambda t, w: {"image_id": t.image_id},
        mixed=(lambda w: {"image_id": w.a.image_id, "session_id": w.b.session_id},),
    ),
    "inspiration.search_inspiration": Case(
        Action.READ, lambda t, w: {"client_id": t.client_id, "query": "living room"}
    ),
    "inspiration.unsplash_configured": Special(
        "reads the configuration only", _reads_no_data(lambda w: inspiration.unsplash_configured)
    ),
    # jobs (the steps of one image: the queue's tasks call them with ids they dispatched)
    **{
        f"jobs.{name}": Special(_WORKER, _only_the_queue_calls("jobs"))
        for name in (
            "build_request",
            "call_ai",
            "complete",
            "defer",
            "fail",
            "judge",
            "finish_flow_if_done",
            "image_status",
            "keep_result",
            "load_job",
            "record_calls",
            "request_for",
            "still_held",
        )
    },
    "jobs.job_id_for": Special(
        _PURE, _reads_no_data(lambda w: functools.partial(jobs.job_id_for, w.a.image_id))
    ),
    "jobs.fidelity_wanted": Special(
        _PURE, _reads_no_data(lambda w: functools.partial(jobs.fidelity_wanted, 0.5, w.a.image_id))
    ),
    "jobs.fidelity_mode": Special(
        _PURE,
        _reads_no_data(lambda w: functools.partial(jobs.fidelity_mode, {"fidelity_check": "all"})),
    ),
    "jobs.keeps_product_pixels": Special(
        _PURE, _reads_no_data(lambda w: functools.partial(jobs.keeps_product_pixels, {}, {}))
    ),
    "jobs.parse_fidelity_check": Special(
        _PURE,
        _reads_no_data(
            lambda w: functools.partial(jobs.parse_fidelity_check, {"fidelity_check": "sample:0.2"})
        ),
    ),
    # notify
    "notify.flow_summary": Special(
        _PURE,
        _reads_no_data(
            lambda w: functools.partial(
                notify.flow_summary,
                Flow(id=w.a.flow_id, client_id=w.a.client_id, studio_session_id=w.a.session_id),
                {"total": 1, "completed": 1, "error": 0},
            )
        ),
    ),
    "notify.webhook_deliveries": Case(Action.MANAGE, lambda t, w: {"flow_id": t.flow_id}),
    "notify.delivery_log": Case(
        Action.MANAGE,
        lambda t, w: {"client_id": t.client_id, "_": t.flow_id},
        check=_delivery_log_shows_own_deliveries_only,
    ),
    # previews
    "previews.product_picture": Case(Action.READ, lambda t, w: {"product_id": t.product_id}),
    "previews.scene_picture": Case(
        Action.READ,
        lambda t, w: {"session_id": t.session_id, "scene_id": t.scene_id},
        mixed=(lambda w: {"session_id": w.a.session_id, "scene_id": w.b.scene_id},),
    ),
    # products
    "products.add_product_photo": Case(
        Action.EDIT,
        lambda t, w: {"product_id": t.product_id, "data": product_photo(), "filename": "more.jpg"},
    ),
    "products.get_product": Case(Action.READ, lambda t, w: {"product_id": t.product_id}),
    "products.import_products": Case(
        Action.EDIT,
        lambda t, w: {"client_id": t.client_id, "records": [{"sku": "NEW-1", "name": "Lamp"}]},
    ),
    "products.list_products": Case(
        Action.READ,
        lambda t, w: {"client_id": t.client_id},
        listing=lambda t, w: {"_": w.b.product_id},
    ),
    # review
    "review.approve_by_rule": Case(
        Action.EDIT, lambda t, w: {"session_id": t.session_id, "min_fidelity": 0.0}
    ),
    "review.decide": Case(
        Action.EDIT, lambda t, w: {"image_id": t.image_id, "decision": "approved"}
    ),
    "review.lineage": Case(Action.READ, lambda t, w: {"image_id": t.image_id}),
    "review.pick_variant": Case(Action.EDIT, lambda t, w: {"image_id": t.image_id}),
    "review.pictures": Special(
        "takes an item the caller's scope read; no ids", _picture_keys_come_from_scoped_reads
    ),
    "review.remember_position": Case(
        Action.READ,
        lambda t, w: {"session_id": t.session_id, "image_id": t.image_id},
    ),
    "review.rerun_errors": Case(Action.GENERATE, lambda t, w: {"session_id": t.session_id}),
    "review.rerun_with_note": Case(
        Action.GENERATE, lambda t, w: {"image_id": t.image_id, "note": "warmer light"}
    ),
    "review.review_queue": Case(
        Action.READ, lambda t, w: {"session_id": t.session_id, "_": t.image_id}
    ),
    "review.set_favourite": Case(
        Action.EDIT, lambda t, w: {"image_id": t.image_id, "favourite": True}
    ),
    "review.undo_rule": Case(Action.EDIT, lambda t, w: {"session_id": t.session_id}),
    "review.trusted": Case(Action.READ, lambda t, w: {"session_id": t.session_id}),
    "review.approve_trusted": Case(Action.EDIT, lambda t, w: {"session_id": t.session_id}),
    # gate (helpers of review and the worker steps, after their own checks)
    "gate.new_batch": Special(_PURE, _reads_no_data(lambda w: lambda: len(gate.new_batch()) > 0)),
    "gate.spot_check_sample": Special(
        _PURE,
        _reads_no_data(
            lambda w: functools.partial(gate.spot_check_sample, [w.a.image_id, w.b.image_id], 0.5)
        ),
    ),
    "gate.draw_spot_checks": Special(
        "takes an open database session and ids a service chose", _only_the_queue_calls("gate")
    ),
    "gate.calibration_of": Special(
        "takes an open database session and a client a service chose",
        _only_the_queue_calls("gate"),
    ),
    "gate.drawn_for_spot_check": Special(
        _PURE, _reads_no_data(lambda w: functools.partial(gate.drawn_for_spot_check, w.a.image_id))
    ),
    "gate.in_band": Special(
        _PURE, _reads_no_data(lambda w: functools.partial(gate.in_band, 0.8, 0.85))
    ),
    "gate.verdict": Special(_PURE, _reads_no_data(_verdict_on_a_calibration)),
    # plans
    "plans.flow_settings": Special(
        _PURE,
        _reads_no_data(
            lambda w: functools.partial(plans.flow_settings, {}, {"aspect_ratio": "4:5"})
        ),
    ),
    "plans.plan": Case(
        Action.READ,
        lambda t, w: {"session_id": t.session_id, "analyze": False, "_": t.scene_id},
        mixed=(lambda w: {"client_id": w.a.client_id, "session_id": w.b.session_id},),
        listing=lambda t, w: {"analyze": False, "_": (w.a.scene_id, w.b.scene_id)},
    ),
    "plans.rerun": Case(
        Action.GENERATE, lambda t, w: {"image_ids": [t.image_id], "dispatch": False}
    ),
    "plans.sessions_of": Case(
        Action.READ,
        lambda t, w: {"session_id": t.session_id},
        mixed=(lambda w: {"client_id": w.a.client_id, "session_id": w.b.session_id},),
        listing=lambda t, w: {"_": (w.a.session_id, w.b.session_id)},
    ),
    "plans.start": Case(
        Action.GENERATE,
        lambda t, w: {"requests": [_flow_request(t, t)], "dispatch": False},
        mixed=(lambda w: {"requests": [_flow_request(w.a, w.b)], "dispatch": False},),
    ),
    "plans.submit": Case(
        Action.GENERATE,
        lambda t, w: {"planned": [_planned(t, t)], "dispatch": False},
        mixed=(lambda w: {"planned": [_planned(w.a, w.b)], "dispatch": False},),
    ),
    # sessions
    "sessions.add_scene_images": Case(
        Action.EDIT,
        lambda t, w: {"session_id": t.session_id, "files": [("s.jpg", scene_photo())]},
    ),
    "sessions.add_scenes": Case(
        Action.EDIT,
        lambda t, w: {"session_id": t.session_id, "files": [("s.jpg", scene_photo())]},
    ),
    "sessions.archive_session": Case(Action.EDIT, lambda t, w: {"session_id": t.session_id}),
    "sessions.create_session": Case(
        Action.EDIT, lambda t, w: {"client_id": t.client_id, "name": "Autumn"}
    ),
    "sessions.get_session": Case(Action.READ, lambda t, w: {"session_id": t.session_id}),
    "sessions.list_sessions": Case(
        Action.READ,
        lambda t, w: {"client_id": t.client_id},
        listing=lambda t, w: {"include_archived": True, "_": w.b.session_id},
    ),
    "sessions.rename_session": Case(
        Action.EDIT, lambda t, w: {"session_id": t.session_id, "name": "Renamed"}
    ),
    "sessions.session_status": Case(Action.READ, lambda t, w: {"session_id": t.session_id}),
    "sessions.set_scene_room": Case(
        Action.EDIT,
        lambda t, w: {"session_id": t.session_id, "scene_id": t.scene_id, "room_type": "study"},
        mixed=(
            lambda w: {"session_id": w.a.session_id, "scene_id": w.b.scene_id, "room_type": None},
        ),
    ),
    "sessions.delete_scene": Case(
        Action.EDIT,
        lambda t, w: {"session_id": t.session_id, "scene_id": t.scene_id},
        mixed=(lambda w: {"session_id": w.a.session_id, "scene_id": w.b.scene_id},),
    ),
    "sessions.paused_models": Case(Action.READ, lambda t, w: {"session_id": t.session_id}),
    # tables
    "tables.calls": Case(Action.MANAGE, lambda t, w: {"client_id": t.client_id, "_": t.image_id}),
    "tables.clients": Case(Action.ADMIN, lambda t, w: {}),
    "tables.generations": Case(
        Action.READ,
        lambda t, w: {"client_id": t.client_id},
        listing=lambda t, w: {"_": (w.a.image_id, w.b.image_id)},
    ),
    "tables.products": Case(
        Action.READ,
        lambda t, w: {"client_id": t.client_id},
        listing=lambda t, w: {"_": (w.a.product_id, w.b.product_id)},
    ),
    "tables.sessions": Case(
        Action.READ,
        lambda t, w: {"client_id": t.client_id},
        listing=lambda t, w: {"_": (w.a.session_id, w.b.session_id)},
    ),
}
"""``module.function`` -> how to call it on another client's ids (see :class:`Case`).

A key ``"_"`` in the arguments is not passed: it only makes the world build a row first.
"""


def _args(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != "_"}


def least_role(action: Action) -> Role:
    """The weakest role that may do ``action``."""
    for role in (Role.VIEWER, Role.EDITOR, Role.OWNER):
        if action in actions_of(role):
            return role
    raise AssertionError(f"no role may {action}")


def _missing_entry(name: str) -> str:
    return (
        f"{name} has no entry in REGISTRY (tests/services/test_tenancy.py). Add one: a Case "
        "saying which Action it needs and how to call it on a tenant's ids, so that the test can "
        "check that client A cannot reach client B through it; or, if it takes no scope, an "
        "Special entry saying why no member can reach another client through it."
    )


# -- the tests ----------------------------------------------------------------------------------

FUNCTIONS = service_functions()


def test_every_service_function_is_registered() -> None:
    missing = sorted(set(FUNCTIONS) - set(REGISTRY))
    assert not missing, "\n".join(_missing_entry(name) for name in missing)
    stale = sorted(set(REGISTRY) - set(FUNCTIONS))
    assert not stale, f"REGISTRY names functions that are no longer exported: {stale}"


def test_worker_entry_points_are_not_the_services_public_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What only the queue calls takes no scope, so no page, notebook or command may reach it
    as a service (issue 12)."""
    assert "notify.deliver_flow_webhook" not in FUNCTIONS
    assert "generation.process_image" not in FUNCTIONS
    from visualizer_core.services import TASKS, generation, notify

    delivered: list[uuid.UUID] = []
    monkeypatch.setattr(notify, "deliver_flow_webhook", lambda f: delivered.append(f) or "sent")
    flow_id = uuid.uuid4()
    assert TASKS.deliver_webhook(flow_id) == "sent" and delivered == [flow_id]  # the queue's way
    assert "process_image" not in generation.__all__


def test_every_public_function_is_exported_or_known_internal() -> None:
    loose = []
    for module in service_modules():
        short = module.__name__.rsplit(".", 1)[1]
        exported = set(getattr(module, "__all__", ()))
        for name, obj in vars(module).items():
            if (
                inspect.isfunction(obj)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and name not in exported
                and f"{short}.{name}" not in INTERNAL
            ):
                loose.append(f"{short}.{name}")
    assert not loose, (
        f"{loose}: public functions missing from their module's __all__ (so the tenancy test "
        "cannot see them). Export them, prefix them with _, or list them in INTERNAL with why."
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_scope_comes_first_and_the_rest_is_keyword_only(name: str) -> None:
    entry = REGISTRY.get(name)
    if entry is None:
        pytest.fail(_missing_entry(name))
    parameters = list(inspect.signature(FUNCTIONS[name]).parameters.values())
    takes_scope = bool(parameters) and parameters[0].name == "scope"
    if isinstance(entry, Case):
        assert takes_scope, f"{name} is a scoped service: its first parameter must be the scope"
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:]), (
            f"{name}: everything after the scope must be keyword-only"
        )
    else:
        assert not takes_scope or entry.check is not None, (
            f"{name} takes a scope: register it as a Case, or give its entry a check"
        )


def _expect_refused(func: Callable[..., Any], scope: ClientScope, kwargs: dict[str, Any]) -> None:
    with pytest.raises(NotFound) as refused:
        func(scope, **_args(kwargs))
    message = str(refused.value)
    assert message.endswith("not found"), message


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_member_of_another_client_is_refused(name: str, world: World) -> None:
    entry = REGISTRY.get(name)
    if entry is None:
        pytest.fail(_missing_entry(name))
    func = FUNCTIONS[name]
    w = world
    if isinstance(entry, Special):
        if entry.check is not None:
            entry.check(w)
        return

    if entry.action is Action.ADMIN:
        assert entry.call is not None
        for role in Role:
            with pytest.raises(Forbidden):
                func(w.a.scope(role), **_args(entry.call(w.b, w)))
        if entry.control:
            func(ADMIN, **_args(entry.call(w.b, w)))
        return

    if entry.call is not None:
        _expect_refused(func, w.a.scope(Role.OWNER), entry.call(w.b, w))
    for mixed in entry.mixed:
        _expect_refused(func, w.a.scope(Role.OWNER), mixed(w))
    if entry.listing is not None:
        result = func(w.a.scope(Role.VIEWER), **_args(entry.listing(w.a, w)))
        shown = repr(result)
        for secret in w.b.secrets():
            assert secret not in shown, f"{name} showed {secret!r} of client B to client A"
    if entry.check is not None:
        entry.check(w)
    if entry.control and entry.call is not None:
        # The same call by B's least-privileged member who may make it goes through.
        func(w.b.scope(least_role(entry.action)), **_args(entry.call(w.b, w)))


def test_the_checks_behind_special_entries_find_what_they_look_for(world: World) -> None:
    """The no-data check fails a helper that reads rows; the picture check finds the pages."""
    reads = _reads_no_data(lambda w: functools.partial(clients.list_clients, ADMIN))
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        reads(world)
    _picture_keys_come_from_scoped_reads(world)  # finds five pages or more, or fails
    assert any(name.endswith(".ipynb") for name, _ in _entry_point_sources())


def test_the_admin_scope_spans_clients(world: World) -> None:
    w = world
    for tenant in (w.a, w.b):
        assert sessions.get_session(ADMIN, session_id=tenant.session_id).client_id == (
            tenant.client_id
        )
        assert products.get_product(ADMIN, product_id=tenant.product_id).client_id == (
            tenant.client_id
        )
    listed = {c.id for c in clients.list_clients(ADMIN)}
    assert {w.a.client_id, w.b.client_id} <= listed


def test_a_refused_change_leaves_the_other_client_as_it_was(world: World) -> None:
    w = world
    before = sessions.get_session(ADMIN, session_id=w.b.session_id)
    with pytest.raises(NotFound):
        sessions.rename_session(w.a.scope(), session_id=w.b.session_id, name="Hijacked")
    with pytest.raises(NotFound):
        clients.set_role(
            w.a.scope(), client_id=w.b.client_id, user_id=w.b.owner.id, role=Role.VIEWER
        )
    assert sessions.get_session(ADMIN, session_id=w.b.session_id).name == before.name
    roles = {m.email: m.role for m in clients.list_members(ADMIN, client_id=w.b.client_id)}
    assert roles[w.b.owner.email] is Role.OWNER


# -- properties ---------------------------------------------------------------------------------

READERS: dict[str, Callable[[ClientScope, uuid.UUID], Any]] = {
    "session": lambda s, i: sessions.get_session(s, session_id=i),
    "product": lambda s, i: products.get_product(s, product_id=i),
    "client": lambda s, i: clients.get_client(s, client_id=i),
}


@pytest.mark.parametrize("kind", sorted(READERS))
def test_another_clients_id_answers_like_a_random_one(kind: str, world: World) -> None:
    """Whatever id A asks for, B's real one or one that exists nowhere, the answer is the same."""
    w = world
    real = {"session": w.b.session_id, "product": w.b.product_id, "client": w.b.client_id}[kind]
    read = READERS[kind]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(ident=st.one_of(st.uuids(), st.just(real)), role=st.sampled_from(list(Role)))
    def property_(ident: uuid.UUID, role: Role) -> None:
        with pytest.raises(NotFound) as refused:
            read(w.a.scope(role), ident)
        assert str(refused.value) == f"{kind} {ident} not found"

    property_()


@settings(max_examples=200)
@given(own=st.uuids(), other=st.uuids(), role=st.sampled_from(list(Role)))
def test_a_scope_admits_exactly_its_own_client(
    own: uuid.UUID, other: uuid.UUID, role: Role
) -> None:
    scope = ClientScope(client_id=own, role=role)
    scope.check_client(own, "client", own)
    if other != own:
        with pytest.raises(NotFound):
            scope.check_client(other, "session", other)
    ADMIN.check_client(other, "session", other)
    assert scope.client_filter() == own
    assert ADMIN.client_filter() is None


def test_registry_actions_match_what_the_roles_allow() -> None:
    """Sanity of the registry itself: every action it names is one some role (or admin) has."""
    for name, entry in REGISTRY.items():
        if isinstance(entry, Case) and entry.action is not Action.ADMIN:
            least_role(entry.action)
        assert name.count(".") == 1


# -- roles -----------------------------------------------------------------------------------------
# Roles: viewers read; editors also create, import, generate and review; owners also manage.
#
# The role matrix is checked three ways: the table itself (:func:`actions_of`), a member of each
# role calling each kind of thing in their own client, and every scoped service function of the
# tenancy registry refusing the roles that lack what it needs, on their own client's rows.

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
    "change the monthly budget": lambda s, w: budgets.set_monthly_budget(
        s, client_id=w.a.client_id, monthly_budget_usd=1.0
    ),
    "see the monthly budget": lambda s, w: budgets.monthly_budget(s, client_id=w.a.client_id),
}

READ = {"browse sessions", "look at a product", "look at the gallery", "see the quota left"}
EDIT = READ | {"create a session", "import products", "generate", "review"}
CAN: dict[Role, set[str]] = {
    Role.VIEWER: READ,
    Role.EDITOR: EDIT,
    Role.OWNER: EDIT
    | {
        "see the members",
        "invite a member",
        "set the webhook",
        "see usage",
        "see the monthly budget",
    },
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
