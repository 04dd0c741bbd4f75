"""The studio under ``streamlit.testing.v1.AppTest``: a brand with members of every role.

``studio`` builds a client whose owner, editor and viewer can sign in, a small catalog with
photos, and a session with scenes, all through the services; ``open_app(email)`` signs a member
in (a login token, as the sign-in page makes) and runs the app's entry file.

Every new ``AppTest`` scans all installed packages for Streamlit components (reading each one's
metadata: about half a second, a fifth of a page test's time); the packages do not change while
the tests run, so the scan is made once per test process (``_scan_components_once``).
"""

from __future__ import annotations

import functools
import io
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from PIL import Image
from streamlit.components.v2 import manifest_scanner
from streamlit.testing.v1 import AppTest

from tests.factories import create_client, random_name
from visualizer_core import backends
from visualizer_core.demo import art as demo_art
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.services import auth, clients, generation, products, sessions

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app" / "app.py")
PASSWORD = "correct horse battery"
TIMEOUT = 60

# (sku, name, category, drawing colour)
CATALOG = (
    ("SOFA-1", "Harbor Three-Seat Sofa", "sofa", (70, 90, 120)),
    ("BED-1", "Haven Upholstered Bed", "bed", (150, 120, 160)),
    ("DESK-1", "Studio Writing Desk", "desk", (120, 85, 60)),
)
ROOMS = ("living_room", "bedroom", "home_office")


@dataclass
class Studio:
    """One brand's world: its id, members by role, products by sku, a session and its scenes."""

    client_id: uuid.UUID
    emails: dict[str, str]
    product_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    session_id: uuid.UUID | None = None
    scene_ids: list[str] = field(default_factory=list)

    def scope(self, role: str = "owner") -> ClientScope:
        return ClientScope(client_id=self.client_id, role=Role(role))


def add_member(client_id: uuid.UUID, role: str, email: str | None = None) -> str:
    address = email or f"{role}-{uuid.uuid4().hex[:8]}@brand.test"
    clients.create_user(ADMIN, email=address, client_id=client_id, role=role, password=PASSWORD)
    return address


def import_catalog(client_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The small catalog with drawn photos, through the import service."""
    with tempfile.TemporaryDirectory(prefix="studio-catalog-") as folder:
        records = []
        for index, (sku, name, category, color) in enumerate(CATALOG):
            photo = demo_art.draw_product(category, color=color, seed=index, size=(300, 300))
            (Path(folder) / f"{sku}.jpg").write_bytes(photo)
            records.append({"sku": sku, "name": name, "category": category, "image": f"{sku}.jpg"})
        report = products.import_products(
            ADMIN, client_id=client_id, records=records, images_dir=Path(folder)
        )
    assert report.failed == 0, report.errors
    return {sku: uuid.UUID(pid) for (sku, *_), pid in zip(CATALOG, report.product_ids, strict=True)}


def room_photo(room: str, seed: int = 0) -> bytes:
    return demo_art.draw_room(room, seed=seed, size=(480, 320))


def jpeg(color: tuple[int, int, int] = (200, 60, 60), size: tuple[int, int] = (300, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (255, 255, 255)).save(buffer, "JPEG")
    image = Image.open(buffer)
    image.paste(color, (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def make_studio(*, with_catalog: bool = True, with_scenes: bool = True) -> Studio:
    client = create_client(daily_quota=200)
    studio = Studio(
        client_id=client.id,
        emails={role: add_member(client.id, role) for role in ("owner", "editor", "viewer")},
    )
    if with_catalog:
        studio.product_ids = import_catalog(client.id)
    session = sessions.create_session(ADMIN, client_id=client.id, name=random_name("Collection"))
    studio.session_id = session.id
    if with_scenes:
        for seed, room in enumerate(ROOMS):
            added = sessions.add_scenes(
                ADMIN,
                session_id=session.id,
                files=[(f"{room}.jpg", room_photo(room, seed))],
                room_type=room,
            )
            studio.scene_ids += added.scene_ids
    return studio


def generate_and_wait(studio: Studio) -> list[uuid.UUID]:
    """A finished generation of the whole catalog in the studio's session."""
    assert studio.session_id is not None
    flow = generation.generate(studio.scope("editor"), session_id=studio.session_id)
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=120)
    assert counts["completed"] == len(flow.image_ids), counts
    return flow.image_ids


@pytest.fixture(scope="session", autouse=True)
def _scan_components_once() -> Iterator[None]:
    """Streamlit's scan of the installed packages for components, made once and reused."""
    scan = functools.cache(manifest_scanner.scan_component_manifests)
    with mock.patch.object(
        manifest_scanner, "scan_component_manifests", lambda *a, **k: list(scan(*a, **k))
    ):
        yield


@pytest.fixture(autouse=True)
def _main_module_restored() -> Iterator[None]:
    """``AppTest`` installs the script it runs as ``__main__`` (as Streamlit does) and leaves it
    there: a later test in the same process that spawns a process would have the child run
    that script (and fail: it needs arguments only the runner had)."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def studio(embedded: backends.Backends) -> Studio:
    """A brand with an owner, an editor and a viewer, a catalog, and a session with scenes."""
    return make_studio()


def signed_in(
    email: str, *, page: str | None = None, session_id: uuid.UUID | None = None
) -> AppTest:
    """The studio as ``email`` sees it after signing in, on ``page`` (pages/<name>.py)."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["auth.token"] = auth.issue_session_token(auth.sign_in(email, PASSWORD))
    if session_id is not None:
        app.session_state["studio.session_id"] = session_id
    app.run()
    assert not app.exception, app.exception
    if page is not None:
        app.switch_page(f"views/{page}.py").run()
        assert not app.exception, app.exception
    return app


@pytest.fixture
def open_app(studio: Studio) -> Callable[..., AppTest]:
    """``open_app(role, page)``: the app signed in as the studio's member of that role."""

    def opener(role: str = "editor", page: str | None = None) -> AppTest:
        return signed_in(studio.emails[role], page=page, session_id=studio.session_id)

    return opener


def shown(markdown: object) -> str:
    """What a person reads of markdown text: the escapes of ``plain()`` taken off."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown))


def errors(app: AppTest) -> list[str]:
    """The page's error messages as a person reads them."""
    return [shown(e.value) for e in app.error]


def texts(app: AppTest) -> str:
    """Everything a person reads on the page, as one string (to assert what they would see)."""
    parts: list[str] = []
    for kind in (
        "title",
        "subheader",
        "markdown",
        "caption",
        "success",
        "info",
        "warning",
        "error",
    ):
        parts += [shown(element.value) for element in getattr(app, kind)]
    parts += [str(m.label) + " " + str(m.value) for m in app.metric]
    return "\n".join(parts)


def button(app: AppTest, label: str):  # type: ignore[no-untyped-def]
    """The (first) button with this label, form submit buttons included."""
    for found in [*app.button, *app.get("form_submit_button")]:
        if found.label == label:
            return found
    labels = [b.label for b in app.button] + [b.label for b in app.get("form_submit_button")]
    raise AssertionError(f"no button {label!r}; there are {labels}")


def frame(app: AppTest, *columns: str):  # type: ignore[no-untyped-def]
    """The (first) table on the page that has all these columns, as a DataFrame."""
    for element in app.dataframe:
        value = element.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no table with columns {columns}")
