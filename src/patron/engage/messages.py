"""The message outbox: rendered messages written in the transaction that decided to send them.

``enqueue`` writes rows and never commits, like ``outbox.service.enqueue``: the message stands
or falls with the campaign run or the business change that caused it. Its ``key`` is unique,
so enqueueing the same thing twice — a retried API call, a campaign run again after a crash,
two workers at once — leaves one message (INSERT … ON CONFLICT DO NOTHING). The worker sends
what is queued (``sending.send_due``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.db import insert_new
from patron.engage.models import MESSAGE_STATUSES, Message
from patron.engage.schemas import MessagePublic, MessagesPublic
from patron.errors import PatronError


@dataclass(frozen=True)
class Outgoing:
    """One rendered message to queue."""

    key: str
    customer_id: int | None
    channel: str
    purpose: str
    language: str
    recipient: str
    subject: str
    html: str
    text: str
    send_after: datetime
    campaign_id: int | None = None
    member_id: int | None = None
    variant: str | None = None
    template_key: str | None = None


def campaign_key(campaign_id: int, customer_id: int, occasion: str) -> str:
    """The unique key of a campaign's message to a customer on an occasion."""
    return f"c{campaign_id}:{customer_id}:{occasion}"


def enqueue(session: Session, outgoing: Sequence[Outgoing], *, now: datetime) -> list[int]:
    """Queue messages; the ids of those that were new (a key seen before is skipped).

    Plain rows, not ORM objects (``db.insert_new``): a campaign run queues a hundred thousand
    messages in one go.
    """
    fixed = {"status": "queued", "attempts": 0, "created_at": now}
    rows = [vars(item) | fixed for item in outgoing]
    added = insert_new(session.connection(), Message, rows, unique=["key"], returning=["id"])
    return [int(row.id) for row in added]


def listed(
    session: Session,
    *,
    campaign_id: int | None = None,
    customer_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> MessagesPublic:
    """The newest messages first, narrowed to a campaign, a customer or a status."""
    if status is not None and status not in MESSAGE_STATUSES:
        raise PatronError(
            f"unknown status {status!r}; choose one of: {', '.join(MESSAGE_STATUSES)}",
            code="messages.invalid",
        )
    if not 1 <= limit <= 1000:
        raise PatronError("the limit is a number from 1 to 1000", code="messages.invalid")
    query = select(Message).order_by(Message.id.desc()).limit(limit)
    if campaign_id is not None:
        query = query.where(Message.campaign_id == campaign_id)
    if customer_id is not None:
        query = query.where(Message.customer_id == customer_id)
    if status is not None:
        query = query.where(Message.status == status)
    data = [public(m) for m in session.scalars(query)]
    return MessagesPublic(data=data, count=len(data))


def public(message: Message) -> MessagePublic:
    return MessagePublic.model_validate(message, from_attributes=True)
