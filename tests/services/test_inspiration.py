"""Inspiration: Unsplash through its stand-in, the local library, and generations as scenes."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import blurhash
import pytest
from PIL import Image

from tests import factories
from tests.plugin import backends_like
from tests.standins.unsplash_server import UnsplashStandIn
from visualizer_core import backends
from visualizer_core.errors import (
    InvalidInput,
    NotFound,
    PermanentProviderError,
    RateLimited,
    TransientProviderError,
)
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ClientScope
from visualizer_core.services import analysis, generation, inspiration, products, sessions


@pytest.fixture
def unsplash(
    backend: backends.Backends, unsplash_server: UnsplashStandIn
) -> Iterator[backends.Backends]:
    """Both backend sets, with UNSPLASH_ACCESS_KEY and UNSPLASH_API_URL set."""
    with backends_like(
        backend,
        unsplash_access_key=unsplash_server.access_key,
        unsplash_api_url=unsplash_server.base_url,
    ) as built:
        yield built


def _member() -> ClientScope:
    return factories.member_scope(factories.create_client().id)


def _query(url: str | None) -> dict[str, list[str]]:
    assert url
    return parse_qs(urlsplit(url).query)


# -- Unsplash ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("unsplash")
def test_search_with_filters_and_paging(unsplash_server: UnsplashStandIn) -> None:
    scope = _member()
    first = inspiration.search_inspiration(
        scope, client_id=scope.client_id, query="living room", per_page=2
    )
    assert first.source == "unsplash" and first.notice is None
    assert first.total == 6 and first.total_pages == 3 and len(first.photos) == 2
    second = inspiration.search_inspiration(
        scope, client_id=scope.client_id, query="living room", per_page=2, page=2
    )
    assert not {p.id for p in first.photos} & {p.id for p in second.photos}

    wide_teal = inspiration.search_inspiration(
        scope,
        client_id=scope.client_id,
        query="room",
        orientation="landscape",
        color="teal",
        per_page=30,
    )
    assert wide_teal.photos
    for photo in wide_teal.photos:
        assert photo.orientation == "landscape"
        assert photo.width and photo.height and photo.width > photo.height
    sent = unsplash_server.requests[-1]
    assert sent.key_ok
    assert sent.query == {
        "query": "room",
        "page": "1",
        "per_page": "30",
        "orientation": "landscape",
        "color": "teal",
    }


@pytest.mark.usefixtures("unsplash")
def test_results_carry_blur_hash_and_referral_attribution() -> None:
    scope = _member()
    page = inspiration.search_inspiration(scope, client_id=scope.client_id, query="bedroom")
    photo = page.photos[0]
    assert photo.blur_hash
    rows = blurhash.decode(photo.blur_hash, 32, 24)  # a placeholder picture can be drawn
    assert (len(rows), len(rows[0])) == (24, 32)
    assert photo.thumb_url and photo.color and photo.color.startswith("#")
    credit = photo.attribution
    assert credit is not None
    assert credit["text"] == f"Photo by {credit['photographer']} on Unsplash"
    for link in ("photographer_url", "photo_url", "unsplash_url"):
        query = _query(credit[link])
        assert query["utm_source"] == ["visualizer"] and query["utm_medium"] == ["referral"]
    assert credit["photographer_url"].startswith(f"https://unsplash.com/@{credit['username']}")


@pytest.mark.usefixtures("unsplash")
def test_using_a_photo_tracks_the_download_and_keeps_the_credit(
    unsplash_server: UnsplashStandIn,
) -> None:
    scope = _member()
    session = sessions.create_session(scope, client_id=scope.client_id, name="Unsplash picks")
    page = inspiration.search_inspiration(scope, client_id=scope.client_id, query="kitchen")
    chosen = page.photos[:2]
    assert unsplash_server.downloads() == []  # searching is not using

    added = inspiration.add_inspiration(
        scope, session_id=session.id, photos=chosen, room_type="Kitchen"
    )

    assert added.failed == [] and len(added.scene_ids) == 2
    assert unsplash_server.downloads() == [p.id for p in chosen]
    scenes = sessions.get_session(scope, session_id=session.id).scenes
    for scene, photo in zip(scenes, chosen, strict=True):
        assert scene.source == "unsplash" and scene.room_type == "kitchen"
        assert scene.attribution == photo.attribution
        picture = backends.current().storage.get(scene.key)
        with Image.open(io.BytesIO(picture)) as image:
            assert image.format == "JPEG" and image.width > 1000
    fetched = [r for r in unsplash_server.requests if r.kind == "image"]
    assert [r.query.get("w") for r in fetched] == ["2400", "2400"]


@pytest.mark.usefixtures("unsplash")
def test_rate_limit_is_a_clear_message(unsplash_server: UnsplashStandIn) -> None:
    scope = _member()
    unsplash_server.rate_limit = 1
    inspiration.search_inspiration(scope, client_id=scope.client_id, query="hallway")
    # The same search again is the cache's; another one needs a request, and there is none.
    inspiration.search_inspiration(scope, client_id=scope.client_id, query="hallway")
    with pytest.raises(RateLimited, match=r"request limit .* used up \(1 requests an hour\)"):
        inspiration.search_inspiration(scope, client_id=scope.client_id, query="hallway", page=2)
    assert unsplash_server.requests[-1].status == 403


@pytest.mark.usefixtures("unsplash")
def test_provider_failures_are_classified(unsplash_server: UnsplashStandIn) -> None:
    scope = _member()

    def search() -> Any:
        return inspiration.search_inspiration(scope, client_id=scope.client_id, query="patio")

    unsplash_server.fail_next("429")
    with pytest.raises(RateLimited, match="used up"):
        search()
    unsplash_server.fail_next("503")
    with pytest.raises(TransientProviderError, match="503"):
        search()
    unsplash_server.fail_next("401")
    with pytest.raises(PermanentProviderError, match="UNSPLASH_ACCESS_KEY"):
        search()
    assert search().photos  # and then it works again
    with pytest.raises(InvalidInput, match="orientation"):
        inspiration.search_inspiration(
            scope, client_id=scope.client_id, query="patio", orientation="wide"
        )
    with pytest.raises(InvalidInput, match="colour"):
        inspiration.search_inspiration(
            scope, client_id=scope.client_id, query="patio", color="beige"
        )


@pytest.mark.usefixtures("unsplash")
def test_a_failed_download_is_reported_and_the_rest_added(
    unsplash_server: UnsplashStandIn,
) -> None:
    scope = _member()
    session = sessions.create_session(scope, client_id=scope.client_id, name="Some fail")
    photos = inspiration.search_inspiration(
        scope, client_id=scope.client_id, query="dining room"
    ).photos[:2]
    unsplash_server.fail_next("500")
    added = inspiration.add_inspiration(scope, session_id=session.id, photos=photos)
    assert [f["file"] for f in added.failed] == [photos[0].id]
    assert "500" in added.failed[0]["error"]
    assert len(added.scene_ids) == 1
    assert unsplash_server.downloads() == [photos[1].id]


@pytest.mark.usefixtures("unsplash")
def test_repeated_searches_make_one_api_call(unsplash_server: UnsplashStandIn) -> None:
    """What a Streamlit page does on every rerun: the same search again, and again."""
    scope = _member()
    pages = [
        inspiration.search_inspiration(
            scope, client_id=scope.client_id, query="  Living   ROOM ", per_page=3
        )
        for _ in range(5)
    ]
    assert unsplash_server.search_calls() == 1
    assert [p.cached for p in pages] == [False, True, True, True, True]
    assert all(p.photos == pages[0].photos for p in pages)
    # Another page, filter or query is another request; each is then kept too.
    for _ in range(2):
        inspiration.search_inspiration(
            scope, client_id=scope.client_id, query="living room", per_page=3, page=2
        )
        inspiration.search_inspiration(
            scope, client_id=scope.client_id, query="living room", per_page=3, color="teal"
        )
    assert unsplash_server.search_calls() == 3


@pytest.mark.usefixtures("unsplash")
def test_one_client_cannot_tell_from_the_cache_what_another_searched(
    unsplash_server: UnsplashStandIn,
) -> None:
    """Issue 24, finding 8: client A searches a phrase; client B asks the same within the hour
    and gets a fresh answer, not A's cached one (which would say A searched it)."""
    a, b = _member(), _member()
    assert a.client_id != b.client_id
    first = inspiration.search_inspiration(a, client_id=a.client_id, query="secret launch loft")
    probe = inspiration.search_inspiration(b, client_id=b.client_id, query="secret launch loft")
    assert not first.cached and not probe.cached
    assert unsplash_server.search_calls() == 2
    again = inspiration.search_inspiration(a, client_id=a.client_id, query="secret launch loft")
    assert again.cached and unsplash_server.search_calls() == 2  # A's own rerun is still free


