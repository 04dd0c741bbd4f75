"""The ``visualizer`` command: the admin's way in, and scripts' (see CONTRACT.md).

Every command that reports a result takes ``--json`` and then prints exactly one JSON object on
stdout. Exit status: 0 done; 1 refused or failed, with one plain line on stderr; 2 wrong usage.
The command acts in the admin scope.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from visualizer_core.errors import VisualizerError
from visualizer_core.scope import ADMIN

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="visualizer",
    help="Photoreal product-in-scene pictures for a whole catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
client_app = typer.Typer(help="Clients (brands).", no_args_is_help=True)
user_app = typer.Typer(help="Users and their memberships.", no_args_is_help=True)
products_app = typer.Typer(help="The product catalog.", no_args_is_help=True)
session_app = typer.Typer(help="Studio sessions.", no_args_is_help=True)
scenes_app = typer.Typer(help="Inspiration scenes.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(client_app, name="client")
app.add_typer(user_app, name="user")
app.add_typer(products_app, name="products")
app.add_typer(session_app, name="session")
app.add_typer(scenes_app, name="scenes")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
WaitFlag = Annotated[bool, typer.Option("--wait", help="Wait, with a progress bar on stderr.")]
TimeoutOption = Annotated[float | None, typer.Option(min=0, help="Seconds to wait at most.")]


def fail(message: str) -> None:
    """One plain line on stderr, exit status 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def reports(func: F) -> F:
    """Turn deliberate errors into one line and exit 1; never show a traceback by default."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
            raise  # click reports wrong usage itself, with exit status 2
        except VisualizerError as error:
            fail(str(error))
        except Exception as error:  # a bug: say what, keep the traceback for who asks
            if os.environ.get("VISUALIZER_DEBUG"):
                traceback.print_exc()
            fail(f"internal error: {type(error).__name__}: {error}")

    return wrapper  # type: ignore[return-value]


def emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
    else:
        typer.echo(human)


# -- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
@reports
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Apply the migrations to DATABASE_URL (idempotent)."""
    from visualizer_core import backends
    from visualizer_core.db import migrate

    revision = migrate.upgrade(backends.current().engine)
    emit(as_json, {"revision": revision}, f"database at revision {revision}")


# -- clients and users -------------------------------------------------------------------------


