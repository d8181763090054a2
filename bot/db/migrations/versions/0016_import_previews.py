"""import_previews: a previewed catalogue CSV waits in the database, not on one dashboard's disk

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_previews",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_import_previews_user_id_users"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_import_previews")),
    )
    op.create_index(
        op.f("ix_import_previews_user_id"), "import_previews", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_import_previews_created_at"), "import_previews", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_import_previews_created_at"), table_name="import_previews")
    op.drop_index(op.f("ix_import_previews_user_id"), table_name="import_previews")
    op.drop_table("import_previews")
