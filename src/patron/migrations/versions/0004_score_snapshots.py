"""Dated snapshots of every customer's analytics scores (``patron.analytics.snapshots``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 11:03:04.584006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import patron.sqltypes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "score_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taken_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("time_unit", sa.String(length=8), nullable=False),
        sa.Column("model", sa.String(length=16), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("series", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_snapshots")),
    )
    with op.batch_alter_table("score_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_score_snapshots_taken_at"), ["taken_at"], unique=False)

    op.create_table(
        "customer_scores",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("first_purchase", sa.Date(), nullable=True),
        sa.Column("last_purchase", sa.Date(), nullable=True),
        sa.Column("orders", sa.Integer(), nullable=True),
        sa.Column("purchase_days", sa.Integer(), nullable=True),
        sa.Column("frequency", sa.Integer(), nullable=True),
        sa.Column("recency", sa.Float(), nullable=True),
        sa.Column("T", sa.Float(), nullable=True),
        sa.Column("monetary", sa.Float(), nullable=True),
        sa.Column("sales", sa.Float(), nullable=True),
        sa.Column("returns", sa.Float(), nullable=True),
        sa.Column("revenue", sa.Float(), nullable=True),
        sa.Column("discounts", sa.Float(), nullable=True),
        sa.Column("cost_of_goods", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("return_rate", sa.Float(), nullable=True),
        sa.Column("discount_share", sa.Float(), nullable=True),
        sa.Column("tenure_days", sa.Integer(), nullable=True),
        sa.Column("days_since_last", sa.Integer(), nullable=True),
        sa.Column("abc", sa.String(length=1), nullable=True),
        sa.Column("abc_share", sa.Float(), nullable=True),
        sa.Column("r_score", sa.Integer(), nullable=True),
        sa.Column("f_score", sa.Integer(), nullable=True),
        sa.Column("m_score", sa.Integer(), nullable=True),
        sa.Column("rfm_segment", sa.String(length=32), nullable=True),
        sa.Column("p_alive", sa.Float(), nullable=True),
        sa.Column("expected_purchases", sa.Float(), nullable=True),
        sa.Column("expected_spend", sa.Float(), nullable=True),
        sa.Column("clv", sa.Float(), nullable=True),
        sa.Column("lifecycle_phase", sa.String(length=16), nullable=True),
        sa.Column("loyalty_type", sa.String(length=24), nullable=True),
        sa.Column("cost_to_serve", sa.Float(), nullable=True),
        sa.Column("profit", sa.Float(), nullable=True),
        sa.Column("subscription_product", sa.String(length=64), nullable=True),
        sa.Column("subscription_interval_days", sa.Float(), nullable=True),
        sa.Column("unprofitable", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_scores_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["score_snapshots.id"],
            name=op.f("fk_customer_scores_snapshot_id_score_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "customer_id", name=op.f("pk_customer_scores")),
    )
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_scores_abc"), ["abc"], unique=False)
        batch_op.create_index(
            "ix_customer_scores_customer", ["customer_id", "snapshot_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_scores_customer")
        batch_op.drop_index(batch_op.f("ix_customer_scores_abc"))

    op.drop_table("customer_scores")
    with op.batch_alter_table("score_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_snapshots_taken_at"))

    op.drop_table("score_snapshots")
