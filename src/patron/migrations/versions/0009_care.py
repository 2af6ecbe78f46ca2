"""Care: cases and their entries, surveys and answers, account managers and key-account
assignments, tasks, events and their guests.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:09:42.907937
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import patron.sqltypes

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("segment", sa.Text(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('trade_fair', 'jubilee', 'product_test', 'other')",
            name=op.f("ck_events_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'invited', 'done', 'cancelled')", name=op.f("ck_events_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("key", name=op.f("uq_events_key")),
    )
    op.create_table(
        "care_runs",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("ran_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_care_runs")),
    )
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('nps', 'csat', 'kano')", name=op.f("ck_surveys_kind")),
        sa.CheckConstraint("status IN ('active', 'closed')", name=op.f("ck_surveys_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("key", name=op.f("uq_surveys_key")),
    )
    op.create_table(
        "account_managers",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_account_managers_capacity")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_managers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_managers")),
    )
    op.create_table(
        "account_assignments",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("assigned_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('rule', 'manual')", name=op.f("ck_account_assignments_source")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_account_assignments_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["manager_id"],
            ["users.id"],
            name=op.f("fk_account_assignments_manager_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_account_assignments")),
    )
    with op.batch_alter_table("account_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_assignments_manager_id"), ["manager_id"], unique=False
        )

    op.create_table(
        "event_guests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("invited_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("rsvp", sa.String(length=16), nullable=False),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("responded_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attended_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "rsvp IN ('none', 'accepted', 'declined')", name=op.f("ck_event_guests_rsvp")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_event_guests_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_guests_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_guests")),
        sa.UniqueConstraint(
            "event_id", "customer_id", name=op.f("uq_event_guests_event_id_customer_id")
        ),
    )
    with op.batch_alter_table("event_guests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_guests_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("customer_class", sa.String(length=1), nullable=True),
        sa.Column("sla_policy", sa.String(length=64), nullable=True),
        sa.Column("opened_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_response_due", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_due", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "first_response_warned_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "resolution_warned_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "first_response_breached_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "resolution_breached_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("csat_score", sa.Integer(), nullable=True),
        sa.Column("csat_answered_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("updated_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'phone', 'web', 'api', 'store', 'chat', 'letter')",
            name=op.f("ck_cases_channel"),
        ),
        sa.CheckConstraint(
            "kind IN ('complaint', 'question', 'request')", name=op.f("ck_cases_kind")
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("ck_cases_priority")
        ),
        sa.CheckConstraint(
            "status IN ('new', 'in_progress', 'waiting', 'resolved', 'closed')",
            name=op.f("ck_cases_status"),
        ),
        sa.CheckConstraint(
            "csat_score IS NULL OR csat_score BETWEEN 1 AND 5", name=op.f("ck_cases_csat_score")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_cases_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_cases_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_cases_order_id_orders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("key", name=op.f("uq_cases_key")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_assignee_status", ["assignee_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index(
            "ix_cases_status_resolution_due", ["status", "resolution_due"], unique=False
        )

    op.create_table(
        "case_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=254), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("source_message_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('note', 'reply', 'customer', 'change')", name=op.f("ck_case_entries_kind")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_entries_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_entries")),
        sa.UniqueConstraint("source_message_id", name=op.f("uq_case_entries_source_message_id")),
    )
    with op.batch_alter_table("case_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_entries_case_id"), ["case_id"], unique=False)

    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("answered_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_survey_responses_case_id_cases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_survey_responses_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_responses_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint(
            "survey_id",
            "customer_id",
            "reference",
            name=op.f("uq_survey_responses_survey_id_customer_id_reference"),
        ),
    )
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_responses_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_survey_responses_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_survey_responses_kind_answered", ["kind", "answered_at"], unique=False
        )

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("created_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", patron.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('call', 'visit', 'gift', 'invitation', 'follow_up')",
            name=op.f("ck_tasks_kind"),
        ),
        sa.CheckConstraint("status IN ('open', 'done', 'cancelled')", name=op.f("ck_tasks_status")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_tasks_case_id_cases"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_tasks_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_tasks_event_id_events"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_tasks_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("key", name=op.f("uq_tasks_key")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_tasks_owner_status_due", ["owner_id", "status", "due_on"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_owner_status_due")
        batch_op.drop_index(batch_op.f("ix_tasks_customer_id"))

    op.drop_table("tasks")
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_responses_kind_answered")
        batch_op.drop_index(batch_op.f("ix_survey_responses_customer_id"))
        batch_op.drop_index(batch_op.f("ix_survey_responses_case_id"))

    op.drop_table("survey_responses")
    with op.batch_alter_table("case_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_entries_case_id"))

    op.drop_table("case_entries")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status_resolution_due")
        batch_op.drop_index(batch_op.f("ix_cases_opened_at"))
        batch_op.drop_index(batch_op.f("ix_cases_customer_id"))
        batch_op.drop_index("ix_cases_assignee_status")

    op.drop_table("cases")
    with op.batch_alter_table("event_guests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_guests_customer_id"))

    op.drop_table("event_guests")
    with op.batch_alter_table("account_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_assignments_manager_id"))

    op.drop_table("account_assignments")
    op.drop_table("account_managers")
    op.drop_table("surveys")
    op.drop_table("care_runs")
    op.drop_table("events")
