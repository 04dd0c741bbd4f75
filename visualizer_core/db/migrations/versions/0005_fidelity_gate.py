"""fidelity gate: the measurement on each image, decisions by rule, reject reasons, exact pixels

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-06 02:30:00.000000

On ``generated_image``:

- ``fidelity``: the measurement behind ``fidelity_score`` (signals, found, outline, method,
  reasons; the provider's judgement when one was asked). NULL: not measured (older images).
- ``decided_by`` (``person`` | ``rule``), ``rule_batch`` and ``spot_check``: an approval made
  by the gate's rule is told apart from a person's, undone by its batch, and a share of it is
  drawn for a person's spot check. Older decisions were a person's: ``decided_by`` is set so.
- ``reject_reason``: why a person rejected it, so that decisions are labels.
- ``product_pixels`` (``generated`` | ``composited``) and ``product_pixels_note``: whether
  pixel-exact mode put the product photo's own pixels back, or why it did not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("generated_image", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "fidelity",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("decided_by", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("rule_batch", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("spot_check", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("reject_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column(
                "product_pixels",
                sa.String(length=20),
                nullable=False,
                server_default="generated",
            )
        )
        batch_op.add_column(sa.Column("product_pixels_note", sa.Text(), nullable=True))
        batch_op.create_check_constraint(
            "product_pixels", "product_pixels IN ('generated', 'composited')"
        )
        batch_op.create_check_constraint(
            "decided_by", "decided_by IS NULL OR decided_by IN ('person', 'rule')"
        )
    op.execute("UPDATE generated_image SET decided_by = 'person' WHERE review_state <> 'none'")


def downgrade() -> None:
    with op.batch_alter_table("generated_image", schema=None) as batch_op:
        batch_op.drop_constraint("decided_by", type_="check")
        batch_op.drop_constraint("product_pixels", type_="check")
        batch_op.drop_column("product_pixels_note")
        batch_op.drop_column("product_pixels")
        batch_op.drop_column("reject_reason")
        batch_op.drop_column("spot_check")
        batch_op.drop_column("rule_batch")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("fidelity")
