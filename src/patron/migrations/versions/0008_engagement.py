"""Engagement: templates, campaigns and their members, the message outbox, suppressions,
double opt-in requests and imported experiments.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:31:56.252152
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import patron.sqltypes

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("journey", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("segment", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("holdout_share", sa.Float(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("scheduled_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'push')", name=op.f("ck_campaigns_channel")
        ),
        sa.CheckConstraint("kind IN ('one_off', 'journey')", name=op.f("ck_campaigns_kind")),
        sa.CheckConstraint(
            "purpose IN ('marketing', 'transactional')", name=op.f("ck_campaigns_purpose")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'active', 'paused', 'done', 'cancelled')",
            name=op.f("ck_campaigns_status"),
        ),
        sa.CheckConstraint(
            "holdout_share >= 0 AND holdout_share < 1", name=op.f("ck_campaigns_holdout_share")
        ),
        sa.CheckConstraint("window_days > 0", name=op.f("ck_campaigns_window_days")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("key", name=op.f("uq_campaigns_key")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaigns_status_scheduled", ["status", "scheduled_at"], unique=False
        )

    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("holdout", sa.String(length=32), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("name", name=op.f("uq_experiments_name")),
    )
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("subjects", sa.JSON(), nullable=False),
        sa.Column("bodies", sa.JSON(), nullable=False),
        sa.Column("shipped", sa.Boolean(), nullable=False),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('marketing', 'transactional')", name=op.f("ck_message_templates_purpose")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint("key", name=op.f("uq_message_templates_key")),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')",
            name=op.f("ck_suppressions_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("channel", "address", name=op.f("uq_suppressions_channel_address")),
    )
    op.create_table(
        "campaign_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("occasion", sa.String(length=64), nullable=False),
        sa.Column("group", sa.String(length=32), nullable=False),
        sa.Column("assigned_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_members_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_campaign_members_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_members")),
        sa.UniqueConstraint(
            "campaign_id",
            "customer_id",
            "occasion",
            name=op.f("uq_campaign_members_campaign_id_customer_id_occasion"),
        ),
    )
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_members_campaign_group", ["campaign_id", "group"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_members_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "consent_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("requested_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_consent_requests_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_consent_requests_token_hash")),
    )
    with op.batch_alter_table("consent_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_requests_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "experiment_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("group", sa.String(length=32), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_experiment_results_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_results_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_results")),
        sa.UniqueConstraint(
            "experiment_id", "customer", name=op.f("uq_experiment_results_experiment_id_customer")
        ),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("variant", sa.String(length=32), nullable=True),
        sa.Column("template_key", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("send_after", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("opened_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('email', 'sms', 'push')", name=op.f("ck_messages_channel")),
        sa.CheckConstraint(
            "purpose IN ('marketing', 'transactional')", name=op.f("ck_messages_purpose")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'bounced', 'cancelled', 'dead')",
            name=op.f("ck_messages_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_messages_attempts")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_messages_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_messages_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["campaign_members.id"],
            name=op.f("fk_messages_member_id_campaign_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_messages_key")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_campaign_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index("ix_messages_customer_sent", ["customer_id", "sent_at"], unique=False)
        batch_op.create_index("ix_messages_due", ["status", "send_after"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_due")
        batch_op.drop_index("ix_messages_customer_sent")
        batch_op.drop_index("ix_messages_campaign_status")

    op.drop_table("messages")
    op.drop_table("experiment_results")
    with op.batch_alter_table("consent_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_requests_customer_id"))

    op.drop_table("consent_requests")
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_members_customer_id"))
        batch_op.drop_index("ix_campaign_members_campaign_group")

    op.drop_table("campaign_members")
    op.drop_table("suppressions")
    op.drop_table("message_templates")
    op.drop_table("experiments")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_status_scheduled")

    op.drop_table("campaigns")
