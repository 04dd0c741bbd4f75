"""Plans and re-runs: which images to make, and the flows that make them.

The notebook API (``admin.plan``, ``admin.submit``, ``admin.rerun``), the studio's review
(re-run with a note, re-run the errors) and the command (``visualizer rerun``) all come here,
so the rules are written once:

- a **plan** lists every product x scene x variant the sessions could make, ranked the way
  matching ranks them, with the estimated cost and time of each image; people cut it down
  and :func:`submit` what is left;
- a **re-run** makes images again in the scene and with the settings they were made with
  (overridden where asked, a note added to the prompt), keeping the lineage: each new image's
  ``rerun_of_id`` names the image it re-makes, each new flow's ``parent_flow_id`` its flow;
- both end in :func:`start`, which checks the whole batch against every client's daily quota
  before a single flow is created, so a refused batch leaves nothing half-made. A product is
  in a flow once; asking for it twice makes a second flow (a "round").
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import Client, StudioSession
from visualizer_core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, first_problem
from visualizer_core.matching import ranked_scenes
from visualizer_core.schemas import OPEN_STATUSES, FlowSettings, ProductAnalysis, SessionStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services import analysis, budgets, estimates, generation
from visualizer_core.services._uow import client_in_scope, parse_id, unit_of_work

__all__ = [
    "FlowRequest",
    "PlanRow",
    "Planned",
    "Rerun",
    "flow_settings",
    "plan",
    "rerun",
    "sessions_of",
    "start",
    "submit",
]

SETTING_NAMES = tuple(FlowSettings.model_fields)


def flow_settings(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> FlowSettings:
    """``base`` (a flow's stored settings) with ``overrides``, validated.

    A misspelt name is refused by name, before anything is read or made.
    """
    unknown = sorted(set(overrides) - set(SETTING_NAMES))
    if unknown:
        raise InvalidInput(
            f"unknown setting {unknown[0]!r}: the settings are {', '.join(SETTING_NAMES)}"
        )
    merged = {k: v for k, v in base.items() if k in SETTING_NAMES}
    merged.update(overrides)
    try:
        return FlowSettings.model_validate(merged)
    except ValidationError as error:
        raise InvalidInput(first_problem(error, "settings")) from None


# -- starting flows ----------------------------------------------------------------------------


@dataclass
class FlowRequest:
    """One flow to create: products, each with its scene, and what each re-makes."""

    client_id: uuid.UUID
    client_name: str
    session_id: uuid.UUID
    settings: FlowSettings
    name: str
    parent_flow_id: uuid.UUID | None = None
    product_ids: list[uuid.UUID] = field(default_factory=list)
    scenes: dict[uuid.UUID, str] = field(default_factory=dict)
    rerun_of: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    @property
    def images(self) -> int:
        return len(self.product_ids) * self.settings.variants


def _rounds(product_ids: Sequence[uuid.UUID]) -> list[list[int]]:
    """Positions of ``product_ids`` split so each product is once per round, in order."""
    rounds: list[list[int]] = []
    seen: dict[uuid.UUID, int] = {}
    for position, product_id in enumerate(product_ids):
        index = seen.get(product_id, 0)
        seen[product_id] = index + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(position)
    return rounds


def _check_quota(scope: Scope, requests: Sequence[FlowRequest]) -> None:
    """Refuse the whole batch if a client's daily quota cannot take its part of it."""
    needed: dict[uuid.UUID, int] = {}
    names: dict[uuid.UUID, str] = {}
    for request in requests:
        needed[request.client_id] = needed.get(request.client_id, 0) + request.images
        names[request.client_id] = request.client_name
    for client_id, count in needed.items():
        left = generation.quota_left(scope, client_id=client_id)
        if count > left:
            raise QuotaExceeded(
                f"{names[client_id]} has {left} images left today and this needs {count}: "
                "make fewer, or ask an admin to raise the client's daily quota"
            )
    _check_budget(scope, requests, needed)


def _check_budget(
    scope: Scope, requests: Sequence[FlowRequest], needed: dict[uuid.UUID, int]
) -> None:
    """Refuse the whole batch if a client's monthly budget cannot take its part of it (each
    flow is checked again as it is made)."""
    for client_id, count in needed.items():
        with unit_of_work() as db:
            client = repo.get(db, Client, client_id, client_id=None)
            if client is None or budgets.budget_of(client) is None:
                continue
        costs = {
            id(request): budgets.image_cost_usd(
                scope, client_id=client_id, settings=request.settings
            )
            for request in requests
            if request.client_id == client_id
        }
        cost = sum(r.images * costs[id(r)] for r in requests if r.client_id == client_id)
        with unit_of_work() as db:
            client = repo.lock_client(db, client_id)
            assert client is not None
            budgets.refuse_over_budget(
                db, client, images=count, request_usd=cost, per_image_usd=cost / max(count, 1)
            )


def start(
    scope: Scope, *, requests: Sequence[FlowRequest], dispatch: bool = True
) -> list[generation.FlowRead]:
    """Create the flows and queue their images; nothing at all when the quota refuses.

    Without ``dispatch`` the images stay pending in the database for a worker to pick up
    (what a short-lived command does on the embedded default).
    """
    scope.require(Action.GENERATE)
    _check_quota(scope, requests)
    return [
        generation.generate(
            scope,
            session_id=request.session_id,
            product_ids=request.product_ids,
            settings=request.settings,
            name=request.name,
            rerun_of=request.rerun_of or None,
            parent_flow_id=request.parent_flow_id,
            scenes=request.scenes,
            dispatch=dispatch,
        )
        for request in requests
    ]


# -- re-runs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """An image to re-run, as :func:`repo.rerun_sources` reads it."""

    id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    session_id: uuid.UUID
    session_status: str
    flow_id: uuid.UUID
    flow_name: str | None
    flow_settings: dict[str, Any] | None
    product_id: uuid.UUID
    scene_id: str | None
    status: str


@dataclass(frozen=True)
class Rerun:
    """What a re-run made: its flows, and for each image re-made the ids of its new images."""

    flows: list[generation.FlowRead]
    made: dict[uuid.UUID, list[uuid.UUID]]

    @property
    def flow_ids(self) -> list[uuid.UUID]:
        return [f.flow_id for f in self.flows]


def _sources(scope: Scope, image_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Source]:
    """The images to re-run, each checked: the scope's own, finished, in an active session."""
    only = scope.client_filter()
    with unit_of_work() as db:
        rows = [_Source(*row) for row in repo.rerun_sources(db, image_ids)]
    by_id = {s.id: s for s in rows if only is None or s.client_id == only}
    for image_id in image_ids:
        if image_id not in by_id:
            raise NotFound("image", image_id)
    still_open = [i for i in image_ids if by_id[i].status in OPEN_STATUSES]
    if still_open:
        raise Conflict(
            f"{len(still_open)} of the images are still pending or generating "
            f"(for example {still_open[0]}): wait for them, then re-run what failed"
        )
    archived = [i for i in image_ids if by_id[i].session_status != SessionStatus.ACTIVE]
    if archived:
        raise InvalidInput(
            f"image {archived[0]} is in an archived session: restore the session to re-run it"
        )
    return by_id


def rerun(
    scope: Scope,
    *,
    image_ids: Sequence[uuid.UUID | str],
    overrides: Mapping[str, Any] | None = None,
    note: str = "",
    name: str | None = None,
    dispatch: bool = True,
) -> Rerun:
    """Make images again as new flows in their own sessions.

    Each image is made again once (``overrides={"variants": 2}`` makes two of each) with the
    settings of the flow it came from, overridden by ``overrides`` (``prompt``,
    ``aspect_ratio``, ``model``, ``economy``, ``variants``), ``note`` added to the prompt, in
    the scene it was made in (the session's current pairing if that scene was removed). The
    images of one session and flow become one new flow (more when an image is asked for
    twice). Nothing is created when an image is still open, its session is archived, or a
    client's daily quota cannot take the whole batch.
    """
    scope.require(Action.GENERATE)
    ids = list(dict.fromkeys(parse_id(i, "image") for i in image_ids))
    if not ids:
        return Rerun(flows=[], made={})
    wanted = {"variants": 1, **(overrides or {})}
    flow_settings({}, wanted)  # a wrong setting is refused before anything is read
    note = " ".join(note.split())
    by_id = _sources(scope, ids)
    with unit_of_work() as db:
        session_ids = sorted({s.session_id for s in by_id.values()}, key=str)
        scene_ids = {
            s.id: {scene.id for scene in s.scene_list()}
            for s in repo.sessions_by_id(db, session_ids)
        }
    groups: dict[tuple[uuid.UUID, uuid.UUID], list[_Source]] = {}
    for image_id in ids:
        source = by_id[image_id]
        groups.setdefault((source.session_id, source.flow_id), []).append(source)
    requests: list[FlowRequest] = []
    for (session_id, flow_id), members in groups.items():
        first = members[0]
        settings = flow_settings(first.flow_settings or {}, wanted)
        if note:
            prompt = " ".join(p for p in (settings.prompt, note) if p)
            settings = flow_settings(settings.model_dump(), {"prompt": prompt[:2000]})
        flow_name = first.flow_name or f"flow {str(flow_id)[:8]}"
        for positions in _rounds([m.product_id for m in members]):
            request = FlowRequest(
                client_id=first.client_id,
                client_name=first.client_name,
                session_id=session_id,
                settings=settings,
                name=name or f"Re-run of {flow_name}",
                parent_flow_id=flow_id,
            )
            for source in (members[p] for p in positions):
                request.product_ids.append(source.product_id)
                request.rerun_of[source.product_id] = source.id
                if source.scene_id is not None and source.scene_id in scene_ids[session_id]:
                    request.scenes[source.product_id] = source.scene_id
            requests.append(request)
    flows = start(scope, requests=requests, dispatch=dispatch)
    made: dict[uuid.UUID, list[uuid.UUID]] = {}
    for request, flow in zip(requests, flows, strict=True):
        # generate leaves out a product it cannot make (its photo was removed since): the
        # flow's images are those of the others, product by product, variants together.
        skipped = {s["product_id"] for s in flow.skipped}
        made_of = [p for p in request.product_ids if str(p) not in skipped]
        variants = request.settings.variants
        for index, product_id in enumerate(made_of):
            new = flow.image_ids[index * variants : (index + 1) * variants]
            made[request.rerun_of[product_id]] = new
    return Rerun(flows=flows, made=made)


# -- plans -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """One image a session could make: a product in a scene, one variant."""

    client_id: uuid.UUID
    client_name: str
    session_id: uuid.UUID
    session_name: str
    product_id: uuid.UUID
    sku: str
    product_name: str
    category: str | None
    scene_id: str
    scene_file: str | None
    room_type: str | None
    score: float  # 0..1, NaN when the product or the scene has no analysis
    rank: int  # among the session's scenes for this product, 1 is best
    is_match: bool  # the scene the session pairs the product with now
    reason: str
    variant: int
    aspect_ratio: str
    prompt: str
    model: str
    economy: bool
    image_size: str | None  # None: the model's default (1K)
    est_cost_usd: float
    est_seconds: float  # NaN in economy mode: the batch finishes within a day


def sessions_of(
    scope: Scope,
    *,
    client_id: uuid.UUID | str | None = None,
    session_id: uuid.UUID | str | None = None,
    active_only: bool = False,
) -> list[tuple[StudioSession, str]]:
    """The sessions asked for (one, a client's, or all the scope sees), each with its
    client's name."""
    scope.require(Action.READ)
    only = client_in_scope(scope, client_id)
    with unit_of_work() as db:
        names = {c.id: c.name for c in repo.list_clients(db, client_id=scope.client_filter())}
        if session_id is not None:
            found = repo.sessions_by_id(db, [parse_id(session_id, "session")])
            if not found or (only is not None and found[0].client_id != only):
                raise NotFound("session", session_id)
            rows = list(found)
        else:
            rows = list(repo.list_sessions(db, client_id=only, include_archived=not active_only))
    return [(s, names.get(s.client_id, "")) for s in rows]


def _estimate(scope: Scope, client_id: uuid.UUID, settings: FlowSettings) -> tuple[float, float]:
    """Cost (USD) and seconds of one image for the client, as the studio estimates them."""
    found = estimates.estimate_generation(
        scope, client_id=client_id, products=1, settings=settings.model_copy(update={"variants": 1})
    )
    return found.cost_usd, math.nan if settings.economy else found.seconds_per_image


def _ranked(
    product: Any, scenes: Mapping[str, Any], analysed: Mapping[str, Any]
) -> list[tuple[str, float, str]]:
    """Every scene for the product as matching ranks them, ``(scene id, score, reason)``;
    scenes without an analysis (or all, for a product without one) last, unscored."""
    ranked = (
        ranked_scenes(ProductAnalysis.model_validate(product.analysis), analysed)
        if product.analysis
        else []
    )
    unscored = sorted(set(scenes) - {sid for sid, _total, _reason in ranked})
    return ranked + [
        (sid, math.nan, "not analysed yet: run the analysis first") for sid in unscored
    ]


def plan(
    scope: Scope,
    *,
    client_id: uuid.UUID | str | None = None,
    session_id: uuid.UUID | str | None = None,
    settings: FlowSettings | None = None,
    top: int | None = None,
    analyze: bool = True,
) -> list[PlanRow]:
    """Every image the sessions could make: one row per product x scene x variant.

    For one session, a client's active sessions, or every active session the scope sees.
    Scenes come in the order matching ranks them for the product (:func:`ranked_scenes`);
    scenes without an analysis come last, unscored. ``top`` keeps each product's best N.
    With ``analyze``, what lacks an analysis is analysed first, as matching does.
    """
    scope.require(Action.READ)
    settings = settings or FlowSettings()
    if top is not None and top < 1:
        raise InvalidInput("top must be at least 1")
    chosen = [
        (s, name)
        for s, name in sessions_of(
            scope, client_id=client_id, session_id=session_id, active_only=session_id is None
        )
        if s.scenes
    ]
    if analyze and chosen:
        for session, _name in chosen:
            analysis.analyze_session(scope, session_id=session.id)
        with unit_of_work() as db:
            fresh = {s.id: s for s in repo.sessions_by_id(db, [s.id for s, _ in chosen])}
        chosen = [(fresh[s.id], name) for s, name in chosen]
    client_ids = sorted({s.client_id for s, _ in chosen}, key=str)
    by_client: dict[uuid.UUID, list[Any]] = {cid: [] for cid in client_ids}
    with unit_of_work() as db:
        only = client_ids[0] if len(client_ids) == 1 else scope.client_filter()
        for product in repo.list_products(db, client_id=only):
            if product.client_id in by_client:
                by_client[product.client_id].append(product)
    model = settings.model or backends.current().ai.image_model
    per_client = {cid: _estimate(scope, cid, settings) for cid in client_ids}
    rows: list[PlanRow] = []
    for session, client_name in chosen:
        cost, seconds = per_client[session.client_id]
        scenes = {s.id: s for s in session.scene_list()}
        analysed = {sid: a for sid, s in scenes.items() if (a := s.effective_analysis())}
        pairs = session.match_map()
        for product in by_client[session.client_id]:
            found = pairs.get(str(product.id))
            for rank, (scene_id, total, reason) in enumerate(
                _ranked(product, scenes, analysed)[:top], start=1
            ):
                scene = scenes[scene_id]
                rows += [
                    PlanRow(
                        client_id=session.client_id,
                        client_name=client_name,
                        session_id=session.id,
                        session_name=session.name,
                        product_id=product.id,
                        sku=product.sku,
                        product_name=product.name,
                        category=product.category or (product.analysis or {}).get("category"),
                        scene_id=scene_id,
                        scene_file=scene.filename,
                        room_type=scene.room,
                        score=total,
                        rank=rank,
                        is_match=found is not None and found.scene_id == scene_id,
                        reason=reason,
                        variant=variant,
                        aspect_ratio=settings.aspect_ratio,
                        prompt=settings.prompt,
                        model=model,
                        economy=settings.economy,
                        image_size=settings.image_size,
                        est_cost_usd=cost,
                        est_seconds=seconds,
                    )
                    for variant in range(settings.variants)
                ]
    return rows


@dataclass(frozen=True)
class Planned:
    """One image of a plan to make: a product in a scene, with its own settings.

    ``settings`` holds what the row sets of ``aspect_ratio, prompt, model, economy,
    image_size``; the
    rest comes from the defaults. Rows with the same session, product and scene are variants.
    """

    session_id: uuid.UUID
    product_id: uuid.UUID
    scene_id: str
    settings: tuple[tuple[str, Any], ...] = ()


def submit(
    scope: Scope,
    *,
    planned: Iterable[Planned],
    name: str | None = None,
    dispatch: bool = True,
) -> list[generation.FlowRead]:
    """Turn planned images into flows: one per session and settings (more when a product is
    planned in several scenes, since a product is in a flow once). Nothing is created when a
    session is archived or a client's daily quota cannot take the whole plan."""
    scope.require(Action.GENERATE)
    # (session, settings) -> {(product, scene): variants}, in the plan's order
    groups: dict[tuple[uuid.UUID, tuple[tuple[str, Any], ...]], dict[tuple[uuid.UUID, str], int]]
    groups = {}
    for item in planned:
        cells = groups.setdefault((item.session_id, item.settings), {})
        key = (item.product_id, item.scene_id)
        cells[key] = cells.get(key, 0) + 1
    if not groups:
        return []
    only = scope.client_filter()
    with unit_of_work() as db:
        names = {c.id: c.name for c in repo.list_clients(db, client_id=only)}
        found = {
            s.id: s
            for s in repo.sessions_by_id(db, sorted({key[0] for key in groups}, key=str))
            if only is None or s.client_id == only
        }
    requests: list[FlowRequest] = []
    for (session_id, given), cells in groups.items():
        if session_id not in found:
            raise NotFound("session", session_id)
        session = found[session_id]
        if session.status != SessionStatus.ACTIVE:
            raise InvalidInput(
                f"session {session.name!r} is archived: restore it to generate in it"
            )
        keys = list(cells)
        for positions in _rounds([product_id for product_id, _scene in keys]):
            by_variants: dict[int, list[tuple[uuid.UUID, str]]] = {}
            for position in positions:
                by_variants.setdefault(cells[keys[position]], []).append(keys[position])
            for count, items in by_variants.items():
                request = FlowRequest(
                    client_id=session.client_id,
                    client_name=names.get(session.client_id, str(session.client_id)),
                    session_id=session_id,
                    settings=flow_settings(dict(given), {"variants": count}),
                    name=name or "Plan",
                )
                for product_id, scene_id in items:
                    request.product_ids.append(product_id)
                    request.scenes[product_id] = scene_id
                requests.append(request)
    return start(scope, requests=requests, dispatch=dispatch)
