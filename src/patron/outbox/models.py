"""Tables of the outbox: events, the webhook endpoints that want them, and one delivery per pair.

An event is written in the transaction of the business change that caused it, so both commit
or neither does; the worker then delivers it (at least once) to every matching endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
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

STATUSES = ("pending", "delivered", "dead")


class OutboxEvent(Base):
    """Something that happened, e.g. ``points.earned``. ``key`` lets an area record it at most once."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)


class WebhookEndpoint(Base):
    """A receiver's URL and the topics it wants (``["*"]``: all).

    ``secret`` is the key of the HMAC signature. The receiver needs the same value to check
    it, so, unlike a password or an API key, it is stored as it is and not as a hash.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    topics: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One event on its way to one endpoint: pending (with its next try), delivered, or dead.

    ``locked_until`` is a worker's lease: while it lies in the future, that worker is posting
    the delivery and no other one takes it.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint("status <> 'pending' OR next_attempt_at IS NOT NULL", name="pending_due"),
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
