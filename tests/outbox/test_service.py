"""Events in, signed webhooks out, against a real HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron import __version__
from patron.errors import Conflict, NotFound, PatronError
from patron.outbox import service
from patron.outbox.models import OutboxEvent, WebhookDelivery
from patron.outbox.service import DeliveryRun

from .conftest import T0, Clock, Receiver

SECRET = "a-shared-secret-of-the-receiver"


def _endpoint(sessions: sessionmaker[Session], url: str, topics: list[str]) -> int:
    with sessions() as session:
        return service.add_endpoint(session, url=url, topics=topics, secret=SECRET).id


def _enqueue(
    sessions: sessionmaker[Session], topic: str = "points.earned", *, key: str | None = None
) -> int | None:
    with sessions.begin() as session:
        payload = {"customer": "K-1", "points": 120, "note": "Grüße"}
        return service.enqueue(session, topic=topic, payload=payload, key=key, now=T0)


def _deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _one(sessions: sessionmaker[Session]) -> WebhookDelivery:
    [delivery] = _deliveries(sessions)
    return delivery


def _count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_event_goes_signed_to_every_active_endpoint_that_wants_its_topic(
    sessions: sessionmaker[Session], receiver: Receiver, clock: Clock
) -> None:
    wants_it = _endpoint(sessions, receiver.url + "/earned", ["points.earned"])
    wants_all = _endpoint(sessions, receiver.url + "/all", ["*"])
    _endpoint(sessions, receiver.url + "/tiers", ["tier.changed"])
    removed = _endpoint(sessions, receiver.url + "/gone", ["*"])
    with sessions() as session:
        service.remove_endpoint(session, endpoint_id=removed)

    event_id = _enqueue(sessions)
    pending = _deliveries(sessions)
    assert [(d.endpoint_id, d.status, d.attempts) for d in pending] == [
        (wants_it, "pending", 0),
        (wants_all, "pending", 0),
    ]

    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(delivered=2)

    assert sorted(r.path for r in receiver.requests) == ["/hooks/all", "/hooks/earned"]
    for request in receiver.requests:
        assert request.signed_by(SECRET, now=clock.now)
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Patron-Event"] == "points.earned"
        assert request.headers["User-Agent"] == f"Patron/{__version__}"
        assert json.loads(request.body) == {
            "id": event_id,
            "topic": "points.earned",
            "created_at": T0.isoformat(),
            "data": {"customer": "K-1", "points": 120, "note": "Grüße"},
        }
    assert sorted(receiver.deliveries()) == sorted(str(d.id) for d in pending)
    done = _deliveries(sessions)
    assert {(d.status, d.attempts, d.last_status_code, d.delivered_at) for d in done} == {
        ("delivered", 1, 200, T0)
    }
    assert all(d.locked_until is None and d.next_attempt_at is None for d in done)
    # Nothing is due any more, now or later.
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun()
    clock.advance(days=30)
    assert service.deliver_due(sessions, now_fn=clock).counts() == {
        "delivered": 0,
        "failed": 0,
        "dead": 0,
    }
    assert len(receiver.requests) == 2


def test_an_event_without_a_matching_endpoint_is_kept_but_sent_nowhere(
    sessions: sessionmaker[Session], receiver: Receiver, clock: Clock
) -> None:
    _endpoint(sessions, receiver.url, ["tier.changed"])
    assert _enqueue(sessions, "points.expired") is not None
    assert _count(sessions, OutboxEvent) == 1
    assert _deliveries(sessions) == []
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun()
    assert receiver.requests == []


def test_failures_back_off_and_the_delivery_arrives_in_the_end(
    sessions: sessionmaker[Session], receiver: Receiver, clock: Clock
) -> None:
    _endpoint(sessions, receiver.url, ["points.earned"])
    _enqueue(sessions)
    receiver.answer_with(500, 503)

    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(failed=1)
    first = _one(sessions)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.last_error == "HTTP 500"
    assert first.next_attempt_at is not None
    assert T0 + timedelta(seconds=30) <= first.next_attempt_at <= T0 + timedelta(seconds=33)
    assert first.locked_until is None

    clock.advance(seconds=29)  # not due yet
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun()
    clock.now = first.next_attempt_at
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(failed=1)
    second = _one(sessions)
    assert (second.attempts, second.last_status_code) == (2, 503)
    assert second.next_attempt_at is not None
    wait = second.next_attempt_at - clock.now
    assert timedelta(seconds=60) <= wait <= timedelta(seconds=66)

    clock.now = second.next_attempt_at
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(delivered=1)
    done = _one(sessions)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 3, 200)
    assert (done.delivered_at, done.last_error) == (clock.now, None)
    # The same delivery each time: the receiver can drop repeats by this header.
    assert receiver.deliveries() == [str(done.id)] * 3
    assert all(r.signed_by(SECRET, now=clock.now) for r in receiver.requests)


def test_a_delivery_dies_after_ten_attempts_and_a_retry_revives_it(
    sessions: sessionmaker[Session], receiver: Receiver, clock: Clock
) -> None:
    _endpoint(sessions, receiver.url, ["*"])
    _enqueue(sessions)
    receiver.answer_with(*[500] * 10)
    runs = []
    for _ in range(10):
        runs.append(service.deliver_due(sessions, now_fn=clock))
        due = _one(sessions).next_attempt_at
        if due is not None:
            clock.now = due
    assert runs == [DeliveryRun(failed=1)] * 9 + [DeliveryRun(dead=1)]
    dead = _one(sessions)
    assert (dead.status, dead.attempts, dead.next_attempt_at) == ("dead", 10, None)
    # Waits of 30 s doubling nine times, each up to 10 % longer: about 4¼ hours in all.
    assert timedelta(seconds=30 * 511) <= clock.now - T0 <= timedelta(seconds=30 * 511 * 1.1)
    clock.advance(days=7)
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun()
    assert len(receiver.requests) == 10

    with sessions() as session:
        listed = service.list_deliveries(session, status="dead")
        assert [(d.id, d.attempts, d.last_error) for d in listed.data] == [
            (dead.id, 10, "HTTP 500")
        ]
        revived = service.retry(session, delivery_id=dead.id, now=clock.now)
    assert (revived.status, revived.attempts, revived.next_attempt_at) == ("pending", 0, clock.now)
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(delivered=1)
    assert _one(sessions).status == "delivered"


def test_no_answer_and_a_redirect_are_failures(
    sessions: sessionmaker[Session], receiver: Receiver, clock: Clock
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    _endpoint(sessions, f"http://127.0.0.1:{closed}/hooks", ["*"])
    _endpoint(sessions, receiver.url, ["*"])
    _enqueue(sessions)
    receiver.answer_with(302)

    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(failed=2)
    refused, redirected = _deliveries(sessions)
    assert refused.last_status_code is None
    assert refused.last_error is not None
    assert "refused" in refused.last_error.lower()
    assert (redirected.last_status_code, redirected.last_error) == (302, "HTTP 302")
    assert [r.path for r in receiver.requests] == ["/hooks"]  # the redirect was not followed


def test_an_event_key_records_the_event_once(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    _endpoint(sessions, receiver.url, ["*"])
    first = _enqueue(sessions, key="earn:O-1001")
    assert first is not None
    assert _enqueue(sessions, key="earn:O-1001") is None
    with sessions.begin() as session:  # within one transaction too
        args = {"topic": "points.earned", "payload": {}, "now": T0}
        assert service.enqueue(session, key="earn:O-1002", **args) is not None
        assert service.enqueue(session, key="earn:O-1002", **args) is None
    assert _enqueue(sessions) is not None  # events without a key are never the same
    assert _enqueue(sessions) is not None
    assert _count(sessions, OutboxEvent) == 4
    assert len(_deliveries(sessions)) == 4


def test_the_event_rolls_back_with_the_business_change(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    _endpoint(sessions, receiver.url, ["*"])
    with sessions() as session:
        service.enqueue(session, topic="reward.redeemed", payload={"reward": 3}, now=T0)
        session.rollback()
    assert _count(sessions, OutboxEvent) == 0
    assert _count(sessions, WebhookDelivery) == 0


def test_a_claimed_delivery_is_leased_and_taken_again_only_when_the_lease_runs_out(
    sessions: sessionmaker[Session], receiver: Receiver, clock: Clock
) -> None:
    _endpoint(sessions, receiver.url, ["*"])
    _enqueue(sessions)
    seen: list[DeliveryRun] = []

    def meanwhile_another_worker(
        url: str, body: bytes, headers: Mapping[str, str], _t: float
    ) -> int:
        seen.append(service.deliver_due(sessions, now_fn=clock, post=_must_not_post))
        raise RuntimeError("this worker dies before it records anything")

    with pytest.raises(RuntimeError, match="dies"):
        service.deliver_due(sessions, now_fn=clock, post=meanwhile_another_worker)
    assert seen == [DeliveryRun()]
    leased = _one(sessions)
    assert (leased.status, leased.attempts, leased.locked_until) == (
        "pending",
        0,
        T0 + service.LEASE,
    )
    clock.advance(minutes=14)
    assert service.deliver_due(sessions, now_fn=clock, post=_must_not_post) == DeliveryRun()
    clock.now = T0 + service.LEASE
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(delivered=1)
    assert len(receiver.requests) == 1


def _must_not_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    raise AssertionError(f"posted {headers['Patron-Delivery']} although another worker holds it")


def test_endpoints_add_list_remove_and_their_secrets(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        made = service.add_endpoint(
            session,
            url=" https://shop.example/hooks/patron ",
            topics=["points.earned", "tier.changed", "points.earned"],
            description=" the shop ",
        )
        assert made.secret is not None
        assert len(made.secret) >= 43  # 32 random bytes
        assert (made.url, made.topics, made.description, made.active) == (
            "https://shop.example/hooks/patron",
            ["points.earned", "tier.changed"],
            "the shop",
            True,
        )
        everything = service.add_endpoint(session, url="http://10.0.0.5:8080", topics=["*", "x.y"])
        assert everything.topics == ["*"]

        listed = service.list_endpoints(session)
        assert listed.count == 2
        assert [e.secret for e in listed.data] == [None, None]
        shown = service.list_endpoints(session, with_secrets=True)
        assert [e.secret for e in shown.data] == [made.secret, everything.secret]

        removed = service.remove_endpoint(session, endpoint_id=made.id)
        assert (removed.active, removed.secret) == (False, None)
        with pytest.raises(NotFound) as missing:
            service.remove_endpoint(session, endpoint_id=999)
        assert missing.value.code == "webhooks.not_found"


@pytest.mark.parametrize(
    ("url", "topics", "secret"),
    [
        ("ftp://shop.example/x", ["*"], None),
        ("shop.example/hooks", ["*"], None),
        ("http://", ["*"], None),
        ("http://shop.example:port/", ["*"], None),
        ("http://shop example/", ["*"], None),
        ("https://shop.example/", [], None),
        ("https://shop.example/", ["Points Earned"], None),
        ("https://shop.example/", ["points."], None),
        ("https://shop.example/", ["*"], "short"),
    ],
)
def test_a_bad_endpoint_is_refused(
    sessions: sessionmaker[Session], url: str, topics: list[str], secret: str | None
) -> None:
    with sessions() as session:
        with pytest.raises(PatronError) as refused:
            service.add_endpoint(session, url=url, topics=topics, secret=secret)
        assert refused.value.code == "webhooks.invalid"
        assert service.list_endpoints(session).count == 0


@pytest.mark.parametrize(
    ("topic", "payload"),
    [("Points", {}), ("points earned", {}), ("x" * 65, {}), ("a.b", [1]), ("a.b", {"x": object()})],
)
def test_a_bad_event_is_refused(
    sessions: sessionmaker[Session], topic: str, payload: object
) -> None:
    with sessions() as session, pytest.raises(PatronError) as refused:
        service.enqueue(session, topic=topic, payload=payload, now=T0)  # type: ignore[arg-type]
    assert refused.value.code == "outbox.invalid"


def test_removing_an_endpoint_gives_up_its_pending_deliveries(
    sessions: sessionmaker[Session], receiver: Receiver, clock: Clock
) -> None:
    gone = _endpoint(sessions, receiver.url + "/gone", ["*"])
    kept = _endpoint(sessions, receiver.url + "/kept", ["*"])
    _enqueue(sessions)
    with sessions() as session:
        service.remove_endpoint(session, endpoint_id=gone)
    given_up, waiting = _deliveries(sessions)
    assert (given_up.status, given_up.last_error) == ("dead", "endpoint removed")
    assert waiting.status == "pending"
    assert service.deliver_due(sessions, now_fn=clock) == DeliveryRun(delivered=1)
    assert [r.path for r in receiver.requests] == ["/hooks/kept"]
    with sessions() as session:
        with pytest.raises(Conflict) as removed:
            service.retry(session, delivery_id=given_up.id, now=clock.now)
        assert removed.value.code == "webhooks.endpoint_removed"
        with pytest.raises(Conflict) as delivered:
            service.retry(session, delivery_id=waiting.id, now=clock.now)
        assert delivered.value.code == "webhooks.already_delivered"
        with pytest.raises(NotFound):
            service.retry(session, delivery_id=12345, now=clock.now)
        listed = service.list_deliveries(session)
        assert [(d.endpoint_id, d.status) for d in listed.data] == [
            (kept, "delivered"),
            (gone, "dead"),
        ]
        with pytest.raises(PatronError, match="unknown status"):
            service.list_deliveries(session, status="lost")
