"""The notebook API (``visualizer_core.admin``) on both backend sets.

The world: two clients, each with a drawn catalog, a session with one room per room type and a
first generation in which the AI refuses every desk, so there are errors to look at and re-run.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import event

from tests import factories
from tests.factories import RefusingAI, World, build_world
from tests.plugin import backends_like
from visualizer_core import admin, backends
from visualizer_core.ai.local import LocalAI
from visualizer_core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from visualizer_core.scope import ADMIN
from visualizer_core.services import clients, generation

CONTRACT_COLUMNS = [
    "id",
    "client_id",
    "client_name",
    "session_id",
    "flow_id",
    "product_id",
    "product_name",
    "category",
    "status",
    "error_message",
    "created_at",
    "completed_at",
    "duration_s",
    "attempts",
    "model",
]


@pytest.fixture
def world(backend: backends.Backends) -> Iterator[World]:
    """Backends on the test's database and storage whose AI refuses desks, and the world."""
    ai = RefusingAI({"desk"})
    with backends_like(backend, ai=ai):
        yield build_world(ai)


def test_the_public_api_is_exactly_this_and_documented() -> None:
    assert sorted(admin.__all__) == sorted(
        [
            "GENERATION_COLUMNS",
            "PLAN_COLUMNS",
            "SPEND_KINDS",
            "account",
            "calls",
            "clients",
            "economy",
            "export",
            "fidelity",
            "generations",
            "image",
            "import_products",
            "plan",
            "products",
            "rerun",
            "scenes",
            "sessions",
            "set_daily_quota",
            "set_monthly_budget",
            "spend",
            "submit",
            "wait",
        ]
    )
    for name in admin.__all__:
        thing = getattr(admin, name)
        if callable(thing):
            assert inspect.getdoc(thing), f"admin.{name} has no docstring"
    assert set(CONTRACT_COLUMNS) <= set(admin.GENERATION_COLUMNS)


def test_every_table_across_clients(world: World) -> None:
    """What an analyst reads: generations, products, sessions, clients, scenes, pictures."""
    check_generations(world)
    check_tables(world)
    check_one_query_each()
    check_pictures()


def check_generations(world: World) -> None:
    gens = admin.generations()
    assert list(gens.columns) == list(admin.GENERATION_COLUMNS)
    catalog = len(factories.PIPELINE_CATALOG)
    assert len(gens) == 2 * catalog
    assert set(gens["client_id"]) == {str(c) for c in world.client_ids}
    assert set(gens["flow_id"]) == set(world.flow_ids)
    names = {c.name for c in clients.list_clients(ADMIN) if c.id in world.client_ids}
    assert set(gens["client_name"]) == names

    failed = gens[gens["status"] == "error"]
    assert set(failed["category"]) == {"desk"}
    assert len(failed) == 2
    assert failed["error_message"].str.contains("judged unsafe").all()
    done = gens[gens["status"] == "completed"]
    assert len(done) == 2 * (catalog - 1)
    assert done["error_message"].isna().all()
    assert (done["duration_s"] >= 0).all()
    assert (done["duration_s"] >= done["work_s"]).all()
    assert (gens["attempts"] >= 1).all()
    assert (done["model"] == LocalAI.image_model).all()
    assert str(gens["created_at"].dt.tz) == "UTC"
    assert gens["rerun_of_id"].isna().all()

    one = admin.generations(client_id=str(world.client_ids[0]))
    assert set(one["client_id"]) == {str(world.client_ids[0])}
    assert len(one) == catalog
    assert len(admin.generations(since="1 hour")) == 2 * catalog
    assert admin.generations(since=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).empty
    with pytest.raises(NotFound):
        admin.generations(client_id=uuid.uuid4())
    with pytest.raises(InvalidInput):
        admin.generations(since="not a time at all")


