"""Review on both backend sets: the doubtful first, decisions as made, variants, bulk rules."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests import factories
from tests.plugin import wait_until
from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import GeneratedImage
from visualizer_core.errors import Forbidden, InvalidInput, QuotaExceeded
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.services import analysis, clients, gallery, generation, jobs, review
from visualizer_core.services.review import DOUBTFUL_BELOW

CATALOG = (
    ("SOFA-R", "Linen Sofa", "sofa", "living_room", (90, 60, 60)),
    ("BED-R", "Haven Bed", "bed", "bedroom", (150, 120, 160)),
    ("DESK-R", "Writing Desk", "desk", "home_office", (120, 85, 60)),
)


@pytest.fixture
def made(backend: backends.Backends) -> Iterator[dict[str, Any]]:
    """Three products, two variants each: five completed (scores set by hand), one failed."""
    client = factories.create_client(daily_quota=50)
    session = factories.create_session(client.id)
    products = factories.import_catalog(client.id, CATALOG)
    factories.add_rooms(session.id)
    analysis.match_session(ADMIN, session_id=session.id)
    flow = generation.generate(
        ADMIN,
        session_id=session.id,
        dispatch=False,
        settings=generation.FlowSettings(variants=2),
    )
    with backend.transaction() as db:
        rows = repo.images_of_flow(db, flow.flow_id)
        by = {(r.product_id, r.variant): r.id for r in rows}
    failed = by[(products["DESK-R"], 1)]
    for image_id in flow.image_ids:
        if image_id != failed:
            assert generation.process_image(image_id, worker_id="test") == "completed"
    scores = {
        (products["SOFA-R"], 0): 0.95,
        (products["SOFA-R"], 1): 0.40,  # doubtful
        (products["BED-R"], 0): None,  # the judgement has not answered yet
        (products["BED-R"], 1): 0.82,
        (products["DESK-R"], 0): 0.55,  # doubtful, above the sofa's
    }
    with backend.transaction() as db:
        for key, score in scores.items():
            repo.update_images(db, [by[key]], fidelity_score=score)
        repo.update_image(
            db, failed, expect_status="pending", status="error", error_message="refused"
        )
    owner = clients.create_user(
        ADMIN, email=f"o-{uuid.uuid4().hex[:6]}@x.test", client_id=client.id, role="owner"
    )
    editor = clients.create_user(
        ADMIN, email=f"e-{uuid.uuid4().hex[:6]}@x.test", client_id=client.id, role="editor"
    )
    yield {
        "client": client,
        "session": session,
        "products": products,
        "by": by,
        "failed": failed,
        "owner": ClientScope(client_id=client.id, role=Role.OWNER, user_id=owner.id),
        "editor": ClientScope(client_id=client.id, role=Role.EDITOR, user_id=editor.id),
        "viewer": ClientScope(client_id=client.id, role=Role.VIEWER),
    }


def test_the_doubtful_come_first_then_unscored_then_the_rest(made: dict[str, Any]) -> None:
    p, by = made["products"], made["by"]
    queue = review.review_queue(made["owner"], session_id=made["session"].id)

    # Products by their most doubtful image, each product's images together (doubtful first).
    assert [i.id for i in queue.items] == [
        by[(p["SOFA-R"], 1)],  # 0.40
        by[(p["SOFA-R"], 0)],  # 0.95, beside its other variant
        by[(p["DESK-R"], 0)],  # 0.55
        by[(p["BED-R"], 0)],  # not scored yet: its own group
        by[(p["BED-R"], 1)],  # 0.82
    ]
    assert [i.group for i in queue.items] == ["doubtful", "rest", "doubtful", "unscored", "rest"]
    assert all(
        i.fidelity_score is None or i.group != "doubtful" or i.fidelity_score < DOUBTFUL_BELOW
        for i in queue.items
    )
    assert [e.id for e in queue.errors] == [made["failed"]]
    assert (queue.reviewed, queue.total) == (0, 5)
    first = queue.items[0]
    assert first.sku == "SOFA-R" and first.product_preview_key and first.scene_key
    assert first.match_reason  # the matching reason is shown under the picture


def test_pictures_reach_the_browser_by_url(
    made: dict[str, Any], backend: backends.Backends
) -> None:
    queue = review.review_queue(made["owner"], session_id=made["session"].id)
    urls = review.pictures(queue.items[0])
    assert set(urls) == {"image", "product", "scene"}
    for url in urls.values():
        if url.startswith("data:"):
            assert backend.storage.name == "local"
        else:  # presigned on the S3 server: the browser fetches it without the studio
            assert httpx.get(url).status_code == 200
    assert review.pictures(queue.items[0]) == urls  # the same addresses on the next run


def test_decisions_are_saved_and_reopening_resumes(made: dict[str, Any]) -> None:
    editor, sid = made["editor"], made["session"].id
    queue = review.review_queue(editor, session_id=sid)
    first, second, third = queue.items[:3]
    review.decide(editor, image_id=first.id, decision="approved")
    review.decide(editor, image_id=second.id, decision="rejected")
    review.remember_position(editor, session_id=sid, image_id=third.id)

    again = review.review_queue(editor, session_id=sid)
    assert again.reviewed == 2
    assert again.start() == again.items[2]  # where this member stopped
    assert [i.review_state for i in again.items[:2]] == ["approved", "rejected"]
    # Another member has their own place: the first undecided image.
    owner_view = review.review_queue(made["owner"], session_id=sid)
    assert owner_view.start().id == third.id


def test_two_members_the_later_decision_wins_and_the_other_sees_it(made: dict[str, Any]) -> None:
    editor, owner, sid = made["editor"], made["owner"], made["session"].id
    queue = review.review_queue(editor, session_id=sid)
    target, after = queue.items[0], queue.items[1]
    review.decide(editor, image_id=target.id, decision="approved")
    review.decide(owner, image_id=target.id, decision="rejected")  # later: wins
    review.decide(owner, image_id=after.id, decision="approved")

    seen = review.review_queue(editor, session_id=sid)
    assert seen.items[0].review_state == "rejected"
    assert seen.items[1].review_state == "approved"  # the owner's decision, on the next image
    assert seen.next_undecided(target.id) == seen.items[2]  # auto-advance skips it


def test_viewers_cannot_decide(made: dict[str, Any]) -> None:
    viewer, sid = made["viewer"], made["session"].id
    item = review.review_queue(viewer, session_id=sid).items[0]
    for call in (
        lambda: review.decide(viewer, image_id=item.id, decision="approved"),
        lambda: review.set_favourite(viewer, image_id=item.id, favourite=True),
        lambda: review.pick_variant(viewer, image_id=item.id),
        lambda: review.approve_by_rule(viewer, session_id=sid, min_fidelity=0.5),
        lambda: review.rerun_with_note(viewer, image_id=item.id, note="brighter"),
        lambda: review.rerun_errors(viewer, session_id=sid),
    ):
        with pytest.raises(Forbidden):
            call()
    assert review.review_queue(viewer, session_id=sid).reviewed == 0
    assert review.approve_by_rule(viewer, session_id=sid, min_fidelity=0.5, dry_run=True) == 3


def test_pick_this_one_approves_it_and_rejects_the_other_variants(made: dict[str, Any]) -> None:
    p, by, editor = made["products"], made["by"], made["editor"]
    chosen = by[(p["SOFA-R"], 1)]
    assert review.pick_variant(editor, image_id=chosen) == 2
    queue = review.review_queue(editor, session_id=made["session"].id)
    states = {i.id: i.review_state for i in queue.items}
    assert states[chosen] == "approved"
    assert states[by[(p["SOFA-R"], 0)]] == "rejected"
    assert states[by[(p["BED-R"], 0)]] == "none"  # another product: untouched
    assert [v.id for v in queue.variants(queue.items[0])] == [by[(p["SOFA-R"], 0)], chosen]


def test_bulk_approve_rule_counts_first_and_spares_the_rejected(made: dict[str, Any]) -> None:
    p, by, editor, sid = made["products"], made["by"], made["editor"], made["session"].id
    review.decide(editor, image_id=by[(p["SOFA-R"], 0)], decision="rejected")  # 0.95, rejected
    assert review.approve_by_rule(editor, session_id=sid, min_fidelity=0.8, dry_run=True) == 1
    assert review.review_queue(editor, session_id=sid).reviewed == 1  # the count changed nothing
    assert review.approve_by_rule(editor, session_id=sid, min_fidelity=0.8) == 1
    states = {i.id: i.review_state for i in review.review_queue(editor, session_id=sid).items}
    assert states[by[(p["BED-R"], 1)]] == "approved"
    assert states[by[(p["SOFA-R"], 0)]] == "rejected"
    assert states[by[(p["BED-R"], 0)]] == "none"  # unscored: no rule decides it
    with pytest.raises(InvalidInput):
        review.approve_by_rule(editor, session_id=sid, min_fidelity=1.5)


def test_a_rejection_keeps_its_reason_as_a_persons_label(
    made: dict[str, Any], backend: backends.Backends
) -> None:
    p, by, editor, sid = made["products"], made["by"], made["editor"], made["session"].id
    image_id = by[(p["SOFA-R"], 1)]
    review.decide(editor, image_id=image_id, decision="rejected", reason="product changed")
    [item] = [i for i in review.review_queue(editor, session_id=sid).items if i.id == image_id]
    assert (item.review_state, item.reject_reason, item.decided_by) == (
        "rejected",
        "product changed",
        "person",
    )
    with backend.transaction() as db:  # the row is the label
        row = repo.get(db, GeneratedImage, image_id, client_id=None)
        assert row is not None and row.reject_reason == "product changed"
    with pytest.raises(InvalidInput, match="with a rejection only"):
        review.decide(editor, image_id=image_id, decision="approved", reason="wrong room")
    with pytest.raises(InvalidInput, match="at most 40 characters"):
        review.decide(editor, image_id=image_id, decision="rejected", reason="x" * 41)
    review.decide(editor, image_id=image_id, decision="approved")  # changed their mind
    [item] = [i for i in review.review_queue(editor, session_id=sid).items if i.id == image_id]
    assert (item.review_state, item.reject_reason) == ("approved", None)


def test_rule_approvals_are_marked_sampled_and_undone_in_one_step(made: dict[str, Any]) -> None:
    p, by, editor, sid = made["products"], made["by"], made["editor"], made["session"].id
    assert review.approve_by_rule(editor, session_id=sid, min_fidelity=0.5) == 3
    queue = review.review_queue(editor, session_id=sid)
    ruled = {i.id for i in queue.by_rule()}
    assert ruled == {by[(p["SOFA-R"], 0)], by[(p["BED-R"], 1)], by[(p["DESK-R"], 0)]}
    assert all(i.decided_by == "rule" and i.review_state == "approved" for i in queue.by_rule())
    [sampled] = queue.spot_checks()  # a tenth of three, at least one
    assert sampled.group == "spotcheck" and queue.items[0].id == sampled.id  # shown first
    assert queue.start() is not None and queue.start().id == sampled.id  # type: ignore[union-attr]
    assert {i.group for i in queue.by_rule() if i.id != sampled.id} == {"byrule"}

    # A person confirms one approval; the undo takes back only the rule's own.
    kept = next(iter(ruled - {sampled.id}))
    review.decide(editor, image_id=kept, decision="approved")
    assert review.undo_rule(editor, session_id=sid) == 2
    after = {i.id: i for i in review.review_queue(editor, session_id=sid).items}
    assert after[kept].review_state == "approved" and after[kept].decided_by == "person"
    for image_id in ruled - {kept}:
        assert after[image_id].review_state == "none" and after[image_id].decided_by is None
        assert not after[image_id].spot_check
    assert review.undo_rule(editor, session_id=sid) == 0  # nothing left to undo
    with pytest.raises(Forbidden):
        review.undo_rule(made["viewer"], session_id=sid)


def test_reject_and_rerun_every_error(made: dict[str, Any], backend: backends.Backends) -> None:
    editor, sid = made["editor"], made["session"].id
    assert review.rerun_errors(editor, session_id=sid, dry_run=True) == 1
    assert review.rerun_errors(editor, session_id=sid, note="simpler") == 1
    with backend.transaction() as db:
        (remake,) = repo.reruns_of(db, made["failed"])
        assert remake.product_id == made["products"]["DESK-R"]
        assert (
            repo.get(db, GeneratedImage, made["failed"], client_id=None).review_state == "rejected"
        )
    assert review.rerun_errors(editor, session_id=sid, dry_run=True) == 0  # not twice


def test_rerun_with_a_note_rejects_and_remakes_in_the_same_scene(
    made: dict[str, Any], backend: backends.Backends
) -> None:
    editor = made["editor"]
    item = review.review_queue(editor, session_id=made["session"].id).items[0]
    new_id = review.rerun_with_note(editor, image_id=item.id, note="keep the legs wooden")
    generation.process_image(new_id, worker_id="test")  # or the queue's worker made it first
    wait_until(lambda: jobs.image_status(new_id) == "completed", 60, "the re-run to complete")
    with backend.transaction() as db:
        new = repo.get(db, GeneratedImage, new_id, client_id=None)
        assert new is not None and new.rerun_of_id == item.id and new.scene_id == item.scene_id
        assert "keep the legs wooden" in (new.prompt or "")
    versions = review.lineage(editor, image_id=new_id)
    assert [v.id for v in versions] == [new_id, item.id]
    assert "prompt" in versions[0].changes and "seed" in versions[0].changes
    assert (
        review.review_queue(editor, session_id=made["session"].id).items[0].review_state
        == "rejected"
    )
    with pytest.raises(InvalidInput, match="note is empty"):
        review.rerun_with_note(editor, image_id=item.id, note="   ")


def test_a_rerun_the_quota_cannot_take_changes_nothing(
    made: dict[str, Any], backend: backends.Backends
) -> None:
    clients.set_daily_quota(ADMIN, client_id=made["client"].id, daily_quota=0)
    editor = made["editor"]
    item = review.review_queue(editor, session_id=made["session"].id).items[0]
    with pytest.raises(QuotaExceeded):
        review.rerun_with_note(editor, image_id=item.id, note="brighter")
    assert (
        review.review_queue(editor, session_id=made["session"].id).items[0].review_state == "none"
    )


def test_gallery_cards_carry_their_thumbnail_url(made: dict[str, Any]) -> None:
    page = gallery.list_images(made["viewer"], session_id=made["session"].id)
    assert page.cards and all(c.thumbnail_url for c in page.cards if c.thumbnail_key)


def test_the_queue_is_read_while_a_worker_writes(embedded: backends.Backends) -> None:
    """On SQLite a listing does not wait behind a writer (a worker's sweep, a decision)."""
    session = factories.create_session(factories.create_client().id)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with embedded.transaction() as db:
            db.execute(text("UPDATE client SET name = name"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    holding.wait(10)
    try:
        started = time.monotonic()
        queue = review.review_queue(ADMIN, session_id=session.id)
        gallery.list_images(ADMIN, session_id=session.id)
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
    assert queue.total == 0 and waited < 5  # not the 30 s busy timeout behind the writer
