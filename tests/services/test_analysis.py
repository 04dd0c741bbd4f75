"""Analysis and matching on both backend sets: what is stored, and which room each product gets."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests import factories
from visualizer_core import backends
from visualizer_core.ai.base import GenerationRequest, GenerationResult, ProductFacts
from visualizer_core.ai.local import LocalAI
from visualizer_core.errors import Forbidden, InvalidInput, NotFound, PermanentProviderError
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import analysis, products, sessions


class RefusesSomeProducts:
    """An AI backend (the AIBackend protocol) that cannot analyse products named in ``refuse``."""

    name = "refusing"
    image_model = "local-compositor-v1"
    text_model = "refusing-analysis"

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.local = LocalAI()
        self.lock = threading.Lock()
        self.analysed: list[str] = []

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        with self.lock:
            self.analysed.append(facts.name)
        if facts.name in self.refuse:
            raise PermanentProviderError(f"the provider rejected the photo of {facts.name}")
        return self.local.analyze_product(facts, images)

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        return self.local.analyze_scene(image, room_type_hint=room_type_hint)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        return self.local.generate(request)


@pytest.fixture
def world(backend: backends.Backends) -> Iterator[dict[str, object]]:
    client = factories.create_client()
    session = factories.create_session(client.id)
    yield {
        "client": client,
        "session": session,
        "products": factories.import_catalog(client.id),
        "scenes": factories.add_rooms(session.id),
    }


def test_analyze_stores_product_and_scene_analyses_once(world: dict) -> None:
    session = world["session"]
    result = analysis.analyze_session(ADMIN, session_id=session.id)
    assert result == {"products": 4, "scenes": 4, "failed": []}

    for sku, pid in world["products"].items():
        product = products.get_product(ADMIN, product_id=pid)
        stored = ProductAnalysis.model_validate(product.analysis)
        room = next(item[3] for item in factories.PIPELINE_CATALOG if item[0] == sku)
        assert room in stored.room_types, (sku, stored)
        assert stored.palette and all(c.startswith("#") for c in stored.palette)
    scenes = sessions.get_session(ADMIN, session_id=session.id).scenes
    for scene in scenes:
        stored_scene = scene.analysis
        assert stored_scene.room_type == scene.room_type
        assert stored_scene.palette

    again = analysis.analyze_session(ADMIN, session_id=session.id)
    assert again == {"products": 0, "scenes": 0, "failed": []}
    forced = analysis.analyze_session(ADMIN, session_id=session.id, force=True)
    assert (forced["products"], forced["scenes"]) == (4, 4)


def test_a_failed_analysis_is_reported_and_tried_again(world: dict) -> None:
    current = backends.current()
    refusing = RefusesSomeProducts({"Studio Writing Desk"})
    with backends.using(backends.build(current.settings, ai=refusing)) as flaky:
        result = analysis.analyze_session(ADMIN, session_id=world["session"].id)
        flaky.close()
    assert (result["products"], result["scenes"]) == (3, 4)
    [failure] = result["failed"]
    assert failure["product_id"] == str(world["products"]["DESK-1"])
    assert "Studio Writing Desk" in failure["error"]
    assert products.get_product(ADMIN, product_id=world["products"]["DESK-1"]).analysis is None

    retried = analysis.analyze_session(ADMIN, session_id=world["session"].id)
    assert retried == {"products": 1, "scenes": 0, "failed": []}


def test_match_puts_every_product_in_a_room_it_belongs_in(world: dict) -> None:
    found = analysis.match_session(ADMIN, session_id=world["session"].id)
    by_product = {m["product_id"]: m for m in found}
    assert len(by_product) == 4
    for sku, _name, _category, room, _color in factories.PIPELINE_CATALOG:
        match = by_product[str(world["products"][sku])]
        assert match["scene_id"] == world["scenes"][room], (sku, match)
        assert 0.0 <= match["score"] <= 1.0
        assert match["reason"] and not match["overridden"]
    stored = sessions.get_session(ADMIN, session_id=world["session"].id).matches
    assert {pid: m.scene_id for pid, m in stored.items()} == {
        pid: m["scene_id"] for pid, m in by_product.items()
    }


def test_match_of_some_products_only(world: dict) -> None:
    sofa = world["products"]["SOFA-1"]
    found = analysis.match_session(ADMIN, session_id=world["session"].id, product_ids=[sofa])
    assert [m["product_id"] for m in found] == [str(sofa)]
    with pytest.raises(NotFound):
        analysis.match_session(
            ADMIN,
            session_id=world["session"].id,
            product_ids=["00000000-0000-0000-0000-000000000000"],
        )


def test_an_override_is_kept_by_later_matching_until_cleared(world: dict) -> None:
    sid = world["session"].id
    sofa = str(world["products"]["SOFA-1"])
    bedroom = world["scenes"]["bedroom"]
    analysis.match_session(ADMIN, session_id=sid)

    set_by_hand = analysis.set_match(ADMIN, session_id=sid, product_id=sofa, scene_id=bedroom)
    assert set_by_hand["scene_id"] == bedroom and set_by_hand["overridden"]
    again = {m["product_id"]: m for m in analysis.match_session(ADMIN, session_id=sid)}
    assert again[sofa]["scene_id"] == bedroom
    assert again[sofa]["overridden"]

    analysis.set_match(ADMIN, session_id=sid, product_id=sofa, scene_id=None)
    back = {m["product_id"]: m for m in analysis.match_session(ADMIN, session_id=sid)}
    assert back[sofa]["scene_id"] == world["scenes"]["living_room"]
    assert not back[sofa]["overridden"]


def test_overrides_name_real_scenes_and_products_of_the_client(world: dict) -> None:
    sid = world["session"].id
    sofa = world["products"]["SOFA-1"]
    with pytest.raises(NotFound, match="scene"):
        analysis.set_match(ADMIN, session_id=sid, product_id=sofa, scene_id="no-such-scene")
    other = factories.create_client()
    foreign = factories.import_catalog(other.id, factories.PIPELINE_CATALOG[:1])["SOFA-1"]
    with pytest.raises(NotFound, match="product"):
        analysis.set_match(
            ADMIN, session_id=sid, product_id=foreign, scene_id=world["scenes"]["bedroom"]
        )


def test_matching_needs_scenes_and_the_right_client_and_role(world: dict) -> None:
    empty = factories.create_session(world["client"].id)
    with pytest.raises(InvalidInput, match="scenes"):
        analysis.match_session(ADMIN, session_id=empty.id)
    stranger = factories.member_scope(factories.create_client().id, Role.OWNER)
    with pytest.raises(NotFound):
        analysis.match_session(stranger, session_id=world["session"].id)
    viewer = factories.member_scope(world["client"].id, Role.VIEWER)
    with pytest.raises(Forbidden):
        analysis.analyze_session(viewer, session_id=world["session"].id)
    editor = factories.member_scope(world["client"].id, Role.EDITOR)
    assert len(analysis.match_session(editor, session_id=world["session"].id)) == 4


def test_analysis_uses_the_backends_of_the_thread_that_asks(world: dict) -> None:
    """A worker thread with backends of its own gets them in the analysis pool too."""
    refusing = RefusesSomeProducts({"Harbor Three-Seat Sofa"})
    own = backends.build(backends.current().settings, ai=refusing)
    results: list[dict] = []

    def worker() -> None:
        backends.activate_for_thread(own)
        results.append(analysis.analyze_session(ADMIN, session_id=world["session"].id))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(120)
    own.close()
    assert len(refusing.analysed) == 4
    assert [f["product_id"] for f in results[0]["failed"]] == [str(world["products"]["SOFA-1"])]