def check_tables(world: World) -> None:
    catalog = len(factories.PIPELINE_CATALOG)
    first = str(world.client_ids[0])

    items = admin.products(client_id=first)
    assert len(items) == catalog
    assert set(items["sku"]) == {item[0] for item in factories.PIPELINE_CATALOG}
    assert (items["photos"] == 1).all()
    assert (items["images"] == 1).all()
    desk = items[items["analysed_category"] == "desk"].iloc[0]
    assert (desk["errors"], desk["completed"]) == (1, 0)
    assert "home_office" in desk["room_types"]

    table = admin.sessions()
    mine = table[table["id"].isin([str(s) for s in world.session_ids])]
    assert len(mine) == 2
    assert (mine["scenes"] == len(factories.PIPELINE_ROOMS)).all()
    assert (mine["matched"] == catalog).all()
    assert (mine["flows"] == 1).all()
    assert (mine["images"] == catalog).all()
    assert (mine["errors"] == 1).all()
    assert (mine["completed"] + mine["errors"] == mine["images"]).all()

    everyone = admin.clients().set_index("id")
    assert everyone.loc[first, "products"] == catalog
    assert everyone.loc[first, "sessions"] == 1
    assert everyone.loc[first, "errors"] == 1

    rooms = admin.scenes(session_id=world.session_ids[0])
    assert set(rooms["scene_id"]) == set(world.scenes[world.session_ids[0]].values())
    assert rooms["matched_products"].sum() == catalog


