"""The notebook API: every client's generations, products and sessions as pandas DataFrames.

For analysts and admins in Jupyter. Everything here acts in the admin scope (all clients at
once, or one with ``client_id``), and each table is one query, however many rows it has::

    from visualizer_core import admin

    gens = admin.generations(since="7 days")
    failed = gens[gens.status == ImageStatus.ERROR]
    flows = admin.rerun(failed, prompt="soft daylight, no people")  # one new flow per session
    after = admin.wait(flows)                                        # a progress bar, then rows

A re-run keeps its lineage: each new image's ``rerun_of_id`` names the image it re-made and
each new flow's ``parent_flow_id`` the flow it came from.

The plan is a DataFrame too: :func:`plan` lists every product x scene x variant a session
could make, with its matching score and the estimated cost and time of each image; filter or
edit it with pandas, then :func:`submit` turns what is left into flows::

    p = admin.plan(session_id=sid, variants=2)
    p = p[p["rank"] == 1]              # each product in its best scene
    flows = admin.submit(p)

Errors are :mod:`visualizer_core.errors` (``NotFound``, ``InvalidInput``, ``QuotaExceeded``
...), each with a message meant for the person at the notebook.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image
from tqdm import tqdm

from visualizer_core.db.base import utcnow
from visualizer_core.errors import InvalidInput
from visualizer_core.scope import ADMIN
from visualizer_core.services import budgets as budget_service
from visualizer_core.services import clients as client_service
from visualizer_core.services import economy as economy_service
from visualizer_core.services import export as export_service
from visualizer_core.services import gallery, generation, plans, tables
from visualizer_core.services import sessions as sessions_service
from visualizer_core.services import spend as spend_service
from visualizer_core.services._uow import parse_id

__all__ = [
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


def _columns(names: str) -> tuple[str, ...]:
    """Column names written as words (a table's many columns read better as text)."""
    return tuple(names.split())


GENERATION_COLUMNS = _columns(
    """
    id client_id client_name session_id session_name flow_id flow_name parent_flow_id rerun_of_id
    product_id sku product_name category scene_id variant status error_message created_at
    started_at completed_at duration_s queue_s work_s attempts model prompt_version flow_prompt
    economy aspect_ratio cost_usd fidelity_score review_state favourite
    """
)
"""The columns of :func:`generations` (and of :func:`wait`), in order."""

PLAN_COLUMNS = _columns(
    """
    client_id client_name session_id session_name product_id sku product_name category scene_id
    scene_file room_type score rank is_match reason variant aspect_ratio prompt model economy
    image_size est_cost_usd est_seconds
    """
)
"""The columns of :func:`plan`, in order."""

_PRODUCTS_COLUMNS = _columns(
    """
    id client_id client_name sku name category analysed_category taxonomy_id taxonomy_path
    confidence room_types style colors materials dimensions description photos images completed
    errors analyzed_at last_generated_at created_at
    """
)
_SESSIONS_COLUMNS = _columns(
    """
    id client_id client_name name status scenes matched flows images pending generating completed
    errors created_at last_generated_at
    """
)
_CLIENTS_COLUMNS = _columns(
    """
    id name plan daily_quota products sessions images completed errors cost_usd created_at
    last_generated_at
    """
)
_SCENES_COLUMNS = _columns(
    """
    session_id session_name client_id client_name scene_id scene_file source room_type style
    lighting analysed matched_products
    """
)
_CALLS_COLUMNS = _columns(
    """
    at kind model ok error cost_usd input_text input_image output_text output_image thinking
    client_id client_name session_id image_id product_id scene_id batch
    """
)
_PLAN_SETTINGS = ("aspect_ratio", "prompt", "model", "economy", "image_size")


# -- conversions -------------------------------------------------------------------------------


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: object) -> str | None:
    return None if _missing(value) else str(value)


