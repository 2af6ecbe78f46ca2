"""Access: staff users and API keys; customers.account_manager_id now points at a user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:31:57.172962

On SQLite, adding the foreign key rebuilds ``customers`` (batch mode: copy, drop, rename).
``env.py`` turns SQLite's foreign keys off around migrations, so dropping the old table does
not cascade into orders, interactions and consents; the case-insensitive search indexes are
expression indexes the rebuild cannot copy, so they are dropped before and made again after.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import patron.sqltypes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEARCHED = ("name", "email", "external_id")
ROLES = ("admin", "marketer", "account_manager", "service_agent", "analyst")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("locked_until", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            f"role IN ({', '.join(repr(role) for role in ROLES)})", name=op.f("ck_users_role")
        ),
        sa.CheckConstraint("failed_sign_ins >= 0", name=op.f("ck_users_failed_sign_ins")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    _drop_search_indexes()
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_account_manager_id_users"),
            "users",
            ["account_manager_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _create_search_indexes()


def downgrade() -> None:
    _drop_search_indexes()
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers_account_manager_id_users"), type_="foreignkey"
        )
    _create_search_indexes()
    op.drop_table("api_keys")
    op.drop_table("users")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _drop_search_indexes() -> None:
    if _sqlite():  # PostgreSQL alters the table in place and keeps its indexes
        for column in SEARCHED:
            op.execute(f"DROP INDEX ix_customers_{column}_search")


def _create_search_indexes() -> None:
    """As revision 0001 made them: prefix search that ignores case (see list_customers)."""
    if _sqlite():
        for column in SEARCHED:
            op.execute(
                f"CREATE INDEX ix_customers_{column}_search ON customers ({column} COLLATE NOCASE)"
            )
