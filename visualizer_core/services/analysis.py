"""Analysis and matching: what each product and scene is, and which scene fits each product."""

from __future__ import annotations

import concurrent.futures as cf
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from visualizer_core import backends
from visualizer_core.ai import usage
from visualizer_core.ai.base import ProductFacts
from visualizer_core.ai.retry import call_with_retries
from visualizer_core.db import ledger, repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Product, StudioSession
from visualizer_core.errors import InvalidInput, NotFound, VisualizerError
from visualizer_core.matching import best_matches
from visualizer_core.schemas import Match, ProductAnalysis, SceneAnalysis
from visualizer_core.scope import Action, Scope
from visualizer_core.services import learning
from visualizer_core.services._uow import parse_id, unit_of_work
from visualizer_core.services.sessions import load_session

__all__ = ["analyze_session", "match_session", "set_match"]

# Concurrent analysis calls; the AI backends are thread-safe and mostly wait on the network.
_ANALYSIS_THREADS = 8


def _facts(product: Product) -> ProductFacts:
    return ProductFacts(
        name=product.name,
        category=product.category,
        description=product.description,
        colors=tuple(product.colors or ()),
        materials=tuple(product.materials or ()),
        dimensions=product.dimensions,
    )


_Outcome = tuple[dict[str, Any] | VisualizerError, list[usage.CallRecord]]
_A = TypeVar("_A")


def _retried(call: Callable[[], _A], what: str) -> _A:
    """An analysis call under the provider retry policy (the waits are spent here, in the
    caller's thread: analysis runs where it was asked for, not in a worker slot)."""
    settings = backends.current().settings
    return call_with_retries(
        call,
        attempts=settings.visualizer_max_attempts,
        base=settings.visualizer_retry_base_s,
        cap=settings.visualizer_retry_max_s,
        what=what,
    )


def _analyze_product(
    client_id: uuid.UUID, product_id: uuid.UUID, facts: ProductFacts, base_key: str | None
) -> _Outcome:
    """The product's analysis (or the error that stopped it) and the provider calls it made."""
    current = backends.current()
    with usage.collect() as calls:
        try:
            images = [current.storage.get(base_key)] if base_key else []
            found: dict[str, Any] | VisualizerError = _retried(
                lambda: current.ai.analyze_product(facts, images), f"analysis of {facts.name!r}"
            ).model_dump(mode="json")
        except VisualizerError as error:
            found = error
    for record in calls:
        record.client_id, record.product_id = str(client_id), str(product_id)
    return found, calls


def _analyze_scene(
    client_id: uuid.UUID, scene_id: str, key: str, room_type: str | None
) -> _Outcome:
    """The scene's analysis (or the error that stopped it) and the provider calls it made."""
    current = backends.current()
    with usage.collect() as calls:
        try:
            picture = current.storage.get(key)
            analysis = _retried(
                lambda: current.ai.analyze_scene(picture, room_type_hint=room_type),
                f"analysis of scene {scene_id}",
            )
            found: dict[str, Any] | VisualizerError = analysis.model_dump(mode="json")
        except VisualizerError as error:
            found = error
    for record in calls:
        record.client_id, record.scene_id = str(client_id), scene_id
    return found, calls


def analyze_session(
    scope: Scope, *, session_id: uuid.UUID | str, force: bool = False
) -> dict[str, Any]:
    """Analyse the client's products and the session's scenes that lack an analysis.

    Returns how many of each were analysed, and the failures (an item whose analysis failed
    keeps none and is tried again next time).
    """
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        sid, client_id = session.id, session.client_id
        todo_products = [
            p for p in repo.list_products(db, client_id=client_id) if force or p.analysis is None
        ]
        images = repo.images_of(db, [p.id for p in todo_products])
        product_jobs = [
            (p.id, _facts(p), images[p.id][0].base_key if images[p.id] else None)
            for p in todo_products
        ]
        scene_jobs = [
            (s.id, s.key, s.room_type) for s in session.scene_list() if force or not s.analysis
        ]
    failures: list[dict[str, str]] = []
    product_results: dict[uuid.UUID, dict[str, Any]] = {}
    scene_results: dict[str, dict[str, Any]] = {}
    product_calls: dict[uuid.UUID, list[usage.CallRecord]] = {}
    scene_calls: dict[str, list[usage.CallRecord]] = {}
    # The pool's threads use the caller's backends, also when the caller has its own.
    with cf.ThreadPoolExecutor(
        _ANALYSIS_THREADS,
        initializer=backends.activate_for_thread,
        initargs=(backends.current(),),
    ) as pool:
        product_futures = {
            pool.submit(_analyze_product, client_id, *job): job[0] for job in product_jobs
        }
        scene_futures = {pool.submit(_analyze_scene, client_id, *job): job[0] for job in scene_jobs}
        for future, pid in product_futures.items():
            found, calls = future.result()
            product_calls[pid] = calls
            if isinstance(found, VisualizerError):
                failures.append({"product_id": str(pid), "error": str(found)})
            else:
                product_results[pid] = found
        for future, scene_id in scene_futures.items():
            found, calls = future.result()
            scene_calls[scene_id] = calls
            if isinstance(found, VisualizerError):
                failures.append({"scene_id": scene_id, "error": str(found)})
            else:
                scene_results[scene_id] = found
    now = utcnow()
    with unit_of_work() as db:
        # Every call is spend, also those of an analysis that failed: the ledger keeps them.
        for pid, calls in product_calls.items():
            ledger.add_product_calls(db, pid, calls)
        ledger.add_scene_calls(db, sid, scene_calls)
        for product in repo.list_products(db, client_id=client_id, ids=list(product_results)):
            product.analysis = product_results[product.id]
            product.analyzed_at = now
        if scene_results:
            session = load_session(db, scope, sid, lock=True)
            session.set_scenes(
                s.model_copy(update={"analysis": SceneAnalysis.model_validate(scene_results[s.id])})
                if s.id in scene_results
                else s
                for s in session.scene_list()
            )
    return {"products": len(product_results), "scenes": len(scene_results), "failed": failures}


