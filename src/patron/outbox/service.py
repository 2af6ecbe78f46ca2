"""Use cases of the outbox: record an event, manage webhook endpoints, deliver what is due, retry.

``enqueue`` writes in the caller's transaction and never commits: the event stands or falls
with the business change that caused it. The endpoint and delivery functions commit their own
work (pass a plain session). ``deliver_due`` takes the session factory: it claims a batch in
one short transaction, posts outside any, and records each answer in a transaction of its own.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Table, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from patron import __version__
from patron.errors import Conflict, NotFound, PatronError
from patron.outbox import endpoints, retries, signing, transport
from patron.outbox.models import STATUSES, OutboxEvent, WebhookDelivery, WebhookEndpoint
from patron.outbox.schemas import (
    DeliveriesPublic,
    DeliveryPublic,
    EndpointPublic,
    EndpointsPublic,
)

TIMEOUT = 10.0  # seconds to wait for a receiver
LEASE = timedelta(minutes=15)  # longer than a batch of posts takes, even when all time out
USER_AGENT = f"Patron/{__version__}"


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    """An event to record: its topic, its JSON payload and, to record it at most once, a key."""

    topic: str
    payload: dict[str, Any]
    key: str | None = None


def enqueue(
    session: Session,
    *,
    topic: str,
    payload: dict[str, Any],
    key: str | None = None,
    now: datetime,
) -> int | None:
    """Record an event and a pending delivery for each active endpoint that wants its topic;
    the event's id.

    Nothing is committed here. With a ``key`` that an earlier event has, nothing is written and
    the answer is ``None``; INSERT … ON CONFLICT DO NOTHING makes that hold for concurrent
    transactions too (on PostgreSQL the second waits for the first to commit or roll back).
    """
    recorded = enqueue_many(session, [NewEvent(topic, payload, key)], now=now)
    return recorded[0] if recorded else None


def enqueue_many(session: Session, events: Sequence[NewEvent], *, now: datetime) -> list[int]:
    """``enqueue`` for many events in one statement, and their deliveries in one more: the ids
    of the events recorded (those whose key an earlier event had are left out).

    Plain statements, no ORM objects: bookings and the message sender call it on their hot
    paths. Every event is checked before anything is written.
    """
    for event in events:
        _check_topic(event.topic)
        _check_payload(event.payload)
        if event.key is not None and not 0 < len(event.key) <= 200:
            raise PatronError("an event key has 1 to 200 characters", code="outbox.invalid")
    if not events:
        return []
    rows = [
        {"topic": e.topic, "payload": e.payload, "key": e.key, "created_at": now} for e in events
    ]
    connection = session.connection()  # Core statements: the ORM's bulk path costs more
    recorded = connection.execute(_INSERT_EVENTS[connection.dialect.name], rows).all()
    if not recorded:
        return []
    active = connection.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.topics)
        .where(WebhookEndpoint.active.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
    wanted = [
        {
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
        }
        for event_id, topic in sorted(recorded)
        for endpoint_id, topics in active
        if endpoints.wants(topics, topic)
    ]
    if wanted:
        connection.execute(insert(_DELIVERIES), wanted)
    return sorted(int(event_id) for event_id, _ in recorded)


_EVENTS = cast("Table", OutboxEvent.__table__)
_DELIVERIES = cast("Table", WebhookDelivery.__table__)
# a list of rows makes one INSERT … VALUES (…), (…) … RETURNING (SQLAlchemy's "insertmanyvalues")
_INSERT_EVENTS = {
    name: dialect.insert(_EVENTS)
    .on_conflict_do_nothing(index_elements=[_EVENTS.c.key])
    .returning(_EVENTS.c.id, _EVENTS.c.topic)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


@dataclass(frozen=True)
class EventRecord:
    """An event as it was recorded, for areas that act on what happened (journeys)."""

    id: int
    topic: str
    payload: dict[str, Any]
    created_at: datetime


def events_since(
    session: Session, *, topics: Sequence[str], since: datetime, until: datetime | None = None
) -> list[EventRecord]:
    """The events of ``topics`` recorded after ``since`` (and at or before ``until``), oldest
    first. Reading the outbox lets another area follow a change (a member's new tier) without a
    table of its own: the event was written in the same transaction as the change."""
    if not topics:
        return []
    query = select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.payload, OutboxEvent.created_at)
    query = query.where(OutboxEvent.topic.in_(list(topics)), OutboxEvent.created_at > since)
    if until is not None:
        query = query.where(OutboxEvent.created_at <= until)
    rows = session.execute(query.order_by(OutboxEvent.id))
    return [EventRecord(int(i), topic, dict(payload), at) for i, topic, payload, at in rows]


def _check_topic(topic: str) -> None:
    if not endpoints.is_topic(topic):
        raise PatronError(
            f"{topic!r} is not a topic: lower-case words joined by dots, such as points.earned",
            code="outbox.invalid",
            details={"topic": topic},
        )


def _check_payload(payload: dict[str, Any]) -> None:
    if not isinstance(payload, dict):
        raise PatronError("an event's payload must be a JSON object", code="outbox.invalid")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PatronError(
            f"an event's payload must be plain JSON: {exc}", code="outbox.invalid"
        ) from exc


# --- endpoints ---------------------------------------------------------------------------


def add_endpoint(
    session: Session,
    *,
    url: str,
    topics: Sequence[str],
    secret: str | None = None,
    description: str | None = None,
) -> EndpointPublic:
    """A new, active endpoint; with its secret (a random one unless given) in the answer."""
    endpoint = WebhookEndpoint(
        url=endpoints.check_url(url),
        topics=endpoints.check_topics(topics),
        secret=secrets.token_urlsafe(32) if secret is None else endpoints.check_secret(secret),
        description=endpoints.check_description(description),
        active=True,
    )
    session.add(endpoint)
    session.commit()
    return _endpoint_public(endpoint, with_secret=True)


def list_endpoints(session: Session, *, with_secrets: bool = False) -> EndpointsPublic:
    found = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
    data = [_endpoint_public(e, with_secret=with_secrets) for e in found]
    return EndpointsPublic(data=data, count=len(data))


def remove_endpoint(session: Session, *, endpoint_id: int) -> EndpointPublic:
    """Deactivate an endpoint; what was still pending for it is given up (status dead)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}", code="webhooks.not_found")
    endpoint.active = False
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
        .values(status="dead", next_attempt_at=None, last_error="endpoint removed")
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return _endpoint_public(endpoint, with_secret=False)


