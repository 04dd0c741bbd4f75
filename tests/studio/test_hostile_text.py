"""Issue 24, finding 3: one escaping rule for every place the studio shows text that people or
third parties wrote. A brand whose every name is hostile (a markdown link, a markdown image that
would be a tracking pixel, an HTML tag) is walked page by page, as the owner sees it, and every
element that renders markdown (text, captions, alerts, toasts, titles, widget labels and help,
image captions, metrics) must show the name escaped: no link, picture or tag reaches a viewer.

What renders text as text (tables, select boxes' options, text inputs) is left out: there the
name is shown as typed, which is safe.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.factories import create_client
from tests.studio.conftest import (
    APP,
    PASSWORD,
    TIMEOUT,
    button,
    generate_and_wait,
    room_photo,
)
from visualizer_core.db.models import GeneratedImage, StudioSession
from visualizer_core.demo import art as demo_art
from visualizer_core.scope import ADMIN
from visualizer_core.services import auth, clients, products, sessions
from visualizer_core.services._uow import unit_of_work

LINK = "[win a prize](https://phish.example/login)"
PIXEL = "![](https://track.example/pixel.gif)"
TAG = "<img src=https://track.example/tag.gif>"
HOSTILE = f"Oak {LINK} {PIXEL} {TAG} **loud**"
# What would make a link, a picture or a tag: each as it reads unescaped.
MARKERS = tuple(
    re.compile(pattern)
    for pattern in (r"phish\.example/", r"track\.example/", r"(?<!\\)<img", r"(?<!\\)\]\(")
)

PAGES = (
    "sessions",
    "products",
    "inspiration",
    "generate",
    "results",
    "review",
    "usage",
    "settings",
    "account",
)


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _nodes(child)


MARKDOWN_VALUES = {
    "markdown",
    "caption",
    "title",
    "header",
    "subheader",
    "success",
    "info",
    "warning",
    "error",
    "toast",
}


def rendered_markdown(app: AppTest) -> Iterator[tuple[str, str]]:
    """(where, text) for every piece of text on the page that Streamlit renders as markdown."""
    for root in (app.main, app.sidebar):
        for node in _nodes(root):
            kind = str(getattr(node, "type", ""))
            if kind in MARKDOWN_VALUES:
                yield kind, str(node.value)
            for attribute in ("label", "help"):
                value = getattr(node, attribute, None)
                if isinstance(value, str):
                    yield f"{kind}.{attribute}", value
            proto = getattr(node, "proto", None)
            if kind == "image":
                for caption in node.captions:
                    yield "image caption", caption
            if kind == "metric" and proto is not None:
                yield "metric", f"{proto.label} {proto.body} {proto.help}"


@pytest.fixture
def hostile_brand(embedded: Any) -> dict[str, Any]:
    client = create_client(name=f"Brand {HOSTILE}")
    owner = f"owner-{uuid.uuid4().hex[:6]}@brand.test"
    clients.create_user(
        ADMIN, email=owner, client_id=client.id, role="owner", password=PASSWORD, name=HOSTILE
    )
    with tempfile.TemporaryDirectory(prefix="hostile-catalog-") as folder:
        records = []
        for index, (sku, category) in enumerate((("SOFA-1", "sofa"), ("LAMP-2", "lamp"))):
            photo = demo_art.draw_product(
                category, color=(90, 110, 140), seed=index, size=(300, 300)
            )
            (Path(folder) / f"{sku}.jpg").write_bytes(photo)
            records.append(
                {
                    "sku": f"{sku}-{HOSTILE}",
                    "name": f"{category} {HOSTILE}",
                    "category": f"{category} {HOSTILE}",
                    "description": HOSTILE,
                    "image": f"{sku}.jpg",
                }
            )
        report = products.import_products(
            ADMIN, client_id=client.id, records=records, images_dir=Path(folder)
        )
    assert report.failed == 0, report.errors
    session = sessions.create_session(ADMIN, client_id=client.id, name=f"Spring {HOSTILE}")
    sessions.add_scenes(
        ADMIN,
        session_id=session.id,
        files=[
            ("living_room.jpg", room_photo("living_room")),
            ("bedroom.jpg", room_photo("bedroom", 1)),
        ],
    )
    with unit_of_work() as db:  # what Unsplash and an earlier generation leave on scenes
        row = db.get(StudioSession, session.id)
        assert row is not None
        scenes = row.scene_list()
        scenes[0].attribution = {
            "provider": "unsplash",
            "photographer": HOSTILE,
            "photographer_url": "javascript:alert(1)//https://unsplash.com/@x",
            "unsplash_url": "https://unsplash.com/photos/x) ![](https://track.example/u.gif",
            "description": HOSTILE,
        }
        scenes[1].attribution = {"provider": "generation", "text": f"Earlier picture of {HOSTILE}"}
        scenes[1].filename = f"{HOSTILE}.jpg"
        row.set_scenes(scenes)
    return {"client_id": client.id, "owner": owner, "session_id": session.id}


def test_every_page_shows_hostile_names_escaped(hostile_brand: dict[str, Any]) -> None:
    from tests.studio.conftest import Studio

    studio = Studio(
        client_id=hostile_brand["client_id"],
        emails={"owner": hostile_brand["owner"]},
        session_id=hostile_brand["session_id"],
    )
    image_ids = generate_and_wait(studio)
    with unit_of_work() as db:  # a provider's error text, quoting the prompt back
        row = db.get(GeneratedImage, image_ids[0])
        assert row is not None
        row.status = "error"
        row.error_message = f"the model refused: {HOSTILE}"

    token = auth.issue_session_token(auth.sign_in(hostile_brand["owner"], PASSWORD))
    leaks: list[str] = []
    kinds: set[str] = set()
    seen = 0
    for page in PAGES:
        app = AppTest.from_file(APP, default_timeout=TIMEOUT)
        app.session_state["auth.token"] = token
        app.session_state["studio.session_id"] = hostile_brand["session_id"]
        app.run()
        app.switch_page(f"views/{page}.py").run()
        assert not app.exception, (page, app.exception)
        views = [app]
        if page == "inspiration":  # the library search and the earlier generations, by product
            app.session_state["inspiration.source"] = "Earlier generations"
            views.append(app.run())
            rendered = list(rendered_markdown(app))  # walked now: the same app runs on
            app.session_state["inspiration.source"] = "Search"
            app.run()
            app.text_input(key="inspiration.query").input("Oak")
            button(app, "Search").click().run()
            assert not app.exception, app.exception
            views = [app]
            pending = rendered
        else:
            pending = []
        for where, text in pending:
            kinds.add(where)
            seen += "Oak" in text
            if any(marker.search(text) for marker in MARKERS):
                leaks.append(f"{page} {where}: {text[:300]}")
        for view in views:
            for where, text in rendered_markdown(view):
                kinds.add(f"{page} {where}" if page == "inspiration" else where)
                kinds.add(where)
                seen += "Oak" in text
                if any(marker.search(text) for marker in MARKERS):
                    leaks.append(f"{page} {where}: {text[:300]}")
    assert seen > 0, "the hostile names were on no page: the walk checked nothing"
    assert {"image caption", "caption", "markdown", "button.label", "metric"} <= kinds, sorted(
        kinds
    )
    assert leaks == [], "\n".join(leaks)
