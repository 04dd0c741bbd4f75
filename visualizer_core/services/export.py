"""Export: a session's completed images as a ZIP with ``manifest.csv``."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import GeneratedImage, Product
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import unit_of_work
from visualizer_core.services.sessions import load_session

__all__ = ["MANIFEST_COLUMNS", "export_session", "spreadsheet_safe"]

MANIFEST_COLUMNS = (
    "file",
    "image_id",
    "product_id",
    "sku",
    "product_name",
    "scene_id",
    "variant",
    "review_state",
    "favourite",
    "model",
    "prompt_version",
    "seed",
    "aspect_ratio",
    "fidelity_score",
    "created_at",
    "completed_at",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _file_name(sku: str, image: GeneratedImage) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", sku).strip("-.")[:80] or "product"
    return f"{safe}_v{image.variant + 1}_{image.id.hex[:8]}.jpg"


def export_session(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    out: Path,
    approved_only: bool = False,
    image_ids: list[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """Write the completed images (approved ones only, if asked) and their manifest to ``out``.

    The ZIP is written to a temporary file beside ``out`` and moved into place at the end, so
    a failure never leaves a half-written archive.
    """
    scope.require(Action.READ)
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        conditions: list[Any] = [
            GeneratedImage.studio_session_id == session.id,
            GeneratedImage.status == "completed",
        ]
        if approved_only:
            conditions.append(GeneratedImage.review_state == "approved")
        if image_ids is not None:
            conditions.append(GeneratedImage.id.in_(image_ids))
        images = repo.images_where(db, *conditions)
        products = {
            p.id: p
            for p in repo.list_products(
                db, client_id=session.client_id, ids=list({i.product_id for i in images})
            )
        }
        db.expunge_all()
    storage = backends.current().storage
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=out.parent)
    os.close(handle)
    try:
        manifest = io.StringIO()
        writer = csv.writer(manifest)
        writer.writerow(MANIFEST_COLUMNS)
        with zipfile.ZipFile(temp_name, "w", compression=zipfile.ZIP_STORED) as archive:
            for image in images:
                product: Product | None = products.get(image.product_id)
                sku = product.sku if product else "product"
                name = _file_name(sku, image)
                assert image.image_key is not None
                archive.writestr(name, storage.get(image.image_key))
                row = [
                    name,
                    image.id,
                    image.product_id,
                    sku,
                    product.name if product else "",
                    image.scene_id,
                    image.variant + 1,
                    image.review_state,
                    image.favourite,
                    image.model,
                    image.prompt_version,
                    image.seed,
                    image.aspect_ratio,
                    "" if image.fidelity_score is None else f"{image.fidelity_score:.3f}",
                    image.created_at.isoformat(),
                    image.completed_at.isoformat() if image.completed_at else "",
                ]
                writer.writerow([spreadsheet_safe(v) for v in row])
            archive.writestr("manifest.csv", manifest.getvalue())
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return {"images": len(images), "path": str(out)}
