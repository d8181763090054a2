"""coach routing: a coach's status, languages and countries; whom a request is assigned to,
and a transfer's note

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="available")
        )
        batch.add_column(
            sa.Column("languages", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("countries", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("last_routed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("assigned_to", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("transfer_note", sa.Text(), nullable=False, server_default=""))
        batch.create_foreign_key(
            op.f("fk_handoffs_assigned_to_users"),
            "users",
            ["assigned_to"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint(op.f("fk_handoffs_assigned_to_users"), type_="foreignkey")
        batch.drop_column("transfer_note")
        batch.drop_column("assigned_to")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_routed_at")
        batch.drop_column("countries")
        batch.drop_column("languages")
        batch.drop_column("status")