def _frame(
    rows: tables.Rows,
    *,
    ids: Sequence[str] = (),
    times: Sequence[str] = (),
    floats: Sequence[str] = (),
) -> pd.DataFrame:
    """A DataFrame of a table query: ids as strings, times as UTC timestamps, floats as NaN."""
    columns, data = rows
    frame = pd.DataFrame.from_records(data, columns=columns)
    for column in ids:
        frame[column] = pd.Series([_text(v) for v in frame[column]], index=frame.index)
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in floats:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def _seconds(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds()


def _client_filter(client_id: uuid.UUID | str | None) -> uuid.UUID | None:
    """The client to limit a table to (checked to exist), or None for every client."""
    if client_id is None:
        return None
    return client_service.get_client(ADMIN, client_id=client_id).id


def _since(value: object) -> dt.datetime | None:
    """A point in time from a datetime, a date, an ISO string, or a span back from now."""
    if value is None:
        return None
    now = utcnow()
    if isinstance(value, dt.timedelta):  # pd.Timedelta is one too
        return now - value
    if isinstance(value, str):
        try:
            return now - pd.Timedelta(value).to_pytimedelta()
        except ValueError:
            pass
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(
            f"since={value!r} is neither a time (a datetime, a date, '2026-11-01') "
            "nor a span back from now ('7 days', '12h')"
        ) from None
    if pd.isna(stamp):
        raise InvalidInput(f"since={value!r} is not a time")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    result: dt.datetime = stamp.tz_convert("UTC").to_pydatetime()
    return result


def _ids_of(rows: object, column: str, kind: str) -> list[uuid.UUID]:
    """Ids from a DataFrame's ``column``, a Series, one id, or an iterable of ids; in order."""
    values: Iterable[Any]
    if isinstance(rows, pd.DataFrame):
        if column not in rows.columns:
            raise InvalidInput(
                f"the DataFrame has no {column!r} column: pass rows of admin.generations() "
                "or a list of ids"
            )
        values = rows[column].tolist()
    elif isinstance(rows, pd.Series):
        values = rows.tolist()
    elif isinstance(rows, str | uuid.UUID):
        values = [rows]
    elif isinstance(rows, Iterable):
        values = rows
    else:
        raise InvalidInput(f"expected a DataFrame or a list of {kind} ids, got {type(rows)}")
    return list(dict.fromkeys(parse_id(v, kind) for v in values if not _missing(v)))


# -- tables ------------------------------------------------------------------------------------


def _generations(
    *,
    client_id: uuid.UUID | None = None,
    since: dt.datetime | None = None,
    flow_ids: Sequence[uuid.UUID] | None = None,
) -> pd.DataFrame:
    rows = tables.generations(ADMIN, client_id=client_id, since=since, flow_ids=flow_ids)
    frame = _frame(
        rows,
        ids=_columns("id client_id session_id flow_id parent_flow_id rerun_of_id product_id"),
        times=("created_at", "started_at", "completed_at"),
        floats=("cost_usd", "fidelity_score"),
    )
    frame["duration_s"] = _seconds(frame["completed_at"], frame["created_at"])
    frame["queue_s"] = _seconds(frame["started_at"], frame["created_at"])
    frame["work_s"] = _seconds(frame["completed_at"], frame["started_at"])
    for column in ("economy", "favourite"):
        frame[column] = [bool(v) for v in frame[column]]
    frame = frame.astype({"attempts": "int64", "variant": "int64"})
    return frame[list(GENERATION_COLUMNS)]


def generations(client_id: uuid.UUID | str | None = None, since: object = None) -> pd.DataFrame:
    """One row per generated image, oldest first, across every client (or one).

    Columns: see :data:`GENERATION_COLUMNS`. Times are UTC timestamps; ``duration_s`` is from
    the request to the result (``queue_s`` waiting for a worker, then ``work_s`` working), NaN
    while the image is open. ``cost_usd`` and ``fidelity_score`` are NaN where none was
    recorded. ``since`` takes a datetime, a date, an ISO string or a span back from now such as
    ``"7 days"``.
    """
    return _generations(client_id=_client_filter(client_id), since=_since(since))


def import_products(
    df: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    client_id: uuid.UUID | str,
    images_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Import a catalog given as a DataFrame with any column set ``visualizer products import``
    reads: ours (``sku, name, ...``), a Shopify export's (``Handle, Title, ...``) or a Merchant
    Center feed's (``id, title, image_link, ...``), e.g. ``pd.read_csv(path, sep="\\t")``.

    Photo file names are relative to ``images_dir``; ``http(s)`` photo URLs are downloaded
    with a progress bar. Returns the report: ``imported, updated, failed, errors`` (one
    ``{"row", "error"}`` per row that did not land) and ``product_ids``. Rows with a known sku
    update their product, so importing the same frame again is safe.
    """
    from visualizer_core.services import products as product_service

    records: list[Mapping[str, Any]] = (
        [{str(k): v for k, v in row.items()} for row in df.to_dict("records")]
        if isinstance(df, pd.DataFrame)
        else list(df)
    )
    with tqdm(total=0, desc="photos", unit="photo", disable=not progress) as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = product_service.import_products(
            ADMIN,
            client_id=client_id,
            records=records,
            images_dir=Path(images_dir) if images_dir else None,
            progress=advance,
        )
    return report.as_dict()


def products(client_id: uuid.UUID | str | None = None) -> pd.DataFrame:
    """One row per catalog product, with its analysis and how its generations went.

    Columns: ``id, client_id, client_name, sku, name, category, analysed_category,
    taxonomy_id, taxonomy_path, confidence, room_types, style, colors, materials, dimensions,
    description, photos, images, completed, errors, analyzed_at, last_generated_at,
    created_at``. ``room_types`` is empty for a product that needs a room.
    """
    rows = tables.products(ADMIN, client_id=_client_filter(client_id))
    frame = _frame(
        rows,
        ids=("id", "client_id"),
        times=("analyzed_at", "created_at", "last_generated_at"),
    )
    found = [a or {} for a in frame["analysis"]]
    frame["analysed_category"] = [a.get("category") for a in found]
    frame["taxonomy_id"] = pd.array([a.get("taxonomy_id") for a in found], dtype="Int64")
    frame["taxonomy_path"] = [a.get("taxonomy_path") for a in found]
    frame["confidence"] = [a.get("confidence") for a in found]
    frame["room_types"] = [list(a.get("room_types") or []) for a in found]
    frame["style"] = [list(a.get("style") or []) for a in found]
    frame["colors"] = [list(c or []) for c in frame["colors"]]
    frame["materials"] = [list(m or []) for m in frame["materials"]]
    for column in ("photos", "images", "completed", "errors"):
        frame[column] = frame[column].astype("int64")
    return frame[list(_PRODUCTS_COLUMNS)]


def sessions(client_id: uuid.UUID | str | None = None) -> pd.DataFrame:
    """One row per studio session (archived ones too, see ``status``), newest first.

    Columns: ``id, client_id, client_name, name, status, scenes, matched, flows, images,
    pending, generating, completed, errors, created_at, last_generated_at``.
    """
    rows = tables.sessions(ADMIN, client_id=_client_filter(client_id))
    frame = _frame(rows, ids=("id", "client_id"), times=("created_at", "last_generated_at"))
    frame["scenes"] = [len(s or []) for s in frame["scenes"]]
    frame["matched"] = [len(m or {}) for m in frame["matches"]]
    for column in ("flows", "images", "pending", "generating", "completed", "errors"):
        frame[column] = frame[column].astype("int64")
    return frame[list(_SESSIONS_COLUMNS)]


def account() -> dict[str, Any]:
    """The billing account's state: ``paused`` is None, or ``{"until", "reason"}`` while its
    work waits for the month's spend cap to reset (``GEMINI_LIMITS["account"]`` or Gemini's
    own), and ``model_warnings`` lists configured models that retire within 30 days."""
    from visualizer_core.services import models as model_service

    return {
        "paused": model_service.account_pause(ADMIN),
        "model_warnings": model_service.model_warnings(ADMIN),
    }


def set_daily_quota(client_id: uuid.UUID | str, n: int) -> int:
    """Change a client's daily image quota to ``n`` (0 stops its generations); returns it.

    The studio's quota message tells members to ask an admin for this (or the command
    ``visualizer client set-quota ID --daily-quota N``).
    """
    return client_service.set_daily_quota(ADMIN, client_id=client_id, daily_quota=n).daily_quota


def set_monthly_budget(client_id: uuid.UUID | str, usd: float | None) -> float | None:
    """Set a client's monthly budget to ``usd`` (None removes it); returns it.

    What the client spent this calendar month (UTC) is what the spend ledger records
    (:func:`spend`), and a request to generate that the budget cannot take, with the images
    it has queued, is refused before anything is written (``BudgetExceeded``). The command:
    ``visualizer client set-budget ID --monthly-usd X`` (``--none`` removes it).
    """
    state = budget_service.set_monthly_budget(ADMIN, client_id=client_id, monthly_budget_usd=usd)
    return state.monthly_budget_usd


def clients() -> pd.DataFrame:
    """One row per client: quota, products, sessions, images by outcome and total spend.

    Columns: ``id, name, plan, daily_quota, products, sessions, images, completed, errors,
    cost_usd, created_at, last_generated_at``.
    """
    rows = tables.clients(ADMIN)
    frame = _frame(
        rows, ids=("id",), times=("created_at", "last_generated_at"), floats=("cost_usd",)
    )
    for column in ("daily_quota", "products", "sessions", "images", "completed", "errors"):
        frame[column] = frame[column].astype("int64")
    return frame[list(_CLIENTS_COLUMNS)]


def scenes(
    client_id: uuid.UUID | str | None = None, *, session_id: uuid.UUID | str | None = None
) -> pd.DataFrame:
    """One row per inspiration scene of the sessions (of a client, or of one session).

    Columns: ``session_id, session_name, client_id, client_name, scene_id, scene_file, source,
    room_type, style, lighting, analysed, matched_products``; ``matched_products`` counts the
    products the session pairs with the scene.
    """
    records = []
    for session, client_name in plans.sessions_of(
        ADMIN, client_id=_client_filter(client_id), session_id=session_id
    ):
        pairs = session.match_map()
        for scene in session.scene_list():
            found = scene.analysis.model_dump() if scene.analysis else {}
            records.append(
                {
                    "session_id": str(session.id),
                    "session_name": session.name,
                    "client_id": str(session.client_id),
                    "client_name": client_name,
                    "scene_id": scene.id,
                    "scene_file": scene.filename,
                    "source": scene.source,
                    "room_type": scene.room,
                    "style": list(found.get("style") or []),
                    "lighting": found.get("lighting"),
                    "analysed": bool(found),
                    "matched_products": sum(1 for m in pairs.values() if m.scene_id == scene.id),
                }
            )
    columns = list(_SCENES_COLUMNS)
    return pd.DataFrame.from_records(records, columns=columns)


# -- spend -------------------------------------------------------------------------------------

SPEND_KINDS = ("image", "judgement", "analysis", "batch")
"""The kinds of provider calls, each a ``*_usd`` column of :func:`spend`."""


def spend(
    since: object = None, by: str = "client", client_id: uuid.UUID | str | None = None
) -> pd.DataFrame:
    """What the provider calls cost, grouped ``by`` client, day, model, kind or session.

    One row per group, with ``calls`` (failed and refused ones included: ``failed`` counts
    them), tokens (``input_tokens``, ``output_tokens``, ``thinking_tokens``), ``cost_usd`` and
    its split by kind (``image_usd``, ``judgement_usd``, ``analysis_usd``, ``batch_usd``). By
    client or session there are also ``approved`` images and the headline
    ``cost_per_approved_usd`` (spend / approved images; NaN before any approval). Every
    grouping adds up to the same total: the provider's bill for those calls. ``since`` as in
    :func:`generations` (the time of each call counts).
    """
    rows = spend_service.spend(
        ADMIN, client_id=_client_filter(client_id), since=_since(since), by=by
    )
    name = {"client": "client_name", "session": "session_name"}.get(by)
    key = {"client": "client_id", "session": "session_id"}.get(by, by)
    # A row's fields by the frame's names; the columns below pick those of this grouping
    # (``approved`` and ``cost_per_approved_usd`` are set by client and session only).
    records = [
        {
            **asdict(row),
            key: row.key,
            **({name: row.label} if name else {}),
            **{f"{kind}_usd": row.kinds.get(kind, 0.0) for kind in SPEND_KINDS},
        }
        for row in rows
    ]
    columns = [key, *([name] if name else []), *(["client_id"] if by == "session" else [])]
    columns += ["calls", "failed", "input_tokens", "output_tokens", "thinking_tokens", "cost_usd"]
    columns += [f"{kind}_usd" for kind in SPEND_KINDS]
    if by in ("client", "session"):
        columns += ["approved", "cost_per_approved_usd"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for column in columns:
        if column.endswith("_usd"):
            frame[column] = frame[column].astype("float64")
        elif column in ("calls", "failed", "approved") or column.endswith("_tokens"):
            frame[column] = frame[column].astype("int64")
    return frame


def calls(client_id: uuid.UUID | str | None = None, since: object = None) -> pd.DataFrame:
    """The ledger itself: one row per provider call, oldest first.

    Columns: ``at, kind, model, ok, error, cost_usd, input_text, input_image, output_text,
    output_image, thinking, client_id, client_name, session_id, image_id, product_id,
    scene_id, batch``.
    """
    found = tables.calls(ADMIN, client_id=_client_filter(client_id), since=_since(since))
    columns = list(_CALLS_COLUMNS)
    records = [
        {
            "at": c.record.at,
            "kind": c.record.kind.value,
            "model": c.record.model,
            "ok": c.record.ok,
            "error": c.record.error,
            "cost_usd": c.record.cost_usd,
            **{k: getattr(c.record.tokens, k) for k in columns[6:11]},
            "client_id": str(c.client_id),
            "client_name": c.client_name,
            "session_id": _text(c.session_id),
            "image_id": _text(c.image_id),
            "product_id": _text(c.product_id),
            "scene_id": c.scene_id,
            "batch": c.record.batch,
        }
        for c in found
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["cost_usd"] = frame["cost_usd"].astype("float64")
    return frame.sort_values("at", kind="stable").reset_index(drop=True)


def economy(flow_id: uuid.UUID | str, choose: str | None = None) -> dict[str, Any]:
    """An economy flow's state, and the way to answer a refused submission.

    Returns ``state`` (``submitted``, ``waiting_decision``, ``done`` or ``none``), the
    ``message`` to read when it waits, and how many images wait or are in batch jobs. With
    ``choose="retry"`` the waiting images go into a new batch job; with
    ``choose="full_price"`` the workers make them now at the standard price.
    """
    if choose is None:
        found = economy_service.economy_status(ADMIN, flow_id=flow_id)
    elif choose in ("retry", "full_price"):
        found = economy_service.decide_economy(ADMIN, flow_id=flow_id, choice=choose)  # type: ignore[arg-type]
    else:
        raise InvalidInput("choose 'retry' (economy mode again) or 'full_price'")
    return {**asdict(found), "flow_id": str(found.flow_id)}


def image(image_id: uuid.UUID | str, *, thumbnail: bool = True) -> Image.Image:
    """The picture of a completed image (its thumbnail by default), to show in a notebook."""
    data = gallery.image_bytes(ADMIN, image_id=image_id, thumbnail=thumbnail)
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def export(
    session_id: uuid.UUID | str,
    out: str | Path,
    preset: export_service.DeliveryPreset | str | Mapping[str, Any] | None = None,
    feed: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """The session's approved images at a delivery preset, with ``manifest.csv``, as a ZIP.

    ``feed`` (``"merchant-tsv"``, ``"merchant-xml"``, ``"shopify-csv"``) adds the file that
    store imports, linking to ``{base_url}/{file}`` (or, without ``base_url``, to the pictures
    published at ``R2_PUBLIC_URL``). A picture that breaks a store preset's rules stops the
    export (:class:`~visualizer_core.errors.InvalidInput` naming each) and nothing is written.

    ``preset`` is a name (``"square-2048"``, ``"portrait-1600x2000"``, ``"original"``,
    ``"square-2048-webp"``), a dict such as ``{"format": "webp", "size": "original",
    "pattern": "{sku}_{variant}"}``, or a :class:`DeliveryPreset`; None uses the one the
    session's client chose last in the studio. Returns ``{"images", "path", "preset"}``.
    """
    if preset is None:
        session = sessions_service.get_session(ADMIN, session_id=session_id)
        chosen = export_service.client_preset(ADMIN, client_id=session.client_id)
    else:
        chosen = export_service.parse_preset(
            preset if isinstance(preset, export_service.DeliveryPreset | str) else dict(preset)
        )
    return export_service.export_session(
        ADMIN,
        session_id=session_id,
        out=Path(out),
        approved_only=True,
        preset=chosen,
        feed=feed,
        base_url=base_url,
    )


# -- re-runs, waiting --------------------------------------------------------------------------


def rerun(rows: object, **settings: Any) -> list[str]:
    """Re-generate images as new flows in their own sessions; returns the new flow ids.

    ``rows`` is a DataFrame with an ``id`` column (rows of :func:`generations`), a Series or a
    list of image ids. Each image is made again once (``variants=2`` makes two of each) with
    the settings of the flow it came from, overridden by ``settings`` (``prompt``,
    ``aspect_ratio``, ``model``, ``economy``, ``variants``), in the scene it was made in (the
    session's current pairing if that scene was removed). The images of one session and flow
    become one new flow whose ``parent_flow_id`` is that flow; each new image's
    ``rerun_of_id`` is the image it re-makes. Nothing is created when an image is still open
    or a client's daily quota cannot take the whole batch.
    """
    ids = _ids_of(rows, "id", "image")
    made = plans.rerun(ADMIN, image_ids=ids, overrides=settings)
    return [str(flow_id) for flow_id in made.flow_ids]


def wait(flow_ids: object, timeout: float | None = None, progress: bool = True) -> pd.DataFrame:
    """Block until the flows' images are all completed or failed; returns their rows.

    ``flow_ids`` is what :func:`rerun` or :func:`submit` returned (one id, a list, or a
    DataFrame with a ``flow_id`` column). A tqdm progress bar counts finished images and
    errors. After ``timeout`` seconds it returns the rows as they are: open rows then still
    say ``pending`` or ``generating``.
    """
    ids = _ids_of(flow_ids, "flow_id", "flow")
    if not ids:
        return _generations(flow_ids=[])
    bars: list[Any] = []  # made on the first count, when the total is known

    def show(counts: dict[str, int]) -> None:
        if not bars:
            bars.append(
                tqdm(total=counts["total"], desc="generating", unit="image", disable=not progress)
            )
        bar = bars[0]
        bar.n = counts["completed"] + counts["error"]
        bar.set_postfix(errors=counts["error"], refresh=False)
        bar.refresh()

    try:
        generation.wait_for_flows(ADMIN, flow_ids=ids, timeout=timeout, on_progress=show)
    finally:
        for bar in bars:
            bar.close()
    return _generations(flow_ids=ids)


# -- plans -------------------------------------------------------------------------------------


def plan(
    client_id: uuid.UUID | str | None = None,
    *,
    session_id: uuid.UUID | str | None = None,
    variants: int = 1,
    top: int | None = None,
    analyze: bool = True,
    **settings: Any,
) -> pd.DataFrame:
    """Every image the active sessions could make: one row per product x scene x variant.

    For one session (``session_id``), a client's sessions (``client_id``) or every client's.
    Each row has the matching ``score`` (0..1) and ``reason`` of the product in the scene, its
    ``rank`` among the session's scenes for that product (1 is best), ``is_match`` (the scene
    the session pairs it with now), the flow settings (``aspect_ratio, prompt, model,
    economy``: ``settings`` sets them, and they may be edited per row) and ``est_cost_usd`` and
    ``est_seconds`` for one image. ``top=N`` keeps each product's N best scenes. With
    ``analyze`` (the default), products and scenes without an analysis are analysed first,
    as matching does; otherwise they get no score (NaN). Columns: :data:`PLAN_COLUMNS`.
    """
    rows = plans.plan(
        ADMIN,
        client_id=_client_filter(client_id),
        session_id=session_id,
        settings=plans.flow_settings({}, {"variants": variants, **settings}),
        top=top,
        analyze=analyze,
    )
    frame = pd.DataFrame.from_records(
        [
            {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in asdict(r).items()}
            for r in rows
        ],
        columns=list(PLAN_COLUMNS),
    )
    return frame.astype({"score": "float64", "est_cost_usd": "float64", "est_seconds": "float64"})


def _cell(value: Any) -> Any:
    """A plan cell, with pandas' missing values as None."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def submit(plan: pd.DataFrame, *, name: str | None = None) -> list[str]:
    """Turn a plan's rows into flows and their jobs; returns the new flow ids.

    ``plan`` needs ``session_id, product_id, scene_id``; its ``aspect_ratio, prompt, model,
    economy, image_size`` columns, where present, set each row's flow settings. The rows of one
    product
    and scene are its variants. One flow per session and settings (more when a product is
    planned in several scenes: a product is in a flow once). Nothing is created when a
    client's daily quota cannot take the whole plan.
    """
    if not isinstance(plan, pd.DataFrame):
        raise InvalidInput("submit takes the DataFrame that admin.plan() returned")
    missing = [c for c in ("session_id", "product_id", "scene_id") if c not in plan.columns]
    if missing:
        raise InvalidInput(f"the plan has no {missing[0]!r} column: start from admin.plan()")
    if plan.empty:
        return []
    present = [c for c in _PLAN_SETTINGS if c in plan.columns]
    planned = []
    for record in plan.to_dict("records"):
        product_id = parse_id(str(record["product_id"]), "product")
        scene_id = _cell(record["scene_id"])
        if scene_id is None:
            raise InvalidInput(f"product {product_id} has no scene in the plan")
        given = ((c, _cell(record[c])) for c in present)
        planned.append(
            plans.Planned(
                session_id=parse_id(str(record["session_id"]), "session"),
                product_id=product_id,
                scene_id=str(scene_id),
                settings=tuple((c, v) for c, v in given if v is not None),
            )
        )
    return [str(flow.flow_id) for flow in plans.submit(ADMIN, planned=planned, name=name)]