@pytest.mark.usefixtures("unsplash")
def test_the_quota_is_read_from_every_answer(unsplash_server: UnsplashStandIn) -> None:
    scope = _member()
    unsplash_server.rate_limit = 12
    first = inspiration.search_inspiration(scope, client_id=scope.client_id, query="kitchen")
    assert (first.rate_limit, first.rate_limit_remaining) == (12, 11) and not first.quota_low
    again = inspiration.search_inspiration(scope, client_id=scope.client_id, query="kitchen")
    assert again.cached and again.rate_limit_remaining == 11  # the last known figure
    session = sessions.create_session(scope, client_id=scope.client_id, name="Quota")
    inspiration.add_inspiration(scope, session_id=session.id, photos=first.photos[:6])
    # Six download events were six requests; the next search page knows it.
    later = inspiration.search_inspiration(scope, client_id=scope.client_id, query="bedroom")
    assert later.rate_limit_remaining == 4 and later.quota_low


@pytest.mark.usefixtures("unsplash")
def test_the_image_host_never_sees_the_key(unsplash_server: UnsplashStandIn) -> None:
    scope = _member()
    session = sessions.create_session(scope, client_id=scope.client_id, name="Keys")
    photos = inspiration.search_inspiration(scope, client_id=scope.client_id, query="patio").photos
    added = inspiration.add_inspiration(scope, session_id=session.id, photos=photos[:2])
    assert added.failed == []
    seen = unsplash_server.requests
    images = [r for r in seen if r.kind == "image"]
    assert len(images) == 2 and all(r.host == "images" for r in images)
    assert not any(r.key_sent for r in images)
    assert all(r.key_sent for r in seen if r.host == "api")
    assert urlsplit(photos[0].thumb_url or "").netloc != urlsplit(unsplash_server.base_url).netloc


