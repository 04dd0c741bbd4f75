"""Review page and the fidelity gate, under AppTest: the measured signals and reasons under
the picture, quick reject reasons, the images approved by rule with their spot check, and
the one-step undo."""

from __future__ import annotations

import uuid

from streamlit.testing.v1 import AppTest

from tests import factories
from tests.studio.conftest import Studio, button, generate_and_wait, signed_in, texts
from visualizer_core import backends
from visualizer_core.db.models import GeneratedImage
from visualizer_core.scope import ADMIN
from visualizer_core.services import review


def open_review(studio: Studio, role: str = "editor") -> AppTest:
    return signed_in(studio.emails[role], page="review", session_id=studio.session_id)


def test_the_page_shows_what_was_measured_and_keeps_a_reject_reason(studio: Studio) -> None:
    generate_and_wait(studio)
    app = open_review(studio)
    shown = uuid.UUID(str(app.session_state["review.current"]))
    page = texts(app)
    assert "What was measured:" in page
    [item] = [
        i for i in review.review_queue(ADMIN, session_id=studio.session_id).items if i.id == shown
    ]
    assert item.reasons[0] in page  # e.g. "the product matches its photo: ΔE 3, ..."
    assert "product pixels composited from the photo" in page  # the compositor's own pixels
    assert "The fidelity gate:" in page and "auto-approve" in page  # what the threshold rests on

    button(app, "Product changed").click().run()
    assert not app.exception
    after = {i.id: i for i in review.review_queue(ADMIN, session_id=studio.session_id).items}
    assert after[shown].review_state == "rejected"
    assert after[shown].reject_reason == "product changed"  # the decision is a label
    assert uuid.UUID(str(app.session_state["review.current"])) != shown  # moved on


def test_the_rules_approvals_are_a_group_with_a_spot_check_and_one_undo(studio: Studio) -> None:
    generate_and_wait(studio)
    made = review.approve_by_rule(
        studio.scope("editor"), session_id=studio.session_id, min_fidelity=0.0
    )
    assert made == 3
    app = open_review(studio)
    page = texts(app)
    assert "Approved by rule: 3" in page
    assert "1 of them drawn for a spot check" in page
    queue = review.review_queue(ADMIN, session_id=studio.session_id)
    [sampled] = queue.spot_checks()
    assert uuid.UUID(str(app.session_state["review.current"])) == sampled.id  # shown first
    assert "spot check" in page and "Approved by rule" in page  # its badge

    button(app, "Undo the 3 approval(s) by rule").click().run()
    assert not app.exception
    assert "Undone: 3 approval(s) by rule are open again." in [str(t.value) for t in app.toast]
    assert review.review_queue(ADMIN, session_id=studio.session_id).reviewed == 0
    assert "No image is approved by rule in this session." in texts(app)


def test_approving_what_the_gate_trusts_shows_the_images_and_asks_first(
    studio: Studio, embedded: backends.Backends
) -> None:
    ids = generate_and_wait(studio)
    with embedded.transaction() as db:
        made = [db.get(GeneratedImage, i) for i in ids]
        db.expunge_all()
    factories.team_decisions(embedded, studio.client_id, made)
    trusted = review.trusted(ADMIN, session_id=studio.session_id)
    assert trusted

    app = open_review(studio)
    app.button(key="review.gate_run").click().run()
    assert not app.exception
    assert f"**{len(trusted)} image(s)** nobody decided yet" in texts(app)
    assert review.review_queue(ADMIN, session_id=studio.session_id).reviewed == 0  # asked only
    app.button(key="review.gate_confirm").click().run()
    assert not app.exception
    assert review.review_queue(ADMIN, session_id=studio.session_id).reviewed == len(trusted)
    app.button(key="review.undo").click().run()  # Z takes the run back
    assert not app.exception
    assert review.review_queue(ADMIN, session_id=studio.session_id).reviewed == 0
