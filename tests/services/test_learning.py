"""The brand teaches the matcher: placements in one session change the matches of the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import factories
from visualizer_core import backends, learning
from visualizer_core.errors import Forbidden, NotFound
from visualizer_core.schemas import ProductAnalysis
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import analysis, sessions
from visualizer_core.services import learning as taught

DESKS = tuple(
    (f"DESK-{n}", f"{name} Writing Desk", "desk", "home_office", (110 + 10 * n, 85, 60))
    for n, name in enumerate(("Studio", "Harbor", "Linden", "Maple", "Cedar"), start=1)
)
ROOMS = ("home_office", "bedroom", "living_room")


@pytest.fixture
def brand(backend: backends.Backends) -> Iterator[dict[str, object]]:
    client = factories.create_client()
    yield {"client": client, "desks": factories.import_catalog(client.id, DESKS)}


def _session(client_id: object) -> tuple[object, dict[str, str]]:
    session = factories.create_session(client_id)  # type: ignore[arg-type]
    return session.id, factories.add_rooms(session.id, ROOMS)


def _rooms_of(session_id: object, scenes: dict[str, str]) -> dict[str, tuple[str, dict]]:
    room_of = {sid: room for room, sid in scenes.items()}
    return {
        m["product_id"]: (room_of[m["scene_id"]], m)
        for m in analysis.match_session(ADMIN, session_id=session_id)
    }


def test_two_placements_in_one_session_move_the_rest_of_the_category_in_the_next(
    brand: dict,
) -> None:
    client = brand["client"]
    desks = [str(brand["desks"][sku]) for sku, *_ in DESKS]
    first, scenes = _session(client.id)
    before = _rooms_of(first, scenes)
    assert {room for room, _ in before.values()} == {"home_office"}

    editor = factories.member_scope(client.id, Role.EDITOR)
    analysis.set_match(editor, session_id=first, product_id=desks[0], scene_id=scenes["bedroom"])
    # One placement could be a choice for that desk alone: nothing is taught yet.
    second, scenes2 = _session(client.id)
    assert {room for room, _ in _rooms_of(second, scenes2).values()} == {"home_office"}

    analysis.set_match(editor, session_id=first, product_id=desks[1], scene_id=scenes["bedroom"])
    third, scenes3 = _session(client.id)
    after = _rooms_of(third, scenes3)
    for pid in desks:
        room, match = after[pid]
        assert room == "bedroom", (pid, match)
        assert match["learned"] is True
        assert match["reason"].startswith("your team put 2 of 2 desks in the bedroom"), match
    stored = sessions.get_session(ADMIN, session_id=third).matches
    assert all(stored[pid].learned for pid in desks)

    [lesson] = taught.taught_rooms(
        factories.member_scope(client.id, Role.VIEWER), client_id=client.id
    )
    assert lesson["category"] == "desk" and lesson["room"] == "bedroom"
    assert lesson["placed"] == {"bedroom": 2}


def test_a_placement_taken_back_is_no_longer_counted(brand: dict) -> None:
    client = brand["client"]
    desks = [str(brand["desks"][sku]) for sku, *_ in DESKS]
    first, scenes = _session(client.id)
    analysis.match_session(ADMIN, session_id=first)
    for pid in desks[:2]:
        analysis.set_match(ADMIN, session_id=first, product_id=pid, scene_id=scenes["bedroom"])
    # The second desk is moved on to the living room, then handed back to matching.
    analysis.set_match(ADMIN, session_id=first, product_id=desks[1], scene_id=scenes["living_room"])
    analysis.set_match(ADMIN, session_id=first, product_id=desks[1], scene_id=None)
    [lesson] = taught.taught_rooms(ADMIN, client_id=client.id)
    assert lesson["placed"] == {"bedroom": 1} and lesson["room"] is None


def test_approvals_in_review_teach_and_an_owner_resets_what_was_learned(brand: dict) -> None:
    from visualizer_core.services import generation, review

    client = brand["client"]
    desks = [str(brand["desks"][sku]) for sku, *_ in DESKS]
    first, scenes = _session(client.id)
    analysis.match_session(ADMIN, session_id=first)
    for pid in desks[:2]:
        analysis.set_match(ADMIN, session_id=first, product_id=pid, scene_id=scenes["bedroom"])
    flow = generation.generate(ADMIN, session_id=first, product_ids=desks[:2])
    generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=120)
    for image_id in flow.image_ids:
        review.decide(ADMIN, image_id=image_id, decision="approved")
    [lesson] = taught.taught_rooms(ADMIN, client_id=client.id)
    assert lesson["placed"] == {"bedroom": 4}
    # Changing one's mind takes the approval back.
    review.decide(ADMIN, image_id=flow.image_ids[0], decision="rejected")
    [lesson] = taught.taught_rooms(ADMIN, client_id=client.id)
    assert lesson["placed"] == {"bedroom": 3}
    # A rejection for the wrong room counts against the room, once however often it is said.
    for _ in range(2):
        review.decide(ADMIN, image_id=flow.image_ids[0], decision="rejected", reason="wrong room")
    [lesson] = taught.taught_rooms(ADMIN, client_id=client.id)
    assert (lesson["placed"], lesson["refused"]) == ({"bedroom": 3}, {"bedroom": 1})
    review.decide(ADMIN, image_id=flow.image_ids[0], decision="none")
    [lesson] = taught.taught_rooms(ADMIN, client_id=client.id)
    assert lesson["refused"] == {}

    editor = factories.member_scope(client.id, Role.EDITOR)
    with pytest.raises(Forbidden):
        taught.forget_taught_rooms(editor, client_id=client.id)
    with pytest.raises(NotFound):
        taught.forget_taught_rooms(ADMIN, client_id=client.id, category="sofa")
    owner = factories.member_scope(client.id, Role.OWNER)
    assert taught.forget_taught_rooms(owner, client_id=client.id, category="desk") == 1
    assert taught.taught_rooms(owner, client_id=client.id) == []
    second, scenes2 = _session(client.id)
    after = _rooms_of(second, scenes2)
    assert {room for room, _ in after.values()} == {"home_office"}
    assert not any(match["learned"] for _, match in after.values())


def test_what_one_client_taught_does_not_reach_another(brand: dict) -> None:
    client = brand["client"]
    desks = [str(brand["desks"][sku]) for sku, *_ in DESKS]
    first, scenes = _session(client.id)
    analysis.match_session(ADMIN, session_id=first)
    for pid in desks[:3]:
        analysis.set_match(ADMIN, session_id=first, product_id=pid, scene_id=scenes["bedroom"])
    other = factories.create_client()
    factories.import_catalog(other.id, DESKS)
    theirs, their_scenes = _session(other.id)
    assert {room for room, _ in _rooms_of(theirs, their_scenes).values()} == {"home_office"}
    assert taught.taught_rooms(ADMIN, client_id=other.id) == []


# -- the counting rules, without a database ------------------------------------------------------


def _desk(rooms: list[str]) -> ProductAnalysis:
    return ProductAnalysis(category="desk", room_types=rooms)


def test_a_room_is_taught_after_two_agreeing_placements_and_not_on_a_tie() -> None:
    settings: dict = {}
    settings = learning.count(settings, category="desk", room="bedroom", placed=1)
    assert learning.lessons(settings)["desk"].room is None
    settings = learning.count(settings, category="desk", room="bedroom", placed=1)
    assert learning.lessons(settings)["desk"].room == "bedroom"
    settings = learning.count(settings, category="desk", room="living_room", placed=2)
    assert learning.lessons(settings)["desk"].room is None  # two rooms equally taught
    settings = learning.count(settings, category="desk", room="living_room", refused=1)
    lesson = learning.lessons(settings)["desk"]
    assert lesson.room == "bedroom"
    assert lesson.sentence() == "your team put 2 of 4 desks in the bedroom"


def test_a_taught_room_goes_first_and_refused_rooms_last() -> None:
    settings = learning.count({}, category="desk", room="bedroom", placed=2)
    settings = learning.count(settings, category="desk", room="home_office", refused=1)
    lesson = learning.taught(learning.lessons(settings), _desk(["home_office", "living_room"]))
    moved = learning.apply(_desk(["home_office", "living_room"]), lesson)
    assert moved.room_types == ["bedroom", "living_room", "home_office"]


def test_unknown_rooms_and_uncategorised_products_teach_nothing() -> None:
    assert learning.count({}, category="desk", room="moon_base", placed=1) == {}
    assert learning.count({}, category="other", room="bedroom", placed=1) == {}
    assert learning.lessons({learning.SETTING: "garbage"}) == {}