def match_session(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    product_ids: Sequence[uuid.UUID | str] | None = None,
    analyze: bool = True,
) -> list[dict[str, Any]]:
    """The best scene for each product (hand-set pairings kept), stored on the session.

    Products or scenes without an analysis are analysed first (unless ``analyze`` is False:
    the caller just did); a product whose analysis failed gets no match (it is not in the
    list). A product whose analysis found no room (``needs_room``) gets a neutral scene and is
    flagged so people can choose.
    """
    scope.require(Action.EDIT)
    if analyze:
        analyze_session(scope, session_id=session_id)
    with unit_of_work() as db:
        session = load_session(db, scope, session_id, lock=True)
        wanted = None if product_ids is None else [parse_id(p, "product") for p in product_ids]
        products = repo.list_products(db, client_id=session.client_id, ids=wanted)
        if wanted is not None and len(products) != len(set(wanted)):
            missing = set(wanted) - {p.id for p in products}
            raise NotFound("product", next(iter(missing)))
        scenes = {s.id: a for s in session.scene_list() if (a := s.effective_analysis())}
        if not scenes:
            raise InvalidInput("the session has no analysed scenes: add inspiration scenes first")
        analyses = {
            str(p.id): ProductAnalysis.model_validate(p.analysis) for p in products if p.analysis
        }
        matches = session.match_map()
        overrides = {
            pid: m.scene_id for pid, m in matches.items() if m.overridden and m.scene_id in scenes
        }
        taught = learning.lessons_of(db, session.client_id)
        found = best_matches(analyses, scenes, overrides, taught)
        out = []
        for pid in (str(p.id) for p in products if str(p.id) in found):
            # matching's choice as the session stores it, the score rounded
            matches[pid] = Match(**{**asdict(found[pid]), "score": round(found[pid].score, 4)})
            out.append({"product_id": pid, **matches[pid].model_dump(mode="json")})
        session.set_matches(matches)
        return out


def set_match(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    product_id: uuid.UUID | str,
    scene_id: str | None,
) -> dict[str, Any]:
    """Override the scene of one product (``None`` returns it to the automatic choice)."""
    scope.require(Action.EDIT)
    pid = parse_id(product_id, "product")
    with unit_of_work() as db:
        session = load_session(db, scope, session_id, lock=True)
        product = repo.get(db, Product, pid, client_id=session.client_id)
        if product is None:
            raise NotFound("product", product_id)
        matches = session.match_map()
        before = matches.get(str(pid))
        if before is not None and before.overridden:
            _teach(db, session, product, before.scene_id, -1)  # the earlier choice is taken back
        if scene_id is None:
            matches.pop(str(pid), None)
            session.set_matches(matches)
            return {"product_id": str(pid), "scene_id": None}
        if session.find_scene(scene_id) is None:
            raise NotFound("scene", scene_id)
        _teach(db, session, product, scene_id, +1)
        matches[str(pid)] = Match(
            scene_id=scene_id,
            score=before.score if before else None,
            reason="set by hand",
            overridden=True,
        )
        session.set_matches(matches)
        return {"product_id": str(pid), **matches[str(pid)].model_dump(mode="json")}


def _teach(db: Session, session: StudioSession, product: Product, scene_id: str, n: int) -> None:
    """Count (or take back) a person's placement of the product in the scene's room."""
    scene = session.find_scene(scene_id)
    learning.note_placement(
        db,
        client_id=session.client_id,
        category=(product.analysis or {}).get("category"),
        room=scene.room if scene is not None else None,
        placed=n,
    )
