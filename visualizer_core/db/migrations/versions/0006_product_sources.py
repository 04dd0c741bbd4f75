"""product sources: the catalog's own identifiers and the photos that could not be fetched

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 02:20:00.000000

- ``product.source_ids``: the identifiers the product has in the catalog it came from (a
  Shopify handle and variant SKUs, Merchant Center item ids and ``item_group_id``, WooCommerce
  ids, our CSV's sku), so a feed sent back to that store names the product as the store does.
  NULL on rows that existed before: nothing is known of their source.
- ``product.photo_errors``: the photos of the last import that could not be fetched or read,
  ``[{"url", "reason"}]``; NULL or empty when every named photo was stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _json() -> sa.JSON:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_ids", _json(), nullable=True))
        batch_op.add_column(sa.Column("photo_errors", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("photo_errors")
        batch_op.drop_column("source_ids")
