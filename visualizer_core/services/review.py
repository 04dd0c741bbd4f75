"""Review at catalog scale: the order a session's images are judged in, decisions, bulk rules.

The review queue is read in one query per page run (:func:`review_queue`): every image of the
session with its product, the photo it was made from and, from the session row, its scene and
the matching reason. Completed images are ordered so that the doubtful come first:

1. **spot check**: images the gate's rule approved and drew for a person's look;
2. **doubtful**: fidelity scored below :data:`DOUBTFUL_BELOW`, lowest first;
3. **re-made**: images that re-make a failed one, or needed more than one attempt;
4. **unscored**: the fidelity judgement has not answered yet (it runs on its own);
5. **the rest**, lowest fidelity first;
6. **approved by rule**: the rule's other approvals (undone together in one step:
   :func:`undo_rule`).

A product's images stay together, where its most doubtful image falls and in that order
among themselves, so its variants are judged side by side.

A decision records who made it (``decided_by``: a person, or the rule) and, for a rejection,
why (:data:`REJECT_REASONS` or the person's words), so that every decision is a label the
fidelity gate's calibration can learn from (:mod:`visualizer_core.services.gate`).

Decisions are saved as they are made, one guarded ``UPDATE`` each: two members reviewing the
same session never overwrite more than the one image they both decided, where the later
decision wins; the queue is read afresh on every run, so the other member sees it on their
next image. Where each member stopped is kept on the session (``settings.review_positions``,
by user id; :func:`remember_position`), so reopening resumes there: at that image if it is
still undecided, else at the next undecided one after it. A decision does not write the
session row (large: it holds the scenes and matches), so deciding costs one small update;
the studio remembers the place at most every few seconds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from sqlalchemy.orm import Session

from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import REJECT_REASONS, GeneratedImage, Product
from visualizer_core.errors import InvalidInput, NotFound
from visualizer_core.matching import placement_warning
from visualizer_core.schemas import OPEN_STATUSES, ImageStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services import gate, learning, plans
from visualizer_core.services._uow import in_scope, parse_id, read_only, unit_of_work
from visualizer_core.services.gallery import browser_urls
from visualizer_core.services.sessions import load_session

__all__ = [
    "DOUBTFUL_BELOW",
    "GROUP_LABELS",
    "REJECT_REASONS",
    "Decision",
    "ReviewItem",
    "ReviewQueue",
    "RuleRun",
    "Version",
    "approve_by_rule",
    "approve_trusted",
    "decide",
    "lineage",
    "pick_variant",
    "pictures",
    "remember_position",
    "rerun_errors",
    "rerun_with_note",
    "review_queue",
    "set_favourite",
    "trusted",
    "undo_decisions",
    "undo_rule",
]

WRONG_ROOM = REJECT_REASONS[1]  # a rejection that teaches matching where not to put it
DOUBTFUL_BELOW = 0.7
GROUP_LABELS = {
    "spotcheck": "Spot check: approved by rule, drawn for a look",
    "doubtful": "Doubtful: low fidelity",
    "remade": "Re-made after an error",
    "unscored": "Fidelity not scored yet",
    "rest": "The rest",
    "byrule": "Approved by rule",
}
_GROUP_ORDER = {name: rank for rank, name in enumerate(GROUP_LABELS)}
_POSITIONS = "review_positions"
Decision = Literal["approved", "rejected", "none"]
_DECISIONS = ("approved", "rejected", "none")


RERUN_NAME = "Re-run from review"
"""The name of the flows a re-run from the review makes."""


@dataclass(frozen=True)
class ReviewItem:
    """One image as review shows it: the picture, its product photo, its scene and its state."""

    id: uuid.UUID
    flow_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    product_name: str
    variant: int
    status: str
    error_message: str | None
    review_state: str
    favourite: bool
    fidelity_score: float | None
    group: str
    image_key: str | None
    thumbnail_key: str | None
    product_preview_key: str | None
    scene_id: str | None
    scene_key: str | None
    scene_name: str | None
    match_score: float | None
    match_reason: str | None
    rerun_of_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    fidelity: dict[str, Any] | None = None
    decided_by: str | None = None
    rule_batch: str | None = None
    spot_check: bool = False
    reject_reason: str | None = None
    product_pixels: str = "generated"
    product_pixels_note: str | None = None
    placement: str | None = None
    """A placement warning ("Sofas in a kitchen: change the scene?") when the scene's room is
    not one of the rooms the product belongs in; None when it is, or is not known."""

    @property
    def by_rule(self) -> bool:
        """Approved by the gate's rule, and no person decided it since."""
        return self.review_state == "approved" and self.decided_by == "rule"

    @property
    def open_to_review(self) -> bool:
        """Waiting for a person: undecided, or approved by rule and drawn for a spot check."""
        return self.review_state == "none" or (self.by_rule and self.spot_check)

    @property
    def reasons(self) -> list[str]:
        """What the measurement found, in words ("colour changed: ΔE 18 on the product")."""
        return [str(r) for r in (self.fidelity or {}).get("reasons") or []]

    @property
    def signals(self) -> dict[str, float]:
        """The measured signals behind the score, by name."""
        found = (self.fidelity or {}).get("signals") or {}
        return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float)}


