"""The loyalty engine: programmes, members, the points ledger, rewards, vouchers, audit log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:00:38.243236
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import patron.sqltypes

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loyalty_programmes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("point_value", patron.sqltypes.ExactDecimal(18, 4), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_loyalty_programmes_currency")),
        sa.CheckConstraint("point_value >= 0", name=op.f("ck_loyalty_programmes_point_value")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_programmes")),
        sa.UniqueConstraint("code", name=op.f("uq_loyalty_programmes_code")),
    )
    op.create_table(
        "loyalty_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["loyalty_programmes.id"],
            name=op.f("fk_loyalty_audit_programme_id_loyalty_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_audit")),
    )
    with op.batch_alter_table("loyalty_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_audit_at"), ["at"], unique=False)

    op.create_table(
        "loyalty_rewards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("cost > 0", name=op.f("ck_loyalty_rewards_cost")),
        sa.CheckConstraint("stock IS NULL OR stock >= 0", name=op.f("ck_loyalty_rewards_stock")),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["loyalty_programmes.id"],
            name=op.f("fk_loyalty_rewards_programme_id_loyalty_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_rewards")),
        sa.UniqueConstraint(
            "programme_id", "code", name=op.f("uq_loyalty_rewards_programme_id_code")
        ),
    )
    op.create_table(
        "loyalty_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("debt", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=40), nullable=True),
        sa.Column("tier_since", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tier_review_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enrolled_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_entry_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("balance >= -debt", name=op.f("ck_loyalty_accounts_balance")),
        sa.CheckConstraint("debt >= 0", name=op.f("ck_loyalty_accounts_debt")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_loyalty_accounts_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["loyalty_programmes.id"],
            name=op.f("fk_loyalty_accounts_programme_id_loyalty_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_accounts")),
        sa.UniqueConstraint(
            "programme_id", "customer_id", name=op.f("uq_loyalty_accounts_programme_id_customer_id")
        ),
    )
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_accounts_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loyalty_accounts_tier_review_at"), ["tier_review_at"], unique=False
        )

    op.create_table(
        "loyalty_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("entry_number", sa.Integer(), nullable=False),
        sa.Column("lot_number", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_loyalty_allocations_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_allocations_account_id_loyalty_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_allocations")),
    )
    with op.batch_alter_table("loyalty_allocations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_allocations_account", ["account_id", "entry_number"], unique=False
        )

    op.create_table(
        "loyalty_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("spend", patron.sqltypes.ExactDecimal(18, 4), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=True),
        sa.CheckConstraint(
            "operation IN ('purchase', 'return', 'event', 'redeem', 'reward', 'voucher', 'adjust', 'enrol')",
            name=op.f("ck_loyalty_events_operation"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_events_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["loyalty_programmes.id"],
            name=op.f("fk_loyalty_events_programme_id_loyalty_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_events")),
        sa.UniqueConstraint("programme_id", "key", name=op.f("uq_loyalty_events_programme_id_key")),
    )
    with op.batch_alter_table("loyalty_events", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_events_account_at", ["account_id", "at"], unique=False)
        batch_op.create_index(
            "ix_loyalty_events_reference", ["programme_id", "operation", "reference"], unique=False
        )

    op.create_table(
        "loyalty_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("earned_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_from", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("vested_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "source IN ('purchase', 'bonus', 'event', 'referral', 'adjustment')",
            name=op.f("ck_loyalty_lots_source"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_loyalty_lots_amount")),
        sa.CheckConstraint("available_from >= earned_at", name=op.f("ck_loyalty_lots_vesting")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= amount", name=op.f("ck_loyalty_lots_remaining")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_lots_account_id_loyalty_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_lots")),
        sa.UniqueConstraint("account_id", "number", name=op.f("uq_loyalty_lots_account_id_number")),
    )
    with op.batch_alter_table("loyalty_lots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_lots_available_from"), ["available_from"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_lots_open_expiry", ["expires_at", "remaining"], unique=False
        )

    op.create_table(
        "loyalty_vouchers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", patron.sqltypes.ExactDecimal(18, 4), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("minimum_order", patron.sqltypes.ExactDecimal(18, 4), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("reward_id", sa.Integer(), nullable=True),
        sa.Column("valid_from", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("cancelled_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('amount', 'free_product')", name=op.f("ck_loyalty_vouchers_kind")
        ),
        sa.CheckConstraint("max_uses >= 1", name=op.f("ck_loyalty_vouchers_max_uses")),
        sa.CheckConstraint("minimum_order >= 0", name=op.f("ck_loyalty_vouchers_minimum_order")),
        sa.CheckConstraint("uses >= 0 AND uses <= max_uses", name=op.f("ck_loyalty_vouchers_uses")),
        sa.CheckConstraint("value >= 0", name=op.f("ck_loyalty_vouchers_value")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_vouchers_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["loyalty_programmes.id"],
            name=op.f("fk_loyalty_vouchers_programme_id_loyalty_programmes"),
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["loyalty_rewards.id"],
            name=op.f("fk_loyalty_vouchers_reward_id_loyalty_rewards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_vouchers")),
        sa.UniqueConstraint("code", name=op.f("uq_loyalty_vouchers_code")),
    )
    with op.batch_alter_table("loyalty_vouchers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_vouchers_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "loyalty_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("lot_number", sa.Integer(), nullable=True),
        sa.Column("share", sa.String(length=80), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=True),
        sa.CheckConstraint(
            "(kind IN ('earn') AND amount > 0) OR (kind IN ('redeem', 'reverse', 'expire') AND amount < 0) OR kind = 'adjust'",
            name=op.f("ck_loyalty_entries_sign"),
        ),
        sa.CheckConstraint(
            "kind IN ('earn', 'redeem', 'reverse', 'expire', 'adjust')",
            name=op.f("ck_loyalty_entries_kind"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_loyalty_entries_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_entries_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["loyalty_events.id"],
            name=op.f("fk_loyalty_entries_event_id_loyalty_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_entries")),
        sa.UniqueConstraint(
            "account_id", "number", name=op.f("uq_loyalty_entries_account_id_number")
        ),
    )
    with op.batch_alter_table("loyalty_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_entries_at"), ["at"], unique=False)

    op.create_table(
        "loyalty_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("entry_number", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("voucher_id", sa.Integer(), nullable=True),
        sa.Column("at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_redemptions_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["loyalty_rewards.id"],
            name=op.f("fk_loyalty_redemptions_reward_id_loyalty_rewards"),
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["loyalty_vouchers.id"],
            name=op.f("fk_loyalty_redemptions_voucher_id_loyalty_vouchers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_redemptions")),
    )
    with op.batch_alter_table("loyalty_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_redemptions_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loyalty_redemptions_reward_id"), ["reward_id"], unique=False
        )

    op.create_table(
        "loyalty_voucher_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("voucher_id", sa.Integer(), nullable=False),
        sa.Column("order_reference", sa.String(length=200), nullable=False),
        sa.Column("at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["loyalty_vouchers.id"],
            name=op.f("fk_loyalty_voucher_uses_voucher_id_loyalty_vouchers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_voucher_uses")),
    )
    with op.batch_alter_table("loyalty_voucher_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_voucher_uses_voucher_id"), ["voucher_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("loyalty_voucher_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_voucher_uses_voucher_id"))

    op.drop_table("loyalty_voucher_uses")
    with op.batch_alter_table("loyalty_redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_redemptions_reward_id"))
        batch_op.drop_index(batch_op.f("ix_loyalty_redemptions_account_id"))

    op.drop_table("loyalty_redemptions")
    with op.batch_alter_table("loyalty_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_entries_at"))

    op.drop_table("loyalty_entries")
    with op.batch_alter_table("loyalty_vouchers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_vouchers_account_id"))

    op.drop_table("loyalty_vouchers")
    with op.batch_alter_table("loyalty_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_lots_open_expiry")
        batch_op.drop_index(batch_op.f("ix_loyalty_lots_available_from"))

    op.drop_table("loyalty_lots")
    with op.batch_alter_table("loyalty_events", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_events_reference")
        batch_op.drop_index("ix_loyalty_events_account_at")

    op.drop_table("loyalty_events")
    with op.batch_alter_table("loyalty_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_allocations_account")

    op.drop_table("loyalty_allocations")
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_accounts_tier_review_at"))
        batch_op.drop_index(batch_op.f("ix_loyalty_accounts_customer_id"))

    op.drop_table("loyalty_accounts")
    op.drop_table("loyalty_rewards")
    with op.batch_alter_table("loyalty_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_audit_at"))

    op.drop_table("loyalty_audit")
    op.drop_table("loyalty_programmes")