def _endpoint_public(endpoint: WebhookEndpoint, *, with_secret: bool) -> EndpointPublic:
    return EndpointPublic(
        id=endpoint.id,
        url=endpoint.url,
        topics=list(endpoint.topics),
        active=endpoint.active,
        description=endpoint.description,
        created_at=endpoint.created_at,
        secret=endpoint.secret if with_secret else None,
    )


# --- deliveries --------------------------------------------------------------------------


def list_deliveries(
    session: Session, *, status: str | None = None, limit: int = 50
) -> DeliveriesPublic:
    """The newest deliveries first, all or those of one status."""
    if status is not None and status not in STATUSES:
        raise PatronError(
            f"unknown status {status!r}; choose one of: {', '.join(STATUSES)}",
            code="webhooks.invalid",
        )
    if not 1 <= limit <= 1000:
        raise PatronError("the limit is a number from 1 to 1000", code="webhooks.invalid")
    query = _deliveries().order_by(WebhookDelivery.id.desc()).limit(limit)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    data = [DeliveryPublic(**row._asdict()) for row in session.execute(query)]
    return DeliveriesPublic(data=data, count=len(data))


def retry(session: Session, *, delivery_id: int, now: datetime) -> DeliveryPublic:
    """Put a dead delivery back to pending with a fresh count of attempts, due at ``now``.

    A pending one is only brought forward to ``now``; a delivered one is refused.
    """
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"no webhook delivery {delivery_id}", code="webhooks.delivery_not_found")
    if delivery.status == "delivered":
        raise Conflict(
            f"delivery {delivery_id} was delivered already", code="webhooks.already_delivered"
        )
    endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
    if not endpoint.active:
        raise Conflict(
            f"the endpoint of delivery {delivery_id} was removed", code="webhooks.endpoint_removed"
        )
    if delivery.status == "dead":
        delivery.attempts = 0
    delivery.status = "pending"
    delivery.next_attempt_at = now
    session.commit()
    row = session.execute(_deliveries().where(WebhookDelivery.id == delivery_id)).one()
    return DeliveryPublic(**row._asdict())


def _deliveries() -> Select[*tuple[Any, ...]]:
    return (
        select(
            WebhookDelivery.id,
            WebhookDelivery.event_id,
            OutboxEvent.topic,
            WebhookDelivery.endpoint_id,
            WebhookEndpoint.url,
            WebhookDelivery.status,
            WebhookDelivery.attempts,
            OutboxEvent.created_at,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.last_status_code,
            WebhookDelivery.last_error,
            WebhookDelivery.delivered_at,
        )
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    )


