"""Batch checkpoints: ``batch_items`` (resources.batch_checkpoint), one row per item a batch served, so a
killed and retried step re-sends none of them.

Revision ID: 0002_batch_items
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002_batch_items"
down_revision: str | None = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table("batch_items"):
        return  # made by ``create_all`` (a store older than migrations, or a test's): adopt it as it is
    op.create_table(
        "batch_items",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("checkpoint", sa.String(300), nullable=False),
        sa.Column("item", sa.String(300), nullable=False),
        sa.Column("request_key", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(200), nullable=False),
        sa.Column("degraded", sa.Boolean, nullable=False),
        sa.Column("output", sa.JSON, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_batch_items_checkpoint", "batch_items", ["checkpoint"])


def downgrade() -> None:
    op.drop_index("ix_batch_items_checkpoint", table_name="batch_items")
    op.drop_table("batch_items")
