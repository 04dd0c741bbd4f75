"""account security: verified emails, password reset tokens, mailed invitations

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-30 01:45:00.000000

- ``user.email_verified``: whether the person proved they control the address (an invitation
  or reset link that went by e-mail, single sign-on, or the admin vouching). An account made
  through a copied invitation link is not, and is never merged into another client by that
  client adding its email. Accounts that exist before this revision are not verified either:
  nothing tells whether their password was chosen by the person or by whoever held a link.
- ``user.reset_token_hash`` / ``reset_expires_at``: the one open password reset (SHA-256 only).
- ``member.invite_mailed``: whether the invitation link went by e-mail (proof of the address
  when it is accepted) or was copied by the owner.

(Numbered 0003 as reserved; it follows 0004, which landed first.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("reset_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("reset_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_reset_token_hash"), ["reset_token_hash"]
        )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invite_mailed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("invite_mailed")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_user_reset_token_hash"), type_="unique")
        batch_op.drop_column("reset_expires_at")
        batch_op.drop_column("reset_token_hash")
        batch_op.drop_column("email_verified")