@dataclass(frozen=True)
class ReviewQueue:
    """A session's completed images in review order, its failed ones, and the member's place."""

    session_id: uuid.UUID
    items: list[ReviewItem]
    errors: list[ReviewItem]
    open: int
    resume_at: uuid.UUID | None
    rerun_sources: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def reviewed(self) -> int:
        return sum(1 for item in self.items if item.review_state != "none")

    def by_rule(self) -> list[ReviewItem]:
        """The images approved by rule that no person decided since."""
        return [item for item in self.items if item.by_rule]

    def spot_checks(self) -> list[ReviewItem]:
        """The rule's approvals drawn for a person's spot check, not looked at yet."""
        return [item for item in self.items if item.by_rule and item.spot_check]

    def index_of(self, image_id: uuid.UUID | None) -> int | None:
        return next((i for i, item in enumerate(self.items) if item.id == image_id), None)

    def next_undecided(self, after: uuid.UUID | None = None) -> ReviewItem | None:
        """The first undecided image after ``after`` (from the start when None), wrapping."""
        start = self.index_of(after)
        start = -1 if start is None else start
        count = len(self.items)
        for step in range(1, count + 1):
            item = self.items[(start + step) % count]
            if item.open_to_review:
                return item
        return None

    def start(self) -> ReviewItem | None:
        """Where the member resumes: their last image if it is still undecided, else the next
        undecided one after it, else the first image."""
        at = self.index_of(self.resume_at)
        if at is not None and self.items[at].open_to_review:
            return self.items[at]
        return self.next_undecided(self.resume_at) or (self.items[0] if self.items else None)

    def variants(self, item: ReviewItem) -> list[ReviewItem]:
        """The completed images of the same product, by variant number (a re-made one after
        the one it re-makes)."""
        same = [i for i in self.items if i.product_id == item.product_id]
        return sorted(same, key=lambda i: (i.variant, i.created_at))

    def rule_matches(self, min_fidelity: float) -> list[ReviewItem]:
        """The images "approve every image with fidelity >= X nobody decided" would approve."""
        return [
            i
            for i in self.items
            if i.review_state == "none"
            and i.fidelity_score is not None
            and i.fidelity_score >= min_fidelity
        ]

    def unrerun_errors(self) -> list[ReviewItem]:
        """Failed images that no later image re-makes yet."""
        return [e for e in self.errors if e.id not in self.rerun_sources]


@dataclass(frozen=True)
class Version:
    """One image in a product's lineage, with what changed from the one it re-made."""

    id: uuid.UUID
    created_at: dt.datetime
    status: str
    review_state: str
    prompt: str | None
    scene_id: str | None
    model: str | None
    seed: int
    aspect_ratio: str
    cost_usd: float | None
    fidelity_score: float | None
    thumbnail_key: str | None
    changes: list[str]
    product_pixels: str = "generated"
    product_pixels_note: str | None = None


