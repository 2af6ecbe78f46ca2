"""Due deliveries: opened on the subscription's own calendar, exactly once, with the items and
prices of the day; pauses that end, cancelled contracts that deliver up to their last day."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import ThreadingHTTPServer

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from outbox.conftest import Receiver, _handler
from patron.outbox import service as outbox
from patron.outbox.models import OutboxEvent
from patron.subscriptions import deliveries
from patron.subscriptions.models import Subscription, SubscriptionChange, SubscriptionDelivery
from subscriptions.shop import NEW_YORK, at, settings, subscription

SHOP = settings()


def _deliveries(sessions: sessionmaker[Session], key: str | None = None) -> list[tuple[str, str]]:
    with sessions() as session:
        query = select(SubscriptionDelivery.reference, SubscriptionDelivery.status).order_by(
            SubscriptionDelivery.due_on, SubscriptionDelivery.id
        )
        if key is not None:
            query = query.join(Subscription).where(Subscription.key == key)
        return [(ref, status) for ref, status in session.execute(query)]


def _row(sessions: sessionmaker[Session], key: str) -> Subscription:
    with sessions() as session:
        row = session.scalars(select(Subscription).where(Subscription.key == key)).one()
        session.expunge(row)
        return row


def _changes(sessions: sessionmaker[Session], key: str) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(SubscriptionChange.kind)
                .join(Subscription)
                .where(Subscription.key == key)
                .order_by(SubscriptionChange.id)
            )
        )


def _open(sessions: sessionmaker[Session], now: object, **more: object) -> dict[str, int]:
    with sessions() as session:
        return deliveries.open_due(session, settings=settings(**more), now=now)  # type: ignore[arg-type]


def test_a_delivery_is_due_on_its_own_calendar_not_the_worker_s(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        beans = make.product(session, price=Decimal("17.90"))
        berlin = subscription(session, make.customer(session), [(beans, 1, None)], key="BER")
        subscription(
            session,
            make.customer(session),
            [(beans, 1, None)],
            key="NYC",
            time_zone="America/New_York",
        )
        assert berlin.next_due == date(2026, 12, 1)
    # 23:30 UTC on 30 November: 00:30 on 1 December in Berlin, 18:30 on 30 November in New York
    assert _open(sessions, at(2026, 12, 1, 0, 30)) == {"announced": 1}
    assert _deliveries(sessions) == [("BER/2026-12-01", "announced")]
    assert _row(sessions, "NYC").next_due == date(2026, 12, 1)
    assert _open(sessions, at(2026, 11, 30, 23, 59, tz=NEW_YORK)) == {"announced": 0}
    assert _open(sessions, at(2026, 12, 1, 0, 0, tz=NEW_YORK)) == {"announced": 1}
    assert _deliveries(sessions) == [
        ("BER/2026-12-01", "announced"),
        ("NYC/2026-12-01", "announced"),
    ]


def test_announce_days_open_a_delivery_that_many_days_early(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        subscription(session, make.customer(session), [(product, 1, None)], key="EARLY")
    assert _open(sessions, at(2026, 11, 27, 23, 0), subscription_announce_days=3) == {
        "announced": 0
    }
    assert _open(sessions, at(2026, 11, 28, 0, 5), subscription_announce_days=3) == {"announced": 1}
    assert _row(sessions, "EARLY").next_due == date(2027, 1, 1)


def test_the_delivery_keeps_the_items_at_the_subscriber_price_of_the_day(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        beans = make.product(session, sku="ESP-1000", name="Espresso 1 kg", price=Decimal("17.90"))
        filters = make.product(session, sku="FLT-100", name="Filters", price=Decimal("3.00"))
        subscription(
            session,
            make.customer(session, external_id="ANNA"),
            [(beans, 2, None), (filters, "1.5", "2.50")],
            key="ITEMS",
            discount_percent=Decimal("10"),
            benefit="free delivery",
        )
    _open(sessions, at(2026, 12, 1, 6, 0))
    with sessions.begin() as session:
        delivery = session.scalars(select(SubscriptionDelivery)).one()
        assert delivery.reference == "ITEMS/2026-12-01"
        assert delivery.items == [
            {
                "sku": "ESP-1000",
                "name": "Espresso 1 kg",
                "quantity": "2",
                "unit_price": "16.11",
                "amount": "32.22",
                "currency": "EUR",
            },
            {
                "sku": "FLT-100",
                "name": "Filters",
                "quantity": "1.5",
                "unit_price": "2.25",
                "amount": "3.38",
                "currency": "EUR",
            },
        ]
        beans.price = Decimal("19.90")  # a later price change leaves the delivery as it was
    with sessions() as session:
        [event] = session.scalars(select(OutboxEvent)).all()
    assert event.topic == "subscription.due"
    assert event.payload == {
        "reference": "ITEMS/2026-12-01",
        "subscription": "ITEMS",
        "customer": "ANNA",
        "due_on": "2026-12-01",
        "currency": "EUR",
        "items": delivery.items,
        "total": "35.60",
        "benefit": "free delivery",
    }


def test_each_delivery_is_opened_once_however_often_the_worker_runs(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="ONCE",
            interval_unit="week",
            anchor_day=None,
        )
    for _ in range(3):
        _open(sessions, at(2026, 12, 1, 8, 0))
    assert _deliveries(sessions) == [("ONCE/2026-12-01", "announced")]
    # a delivery opened before (say, a skip recorded it) is not announced again
    with sessions.begin() as session:
        row = session.scalars(select(Subscription).where(Subscription.key == "ONCE")).one()
        row.next_due = date(2026, 12, 1)
    assert _open(sessions, at(2026, 12, 1, 9, 0)) == {"announced": 0}
    assert _row(sessions, "ONCE").next_due == date(2026, 12, 8)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 1


def test_monthly_deliveries_keep_their_anchor_day_across_short_months(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="END",
            anchor_day=31,
            next_due=date(2027, 1, 31),
        )
    for day in (date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)):
        _open(sessions, at(day.year, day.month, day.day, 7, 0))
    assert [ref for ref, _ in _deliveries(sessions)] == [
        "END/2027-01-31",
        "END/2027-02-28",
        "END/2027-03-31",
    ]
    assert _row(sessions, "END").next_due == date(2027, 4, 30)


def test_a_subscription_behind_catches_up_a_few_deliveries_a_round(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="LATE",
            interval_unit="day",
            anchor_day=None,
            next_due=date(2026, 11, 1),
        )
    assert _open(sessions, at(2026, 12, 1, 7, 0)) == {"announced": deliveries.CATCH_UP}
    assert _open(sessions, at(2026, 12, 1, 7, 1)) == {"announced": deliveries.CATCH_UP}
    assert _row(sessions, "LATE").next_due == date(2026, 11, 25)


def test_a_pause_ends_in_time_to_announce_the_first_delivery_after_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="PAUSED",
            interval_unit="week",
            anchor_day=None,
            next_due=date(2026, 12, 1),
            status="paused",
            paused_until=date(2026, 12, 20),
        )
        subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="HELD",
            status="paused",
            paused_until=None,
        )
    shop = settings(subscription_announce_days=3)
    with sessions() as session:
        assert deliveries.resume_paused(session, settings=shop, now=at(2026, 12, 16, 12)) == 0
        assert deliveries.open_due(session, settings=shop, now=at(2026, 12, 16, 12)) == {
            "announced": 0
        }
        # the grid of Tuesdays from 1 December: the first on or after 20 December is the 22nd
        assert deliveries.resume_paused(session, settings=shop, now=at(2026, 12, 19, 0, 10)) == 1
        assert deliveries.open_due(session, settings=shop, now=at(2026, 12, 19, 0, 10)) == {
            "announced": 1
        }
    paused = _row(sessions, "PAUSED")
    assert (paused.status, paused.paused_until, paused.next_due) == (
        "active",
        None,
        date(2026, 12, 29),
    )
    assert _deliveries(sessions, "PAUSED") == [("PAUSED/2026-12-22", "announced")]
    assert _changes(sessions, "PAUSED") == ["resumed"]
    assert _row(sessions, "HELD").status == "paused"  # paused until resumed by hand
    assert _deliveries(sessions, "HELD") == []
    with sessions() as session:
        topics = list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))
    assert topics == ["subscription.resumed", "subscription.due"]


def test_a_cancelled_subscription_delivers_up_to_its_last_day_and_then_ends(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="BYE",
            interval_unit="week",
            anchor_day=None,
            status="cancelled",
            ends_on=date(2026, 12, 15),
            cancel_reason="moving",
        )
    shop = settings(subscription_announce_days=3)
    for day in range(1, 20):
        with sessions() as session:
            now = at(2026, 11, 28 + day, 9) if day <= 2 else at(2026, 12, day - 2, 9)
            deliveries.open_due(session, settings=shop, now=now)
            deliveries.end_finished(session, settings=shop, now=now)
    assert _deliveries(sessions) == [
        ("BYE/2026-12-01", "announced"),
        ("BYE/2026-12-08", "announced"),
        ("BYE/2026-12-15", "announced"),
    ]
    row = _row(sessions, "BYE")
    assert (row.status, row.next_due) == ("cancelled", None)
    assert _changes(sessions, "BYE") == ["ended"]
    with sessions() as session:
        [ended] = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "subscription.ended")
        ).all()
        assert ended.payload["ends_on"] == "2026-12-15"


def test_the_end_is_on_the_customer_s_calendar_and_cancels_what_lies_beyond_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        row = subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="NY-END",
            time_zone="America/New_York",
            status="cancelled",
            next_due=date(2027, 1, 1),
            ends_on=date(2026, 12, 31),
        )
        # announced before the cancellation, for a day after the contract's end
        session.add(
            SubscriptionDelivery(
                subscription_id=row.id,
                reference="NY-END/2027-01-01",
                due_on=date(2027, 1, 1),
                status="announced",
                items=[],
            )
        )
    with sessions() as session:
        # midnight in Berlin, still 31 December in New York: not over yet
        assert deliveries.end_finished(session, settings=SHOP, now=at(2027, 1, 1, 0, 30)) == 0
        assert (
            deliveries.end_finished(session, settings=SHOP, now=at(2027, 1, 1, 0, 30, tz=NEW_YORK))
            == 1
        )
        assert deliveries.end_finished(session, settings=SHOP, now=at(2027, 1, 2, 9)) == 0
    assert _deliveries(sessions) == [("NY-END/2027-01-01", "cancelled")]
    assert _row(sessions, "NY-END").next_due is None


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_workers_at_once_open_each_delivery_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        for n in range(40):
            subscription(
                session,
                make.customer(session),
                [(product, 1, None)],
                key=f"PAR-{n:02d}",
                interval_unit="day",
                anchor_day=None,
                next_due=date(2026, 11, 29),
            )
    start = threading.Barrier(2)
    counts: dict[str, int] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait()
            total = 0
            for _ in range(3):
                with sessions() as session:
                    total += deliveries.open_due(session, settings=SHOP, now=at(2026, 12, 1, 8))[
                        "announced"
                    ]
            counts[name] = total
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert counts["a"] + counts["b"] == 120  # 29 and 30 November, 1 December, for 40 each
    with sessions() as session:
        per_day = session.execute(
            select(SubscriptionDelivery.subscription_id, func.count()).group_by(
                SubscriptionDelivery.subscription_id
            )
        ).all()
        events = session.execute(
            select(OutboxEvent.key, func.count()).group_by(OutboxEvent.key)
        ).all()
        next_dates = set(session.scalars(select(Subscription.next_due)))
    assert {count for _, count in per_day} == {3}
    assert len(per_day) == 40
    assert len(events) == 120
    assert {count for _, count in events} == {1}
    assert next_dates == {date(2026, 12, 2)}


@pytest.fixture
def shop() -> Iterator[Receiver]:
    """The shop's webhook receiver: a real HTTP server on 127.0.0.1 (as the outbox tests use)."""
    got = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(got))
    got.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_shop_receives_the_due_delivery_as_a_signed_webhook(
    sessions: sessionmaker[Session], shop: Receiver
) -> None:
    receiver = shop
    with sessions() as session:
        endpoint = outbox.add_endpoint(session, url=receiver.url, topics=["subscription.due"])
    with sessions.begin() as session:
        beans = make.product(session, sku="ESP-1000", price=Decimal("17.90"))
        subscription(
            session, make.customer(session, external_id="C-77"), [(beans, 1, None)], key="HOOK"
        )
    now = at(2026, 12, 1, 6)
    _open(sessions, now)
    run = outbox.deliver_due(sessions, now_fn=lambda: now)
    assert run.delivered == 1
    [got] = receiver.requests
    assert endpoint.secret is not None
    assert got.signed_by(endpoint.secret, now=now)
    body = json.loads(got.body)
    assert body["topic"] == "subscription.due"
    assert body["data"]["reference"] == "HOOK/2026-12-01"
    assert body["data"]["customer"] == "C-77"
    assert body["data"]["items"][0]["sku"] == "ESP-1000"
    assert "email" not in json.dumps(body)  # the customer's key, no personal data
