"""Recommendations: the latest fit, its product profiles and neighbours, customers' blocks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:22:47.487869
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import patron.sqltypes

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recommendation_fits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fitted_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("as_of", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendation_fits")),
    )
    op.create_table(
        "product_neighbours",
        sa.Column("fit_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("neighbour_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("co_buyers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fit_id"],
            ["recommendation_fits.id"],
            name=op.f("fk_product_neighbours_fit_id_recommendation_fits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["neighbour_id"],
            ["products.id"],
            name=op.f("fk_product_neighbours_neighbour_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_neighbours_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "fit_id", "product_id", "neighbour_id", name=op.f("pk_product_neighbours")
        ),
    )
    op.create_table(
        "product_profiles",
        sa.Column("fit_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.Column("repeat_buyers", sa.Integer(), nullable=False),
        sa.Column("interval_days", sa.Float(), nullable=False),
        sa.Column("trend", sa.Integer(), nullable=False),
        sa.Column("season", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fit_id"],
            ["recommendation_fits.id"],
            name=op.f("fk_product_profiles_fit_id_recommendation_fits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_profiles_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fit_id", "product_id", name=op.f("pk_product_profiles")),
    )
    op.create_index("ix_product_profiles_fit_trend", "product_profiles", ["fit_id", "trend"])
    op.create_table(
        "recommendation_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_recommendation_blocks_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_recommendation_blocks_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendation_blocks")),
        sa.UniqueConstraint(
            "customer_id",
            "product_id",
            name=op.f("uq_recommendation_blocks_customer_id_product_id"),
        ),
    )
    op.create_index("ix_recommendation_blocks_customer", "recommendation_blocks", ["customer_id"])


def downgrade() -> None:
    op.drop_table("recommendation_blocks")
    op.drop_table("product_profiles")
    op.drop_table("product_neighbours")
    op.drop_table("recommendation_fits")