@dataclass(frozen=True)
class RuleRun:
    """One run of an approval rule: its ``batch`` (to undo it), what it approved, and the
    share of those drawn for a person's spot check."""

    batch: str
    approved: list[uuid.UUID]
    spot_checks: list[uuid.UUID]

    @property
    def count(self) -> int:
        return len(self.approved)


def _group(row: Any) -> str:
    if row.review_state == "approved" and row.decided_by == "rule":
        return "spotcheck" if row.spot_check else "byrule"
    score = row.fidelity_score
    if score is not None and score < DOUBTFUL_BELOW:
        return "doubtful"
    if row.earlier_status == ImageStatus.ERROR or (row.attempts or 0) > 1:
        return "remade"
    if score is None:
        return "unscored"
    return "rest"


def review_queue(scope: Scope, *, session_id: uuid.UUID | str) -> ReviewQueue:
    """The session's images in review order, read in one query (plus the session row)."""
    scope.require(Action.READ)
    with read_only() as db:
        session = load_session(db, scope, session_id)
        rows = repo.review_rows(db, session_id=session.id)
        scenes = {s.id: s for s in session.scene_list()}
        matches = session.match_map()
        positions = dict((session.settings or {}).get(_POSITIONS) or {})
        sid = session.id
    user = getattr(scope, "user_id", None)
    resume = positions.get(str(user)) if user is not None else None
    items: list[ReviewItem] = []
    errors: list[ReviewItem] = []
    open_count = 0
    sources: set[uuid.UUID] = set()
    for row in rows:
        if row.rerun_of_id is not None:
            sources.add(row.rerun_of_id)
        if row.status in OPEN_STATUSES:
            open_count += 1
            continue
        scene = scenes.get(str(row.scene_id))
        match = matches.get(str(row.product_id))
        same_scene = match is not None and match.scene_id == row.scene_id
        found: dict[str, Any] = {
            "favourite": bool(row.favourite),
            "group": _group(row),
            "scene_key": scene.key if scene else None,
            "scene_name": (scene.filename or scene.room_type) if scene else None,
            "match_score": match.score if match and same_scene else None,
            "match_reason": match.reason if match and same_scene else None,
            "placement": _placement(row, scene.room if scene else None),
        }
        # Every other field of an item is the row's column of the same name.
        same = {f.name: getattr(row, f.name) for f in fields(ReviewItem) if f.name not in found}
        item = ReviewItem(**same, **found)
        (items if row.status == ImageStatus.COMPLETED else errors).append(item)

    def rank(item: ReviewItem) -> tuple[int, float]:
        score = item.fidelity_score if item.fidelity_score is not None else 2.0
        return (_GROUP_ORDER[item.group], score)

    # A product's images stay together (its variants side by side), placed by its most
    # doubtful image, and in the same order among themselves.
    first: dict[uuid.UUID, tuple[int, float]] = {}
    for item in items:
        first[item.product_id] = min(rank(item), first.get(item.product_id, rank(item)))
    items.sort(
        key=lambda i: (
            *first[i.product_id],
            i.sku,
            str(i.product_id),
            *rank(i),
            i.variant,
            i.created_at,
        )
    )
    errors.sort(key=lambda e: (e.sku, e.variant))
    return ReviewQueue(
        session_id=sid,
        items=items,
        errors=errors,
        open=open_count,
        resume_at=uuid.UUID(resume) if resume else None,
        rerun_sources=frozenset(sources),
    )


def _placement(row: Any, scene_room: str | None) -> str | None:
    """The warning when the image's scene is a room its product does not belong in."""
    rooms = list((row.product_analysis or {}).get("room_types") or [])
    what = (row.product_category or "").split(">")[-1].strip() or row.product_name
    return placement_warning(what, rooms, scene_room)


def pictures(item: ReviewItem) -> dict[str, str]:
    """Browser addresses of an item's pictures: ``image``, ``product`` and ``scene``.

    The item came from :func:`review_queue` in the caller's scope, so its keys are the
    client's own. No database query.
    """
    wanted = {
        "image": item.image_key,
        "product": item.product_preview_key,
        "scene": item.scene_key,
    }
    urls = browser_urls(wanted.values())
    return {name: urls[key] for name, key in wanted.items() if key and key in urls}


