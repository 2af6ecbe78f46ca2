"""Tables of engagement: templates, campaigns and who was assigned to them, the message outbox,
the suppression list, double opt-in requests, and externally run experiments.

A campaign's members are every customer it assigned, to a variant or to its holdout: the
report compares them. A message is one rendered e-mail (or webhook call) on its way; its
``key`` makes a (campaign, customer, occasion) triple — or a caller's idempotency key for a
transactional message — exist at most once, even when two workers or a restarted one enqueue
the same thing again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, utcnow
from patron.sqltypes import UTCDateTime

# E-mail goes out over SMTP; sms and push as signed JSON POSTs to a provider (the webhook channel).
CHANNELS = ("email", "sms", "push")
PURPOSES = ("marketing", "transactional")
CAMPAIGN_KINDS = ("one_off", "journey")
CAMPAIGN_STATUSES = ("draft", "scheduled", "active", "paused", "done", "cancelled")
MESSAGE_STATUSES = ("queued", "sent", "bounced", "cancelled", "dead")
SUPPRESSION_REASONS = ("hard_bounce", "complaint", "unsubscribe", "manual")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class MessageTemplate(Base):
    """A subject and an HTML body per language (Jinja2, run in a sandbox).

    ``shipped`` marks the templates Patron brings for its journeys; a shop may edit them.
    """

    __tablename__ = "message_templates"
    __table_args__ = (CheckConstraint(_one_of("purpose", PURPOSES), name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(16), default="marketing")
    subjects: Mapped[dict[str, str]] = mapped_column(JSON)
    bodies: Mapped[dict[str, str]] = mapped_column(JSON)
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Campaign(Base):
    """A one-off send to a segment, or a triggered journey (``journey`` names its trigger).

    ``key`` is the salt of the holdout draw and never changes. ``variants`` is a list of
    ``{"name", "template", "weight"}``; ``settings`` holds the journey's parameters (days
    after a purchase, a P(alive) threshold, a voucher's value, an event's details …).
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CAMPAIGN_KINDS), name="kind"),
        CheckConstraint(_one_of("status", CAMPAIGN_STATUSES), name="status"),
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(_one_of("purpose", PURPOSES), name="purpose"),
        CheckConstraint("holdout_share >= 0 AND holdout_share < 1", name="holdout_share"),
        CheckConstraint("window_days > 0", name="window_days"),
        Index("ix_campaigns_status_scheduled", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    journey: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    segment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16), default="email")
    purpose: Mapped[str] = mapped_column(String(16), default="marketing")
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    holdout_share: Mapped[float] = mapped_column(Float, default=0.1)
    window_days: Mapped[int] = mapped_column(Integer, default=30)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CampaignMember(Base):
    """A customer a campaign assigned, on one occasion, to a variant or to ``holdout``.

    ``occasion`` is empty for a one-off campaign; a journey names what triggered it (an order,
    a year for a birthday), so the same journey reaches a customer once per occasion.
    """

    __tablename__ = "campaign_members"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "occasion"),
        Index("ix_campaign_members_campaign_group", "campaign_id", "group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    occasion: Mapped[str] = mapped_column(String(64), default="")
    group: Mapped[str] = mapped_column(String(32))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Message(Base):
    """One rendered message on its way: queued (due at ``send_after``), sent, bounced,
    cancelled (consent withdrawn, address suppressed, campaign stopped) or dead (gave up).

    ``locked_until`` is a worker's lease while it sends. ``key`` is unique: a campaign's is
    ``c{campaign}:{customer}:{occasion}``, a transactional one's the caller's idempotency key.
    """

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_one_of("status", MESSAGE_STATUSES), name="status"),
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(_one_of("purpose", PURPOSES), name="purpose"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_messages_due", "status", "send_after"),
        Index("ix_messages_customer_sent", "customer_id", "sent_at"),
        Index("ix_messages_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_members.id", ondelete="SET NULL")
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    variant: Mapped[str | None] = mapped_column(String(32))
    template_key: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    # the personal columns (``info``) are emptied when the person is erased (patron.privacy)
    recipient: Mapped[str] = mapped_column(String(254), info={"personal": True})
    subject: Mapped[str] = mapped_column(String(500), info={"personal": True})
    html: Mapped[str] = mapped_column(Text, info={"personal": True})
    text: Mapped[str] = mapped_column(Text, info={"personal": True})
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, info={"personal": True})
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Suppression(Base):
    """An address that gets no message on a channel (hard bounce, complaint, manual);
    ``unsubscribe`` entries block marketing only."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("channel", "address"),
        CheckConstraint(_one_of("reason", SUPPRESSION_REASONS), name="reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(254))  # lower-cased e-mail address or number
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConsentRequest(Base):
    """A double opt-in waiting for its confirmation link to be followed.

    Only the token's SHA-256 is stored; the link in the e-mail carries the token itself.
    """

    __tablename__ = "consent_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Experiment(Base):
    """An experiment run outside Patron whose results were imported (``patron import
    campaign-results``): its outcome metrics, in the file's order."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    file_name: Mapped[str] = mapped_column(String(500))
    holdout: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[list[str]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExperimentResult(Base):
    """One customer's group and outcomes in an imported experiment."""

    __tablename__ = "experiment_results"
    __table_args__ = (UniqueConstraint("experiment_id", "customer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    # the file's customer key (emptied on erasure)
    customer: Mapped[str] = mapped_column(String(64), info={"personal": True})
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    group: Mapped[str] = mapped_column(String(32))
    outcomes: Mapped[dict[str, float]] = mapped_column(JSON)
