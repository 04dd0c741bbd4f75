"""product usage: the spend ledger of a product's analysis calls

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30 01:30:00.000000

Every provider call is kept on the row it served (no table of its own: the seed's eight tables
stay the only ones). Images keep theirs in ``generated_image.usage`` and scenes in their own
JSON on ``studio_session.scenes``; a product's analysis calls need this column. NULL: none yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "usage",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("usage")