def fidelity(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each row's fidelity: ``product_path`` (the product's photo or cut-out) and
    ``image_path`` (a picture) give ``score``, ``auto_approve``, ``found``, ``method``,
    ``reasons`` and one column per signal (``delta_e``, ``outline_iou``, ...).

    A product that is not in its picture scores 0 (``found`` False). A missing or unreadable
    file raises :class:`~visualizer_core.errors.InvalidInput` naming it, before any scoring.
    """
    from visualizer_core.fidelity import FIDELITY_SIGNALS
    from visualizer_core.fidelity.files import measure_files

    missing = [c for c in ("product_path", "image_path") if c not in df.columns]
    if missing:
        raise InvalidInput(f"fidelity needs the column(s) {', '.join(missing)}")
    pairs = [(str(p), str(i)) for p, i in zip(df["product_path"], df["image_path"], strict=True)]
    measured = measure_files(pairs)
    out = df.copy()
    out["score"] = [m.score for m in measured]
    out["auto_approve"] = [m.auto_approve for m in measured]
    out["found"] = [m.found for m in measured]
    out["method"] = [m.method for m in measured]
    out["reasons"] = ["; ".join(m.reasons) for m in measured]
    for name in FIDELITY_SIGNALS:
        out[name] = [m.signals.get(name, math.nan) for m in measured]
    return out
