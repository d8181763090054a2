"""the inbox keeps update ids per bot (a new bot token starts its own update ids)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows stored so far get bot 0, "before the id was kept": a migration does not know the
    # bot token. The connector handles their pending updates as before, but never takes a new
    # update for a replay of one of them (that was the bug: a new bot's first updates matched
    # an earlier bot's ids and were dropped).
    with op.batch_alter_table("inbound_updates") as batch:
        batch.add_column(
            sa.Column("bot_id", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("inbound_updates") as batch:
        batch.drop_constraint("pk_inbound_updates", type_="primary")
        batch.create_primary_key("pk_inbound_updates", ["bot_id", "update_id"])
        batch.alter_column("bot_id", existing_type=sa.BigInteger(), server_default=None)


def downgrade() -> None:
    # One row per update id again: where two bots stored the same id, the higher bot id stays.
    op.execute(
        "DELETE FROM inbound_updates WHERE EXISTS (SELECT 1 FROM inbound_updates AS other"
        " WHERE other.update_id = inbound_updates.update_id"
        " AND other.bot_id > inbound_updates.bot_id)"
    )
    with op.batch_alter_table("inbound_updates") as batch:
        batch.drop_constraint("pk_inbound_updates", type_="primary")
        batch.create_primary_key("pk_inbound_updates", ["update_id"])
        batch.drop_column("bot_id")
