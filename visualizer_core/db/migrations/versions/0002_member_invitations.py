"""member invitations: the hash of a single-use invite token and its expiry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:30:00.000000

An invitation is a ``member`` row not yet accepted. Only the SHA-256 of the token is kept, so
a copy of the database does not let anyone accept an invitation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invite_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("invite_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_member_invite_token_hash"), ["invite_token_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_member_invite_token_hash"), type_="unique")
        batch_op.drop_column("invite_expires_at")
        batch_op.drop_column("invite_token_hash")