def remember_position(
    scope: Scope, *, session_id: uuid.UUID | str, image_id: uuid.UUID | str
) -> None:
    """Keep where the member is in the session's review, to resume there next time."""
    scope.require(Action.READ)
    iid = parse_id(image_id, "image")
    user = getattr(scope, "user_id", None)  # the admin has no place to keep
    with unit_of_work() as db:
        session = load_session(db, scope, session_id, lock=user is not None)
        settings = dict(session.settings or {})
        positions = dict(settings.get(_POSITIONS) or {})
        if user is None or positions.get(str(user)) == str(iid):
            return
        positions[str(user)] = str(iid)
        session.settings = {**settings, _POSITIONS: positions}


def decide(
    scope: Scope, *, image_id: uuid.UUID | str, decision: Decision, reason: str | None = None
) -> str:
    """Approve, reject or undecide one completed image, now; the later decision wins.

    A person's decision: it replaces an approval by rule (a spot check confirmed or
    overturned). ``reason`` says why an image was rejected: one of :data:`REJECT_REASONS` or
    the person's own words (at most 40 characters), kept as the decision's label. Returns
    the decision saved."""
    scope.require(Action.EDIT)
    if decision not in _DECISIONS:
        raise InvalidInput("a decision is approved, rejected or none")
    why = (reason or "").strip() or None
    if why is not None and decision != "rejected":
        raise InvalidInput("a reason is given with a rejection only")
    if why is not None and len(why) > 40:
        raise InvalidInput(
            f"a reject reason has at most 40 characters ({', '.join(REJECT_REASONS)}, or yours)"
        )
    with unit_of_work() as db:
        image = in_scope(db, scope, GeneratedImage, image_id, "image")
        if image.status != ImageStatus.COMPLETED:
            raise InvalidInput(f"image {image.id} is {image.status}: only finished ones are judged")
        _record(db, scope, image, decision, why)
    return decision


def _record(
    db: Session, scope: Scope, image: GeneratedImage, decision: str, why: str | None
) -> None:
    """Save a person's decision on one image, and what it teaches matching."""
    was_approved = image.review_state == "approved" and image.decided_by == "person"
    was_wrong_room = image.review_state == "rejected" and image.reject_reason == WRONG_ROOM
    repo.update_images(
        db,
        [image.id],
        review_state=decision,
        decided_by=None if decision == "none" else "person",
        rule_batch=None,
        spot_check=False,
        reject_reason=why,
        updated_at=utcnow(),
    )
    _teach(
        db,
        scope,
        image,
        placed=(decision == "approved") - was_approved,
        refused=(why == WRONG_ROOM) - was_wrong_room,
    )


def undo_decisions(
    scope: Scope, *, changes: Mapping[uuid.UUID | str, tuple[Decision, Decision]]
) -> int:
    """Take a person's decisions back: each image (id -> ``(before, after)``) returns to
    ``before`` where it is still ``after``; an image decided since (by another member, or by
    the rule) keeps that decision. What the decision taught matching is taken back too.

    One transaction; returns how many images went back.
    """
    scope.require(Action.EDIT)
    for before, after in changes.values():
        if before not in _DECISIONS or after not in _DECISIONS:
            raise InvalidInput("a decision is approved, rejected or none")
    back = 0
    with unit_of_work() as db:
        for image_id, (before, after) in changes.items():
            image = in_scope(db, scope, GeneratedImage, image_id, "image")
            if before == after or image.review_state != after or image.decided_by == "rule":
                continue
            _record(db, scope, image, before, None)
            back += 1
    return back