@pytest.mark.redis
def test_search_pages_are_shared_through_redis(unsplash_server: UnsplashStandIn) -> None:
    """With REDIS_URL, every process reads the same cache: a second client asks nobody."""
    import redis

    from tests.servers.celery_worker import _base_redis_url, claim_redis_db
    from visualizer_core.inspiration.cache import cache_for
    from visualizer_core.inspiration.unsplash import UnsplashClient

    with claim_redis_db() as number:
        url = f"{_base_redis_url()}/{number}"
        for _ in range(2):  # two studio processes, each with its own client
            with UnsplashClient(
                unsplash_server.access_key,
                base_url=unsplash_server.base_url,
                cache=cache_for(url, "client"),
            ) as client:
                page = client.search("bedroom", cache_partition="one client")
        assert page.cached and page.rate_limit_remaining == unsplash_server.rate_limit - 1
        assert unsplash_server.search_calls() == 1
        db = redis.Redis.from_url(url)
        keys = [k.decode() for k in db.keys("client:unsplash:*")]
        assert "client:unsplash:ratelimit" in keys
        search = next(k for k in keys if k.startswith("client:unsplash:search:"))
        assert 3500 < db.ttl(search) <= 3600
        db.close()


# -- without a key: the local library -----------------------------------------------------------


def _generated_image(tmp_path: Path, scope: ClientScope) -> tuple[uuid.UUID, uuid.UUID]:
    """A session with a living-room scene and one completed image of 'Harbour sofa'."""
    rows = [{"sku": "SOFA-1", "name": "Harbour sofa", "category": "sofa", "image": "s.jpg"}]
    path = factories.write_catalog(tmp_path, rows, {"s.jpg": factories.product_photo()})
    assert products.import_products(scope, client_id=scope.client_id, csv_path=path).failed == 0
    session = sessions.create_session(scope, client_id=scope.client_id, name="Spring")
    sessions.add_scenes(
        scope,
        session_id=session.id,
        files=[("lounge.jpg", factories.scene_photo())],
        room_type="Living Room",
    )
    analysis.match_session(scope, session_id=session.id)
    flow = generation.generate(scope, session_id=session.id, settings=FlowSettings())
    generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=60)
    return session.id, flow.image_ids[0]


@pytest.mark.usefixtures("backend")
def test_without_a_key_search_falls_back_to_the_library(tmp_path: Path) -> None:
    scope = _member()
    session_id, image_id = _generated_image(tmp_path, scope)

    page = inspiration.search_inspiration(scope, client_id=scope.client_id, query="lounge")
    assert page.source == "library" and page.notice and "UNSPLASH_ACCESS_KEY" in page.notice
    sources = [p.source for p in page.photos]
    assert sources[0] == "session"  # the client's own scene first
    assert "demo" in sources
    assert page.photos[0].ref == {
        "session_id": str(session_id),
        "scene_id": sessions.get_session(scope, session_id=session_id).scenes[0].id,
    }
    by_product = inspiration.search_inspiration(scope, client_id=scope.client_id, query="harbour")
    assert [(p.source, p.ref) for p in by_product.photos] == [
        ("generation", {"image_id": str(image_id)})
    ]
    everything = inspiration.search_inspiration(
        scope, client_id=scope.client_id, query="", per_page=2
    )
    assert everything.total == 1 + 1 + 5 and everything.total_pages == 4
    portrait = inspiration.search_inspiration(
        scope, client_id=scope.client_id, query="bedroom", orientation="portrait"
    )
    assert portrait.photos == []  # the drawn bedroom is landscape


