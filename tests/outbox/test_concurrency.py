"""Several workers and writers at once on PostgreSQL: each delivery posted once, each key kept once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.outbox import service
from patron.outbox.models import OutboxEvent, WebhookDelivery

from .conftest import T0, Receiver

ON_POSTGRES = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]
pytestmark = ON_POSTGRES


def _pending(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        query = select(func.count()).where(WebhookDelivery.status == "pending")
        return session.scalar(query) or 0


def test_two_workers_never_post_the_same_delivery_twice(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    with sessions() as session:
        for n in range(4):
            service.add_endpoint(session, url=f"{receiver.url}/{n}", topics=["*"])
    with sessions.begin() as session:
        for n in range(12):
            service.enqueue(session, topic="points.earned", payload={"n": n}, now=T0)
    expected = [str(d.id) for d in _all_deliveries(sessions)]
    assert len(expected) == 48
    receiver.delay = 0.005  # posts overlap with the other worker's claims
    start = threading.Barrier(2)
    delivered: dict[str, int] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait()
            deadline = time.monotonic() + 30
            total = 0
            while _pending(sessions) and time.monotonic() < deadline:
                run = service.deliver_due(sessions, now_fn=lambda: datetime.now(UTC), batch=3)
                total += run.delivered
            delivered[name] = total
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    posted = Counter(receiver.deliveries())
    assert [delivery for delivery, times in posted.items() if times > 1] == []
    assert sorted(posted) == sorted(expected)
    assert delivered["a"] + delivered["b"] == 48
    assert delivered["a"] > 0
    assert delivered["b"] > 0  # SKIP LOCKED: they shared the work instead of queueing
    assert {d.status for d in _all_deliveries(sessions)} == {"delivered"}


def test_the_same_key_from_two_transactions_at_once_is_kept_once(
    sessions: sessionmaker[Session],
) -> None:
    first = sessions()
    first.begin()
    assert service.enqueue(first, topic="tier.changed", payload={}, key="tier:K-1", now=T0)
    answers: list[object] = []

    def second() -> None:
        with sessions.begin() as session:
            event = service.enqueue(
                session, topic="tier.changed", payload={}, key="tier:K-1", now=T0
            )
            answers.append(event)

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(timeout=0.5)
    assert racer.is_alive()  # it waits on the first transaction's key
    first.commit()
    first.close()
    racer.join(timeout=10)
    assert answers == [None]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 1


def _all_deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