def _teach(
    db: Session, scope: Scope, image: GeneratedImage, *, placed: int = 0, refused: int = 0
) -> None:
    """A person's approval places the product's category in the image's room; a rejection
    as the wrong room refuses it there (:mod:`visualizer_core.learning`)."""
    if (not placed and not refused) or image.scene_id is None:
        return
    product = repo.get(db, Product, image.product_id, client_id=image.client_id)
    scene = load_session(db, scope, image.studio_session_id).find_scene(image.scene_id)
    learning.note_placement(
        db,
        client_id=image.client_id,
        category=((product.analysis or {}).get("category") if product is not None else None),
        room=scene.room if scene is not None else None,
        placed=placed,
        refused=refused,
    )


def set_favourite(scope: Scope, *, image_id: uuid.UUID | str, favourite: bool) -> bool:
    """Mark or unmark one image as a favourite; returns the new mark."""
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        image = in_scope(db, scope, GeneratedImage, image_id, "image")
        repo.update_images(db, [image.id], favourite=favourite, updated_at=utcnow())
    return favourite


def pick_variant(scope: Scope, *, image_id: uuid.UUID | str) -> int:
    """Approve this image and reject the product's other finished images in the session.

    Returns how many images changed.
    """
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        image = in_scope(db, scope, GeneratedImage, image_id, "image")
        if image.status != ImageStatus.COMPLETED:
            raise InvalidInput(f"image {image.id} is {image.status}: pick a finished image")
        now = utcnow()
        others = [
            i
            for i in repo.images_of_session(
                db,
                image.studio_session_id,
                product_id=image.product_id,
                status=ImageStatus.COMPLETED,
            )
            if i.id != image.id and i.review_state != "rejected"
        ]
        for other in others:
            if other.review_state == "approved" and other.decided_by == "person":
                _teach(db, scope, other, placed=-1)
        person = {"decided_by": "person", "rule_batch": None, "spot_check": False}
        changed = repo.update_images(
            db,
            [i.id for i in others],
            review_state="rejected",
            reject_reason=None,
            updated_at=now,
            **person,
        )
        if image.review_state != "approved" or image.decided_by != "person":
            changed += repo.update_images(
                db, [image.id], review_state="approved", updated_at=now, **person
            )
            _teach(db, scope, image, placed=+1)
        return changed


def approve_by_rule(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    min_fidelity: float,
    dry_run: bool = False,
    only: Sequence[uuid.UUID | str] | None = None,
) -> int:
    """Approve every finished image scored at least ``min_fidelity`` that nobody decided yet.

    Rejected images stay rejected; unscored images are left alone. With ``dry_run`` nothing
    changes: the answer is how many images the rule would approve. ``only`` limits the rule
    to the images a person was shown the count of (images finished since are not touched).
    The images are approved *by rule* (a share drawn for a spot check) and undone together
    by :func:`undo_rule`.
    """
    scope.require(Action.READ if dry_run else Action.EDIT)
    if not 0.0 <= min_fidelity <= 1.0:
        raise InvalidInput("the fidelity of a rule is between 0 and 1")
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        rule = repo.ApprovalRule(
            session_id=session.id,
            min_fidelity=min_fidelity,
            among=None if only is None else [parse_id(i, "image") for i in only],
        )
        if dry_run:
            return repo.count_rule_matches(db, rule)
        batch = gate.new_batch()
        approved = repo.approve_rule_matches(db, rule, now=utcnow(), batch=batch)
        gate.draw_spot_checks(db, approved)
        return len(approved)


def trusted(scope: Scope, *, session_id: uuid.UUID | str) -> list[uuid.UUID]:
    """The session's finished images nobody decided that the fidelity gate trusts, by the
    client's calibration (what "approve everything the gate trusts" would approve)."""
    scope.require(Action.READ)
    with read_only() as db:
        session = load_session(db, scope, session_id)
        calibration = gate.calibration_of(db, session.client_id)
        rows = repo.review_rows(db, session_id=session.id)
    return [
        row.id
        for row in rows
        if row.status == ImageStatus.COMPLETED
        and row.review_state == "none"
        and gate.verdict(row.fidelity_score, row.fidelity, calibration) == "trusted"
    ]