@client_app.command("create")
@reports
def client_create(
    name: str,
    daily_quota: Annotated[int, typer.Option(min=0, help="Images a day.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Create a client."""
    from visualizer_core.services import clients

    client = clients.create_client(ADMIN, name=name, daily_quota=daily_quota)
    emit(
        as_json,
        {"id": str(client.id), "name": client.name, "daily_quota": client.daily_quota},
        f"client {client.id} {client.name!r} (daily quota {client.daily_quota})",
    )


@client_app.command("set-quota")
@reports
def client_set_quota(
    client_id: Annotated[str, typer.Argument(metavar="ID")],
    daily_quota: Annotated[int, typer.Option(min=0, help="Images a day.")],
    as_json: JsonFlag = False,
) -> None:
    """Change a client's daily image quota."""
    from visualizer_core.services import clients

    client = clients.set_daily_quota(ADMIN, client_id=client_id, daily_quota=daily_quota)
    emit(
        as_json,
        {"id": str(client.id), "daily_quota": client.daily_quota},
        f"client {client.id} {client.name!r}: daily quota {client.daily_quota}",
    )


@client_app.command("set-budget")
@reports
def client_set_budget(
    client_id: Annotated[str, typer.Argument(metavar="ID")],
    monthly_usd: Annotated[
        float | None,
        typer.Option("--monthly-usd", min=0, help="USD the client may spend a calendar month."),
    ] = None,
    remove: Annotated[bool, typer.Option("--none", help="Remove the client's budget.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set a client's monthly budget in USD, spent as the spend ledger records it."""
    from visualizer_core.services import budgets

    if (monthly_usd is None) == (not remove):
        raise typer.BadParameter("give --monthly-usd X or --none (one of them)")
    state = budgets.set_monthly_budget(ADMIN, client_id=client_id, monthly_budget_usd=monthly_usd)
    budget = state.monthly_budget_usd
    emit(
        as_json,
        {"id": str(state.client_id), "monthly_budget_usd": budget},
        f"client {state.client_id} {state.client_name!r}: "
        + ("no monthly budget" if budget is None else f"monthly budget USD {budget:,.2f}"),
    )


@user_app.command("create")
@reports
def user_create(
    email: str,
    client: Annotated[str, typer.Option("--client", help="Client id.")],
    role: Annotated[str, typer.Option("--role", help="owner, editor or viewer.")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a user (or reuse one) and make them a member of a client."""
    from visualizer_core.services import clients

    if role not in ("owner", "editor", "viewer"):
        raise typer.BadParameter("must be owner, editor or viewer", param_hint="--role")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on stdin")
    user = clients.create_user(ADMIN, email=email, client_id=client, role=role, password=password)
    human = f"user {user.id} {user.email}"
    if user.memberships_removed:  # a take-back: the person should hear it from the admin
        human += (
            "; the account was unverified, so the memberships accepted through copied "
            f"invitation links were removed: {', '.join(user.memberships_removed)}"
        )
    emit(
        as_json,
        {
            "id": str(user.id),
            "email": user.email,
            "memberships_removed": list(user.memberships_removed),
        },
        human,
    )


@user_app.command("set-password")
@reports
def user_set_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Replace a user's password; every login session of that person ends."""
    from visualizer_core.security import normalise_email
    from visualizer_core.services import auth

    if not password_stdin:
        raise typer.BadParameter(
            "the password is read from stdin only", param_hint="--password-stdin"
        )
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("no password on stdin")
    user_id = auth.set_password(ADMIN, email=email, password=password)
    address = normalise_email(email)
    emit(
        as_json,
        {"id": str(user_id), "email": address},
        f"password of {address} replaced; every session of theirs ended",
    )


# -- products ----------------------------------------------------------------------------------


@products_app.command("import")
@reports
def products_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="The catalog: our CSV, a Shopify or WooCommerce product export, or a Google "
            "Merchant Center feed (TSV, CSV, RSS/Atom XML); the format, encoding and "
            "delimiter are read from the file."
        ),
    ],
    client: Annotated[str, typer.Option("--client", help="Client id.")],
    images_dir: Annotated[
        Path | None, typer.Option(help="Folder the image column is relative to.")
    ] = None,
    per_colour: Annotated[
        bool,
        typer.Option(
            "--per-colour",
            help="Merchant Center feeds: one product (and picture) per colour of an item "
            "group, instead of one per group.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import products and their photos (files or http(s) URLs); rows with a known sku update."""
    from tqdm import tqdm

    from visualizer_core.services import products

    # disable=None: no bar when stderr is not a terminal (a script reads one line there)
    with tqdm(
        total=0, unit="photo", file=sys.stderr, desc="photos", leave=False, disable=None
    ) as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = products.import_products(
            ADMIN,
            client_id=client,
            csv_path=file,
            images_dir=images_dir,
            progress=advance,
            per_colour=per_colour,
        )
    how = ", ".join(filter(None, [report.format, report.encoding, report.delimiter]))
    lines = [
        f"imported {report.imported}, updated {report.updated}, failed {report.failed}"
        + (f" ({how})" if how else "")
    ]
    if report.photos_missing:
        lines.append(f"{report.photos_missing} photo(s) could not be stored")
    lines += [
        f"  {h['host']}: given up after the first failures ({h['photos']} photo(s)): {h['reason']}"
        for h in report.hosts_down
    ]
    lines += [f"  row {e['row']}: {e['error']}" for e in report.errors]
    emit(as_json, report.as_dict(), "\n".join(lines))
    if report.stored == 0:
        why = (
            f"all {report.failed} row(s) were refused (each is named in the errors)"
            if report.failed
            else "the file has no product rows"
        )
        fail(f"nothing was stored from {file}: {why}")


@products_app.command("list")
@reports
def products_list(
    client: Annotated[str | None, typer.Option("--client", help="Client id.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Session id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """What an import stored: each product's category, rooms, photo state and source ids."""
    from visualizer_core.services import products

    if (client is None) == (session is None):
        raise typer.BadParameter("give --client or --session (one of them)")
    found = products.list_products(ADMIN, client_id=client, session_id=session)
    listed = [p.listing() for p in found]
    human = [
        f"{p['sku']}\t{p['name']}\t{p['category'] or '-'}\t{','.join(p['rooms']) or '-'}"
        f"\tphoto {p['photo_state']}"
        for p in listed
    ]
    human += [f"  {p.sku}: {p.missing_photo_reason}" for p in found if p.missing_photo_reason]
    emit(as_json, {"products": listed}, "\n".join(human) or "no products")


# -- sessions and scenes -----------------------------------------------------------------------


@session_app.command("create")
@reports
def session_create(
    client: Annotated[str, typer.Option("--client", help="Client id.")],
    name: Annotated[str, typer.Option("--name", help="Session name.")],
    as_json: JsonFlag = False,
) -> None:
    """Create a studio session."""
    from visualizer_core.services import sessions

    session = sessions.create_session(ADMIN, client_id=client, name=name)
    emit(as_json, {"id": str(session.id), "name": session.name}, f"session {session.id}")


@scenes_app.command("add")
@reports
def scenes_add(
    files: Annotated[list[Path], typer.Argument(help="Scene photos.")],
    session: Annotated[str, typer.Option("--session", help="Session id.")],
    room_type: Annotated[
        str | None, typer.Option(help="Room type, e.g. 'Living Room' or 'Home Office'.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add inspiration scenes from files."""
    from visualizer_core.services import sessions

    loaded: list[tuple[str, bytes]] = []
    unreadable: list[dict[str, str]] = []
    for path in files:
        try:
            loaded.append((path.name, path.read_bytes()))
        except OSError as error:
            unreadable.append({"file": path.name, "error": f"{path}: {error.strerror}"})
    result = sessions.add_scenes(ADMIN, session_id=session, files=loaded, room_type=room_type)
    payload = result.as_dict()
    payload["failed"] = unreadable + payload["failed"]
    human = [f"added {len(result.scene_ids)} scene(s)"]
    human += [f"  {f['file']}: {f['error']}" for f in payload["failed"]]
    emit(as_json, payload, "\n".join(human))
    if not result.scene_ids and payload["failed"]:
        raise typer.Exit(1)


@app.command("status")
@reports
def status(
    session: Annotated[str, typer.Option("--session", help="Session id.")],
    as_json: JsonFlag = False,
) -> None:
    """Progress of a session's images."""
    from visualizer_core.services import models, sessions

    counts: dict[str, Any] = dict(sessions.session_status(ADMIN, session_id=session))
    paused = sessions.paused_models(ADMIN, session_id=session)
    if paused:  # models whose day's quota is used up: their images wait, named here
        counts["paused"] = paused
    account = models.account_pause(ADMIN)
    if account:  # the billing account's monthly spend cap: all its work waits
        counts["account_paused"] = account
    retiring = models.model_warnings(ADMIN)
    if retiring:  # a configured model retires within 30 days (or has)
        counts["model_warnings"] = retiring
    human = " ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int))
    human += "".join(f"\nwarning: {line}" for line in retiring)
    if account:
        human += f"\naccount paused until {account['until']}: {account['reason']}"
    for entry in paused:
        human += (
            f"\n{entry['images']} image(s) paused: {entry['model']}'s daily quota is used up;"
            f" they resume by themselves at {entry['until']}"
        )
    emit(as_json, counts, human)


@app.command("analyze")
@reports
def analyze(
    session: Annotated[str, typer.Option("--session", help="Session id.")],
    as_json: JsonFlag = False,
) -> None:
    """Analyse the session's products and scenes that lack it, and wait."""
    from visualizer_core.services import analysis

    result = analysis.analyze_session(ADMIN, session_id=session)
    human = f"analysed {result['products']} product(s) and {result['scenes']} scene(s)"
    human += "".join(f"\n  failed: {f}" for f in result["failed"])
    emit(as_json, result, human)


def _id_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not ids:
        raise typer.BadParameter("give at least one id", param_hint="--products")
    return ids


@app.command("match")
@reports
def match(
    session: Annotated[str, typer.Option("--session", help="Session id.")],
    products: Annotated[
        str | None, typer.Option("--products", help="Product ids, comma-separated.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The best scene for each product."""
    from visualizer_core.services import analysis

    found = analysis.match_session(ADMIN, session_id=session, product_ids=_id_list(products))
    human = "\n".join(
        f"{m['product_id']} -> {m['scene_id']} ({m['score']:.2f}) {m['reason']}" for m in found
    )
    homeless = [m["product_id"] for m in found if m.get("needs_room")]
    if homeless:
        human += f"\nneeds a room ({len(homeless)}): {', '.join(homeless)}"
    emit(as_json, {"matches": found, "needs_room": homeless}, human or "no products to match")


@app.command("generate")
@reports
def generate(
    session: Annotated[str, typer.Option("--session", help="Session id.")],
    products: Annotated[
        str | None, typer.Option("--products", help="Product ids, comma-separated.")
    ] = None,
    variants: Annotated[int, typer.Option(min=1, max=8, help="Images per product.")] = 1,
    aspect_ratio: Annotated[str, typer.Option(help="W:H, e.g. 1:1, 4:5, 16:9.")] = "1:1",
    image_size: Annotated[
        str | None,
        typer.Option(
            "--image-size",
            help="Output size: 1K, 2K or 4K (those the model draws); the model's default (1K)"
            " when left out. Larger sizes cost more.",
        ),
    ] = None,
    prompt: Annotated[str, typer.Option(help="Extra prompt text.")] = "",
    economy: Annotated[
        bool,
        typer.Option("--economy", help="The provider's batch mode: half the price, within a day."),
    ] = False,
    keep_product_pixels: Annotated[
        bool | None,
        typer.Option(
            "--keep-product-pixels/--generated-pixels",
            help="Pixel-exact mode: the product photo's own pixels composited back (default:"
            " the client's setting).",
        ),
    ] = None,
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    as_json: JsonFlag = False,
) -> None:
    """A flow over the session's products (or the given ones) and its jobs."""
    from pydantic import ValidationError

    from visualizer_core import backends
    from visualizer_core.schemas import FlowSettings
    from visualizer_core.services import generation

    try:
        settings = FlowSettings(
            variants=variants,
            aspect_ratio=aspect_ratio,
            prompt=prompt,
            economy=economy,
            keep_product_pixels=keep_product_pixels,
            image_size=image_size,  # type: ignore[arg-type]  # checked by FlowSettings
        )
    except ValidationError as error:
        raise typer.BadParameter(error.errors()[0]["msg"]) from None
    current = backends.current()
    # Without --wait on the embedded default nobody here stays to run the jobs: leave them
    # pending for the studio or `visualizer worker`, which pick them up from the database.
    dispatch = wait or current.settings.redis_url is not None
    flow = generation.generate(
        ADMIN,
        session_id=session,
        product_ids=_id_list(products),
        settings=settings,
        dispatch=dispatch,
    )
    payload = flow.as_dict()
    if wait:
        _wait_into(payload, [flow.flow_id], timeout)
    emit(
        as_json,
        payload,
        f"flow {flow.flow_id}: {len(flow.image_ids)} image(s), {payload['status']}",
    )
    if flow.skipped:  # one line on stderr; with --json each is also an entry of "skipped"
        left_out = "; ".join(f"{s['product_id']}: {s['reason']}" for s in flow.skipped)
        typer.echo(f"warning: skipped {len(flow.skipped)} product(s): {left_out}", err=True)
    _fail_on_timeout(payload, timeout)


@app.command("rerun")
@reports
def rerun(
    images: Annotated[
        list[str] | None, typer.Argument(help="Image ids to make again.", show_default=False)
    ] = None,
    session: Annotated[
        str | None,
        typer.Option("--session", help="With --errors: the session whose failures to re-run."),
    ] = None,
    errors: Annotated[
        bool, typer.Option("--errors", help="Every failed image of --session not re-run yet.")
    ] = False,
    note: Annotated[str, typer.Option(help="Added to each flow's prompt.")] = "",
    prompt: Annotated[str | None, typer.Option(help="Replaces each flow's prompt.")] = None,
    aspect_ratio: Annotated[str | None, typer.Option(help="W:H, e.g. 1:1, 4:5.")] = None,
    image_size: Annotated[
        str | None, typer.Option("--image-size", help="Output size: 1K, 2K or 4K.")
    ] = None,
    variants: Annotated[int, typer.Option(min=1, max=8, help="New images per image.")] = 1,
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Make images again in their scenes, with their flows' settings (lineage kept)."""
    from visualizer_core import backends
    from visualizer_core.services import plans, review

    if errors == (session is None) or (errors and images):
        raise typer.BadParameter("give image ids, or --session ID --errors")
    if session is not None:
        ids: list[Any] = [
            e.id for e in review.review_queue(ADMIN, session_id=session).unrerun_errors()
        ]
    else:
        ids = list(images or [])
    overrides: dict[str, Any] = {"variants": variants}
    overrides |= {
        k: v
        for k, v in (("prompt", prompt), ("aspect_ratio", aspect_ratio), ("image_size", image_size))
        if v is not None
    }
    # As `generate`: without --wait on the embedded default the rows wait for a worker.
    dispatch = wait or backends.current().settings.redis_url is not None
    made = plans.rerun(ADMIN, image_ids=ids, overrides=overrides, note=note, dispatch=dispatch)
    payload: dict[str, Any] = {
        "flow_ids": [str(f) for f in made.flow_ids],
        "image_ids": {str(k): [str(i) for i in v] for k, v in made.made.items()},
        "status": "queued",
    }
    if wait and made.flows:
        _wait_into(payload, made.flow_ids, timeout)
    new = sum(len(v) for v in made.made.values())
    emit(as_json, payload, f"{len(made.flows)} flow(s), {new} new image(s), {payload['status']}")
    _fail_on_timeout(payload, timeout)


def _wait_into(payload: dict[str, Any], flow_ids: list[Any], timeout: float | None) -> None:
    """Wait for the flows; their counts and final status go into ``payload``."""
    counts = _wait_with_bar(flow_ids, timeout)
    payload["counts"] = counts
    open_ = counts["pending"] + counts["generating"]
    payload["status"] = (
        "timeout" if open_ else "completed" if counts["error"] == 0 else "completed_with_errors"
    )


def _fail_on_timeout(payload: dict[str, Any], timeout: float | None) -> None:
    if payload["status"] == "timeout":
        counts = payload["counts"]
        fail(
            f"timed out after {timeout} s with {counts['pending'] + counts['generating']} "
            "image(s) still open; they stay queued and a worker (`visualizer worker` or the "
            "studio) finishes them"
        )


def _wait_with_bar(flow_ids: list[Any], timeout: float | None) -> dict[str, int]:
    from tqdm import tqdm

    from visualizer_core.services import generation

    bar: Any = None

    def progress(counts: dict[str, int]) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=counts["total"], unit="img", file=sys.stderr, desc="generating")
        done = counts["completed"] + counts["error"]
        bar.update(done - bar.n)
        bar.set_postfix(errors=counts["error"], refresh=False)

    try:
        return generation.wait_for_flows(
            ADMIN, flow_ids=flow_ids, timeout=timeout, on_progress=progress
        )
    finally:
        if bar is not None:
            bar.close()


@app.command("export")
@reports
def export(
    session: Annotated[str, typer.Option("--session", help="Session id.")],
    out: Annotated[Path, typer.Option("--out", help="The ZIP file to write.")],
    approved_only: Annotated[bool, typer.Option(help="Only approved images.")] = False,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Deliver at a preset: a store's rules (merchant-lifestyle, "
            "merchant-additional, shopify, amazon-secondary: every picture checked, none "
            "enlarged) or a size (square-2048, portrait-1600x2000, square-2048-webp, "
            "original-size, original); sRGB, tagged as made with AI, {sku}_{variant} names.",
        ),
    ] = None,
    feed: Annotated[
        str | None,
        typer.Option(
            "--feed",
            help="Add the file a store imports: merchant-tsv, merchant-xml (a Merchant Center "
            "supplemental feed with lifestyle_image_link, or additional_image_link with "
            "--preset merchant-additional) or shopify-csv (Handle, Image Src, Image Position, "
            "Image Alt Text).",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Where you will upload the pictures: the feed links to BASE_URL/FILE. "
            "Without it the pictures are published from the storage at R2_PUBLIC_URL.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Completed images and manifest.csv as a ZIP (as stored, or at a delivery preset)."""
    from visualizer_core.services import export as export_service

    result = export_service.export_session(
        ADMIN,
        session_id=session,
        out=out,
        approved_only=approved_only,
        preset=preset,
        feed=feed,
        base_url=base_url,
    )
    said = "".join(f"\nwarning: {line}" for line in result.get("warnings", []))
    emit(as_json, result, f"wrote {result['images']} image(s) to {result['path']}{said}")


@app.command("spend")
@reports
def spend(
    by: Annotated[
        str, typer.Option(help="Group by client, day, model, kind or session.")
    ] = "client",
    since: Annotated[
        str | None, typer.Option(help="A span back from now ('7 days') or a date.")
    ] = None,
    client: Annotated[str | None, typer.Option("--client", help="One client's id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """What the provider calls cost (the spend ledger), and the cost per approved image."""
    from visualizer_core import admin

    frame = admin.spend(since=since, by=by, client_id=client)
    rows = json.loads(frame.to_json(orient="records"))
    total = float(frame["cost_usd"].sum()) if len(frame) else 0.0
    calls = int(frame["calls"].sum()) if len(frame) else 0
    emit(
        as_json,
        {"by": by, "calls": calls, "cost_usd": round(total, 6), "rows": rows},
        frame.to_string(index=False) + f"\n{calls} call(s), ${total:,.4f}"
        if len(frame)
        else "no provider calls: nothing spent",
    )


@app.command("economy")
@reports
def economy(
    flow: Annotated[str, typer.Option("--flow", help="The economy flow's id.")],
    choose: Annotated[
        str | None,
        typer.Option(help="After a refused submission: 'retry' economy mode, or 'full_price' now."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """An economy flow's batch state; with --choose, the decision a refused submission needs."""
    from visualizer_core import admin

    found = admin.economy(flow, choose=choose)
    emit(
        as_json,
        found,
        f"flow {found['flow_id']}: {found['state']}"
        + (f" ({found['message']})" if found["message"] else ""),
    )


@app.command("fidelity")
@reports
def fidelity(
    files: Annotated[
        list[Path],
        typer.Argument(help="PRODUCT_PHOTO IMAGE pairs: the product's photo, then a picture."),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Score pairs of files: is the product in the picture, and is it unchanged."""
    if len(files) % 2:
        raise typer.BadParameter(
            f"{len(files)} file(s): give PRODUCT_PHOTO IMAGE pairs (an even number)"
        )
    from visualizer_core.fidelity import default_calibration
    from visualizer_core.fidelity.files import measure_files, result_row

    pairs = [(files[i], files[i + 1]) for i in range(0, len(files), 2)]
    results = [
        result_row(product, image, measured)
        for (product, image), measured in zip(pairs, measure_files(pairs), strict=True)
    ]
    lines = [
        f"{r['image']}: {r['score']:.2f}{' auto-approve' if r['auto_approve'] else ''}"
        f" ({r['method']}) {'; '.join(r['reasons'])}"
        for r in results
    ]
    lines.append(default_calibration().describe())
    emit(as_json, {"results": results}, "\n".join(lines))


@app.command("recover")
@reports
def recover(as_json: JsonFlag = False) -> None:
    """Rebuild the queue from the database: re-dispatch pending rows, reset stuck ones."""
    from visualizer_core import backends
    from visualizer_core.services import generation

    current = backends.current()
    # On the embedded default the running worker (studio or `visualizer worker`) sweeps the
    # database itself; here we only reset what is stuck and count what is pending.
    on_celery = current.settings.redis_url is not None
    result = generation.recover(ADMIN, dispatch=on_celery)
    if not on_celery:
        result["requeued"] = result["pending"]  # the database is the queue here
    emit(as_json, result, f"requeued {result['requeued']}, reset {result['reset']}")


@app.command("worker")
@reports
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Images at once.")] = 8,
    judgement_concurrency: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=256,
            help="Fidelity judgements at once, on slots of their own "
            "(default VISUALIZER_JUDGEMENT_WORKERS; 0: none here).",
        ),
    ] = None,
) -> None:
    """A Celery worker when REDIS_URL is set, else the in-process worker; runs until stopped."""
    from visualizer_core import backends

    current = backends.current()
    judges = (
        current.settings.visualizer_judgement_workers
        if judgement_concurrency is None
        else judgement_concurrency
    )
    if current.settings.redis_url:
        from workers.celery_app import run_worker

        run_worker(concurrency=concurrency, judgement_concurrency=judges)
        return
    from visualizer_core.jobqueue import run_embedded_worker
    from visualizer_core.services import TASKS

    typer.echo(f"in-process worker with {concurrency} thread(s); Ctrl-C to stop", err=True)
    run_embedded_worker(current, threads=concurrency, tasks=TASKS, judgement_threads=judges)


@app.command("studio")
@reports
def studio(port: Annotated[int, typer.Option(min=1, max=65535)] = 8501) -> None:
    """Run the Streamlit studio."""
    app_file = Path(__file__).resolve().parent.parent / "streamlit_app" / "server.py"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_file),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the server (no child left behind): a stop signal reaches Streamlit itself.
    os.execv(sys.executable, command)


@app.command("demo")
@reports
def demo(
    if_missing: Annotated[bool, typer.Option(help="Reuse the demo if there is one.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """A demo client, user, products and scenes, and a first generation."""
    from visualizer_core import backends
    from visualizer_core.services.demo import create_demo

    # On the embedded default the first generation is left pending for the studio's worker.
    dispatch = backends.current().settings.redis_url is not None
    result = create_demo(ADMIN, if_missing=if_missing, generate=True, dispatch=dispatch)
    emit(
        as_json,
        result,
        f"demo client {result['client_id']}: sign in as {result['email']} / {result['password']}",
    )


@app.command("secret")
def secret() -> None:
    """Print a new AUTH_SECRET: 32 random bytes, URL-safe base64."""
    from visualizer_core.config import new_secret

    typer.echo(new_secret())


def run() -> None:
    """Entry point of the console script; a bad configuration stops here in one line (but
    ``visualizer secret`` runs anyway: a refused AUTH_SECRET is when one needs it)."""
    from visualizer_core.config import get_settings
    from visualizer_core.errors import ConfigError

    try:
        if sys.argv[1:2] != ["secret"]:
            get_settings()
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None
    app()
