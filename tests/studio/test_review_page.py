"""Review page under AppTest: the counter, decisions and auto-advance, resume, roles, variants,
bulk rules, lineage, delivery presets, and names shown as plain text."""

from __future__ import annotations

import io
import re
import uuid
import zipfile

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from streamlit_app.common import plain
from tests.studio.conftest import (
    APP,
    PASSWORD,
    TIMEOUT,
    Studio,
    errors,
    frame,
    generate_and_wait,
    signed_in,
    texts,
)
from tests.studio.conftest import shown as shown_text
from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import Flow
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import analysis, auth, export, generation, review, sessions


@pytest.fixture
def finished(studio: Studio) -> list[uuid.UUID]:
    return generate_and_wait(studio)


def toasts(app: AppTest) -> list[str]:
    return [shown_text(t.value) for t in app.toast]


def counter(app: AppTest) -> str:
    return str(app.get("progress")[0].proto.text)


def shown(app: AppTest) -> uuid.UUID:
    return uuid.UUID(str(app.session_state["review.current"]))


def open_review(studio: Studio, role: str = "editor") -> AppTest:
    return signed_in(studio.emails[role], page="review", session_id=studio.session_id)


def test_the_doubtful_first_and_each_decision_moves_on(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    queue = review.review_queue(studio.scope("editor"), session_id=studio.session_id)
    app = open_review(studio)
    assert counter(app) == "**0 of 3 reviewed**"
    assert shown(app) == queue.items[0].id  # the lowest fidelity first
    assert len(app.image) >= 3  # the image, its product photo and its scene
    assert all(str(i.proto.imgs[0].url).startswith("data:image/") for i in app.image)

    app.button(key="review.approve").click().run()
    assert not app.exception
    assert counter(app) == "**1 of 3 reviewed**"
    assert shown(app) == queue.items[1].id  # auto-advance
    app.button(key="review.reject").click().run()
    assert counter(app) == "**2 of 3 reviewed**"
    app.button(key="review.favourite").click().run()
    app.button(key="review.prev").click().run()
    assert shown(app) == queue.items[1].id
    assert "Rejected" in texts(app)

    states = {
        i.id: (i.review_state, i.favourite)
        for i in review.review_queue(ADMIN, session_id=studio.session_id).items
    }
    assert states[queue.items[0].id] == ("approved", False)
    assert states[queue.items[1].id] == ("rejected", False)
    assert states[queue.items[2].id] == ("none", True)

    # Reopening (a new browser session) resumes where this member stopped.
    again = open_review(studio)
    assert shown(again) == queue.items[2].id
    assert counter(again) == "**2 of 3 reviewed**"


def test_a_decision_by_another_member_shows_on_the_next_image(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    queue = review.review_queue(ADMIN, session_id=studio.session_id)
    app = open_review(studio, "editor")
    review.decide(studio.scope("owner"), image_id=queue.items[1].id, decision="rejected")
    app.button(key="review.approve").click().run()
    assert counter(app) == "**2 of 3 reviewed**"  # the owner's decision counts
    assert shown(app) == queue.items[2].id  # and auto-advance skips what they decided
    app.button(key="review.prev").click().run()
    assert "Rejected" in texts(app)


def test_viewers_look_but_do_not_decide(studio: Studio, finished: list[uuid.UUID]) -> None:
    app = open_review(studio, "viewer")
    keys = {b.key for b in app.button}
    assert {"review.prev", "review.next", "review.lineage"} <= keys
    assert not keys & {"review.approve", "review.reject", "review.rule_run", "review.rerun"}
    assert "deciding is for editors and owners" in texts(app)
    before = shown(app)
    app.button(key="review.next").click().run()
    assert shown(app) != before


def test_variants_side_by_side_and_pick_this_one(studio: Studio) -> None:
    assert studio.session_id is not None
    sofa = studio.product_ids["SOFA-1"]
    flow = generation.generate(
        studio.scope("editor"),
        session_id=studio.session_id,
        product_ids=[sofa],
        settings=FlowSettings(variants=3),
    )
    generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=120)
    app = open_review(studio)
    pick = [b for b in app.button if (b.key or "").startswith("review.pick.")]
    assert len(pick) == 3 and "Variants of SOFA-1" in texts(app)
    chosen = uuid.UUID(str(pick[1].key).rsplit(".", 1)[1])
    pick[1].click().run()
    assert not app.exception
    states = {
        i.id: i.review_state for i in review.review_queue(ADMIN, session_id=studio.session_id).items
    }
    assert states[chosen] == "approved"
    assert sorted(states.values()) == ["approved", "rejected", "rejected"]


def test_bulk_rule_says_how_many_before_it_runs(
    studio: Studio, finished: list[uuid.UUID], embedded: backends.Backends
) -> None:
    with embedded.transaction() as db:
        for image_id, score in zip(finished, (0.5, 0.8, 0.95), strict=True):
            repo.update_images(db, [image_id], fidelity_score=score)
    app = open_review(studio)
    app.slider(key="review.rule_fidelity").set_value(0.75).run()
    assert app.button(key="review.rule_run").label == "Approve 2 image(s)..."
    assert counter(app) == "**0 of 3 reviewed**"  # counting decided nothing
    app.button(key="review.rule_run").click().run()
    # It shows the two images it would approve and asks; nothing changed yet.
    assert "**2 image(s)** with fidelity at least **0.75**" in texts(app)
    assert counter(app) == "**0 of 3 reviewed**"
    assert app.button(key="review.rule_confirm").label == "Approve 2 image(s)"
    app.button(key="review.rule_confirm").click().run()
    assert not app.exception
    assert counter(app) == "**2 of 3 reviewed**"
    assert app.button(key="review.rule_run").label == "Approve 0 image(s)..."
    assert "Approved 2 image(s) by the rule. Press Z to undo." in toasts(app)

    # Z takes the whole rule back.
    app.button(key="review.undo").click().run()
    assert counter(app) == "**0 of 3 reviewed**"
    assert "Undone: Approved 2 image(s) by the rule." in toasts(app)
    items = review.review_queue(ADMIN, session_id=studio.session_id).items
    assert [i.review_state for i in items] == ["none", "none", "none"]


def test_reject_and_rerun_every_error(
    studio: Studio, finished: list[uuid.UUID], embedded: backends.Backends
) -> None:
    with embedded.transaction() as db:
        repo.update_images(db, [finished[0]], status="error", error_message="refused")
    app = open_review(studio)
    assert app.button(key="review.errors_run").label == "Reject and re-run 1 error(s)..."
    app.button(key="review.errors_run").click().run()  # E: it asks first, naming them
    assert not app.exception
    assert "1 failed image(s)" in texts(app)
    assert any(c.value.endswith("refused") for c in app.caption)
    with embedded.transaction() as db:
        assert repo.reruns_of(db, finished[0]) == []  # nothing yet
    app.button(key="review.errors_confirm").click().run()
    assert not app.exception
    with embedded.transaction() as db:
        remade = repo.reruns_of(db, finished[0])
    assert len(remade) == 1
    assert "Re-running 1 failed image(s)." in [shown_text(t.value) for t in app.toast]
    assert app.button(key="review.errors_run").label == "Reject and re-run 0 error(s)..."


def test_rerun_with_a_note_and_the_lineage(studio: Studio, finished: list[uuid.UUID]) -> None:
    app = open_review(studio)
    first = shown(app)
    app.button(key="review.rerun").click().run()
    app.text_input(key=f"review.note.{first}").input("warmer light, keep the legs")
    app.get("form_submit_button")[0].click().run()
    assert not app.exception
    assert counter(app) == "**1 of 3 reviewed**"
    remade = [
        i
        for i in review.review_queue(ADMIN, session_id=studio.session_id).items
        if i.rerun_of_id == first
    ] or None
    if remade is None:  # still being made: wait for it
        generation.wait_for_flows(ADMIN, flow_ids=_flows(studio), timeout=120)
        remade = [
            i
            for i in review.review_queue(ADMIN, session_id=studio.session_id).items
            if i.rerun_of_id == first
        ]
    app.session_state["review.current"] = remade[0].id
    app.run()
    app.button(key="review.lineage").click().run()
    shown_text = texts(app)
    assert "This image" in shown_text and "Earlier version 1" in shown_text
    assert "Changed from the version before: prompt, seed" in shown_text


def _flows(studio: Studio) -> list[uuid.UUID]:
    with backends.current().transaction() as db:
        rows = repo.images_of_session(db, studio.session_id)
        return list({r.flow_id for r in rows})


def test_delivery_at_a_preset_is_remembered_for_the_client(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    for image_id in finished[:2]:
        review.decide(studio.scope("editor"), image_id=image_id, decision="approved")
    app = open_review(studio)
    app.button(key="review.deliver").click().run()
    app.radio(key="delivery.size").set_value("portrait_1600x2000")
    app.radio(key="delivery.format").set_value("webp")
    app.button(key="delivery.prepare").click().run()
    assert not app.exception
    _, count, data = app.session_state["delivery.zip"]
    assert count == 2
    archive = zipfile.ZipFile(io.BytesIO(data))
    pictures = sorted(n for n in archive.namelist() if n != "manifest.csv")
    assert all(n.endswith(".webp") for n in pictures)
    with Image.open(io.BytesIO(archive.read(pictures[0]))) as picture:
        assert picture.size == (1600, 2000) and picture.format == "WEBP"
    remembered = export.client_preset(studio.scope("viewer"), client_id=studio.client_id)
    assert (remembered.size, remembered.format) == ("portrait_1600x2000", "webp")

    later = open_review(studio, "owner")  # another member: the client's preset
    later.button(key="review.deliver").click().run()
    assert later.radio(key="delivery.size").value == "portrait_1600x2000"


def test_delivery_to_a_store_shows_the_rule_check_before_preparing(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    for image_id in finished[:2]:
        review.decide(studio.scope("editor"), image_id=image_id, decision="approved")
    app = open_review(studio)
    app.button(key="review.deliver").click().run()
    app.selectbox(key="delivery.target").set_value("merchant-lifestyle").run()
    assert not app.exception
    assert app.radio(key="delivery.format.merchant-lifestyle").options == ["JPEG", "PNG"]
    assert any("2 approved picture(s) fit" in str(s.value) for s in app.success)
    said = " ".join(str(c.value) for c in app.caption)
    assert "recommended 1500 x 1500" in said  # 1024 px pictures: a warning, not a refusal
    app.selectbox(key="delivery.target").set_value("amazon-secondary").run()
    assert not app.button(key="delivery.prepare").disabled  # 1024 px: Amazon's minimum is 1000
    app.button(key="delivery.prepare").click().run()
    _, count, data = app.session_state["delivery.zip"]
    assert count == 2
    archive = zipfile.ZipFile(io.BytesIO(data))
    pictures = sorted(n for n in archive.namelist() if n != "manifest.csv")
    with Image.open(io.BytesIO(archive.read(pictures[0]))) as picture:
        assert picture.format == "JPEG" and max(picture.size) == 1024  # never enlarged


def test_names_are_shown_as_plain_text(studio: Studio, embedded: backends.Backends) -> None:
    """An editor cannot put a link or a picture in front of a viewer through a name."""
    evil = "Sofa [win a prize](https://evil.example) ![x](https://evil.example/p.png)"
    with embedded.transaction() as db:
        product = repo.list_products(db, client_id=studio.client_id)[0]
        product.name = evil
        product.sku = "**BOLD**:red[x]"
    generate_and_wait(studio)
    app = open_review(studio, "viewer")
    seen = []
    for _ in range(3):
        seen += [str(m.value) for m in app.markdown] + [str(c.value) for c in app.caption]
        app.button(key="review.next").click().run()
    joined = "\n".join(seen)
    assert "\\[win a prize\\]\\(https\\:\\/\\/evil\\.example\\)" in joined  # shown, as text
    assert re.search(r"(?<!\\)\]\(", joined) is None  # no link
    assert re.search(r"(?<!\\)!\[", joined) is None  # no picture
    assert "\\*\\*BOLD\\*\\*\\:red\\[x\\]" in joined


def test_pictures_in_the_tables_and_beside_the_scene_choice(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    products_page = signed_in(
        studio.emails["editor"], page="products", session_id=studio.session_id
    )
    table = frame(products_page, "photo", "sku")
    assert len(table) == 3 and table["photo"].str.startswith("data:image/jpeg;base64,").all()

    generate = signed_in(studio.emails["editor"], page="generate", session_id=studio.session_id)
    matches = frame(generate, "photo", "in scene", "sku")
    assert matches["photo"].str.startswith("data:image/").all()
    assert matches["in scene"].str.startswith("data:image/").all()
    # the scene picker: the product's own picture, then each scene's
    assert len(generate.image) == len(studio.scene_ids) + 1

    results = signed_in(studio.emails["viewer"], page="results", session_id=studio.session_id)
    results.button(key=f"results.lineage.{finished[0]}").click().run()
    assert "The first version of this image" in texts(results)


@pytest.mark.parametrize(
    "typed",
    [
        "[win](https://evil.example)",
        "![p](https://evil.example/p.png)",
        "<img src=x onerror=alert(1)>",
        "www.evil.example",
        ":red[boom] :material/warning:",
        "- a list item",
        "# a heading",
        "$x^2$ and **bold** and `code` and ~~gone~~ | table |",
        "line one\nline two",
    ],
)
def test_plain_leaves_no_markdown_sign_unescaped(typed: str) -> None:
    shown = plain(typed)
    assert re.search(r"(?<!\\)[\[\]()!<>:#*_`$~|.]", shown) is None, shown
    assert not shown.startswith("-") and "\n" not in shown
    assert re.sub(r"\\(.)", r"\1", shown) == " ".join(typed.split())  # the same text, shown


def test_an_error_quoting_a_name_is_shown_as_plain_text() -> None:
    """Service messages quote what people typed: a refusal cannot become a link either."""

    def page() -> None:
        from streamlit_app.common import attempt
        from visualizer_core.errors import InvalidInput

        def refuse() -> None:
            raise InvalidInput("session 'Sofa [win](https://evil.example)' is archived")

        attempt(refuse)

    app = AppTest.from_function(page).run()
    [error] = app.error
    assert re.search(r"(?<!\\)\]\(", str(error.value)) is None  # no link
    assert errors(app) == ["Session 'Sofa [win](https://evil.example)' is archived"]


def open_dialogs(app: AppTest) -> list[str]:
    """The titles of the dialogs the page draws now."""
    found: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        oneofs = {f.name for f in proto.DESCRIPTOR.oneofs} if hasattr(proto, "DESCRIPTOR") else ()
        if "type" in oneofs and proto.WhichOneof("type") == "dialog":
            found.append(str(proto.dialog.title))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app._tree)
    return found


OPENERS = {
    "N": "review.rerun",
    "L": "review.lineage",
    "D": "review.deliver",
    "B": "review.rule_run",
}


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for a in OPENERS for b in OPENERS if a != b],
)
def test_one_dialog_at_a_time_and_no_key_behind_it(
    studio: Studio, finished: list[uuid.UUID], embedded: backends.Backends, first: str, second: str
) -> None:
    """Every pair of dialog keys a keyboard user can reach: never a traceback, one dialog,
    and while it is open the page's buttons have no key (a letter cannot act behind it)."""
    with embedded.transaction() as db:
        repo.update_images(db, finished, fidelity_score=0.9)
    review.decide(studio.scope("editor"), image_id=finished[0], decision="approved")
    app = open_review(studio)
    assert app.button(key="review.approve").proto.shortcut == "a"
    app.button(key=OPENERS[first]).click().run()
    assert not app.exception, app.exception
    assert len(open_dialogs(app)) == 1
    assert all(not b.proto.shortcut for b in app.button if b.key in OPENERS.values())
    assert app.button(key="review.approve").proto.shortcut == ""
    app.button(key=OPENERS[second]).click().run()  # a mouse reaching past it, say
    assert not app.exception, app.exception
    assert len(open_dialogs(app)) == 1


def test_the_note_lands_on_the_image_it_was_opened_for(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    """The note dialog names its image and stays bound to it, wherever the page moved since."""
    app = open_review(studio)
    first = shown(app)
    item = next(
        i for i in review.review_queue(ADMIN, session_id=studio.session_id).items if i.id == first
    )
    app.button(key="review.rerun").click().run()
    assert open_dialogs(app) == ["Re-run with a note"]
    assert f"**{item.sku}** · {item.product_name} · variant 1" in texts(app)
    app.session_state["review.current"] = finished[-1] if finished[-1] != first else finished[0]
    app.run()
    app.text_input(key=f"review.note.{first}").input("softer light")
    app.get("form_submit_button")[0].click().run()
    assert not app.exception
    states = {
        i.id: i.review_state for i in review.review_queue(ADMIN, session_id=studio.session_id).items
    }
    assert states[first] == "rejected"
    assert sorted(states.values()).count("none") >= 2  # nothing else was decided
    with backends.current().transaction() as db:
        remade = repo.reruns_of(db, first)
        assert len(remade) == 1
        flow = db.get(Flow, remade[0].flow_id)
        assert flow is not None and "softer light" in flow.settings["prompt"]
        assert remade[0].variant == item.variant  # a re-made image keeps its variant number


def test_every_decision_says_so_and_z_takes_it_back(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    app = open_review(studio)
    assert app.button(key="review.undo").disabled  # nothing to take back yet
    first = shown(app)
    app.button(key="review.approve").click().run()
    assert any(t.startswith("Approved ") and t.endswith("Press Z to undo.") for t in toasts(app))
    second = shown(app)
    app.button(key="review.reject").click().run()
    app.button(key="review.favourite").click().run()
    assert counter(app) == "**2 of 3 reviewed**"

    app.button(key="review.undo").click().run()  # the favourite
    app.button(key="review.undo").click().run()  # the rejection, and back to that image
    assert shown(app) == second
    assert counter(app) == "**1 of 3 reviewed**"
    app.button(key="review.undo").click().run()  # the approval
    assert shown(app) == first
    assert counter(app) == "**0 of 3 reviewed**"
    assert any(t.startswith("Undone: Approved ") for t in toasts(app))
    assert app.button(key="review.undo").disabled
    items = review.review_queue(ADMIN, session_id=studio.session_id).items
    assert [(i.review_state, i.favourite) for i in items] == [("none", False)] * 3


def test_a_product_s_variants_are_together_in_the_queue(studio: Studio) -> None:
    assert studio.session_id is not None
    flow = generation.generate(
        studio.scope("editor"), session_id=studio.session_id, settings=FlowSettings(variants=3)
    )
    generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=120)
    items = review.review_queue(ADMIN, session_id=studio.session_id).items
    products = [i.product_id for i in items]
    # each product's images are one run in the queue; the filmstrip numbers them by variant
    runs = [p for n, p in enumerate(products) if n == 0 or products[n - 1] != p]
    assert len(runs) == len(set(products)) == 3
    queue = review.review_queue(ADMIN, session_id=studio.session_id)
    for item in items:
        assert [v.variant for v in queue.variants(item)] == [0, 1, 2]


def test_a_product_in_a_room_it_does_not_belong_in_is_warned_about_in_review(
    studio: Studio,
) -> None:
    assert studio.session_id is not None
    editor = studio.scope("editor")
    analysis.match_session(editor, session_id=studio.session_id)
    office = studio.scene_ids[2]
    analysis.set_match(
        editor,
        session_id=studio.session_id,
        product_id=studio.product_ids["BED-1"],
        scene_id=office,
    )
    generate_and_wait(studio)
    queue = review.review_queue(editor, session_id=studio.session_id)
    warned = {i.sku: i.placement for i in queue.items}
    assert warned["SOFA-1"] is None and warned["DESK-1"] is None
    assert str(warned["BED-1"]).endswith("in a home office: change the scene?")

    app = open_review(studio)
    while queue.items[queue.index_of(shown(app)) or 0].sku != "BED-1":
        app.button(key="review.next").click().run()
        assert not app.exception
    assert f"**Placement:** {warned['BED-1']}" in texts(app)
    app.button(key="review.next").click().run()
    assert "Placement:" not in texts(app)  # the others are in their rooms


def test_the_address_names_the_session_and_the_image_shown(
    studio: Studio, finished: list[uuid.UUID]
) -> None:
    assert studio.session_id is not None
    queue = review.review_queue(studio.scope("editor"), session_id=studio.session_id)
    app = open_review(studio)
    assert app.query_params["session"] == str(studio.session_id)
    assert app.query_params["image"] == str(shown(app))
    app.button(key="review.next").click().run()
    assert app.query_params["image"] == str(shown(app)) == str(queue.items[1].id)

    # A refresh, or the link shared with a teammate: a new page at that address shows the
    # same session and image (not the first undecided one).
    wanted = queue.items[2].id
    other = sessions.create_session(ADMIN, client_id=studio.client_id, name="Later launch")
    link = AppTest.from_file(APP, default_timeout=TIMEOUT)
    link.session_state["auth.token"] = auth.issue_session_token(
        auth.sign_in(studio.emails["viewer"], PASSWORD)
    )
    link.query_params = {"session": str(studio.session_id), "image": str(wanted)}
    link.switch_page("views/review.py").run()
    assert not link.exception
    assert shown(link) == wanted
    assert link.selectbox(key="review.session").value == studio.session_id
    # Choosing another session on the page wins over the address it was opened at.
    link.selectbox(key="review.session").select(other.id).run()
    assert not link.exception
    assert link.query_params["session"] == str(other.id)
    assert "Review · Later launch" in texts(link)