def approve_trusted(
    scope: Scope, *, session_id: uuid.UUID | str, only: Sequence[uuid.UUID | str] | None = None
) -> RuleRun:
    """Approve everything the gate trusts in the session, by rule: one run, undone in one
    step (:func:`undo_rule` with its ``batch``), a share drawn for a spot check. ``only``
    limits it to the images a person was shown (images finished since are not touched)."""
    scope.require(Action.EDIT)
    wanted = trusted(scope, session_id=session_id)
    if only is not None:
        shown = {parse_id(i, "image") for i in only}
        wanted = [i for i in wanted if i in shown]
    batch = gate.new_batch()
    with unit_of_work() as db:
        approved = repo.approve_by_rule(db, wanted, now=utcnow(), batch=batch)
        sampled = gate.draw_spot_checks(db, approved)
    return RuleRun(batch=batch, approved=approved, spot_checks=sampled)


def undo_rule(scope: Scope, *, session_id: uuid.UUID | str, batch: str | None = None) -> int:
    """Undo the rule's approvals in the session (of one run, ``batch``, when given), in one
    step: each goes back to undecided. A decision a person made since is kept. Returns how
    many approvals were undone."""
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        ids = repo.rule_approvals(db, session_id=session.id, batch=batch)
        return repo.undo_rule_approvals(db, ids, now=utcnow())


def rerun_errors(
    scope: Scope, *, session_id: uuid.UUID | str, note: str = "", dry_run: bool = False
) -> int:
    """Reject every failed image of the session that was not re-made yet, and re-make it.

    Returns how many images that is (with ``dry_run``, how many it would be). Nothing is
    started when the client's daily quota cannot take them all.
    """
    scope.require(Action.READ if dry_run else Action.GENERATE)
    queue = review_queue(scope, session_id=session_id)
    failed = queue.unrerun_errors()
    if dry_run or not failed:
        return len(failed)
    plans.rerun(scope, image_ids=[f.id for f in failed], note=note, name=RERUN_NAME)
    with unit_of_work() as db:
        repo.update_images(
            db,
            [f.id for f in failed],
            review_state="rejected",
            decided_by="person",
            spot_check=False,
            updated_at=utcnow(),
        )
    return len(failed)


def rerun_with_note(scope: Scope, *, image_id: uuid.UUID | str, note: str) -> uuid.UUID:
    """Reject an image and make it again in the same scene, the note added to the prompt.

    Returns the new image's id. Nothing changes when the quota refuses the re-run.
    """
    scope.require(Action.GENERATE)
    if not note.strip():
        raise InvalidInput("say what should change in the re-run (the note is empty)")
    with unit_of_work() as db:
        image = in_scope(db, scope, GeneratedImage, image_id, "image")
    made = plans.rerun(scope, image_ids=[image.id], note=note, name=RERUN_NAME)
    with unit_of_work() as db:
        repo.update_images(
            db,
            [image.id],
            review_state="rejected",
            decided_by="person",
            spot_check=False,
            updated_at=utcnow(),
        )
    return made.made[image.id][0]


def lineage(scope: Scope, *, image_id: uuid.UUID | str) -> list[Version]:
    """The image and the earlier versions it re-made, newest first, each with what changed
    (prompt, scene, model, seed, aspect ratio, cost) from the one before it."""
    scope.require(Action.READ)
    iid = parse_id(image_id, "image")
    with unit_of_work() as db:
        rows = repo.lineage_rows(db, iid, client_id=scope.client_filter())
        if not rows:
            raise NotFound("image", image_id)
        versions = []
        for row, before in zip(rows, [*rows[1:], None], strict=True):
            changes = [
                label
                for label, attr in (
                    ("prompt", "prompt"),
                    ("scene", "scene_id"),
                    ("model", "model"),
                    ("seed", "seed"),
                    ("aspect ratio", "aspect_ratio"),
                    ("cost", "cost_usd"),
                )
                if before is not None and getattr(row, attr) != getattr(before, attr)
            ]
            # Every other field of a version is the row's column of the same name.
            same = {f.name: getattr(row, f.name) for f in fields(Version) if f.name != "changes"}
            versions.append(Version(**same, changes=changes))
    return versions