# --- sending -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRun:
    """What one ``deliver_due`` did: delivered, failed (to be tried again), and given up."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0

    def counts(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    attempts: int
    url: str
    secret: str
    topic: str
    body: bytes
    lease: datetime


def deliver_due(
    sessions: sessionmaker[Session],
    *,
    now_fn: Callable[[], datetime],
    post: transport.Post = transport.post,
    batch: int = 50,
) -> DeliveryRun:
    """Post up to ``batch`` due deliveries once each and record every answer.

    Claiming sets a lease (``locked_until``) and commits before anything is posted, so a slow
    receiver holds no lock. On PostgreSQL the claim skips rows another worker is claiming
    (FOR UPDATE SKIP LOCKED), so several workers share the work; SQLite has one writer at a
    time, so run one worker there. A worker that dies mid-batch leaves its leases to run out,
    and the deliveries are posted again then: delivery is at least once, and receivers drop
    repeats by the ``Patron-Delivery`` header.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    outcomes = {"delivered": 0, "failed": 0, "dead": 0}
    for claimed in _claim(sessions, now=now_fn(), batch=batch):
        sent_at = now_fn()
        if sent_at + 2 * timedelta(seconds=TIMEOUT) > claimed.lease:
            continue  # the lease runs out: another worker may take it, so this one must not
        status_code, error = _post(post, claimed, sent_at)
        outcome = _record(sessions, claimed, status_code=status_code, error=error, now=now_fn())
        if outcome in outcomes:
            outcomes[outcome] += 1
    return DeliveryRun(**outcomes)


def _claim(sessions: sessionmaker[Session], *, now: datetime, batch: int) -> list[_Claimed]:
    """Lease up to ``batch`` due deliveries and read what posting them needs.

    One UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING: on PostgreSQL a
    row another worker is claiming is passed over, not waited for; SQLite ignores FOR UPDATE,
    but runs the statement as one write, so even there two claims never take the same row.
    """
    lease = now + LEASE
    due = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    with sessions.begin() as session:
        ids = list(
            session.scalars(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(due.scalar_subquery()))
                .values(locked_until=lease)
                .returning(WebhookDelivery.id)
                .execution_options(synchronize_session=False)
            )
        )
        if not ids:
            return []
        rows = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookEndpoint, OutboxEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        ).all()
        return [
            _Claimed(
                delivery_id=delivery_id,
                attempts=attempts,
                url=endpoint.url,
                secret=endpoint.secret,
                topic=event.topic,
                body=_body(event),
                lease=lease,
            )
            for delivery_id, attempts, endpoint, event in rows
        ]


def _body(event: OutboxEvent) -> bytes:
    document = {
        "id": event.id,
        "topic": event.topic,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _post(post: transport.Post, claimed: _Claimed, sent_at: datetime) -> tuple[int | None, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Patron-Event": claimed.topic,
        "Patron-Delivery": str(claimed.delivery_id),
        signing.HEADER: signing.sign(claimed.secret, int(sent_at.timestamp()), claimed.body),
    }
    try:
        status_code = post(claimed.url, claimed.body, headers, TIMEOUT)
    except (OSError, ValueError, HTTPException) as exc:  # no answer at all
        return None, f"{type(exc).__name__}: {exc}"[:1000]
    return status_code, f"HTTP {status_code}"


def _record(
    sessions: sessionmaker[Session],
    claimed: _Claimed,
    *,
    status_code: int | None,
    error: str,
    now: datetime,
) -> str:
    """Write one answer, if this worker still holds the lease; say what became of it."""
    attempts = claimed.attempts + 1
    values: dict[str, Any]
    if status_code is not None and 200 <= status_code < 300:
        outcome = "delivered"
        values = {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
        error_text = None
    elif retries.gives_up(attempts):
        outcome, values, error_text = "dead", {"status": "dead", "next_attempt_at": None}, error
    else:
        wait = retries.delay(attempts, jitter=random.random())
        outcome, values, error_text = "failed", {"next_attempt_at": now + wait}, error
    with sessions.begin() as session:
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claimed.delivery_id,
                WebhookDelivery.locked_until == claimed.lease,
            )
            .values(
                attempts=attempts,
                locked_until=None,
                last_status_code=status_code,
                last_error=error_text,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
    return outcome if cast("CursorResult[Any]", result).rowcount == 1 else "lost"