def check_one_query_each() -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = backends.current().engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for table in (admin.generations, admin.products, admin.sessions, admin.clients):
            statements.clear()
            table()
            assert len(statements) == 1, f"{table.__name__} ran {len(statements)} queries"
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_rerun_the_errors_with_a_new_prompt_keeps_lineage(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    before = admin.generations()
    failed = before[before["status"] == "error"]
    world.ai.refuse.clear()  # the new prompt gets past the refusal

    flow_ids = admin.rerun(failed, prompt="on a plain rug, soft daylight")
    assert len(flow_ids) == 2  # one per session
    after = admin.wait(flow_ids, timeout=120)
    assert "2/2" in capsys.readouterr().err  # the progress bar reached the end

    assert len(after) == 2
    assert set(after["flow_id"]) == set(flow_ids)
    assert (after["status"] == "completed").all()
    assert set(after["rerun_of_id"]) == set(failed["id"])
    assert (after["flow_prompt"] == "on a plain rug, soft daylight").all()
    paired = after.merge(failed, left_on="rerun_of_id", right_on="id", suffixes=("", "_before"))
    assert (paired["parent_flow_id"] == paired["flow_id_before"]).all()
    assert (paired["scene_id"] == paired["scene_id_before"]).all()  # made in the same scene
    assert (paired["product_id"] == paired["product_id_before"]).all()
    assert (paired["session_id"] == paired["session_id_before"]).all()
    assert admin.generations()["rerun_of_id"].notna().sum() == 2
    # The originals stay as they were: lineage, not replacement.
    assert (admin.generations().set_index("id").loc[failed["id"], "status"] == "error").all()

    # A list of ids works too, and variants make more than one of each.
    again = admin.rerun(list(after["id"])[:1], variants=2)
    rows = admin.wait(again, progress=False)
    assert len(rows) == 2
    assert set(rows["rerun_of_id"]) == {after["id"].iloc[0]}


def test_rerun_refuses_what_it_cannot_do_before_creating_anything(world: World) -> None:
    gens = admin.generations()
    flows_before = set(gens["flow_id"])
    with pytest.raises(InvalidInput, match="unknown setting 'promt'"):
        admin.rerun(gens.head(1), promt="typo")
    with pytest.raises(InvalidInput, match="aspect ratio"):
        admin.rerun(gens.head(1), aspect_ratio="7:3")
    with pytest.raises(NotFound):
        admin.rerun([str(uuid.uuid4())])
    with pytest.raises(InvalidInput, match="no 'id' column"):
        admin.rerun(gens[["status"]])
    assert admin.rerun(gens.head(0)) == []

    # An image still waiting for a worker is not re-run.
    session_id = world.session_ids[0]
    pending = generation.generate(ADMIN, session_id=session_id, dispatch=False)
    with pytest.raises(Conflict, match="still pending"):
        admin.rerun([pending.image_ids[0]])

    # A client whose quota cannot take the batch: nothing at all is created.
    clients.set_daily_quota(ADMIN, client_id=world.client_ids[1], daily_quota=0)
    everything = gens[gens["status"] != "pending"]
    with pytest.raises(QuotaExceeded, match="images left today"):
        admin.rerun(everything)
    now = set(admin.generations()["flow_id"])
    assert now - flows_before == {str(pending.flow_id)}


def test_plan_lists_every_pairing_and_submit_makes_it(world: World) -> None:
    session_id = world.session_ids[0]
    catalog = len(factories.PIPELINE_CATALOG)
    rooms = len(factories.PIPELINE_ROOMS)

    full = admin.plan(session_id=session_id, variants=2)
    assert list(full.columns) == list(admin.PLAN_COLUMNS)
    assert len(full) == catalog * rooms * 2
    assert full["score"].between(0, 1).all()
    assert (full["est_cost_usd"] == 0.0).all()  # the local backend is free
    assert (full["est_seconds"] > 0).all()
    # Each product's best-ranked scene is of a room it belongs in, and is its pairing.
    best = full[(full["rank"] == 1) & (full["variant"] == 0)]
    assert len(best) == catalog
    assert best["is_match"].all()
    home = {item[0]: item[3] for item in factories.PIPELINE_CATALOG}
    assert all(home[row.sku] == row.room_type for row in best.itertuples())
    assert len(admin.plan(session_id=session_id, top=2)) == catalog * 2

    # Keep the sofa in its two best scenes (two variants each) and the bed in its best.
    sofa = full[(full["sku"] == "SOFA-1") & (full["rank"] <= 2)]
    bed = full[(full["sku"] == "BED-1") & (full["rank"] == 1)].copy()
    bed["prompt"] = "with a wool throw"
    chosen = pd.concat([sofa, bed])
    flow_ids = admin.submit(chosen)
    made = admin.wait(flow_ids, progress=False)
    assert len(made) == len(chosen)
    assert (made["status"] == "completed").all()
    wanted = chosen.groupby(["sku", "scene_id"]).size().to_dict()
    assert made.groupby(["sku", "scene_id"]).size().to_dict() == wanted
    assert set(made.loc[made["sku"] == "BED-1", "flow_prompt"]) == {"with a wool throw"}
    assert set(made.loc[made["sku"] == "SOFA-1", "flow_prompt"]) == {""}

    assert admin.submit(full.head(0)) == []
    with pytest.raises(InvalidInput, match="scene_id"):
        admin.submit(full.drop(columns=["scene_id"]))
    wrong = full.head(1).copy()
    wrong["scene_id"] = "no-such-scene"
    with pytest.raises(NotFound):
        admin.submit(wrong)


def check_pictures() -> None:
    gens = admin.generations()
    done = gens[gens["status"] == "completed"].iloc[0]
    picture = admin.image(done["id"])
    assert picture.width > 0 and picture.height > 0
    full = admin.image(done["id"], thumbnail=False)
    assert full.width >= picture.width
    failed = gens[gens["status"] == "error"].iloc[0]
    with pytest.raises(NotFound):
        admin.image(failed["id"])


def test_set_daily_quota_is_what_the_quota_message_asks_an_admin_for(
    backend: backends.Backends,
) -> None:
    client = clients.create_client(ADMIN, name="Quota Brand", daily_quota=2)
    assert admin.set_daily_quota(client.id, 40) == 40
    frame = admin.clients()
    assert frame.loc[frame["id"].astype(str) == str(client.id), "daily_quota"].tolist() == [40]
    with pytest.raises(InvalidInput, match="negative"):
        admin.set_daily_quota(client.id, -1)
    with pytest.raises(NotFound):
        admin.set_daily_quota(uuid.uuid4(), 10)