@pytest.mark.usefixtures("backend")
def test_library_photos_become_scenes_with_their_credit(tmp_path: Path) -> None:
    scope = _member()
    _session_id, image_id = _generated_image(tmp_path, scope)
    target = sessions.create_session(scope, client_id=scope.client_id, name="Next")
    found = inspiration.search_inspiration(scope, client_id=scope.client_id, query="living room")
    picks = [p for p in found.photos if p.source in ("session", "demo")][:2]
    generated = inspiration.search_inspiration(scope, client_id=scope.client_id, query="harbour")
    picks.append(generated.photos[0])

    added = inspiration.add_inspiration(scope, session_id=target.id, photos=picks)

    assert added.failed == [] and len(added.scene_ids) == 3
    scenes = sessions.get_session(scope, session_id=target.id).scenes
    assert [s.source for s in scenes] == ["library", "demo", "generation"]
    assert all(s.room_type == "living_room" for s in scenes)
    assert scenes[2].attribution["generated_image_id"] == str(image_id)


@pytest.mark.usefixtures("backend")
def test_another_clients_library_is_out_of_reach(tmp_path: Path) -> None:
    owner = _member()
    _generated_image(tmp_path, owner)
    stranger = _member()
    theirs = inspiration.search_inspiration(owner, client_id=owner.client_id, query="lounge")
    session_photo = next(p for p in theirs.photos if p.source == "session")
    mine = sessions.create_session(stranger, client_id=stranger.client_id, name="Mine")

    added = inspiration.add_inspiration(stranger, session_id=mine.id, photos=[session_photo])

    assert added.scene_ids == [] and "not found" in added.failed[0]["error"]
    found = inspiration.search_inspiration(stranger, client_id=stranger.client_id, query="lounge")
    assert {p.source for p in found.photos} == {"demo"}


# -- earlier generations as inspiration ---------------------------------------------------------


@pytest.mark.usefixtures("backend")
def test_a_generation_becomes_the_scene_of_a_new_session(tmp_path: Path) -> None:
    scope = _member()
    _session_id, image_id = _generated_image(tmp_path, scope)

    made = inspiration.generation_as_scene(scope, image_id=image_id)

    assert made.created_session
    session = sessions.get_session(scope, session_id=made.session_id)
    assert session.name == "Inspired by Harbour sofa"
    [scene] = session.scenes
    assert scene.id == made.scene_id and scene.source == "generation"
    assert scene.room_type == "living_room"
    assert scene.attribution["generated_image_id"] == str(image_id)
    with Image.open(io.BytesIO(backends.current().storage.get(scene.key))) as picture:
        assert picture.format == "JPEG"

    again = inspiration.generation_as_scene(scope, image_id=image_id, session_id=made.session_id)
    assert not again.created_session and again.session_id == made.session_id
    assert len(sessions.get_session(scope, session_id=made.session_id).scenes) == 2

    # The new session is a working one: its scene is analysed and matched like any other.
    matches = analysis.match_session(scope, session_id=made.session_id)
    assert [m["scene_id"] for m in matches] in ([made.scene_id], [again.scene_id])


@pytest.mark.usefixtures("backend")
def test_only_a_finished_image_of_ones_own_client_can_inspire(tmp_path: Path) -> None:
    scope = _member()
    _session_id, image_id = _generated_image(tmp_path, scope)
    with pytest.raises(NotFound):
        inspiration.generation_as_scene(_member(), image_id=image_id)
    viewer = factories.member_scope(scope.client_id, "viewer")
    with pytest.raises(Exception, match="viewer"):
        inspiration.generation_as_scene(viewer, image_id=image_id)
    session = sessions.create_session(scope, client_id=scope.client_id, name="Pending")
    sessions.add_scenes(scope, session_id=session.id, files=[("r.jpg", factories.scene_photo())])
    analysis.match_session(scope, session_id=session.id)
    flow = generation.generate(scope, session_id=session.id, dispatch=False)
    with pytest.raises(InvalidInput, match="pending"):
        inspiration.generation_as_scene(scope, image_id=flow.image_ids[0])
