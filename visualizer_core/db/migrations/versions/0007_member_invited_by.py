"""member invited by: who sent an invitation, so the person invited is told

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:45:00.000000

``member.invited_by``: the user (an owner, or the admin's own user when there is one) who sent
the invitation; cleared when that user is deleted. NULL on rows made before, and on members
made by the admin without an invitation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invited_by", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_member_invited_by_user"), "user", ["invited_by"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_member_invited_by_user"), type_="foreignkey")
        batch_op.drop_column("invited_by")
