"""Tables of care: cases and their history, surveys and their answers, key accounts and their
managers, tasks, and events with their guest lists.

A case is a complaint, question or request of one customer, optionally about one order. Its
deadlines (first response, resolution) are computed when it opens, from the SLA policy for its
priority and the customer's ABC class, counted in the service calendar's working hours; a
breach is recorded once, when the worker first sees it. Its entries are the history: internal
notes, replies the customer saw, the customer's own messages, and status changes.

A survey answer belongs to a customer and, through ``reference``, to the one invitation that
asked (``case:12`` for a case's CSAT survey, ``event:3``, a campaign's key); the same
invitation answered again replaces the answer rather than adding a second one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

import patron.access.models
import patron.customers.models  # noqa: F401 - registers ``customers`` and ``orders``
from patron.db import Base, utcnow
from patron.sqltypes import UTCDateTime

CASE_KINDS = ("complaint", "question", "request")
CASE_STATUSES = ("new", "in_progress", "waiting", "resolved", "closed")
OPEN_STATUSES = ("new", "in_progress", "waiting")
PRIORITIES = ("low", "normal", "high", "urgent")
CASE_CHANNELS = ("email", "phone", "web", "api", "store", "chat", "letter")
# internal note, reply the customer got, the customer's own message, a change of the case
ENTRY_KINDS = ("note", "reply", "customer", "change")
SURVEY_KINDS = ("nps", "csat", "kano")
SURVEY_STATUSES = ("active", "closed")
ASSIGNMENT_SOURCES = ("rule", "manual")
TASK_KINDS = ("call", "visit", "gift", "invitation", "follow_up")
TASK_STATUSES = ("open", "done", "cancelled")
EVENT_KINDS = ("trade_fair", "jubilee", "product_test", "other")
EVENT_STATUSES = ("planned", "invited", "done", "cancelled")
RSVP = ("none", "accepted", "declined")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Case(Base):
    """A complaint, question or request; its deadlines and their breaches; its CSAT answer."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CASE_KINDS), name="kind"),
        CheckConstraint(_one_of("status", CASE_STATUSES), name="status"),
        CheckConstraint(_one_of("priority", PRIORITIES), name="priority"),
        CheckConstraint(_one_of("channel", CASE_CHANNELS), name="channel"),
        CheckConstraint("csat_score IS NULL OR csat_score BETWEEN 1 AND 5", name="csat_score"),
        Index("ix_cases_status_resolution_due", "status", "resolution_due"),
        Index("ix_cases_assignee_status", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A caller's idempotency key (API) or the Message-ID of the e-mail that opened it.
    key: Mapped[str | None] = mapped_column(String(255), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), default="complaint")
    # the personal columns (``info``) are emptied when the person is erased (patron.privacy)
    subject: Mapped[str] = mapped_column(String(300), info={"personal": True})
    category: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    team: Mapped[str | None] = mapped_column(String(64))
    # The customer's ABC class when the case opened: the SLA policy it was given depends on it.
    customer_class: Mapped[str | None] = mapped_column(String(1))
    sla_policy: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a warning went out before each deadline, and when its breach was recorded.
    first_response_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(254), info={"personal": True})
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CaseEntry(Base):
    """One line of a case's history; ``kind`` says who sees it (a note is internal)."""

    __tablename__ = "case_entries"
    __table_args__ = (CheckConstraint(_one_of("kind", ENTRY_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, info={"personal": True})
    author: Mapped[str | None] = mapped_column(String(254), info={"personal": True})
    # The outbox message that carried a reply, or the Message-ID of a customer's e-mail.
    message_id: Mapped[int | None] = mapped_column(Integer)
    source_message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Survey(Base):
    """An NPS, CSAT or Kano questionnaire. ``questions`` holds, per language, the question of an
    NPS or CSAT survey; for Kano, its features with a functional and a dysfunctional question."""

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint(_one_of("kind", SURVEY_KINDS), name="kind"),
        CheckConstraint(_one_of("status", SURVEY_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))
    questions: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SurveyResponse(Base):
    """One customer's answer to one invitation: a score (NPS 0–10, CSAT 1–5) or Kano pairs."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("survey_id", "customer_id", "reference"),
        Index("ix_survey_responses_kind_answered", "kind", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    reference: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(8))
    score: Mapped[float | None] = mapped_column(Float)
    # Kano: {feature key: [functional answer, dysfunctional answer]} on the 1..5 scale
    # (like, expect, neutral, tolerate, dislike).
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(Text, info={"personal": True})
    language: Mapped[str | None] = mapped_column(String(8))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccountManager(Base):
    """A user who looks after key accounts: how many at most, and in which regions."""

    __tablename__ = "account_managers"
    __table_args__ = (CheckConstraint("capacity >= 0", name="capacity"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    capacity: Mapped[int] = mapped_column(Integer)
    # Countries (as stored on customers) this manager serves; empty: anywhere.
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccountAssignment(Base):
    """Who looks after a key account, and whether a rule or a person decided it (a manual
    assignment is never changed by the rule)."""

    __tablename__ = "account_assignments"
    __table_args__ = (
        CheckConstraint(_one_of("source", ASSIGNMENT_SOURCES), name="source"),
        # an erased person is nobody's account any more (patron.privacy deletes the row)
        {"info": {"erasure": "delete"}},
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    manager_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CareRun(Base):
    """When a background job of care last ran, and on which score snapshot: the worker re-runs
    the key-account assignment once a new snapshot (new ABC classes) is there, and the task
    rules at most once an hour."""

    __tablename__ = "care_runs"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the newest score snapshot when it ran (no foreign key: old snapshots are deleted)
    snapshot_id: Mapped[int | None] = mapped_column(Integer)


class Task(Base):
    """A call, visit, gift, invitation or follow-up, due on a day, owned by a user. A task made
    by a rule carries a ``key`` (rule, customer, occasion) so the rule never makes it twice."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(_one_of("kind", TASK_KINDS), name="kind"),
        CheckConstraint(_one_of("status", TASK_STATUSES), name="status"),
        Index("ix_tasks_owner_status_due", "owner_id", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(128), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(Text, info={"personal": True})
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    rule: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Event(Base):
    """A trade fair, jubilee or product test; its guests are chosen by a segment."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(_one_of("kind", EVENT_KINDS), name="kind"),
        CheckConstraint(_one_of("status", EVENT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    segment: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EventGuest(Base):
    """A customer on an event's guest list: invited when, their answer, whether they came."""

    __tablename__ = "event_guests"
    __table_args__ = (
        UniqueConstraint("event_id", "customer_id"),
        CheckConstraint(_one_of("rsvp", RSVP), name="rsvp"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(Integer)
    rsvp: Mapped[str] = mapped_column(String(16), default="none")
    guests: Mapped[int] = mapped_column(Integer, default=0)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
