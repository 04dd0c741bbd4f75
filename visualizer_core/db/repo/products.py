"""Products of a client and their photos."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visualizer_core.db.models import Product, ProductImage
from visualizer_core.db.repo._common import chunks, scoped


def products_by_sku(db: Session, client_id: uuid.UUID, skus: Iterable[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    for chunk in chunks(set(skus)):
        stmt = select(Product).where(Product.client_id == client_id, Product.sku.in_(chunk))
        found.update({p.sku: p for p in db.scalars(stmt)})
    return found


def list_products(
    db: Session,
    *,
    client_id: uuid.UUID | None,
    ids: Sequence[uuid.UUID] | None = None,
    search: str | None = None,
    category: str | None = None,
) -> Sequence[Product]:
    stmt = scoped(select(Product), Product, client_id).order_by(Product.sku, Product.id)
    if ids is not None:
        stmt = stmt.where(Product.id.in_(list(ids)))
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(
            func.lower(Product.name).like(pattern) | func.lower(Product.sku).like(pattern)
        )
    if category:
        stmt = stmt.where(Product.category == category)
    return db.scalars(stmt).all()


def images_of(db: Session, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ProductImage]]:
    """Each product's images, in display order."""
    found: dict[uuid.UUID, list[ProductImage]] = {pid: [] for pid in product_ids}
    for chunk in chunks(product_ids):
        stmt = (
            select(ProductImage)
            .where(ProductImage.product_id.in_(chunk))
            .order_by(ProductImage.product_id, ProductImage.position, ProductImage.created_at)
        )
        for image in db.scalars(stmt):
            found[image.product_id].append(image)
    return found


def remove_product_image(db: Session, image: ProductImage) -> None:
    """Delete the photo's row, at the next flush (its stored files are the caller's to delete)."""
    db.delete(image)
