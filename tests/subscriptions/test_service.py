"""Subscriptions' use cases on SQLite and PostgreSQL: create (idempotent on its key), read,
change, pause and resume, skip, change the rhythm, cancel within the contract, the history and
the shop's webhook events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import Settings, load_settings
from patron.errors import Conflict, NotFound, PatronError
from patron.outbox.models import OutboxEvent
from patron.subscriptions import deliveries, service
from patron.subscriptions.models import Subscription, SubscriptionChange, SubscriptionDelivery
from patron.subscriptions.schemas import SubscriptionCreate, SubscriptionUpdate

BERLIN = ZoneInfo("Europe/Berlin")
SETTINGS: Settings = load_settings(timezone="Europe/Berlin", currency="EUR")
# Tuesday 10 March 2026, 10:00 in Berlin
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN).astimezone(UTC)
API = "apikey:test"


def request(customer: str, sku: str, **more: Any) -> SubscriptionCreate:
    values: dict[str, Any] = {
        "customer": customer,
        "items": [{"sku": sku, "quantity": "2"}],
        "interval": {"unit": "month", "count": 1},
    }
    return SubscriptionCreate.model_validate(values | more)


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", name="Anna Berg", time_zone="Europe/Berlin")
        make.customer(session, external_id="NICK", time_zone="America/New_York")
        make.product(session, sku="BEANS", name="Espresso beans 1 kg", price=Decimal("18.90"))
        make.product(session, sku="MILK", name="Oat milk", price=None)
    return {"customer": "ANNA", "sku": "BEANS"}


def create(session: Session, **more: Any) -> str:
    made = service.create(
        session, request("ANNA", "BEANS", **more), settings=SETTINGS, actor=API, now=NOW
    )
    return made.key


def topics(session: Session) -> list[str]:
    return list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))


def kinds(session: Session, key: str) -> list[str]:
    return [c.kind for c in service.history(session, key).data]


# --- creating ----------------------------------------------------------------------------------


def test_create_makes_a_key_prices_items_and_queues_the_event(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        made = service.create(
            session,
            request("ANNA", "BEANS", discount_percent="10", first_due="2026-04-01"),
            settings=SETTINGS,
            actor=API,
            now=NOW,
        )
        assert made.key.startswith("S-")
        assert len(made.key) == 8
        assert (made.customer, made.customer_name, made.status) == ("ANNA", "Anna Berg", "active")
        assert (made.next_due, made.interval.anchor_day, made.time_zone) == (
            date(2026, 4, 1),
            1,
            "Europe/Berlin",
        )
        item = made.items[0]
        assert (item.product_name, item.unit_price, item.effective_price, item.line_total) == (
            "Espresso beans 1 kg",
            Decimal("18.90"),
            Decimal("17.01"),
            Decimal("34.02"),
        )
        assert made.delivery_value == made.monthly_value == Decimal("34.02")
        assert made.started_on == date(2026, 3, 10)
        assert topics(session) == ["subscription.created"]
        payload = session.scalars(select(OutboxEvent.payload)).one()
        assert payload["subscription"] == made.key
        assert payload["customer"] == "ANNA"
        assert kinds(session, made.key) == ["created"]


def test_weekly_mrr_uses_the_average_month(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        made = service.get(session, create(session, interval={"unit": "week", "count": 2}))
        # 37.80 per delivery × 52.1775 / 12 / 2 = 82.18
        assert made.delivery_value == Decimal("37.80")
        assert made.monthly_value == Decimal("82.18")


def test_the_same_key_and_content_answers_the_same_other_content_is_refused(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        first, created = service.create_or_repeat(
            session, request("ANNA", "BEANS", key="SHOP-1"), settings=SETTINGS, actor=API, now=NOW
        )
        service.pause(session, "SHOP-1", until=None, actor=API, now=NOW)
        again, created_again = service.create_or_repeat(
            session, request("ANNA", "BEANS", key="SHOP-1"), settings=SETTINGS, actor=API, now=NOW
        )
        assert (created, created_again) == (True, False)
        assert again.key == first.key == "SHOP-1"
        assert again.status == "paused"
        with pytest.raises(Conflict) as refused:
            service.create(
                session,
                request("ANNA", "BEANS", key="SHOP-1", discount_percent="5"),
                settings=SETTINGS,
                actor=API,
                now=NOW,
            )
        assert refused.value.code == "subscriptions.key_taken"
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_time_zone_is_the_customer_s_else_the_shop_s_and_must_exist(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    # 23:30 UTC on 31 March: already 1 April in Berlin, still 31 March in New York
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    with sessions() as session:
        make.customer(session, external_id="NOZONE")
        session.commit()
        nick = service.create(
            session, request("NICK", "BEANS"), settings=SETTINGS, actor=API, now=late
        )
        anna = service.create(
            session, request("ANNA", "BEANS"), settings=SETTINGS, actor=API, now=late
        )
        nobody = service.create(
            session, request("NOZONE", "BEANS"), settings=SETTINGS, actor=API, now=late
        )
        assert (nick.time_zone, nick.started_on) == ("America/New_York", date(2026, 3, 31))
        assert (anna.time_zone, anna.started_on) == ("Europe/Berlin", date(2026, 4, 1))
        assert nobody.time_zone == "Europe/Berlin"
        with pytest.raises(PatronError) as refused:
            service.create(
                session,
                request("ANNA", "BEANS", time_zone="Mars/Olympus"),
                settings=SETTINGS,
                actor=API,
                now=late,
            )
        assert refused.value.details["field"] == "time_zone"


@pytest.mark.parametrize(
    ("more", "field"),
    [
        ({"items": [{"sku": "NOPE"}]}, "items[0].sku"),
        ({"items": [{"sku": "MILK"}]}, "items[0].unit_price"),
        ({"items": [{"sku": "BEANS"}, {"sku": "BEANS"}]}, "items[1].sku"),
        ({"first_due": "2026-03-09"}, "first_due"),
        ({"started_on": "2026-04-01", "first_due": "2026-03-20"}, "first_due"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    sessions: sessionmaker[Session], shop: dict[str, str], more: dict[str, Any], field: str
) -> None:
    with sessions() as session:
        with pytest.raises(PatronError) as refused:
            create(session, **more)
        assert refused.value.details["field"] == field
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0


def test_an_item_without_list_price_takes_the_agreed_price(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        made = service.get(session, create(session, items=[{"sku": "MILK", "unit_price": "2.5"}]))
        assert made.delivery_value == Decimal("2.50")


def test_unknown_customer_or_subscription(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        with pytest.raises(NotFound) as unknown:
            service.create(
                session, request("NOBODY", "BEANS"), settings=SETTINGS, actor=API, now=NOW
            )
        assert unknown.value.code == "customers.not_found"
        with pytest.raises(NotFound) as missing:
            service.get(session, "S-999999")
        assert missing.value.code == "subscriptions.not_found"


def test_a_start_in_the_past_begins_on_the_next_grid_date(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        made = service.get(session, create(session, started_on="2026-01-31"))
        assert made.next_due == date(2026, 3, 31)
        assert made.interval.anchor_day == 31


# --- pause, resume, skip -----------------------------------------------------------------------


def test_pause_and_resume_keep_the_rhythm_and_do_not_make_up_deliveries(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session, first_due="2026-03-31")
        paused = service.pause(session, key, until=date(2026, 5, 15), actor="portal", now=NOW)
        assert (paused.status, paused.paused_until) == ("paused", date(2026, 5, 15))
        with pytest.raises(Conflict):
            service.pause(session, key, until=None, actor="portal", now=NOW)
        later = datetime(2026, 5, 2, 8, 0, tzinfo=BERLIN)
        resumed = service.resume(session, key, actor="portal", now=later)
        # 31 Mar and 30 Apr passed during the pause; the anchor 31 gives 31 May
        assert (resumed.status, resumed.paused_until, resumed.next_due) == (
            "active",
            None,
            date(2026, 5, 31),
        )
        assert kinds(session, key) == ["created", "paused", "resumed"]
        assert topics(session)[1:] == ["subscription.paused", "subscription.resumed"]
        with pytest.raises(Conflict):
            service.resume(session, key, actor="portal", now=later)


@pytest.mark.parametrize("until", [date(2026, 3, 10), date(2026, 9, 10)])
def test_a_pause_must_end_after_today_and_within_183_days(
    sessions: sessionmaker[Session], shop: dict[str, str], until: date
) -> None:
    with sessions() as session:
        key = create(session)
        with pytest.raises(PatronError) as refused:
            service.pause(session, key, until=until, actor=API, now=NOW)
        assert refused.value.details["field"] == "until"
        assert service.get(session, key).status == "active"
        # 183 days ahead is allowed
        assert service.pause(session, key, until=date(2026, 9, 9), actor=API, now=NOW).paused_until


def test_skip_moves_the_next_delivery_along_the_anchor(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session, first_due="2026-03-31")
        assert service.skip(session, key, actor="portal", now=NOW).next_due == date(2026, 4, 30)
        assert service.skip(session, key, actor="portal", now=NOW).next_due == date(2026, 5, 31)
        lines = service.history(session, key).data
        assert [(c.kind, c.details) for c in lines[1:]] == [
            ("skipped", {"skipped": "2026-03-31", "next_due": "2026-04-30"}),
            ("skipped", {"skipped": "2026-04-30", "next_due": "2026-05-31"}),
        ]
        assert topics(session).count("subscription.skipped") == 2


def test_a_delivery_already_announced_cannot_be_skipped(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session, first_due="2026-03-12")
        row = service.find(session, key)
        session.add(
            SubscriptionDelivery(
                subscription_id=row.id,
                reference=f"{key}/2026-03-12",
                due_on=date(2026, 3, 12),
                status="announced",
                items=[],
                announced_at=NOW,
            )
        )
        session.commit()
        with pytest.raises(Conflict) as refused:
            service.skip(session, key, actor="portal", now=NOW)
        assert refused.value.code == "subscriptions.already_announced"
        assert "2026-03-12" in refused.value.message
        assert service.get(session, key).next_due == date(2026, 3, 12)


def test_a_paused_subscription_has_nothing_to_skip(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session)
        service.pause(session, key, until=None, actor=API, now=NOW)
        with pytest.raises(Conflict):
            service.skip(session, key, actor=API, now=NOW)


# --- changes -----------------------------------------------------------------------------------


def test_change_interval_from_monthly_to_weekly_and_back(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session, first_due="2026-03-31")
        weekly = service.change_interval(session, key, unit="week", count=2, actor=API, now=NOW)
        assert (weekly.interval.unit, weekly.interval.anchor_day) == ("week", None)
        monthly = service.change_interval(session, key, unit="month", count=1, actor=API, now=NOW)
        assert monthly.interval.anchor_day == 31
        assert kinds(session, key) == ["created", "interval_changed", "interval_changed"]
        # the same rhythm again changes nothing
        service.change_interval(session, key, unit="month", count=1, actor=API, now=NOW)
        assert len(kinds(session, key)) == 3
        with pytest.raises(PatronError):
            service.change_interval(session, key, unit="year", count=1, actor=API, now=NOW)


def test_change_items_discount_benefit_and_next_due(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session)
        update = SubscriptionUpdate.model_validate(
            {
                "items": [{"sku": "MILK", "quantity": 6, "unit_price": "2.00"}],
                "discount_percent": "50",
                "benefit": "free delivery",
                "next_due": "2026-03-20",
            }
        )
        changed = service.change(session, key, update, actor="user:1", now=NOW)
        assert [i.sku for i in changed.items] == ["MILK"]
        assert (changed.delivery_value, changed.benefit, changed.next_due) == (
            Decimal("6.00"),
            "free delivery",
            date(2026, 3, 20),
        )
        line = service.history(session, key).data[-1]
        assert (line.kind, line.actor) == ("changed", "user:1")
        assert set(line.details or {}) == {"items", "discount_percent", "benefit", "next_due"}
        # nothing different: no history, no event
        events = len(topics(session))
        service.change(
            session, key, SubscriptionUpdate(benefit="free delivery"), actor=API, now=NOW
        )
        assert len(topics(session)) == events
        with pytest.raises(PatronError) as refused:
            service.change(
                session, key, SubscriptionUpdate(next_due=date(2026, 3, 1)), actor=API, now=NOW
            )
        assert refused.value.details["field"] == "next_due"


# --- cancelling --------------------------------------------------------------------------------


def test_cancel_within_the_notice_period_ends_at_the_term_end(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(
            session,
            started_on="2025-04-01",
            minimum_term_months=12,
            notice_days=30,
            renewal_months=12,
        )
        made = service.get(session, key, now=NOW)
        # first term 1 Apr 2025 – 31 Mar 2026, notice deadline 1 Mar 2026: already passed
        assert (made.term_ends_on, made.notice_deadline) == (date(2026, 3, 31), date(2026, 3, 1))
        assert made.earliest_end == date(2027, 3, 31)
        on_time = datetime(2026, 3, 1, 23, 0, tzinfo=BERLIN)
        cancel_terms = service.cancellation_terms(session, key, now=on_time)
        assert cancel_terms.earliest_end == date(2026, 3, 31)
        cancelled = service.cancel(
            session,
            key,
            reason="too_expensive",
            note=" cheaper elsewhere ",
            actor="portal",
            settings=SETTINGS,
            now=NOW,
        )
        assert (cancelled.status, cancelled.ends_on, cancelled.cancel_reason) == (
            "cancelled",
            date(2027, 3, 31),
            "too_expensive",
        )
        assert cancelled.cancel_note == "cheaper elsewhere"
        assert cancelled.earliest_end is None
        assert cancelled.next_due is not None  # deliveries go on until the end
        line = service.history(session, key).data[-1]
        assert (line.kind, line.reason, line.actor) == ("cancelled", "too_expensive", "portal")
        assert topics(session)[-1] == "subscription.cancelled"
        with pytest.raises(Conflict):
            service.cancel(
                session, key, reason="other", note=None, actor="portal", settings=SETTINGS, now=NOW
            )


def test_cancel_refuses_an_unknown_reason(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session, notice_days=14)
        with pytest.raises(PatronError) as refused:
            service.cancel(
                session, key, reason="bored", note=None, actor=API, settings=SETTINGS, now=NOW
            )
        assert refused.value.details["field"] == "reason"
        assert service.get(session, key).status == "active"
        done = service.cancel(
            session, key, reason="moving", note=None, actor=API, settings=SETTINGS, now=NOW
        )
        assert done.ends_on == date(2026, 3, 24)


def test_cancelling_a_paused_subscription_without_end_stops_deliveries(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session, notice_days=30)
        service.pause(session, key, until=None, actor=API, now=NOW)
        done = service.cancel(
            session, key, reason="other", note=None, actor=API, settings=SETTINGS, now=NOW
        )
        assert (done.status, done.next_due, done.ends_on) == ("cancelled", None, date(2026, 4, 9))
        with pytest.raises(Conflict):
            service.skip(session, key, actor=API, now=NOW)


# --- reading -----------------------------------------------------------------------------------


def test_list_and_for_customer(sessions: sessionmaker[Session], shop: dict[str, str]) -> None:
    with sessions() as session:
        first = create(session)
        second = create(session)
        service.pause(session, first, until=None, actor=API, now=NOW)
        nick = service.create(
            session, request("NICK", "BEANS"), settings=SETTINGS, actor=API, now=NOW
        )
        everything = service.list_subscriptions(session)
        assert everything.count == 3
        assert next(s.key for s in everything.data) == nick.key
        assert [s.key for s in service.list_subscriptions(session, status="paused").data] == [first]
        annas = service.list_subscriptions(session, customer="ANNA", limit=1, offset=1)
        assert (annas.count, [s.key for s in annas.data]) == (2, [first])
        anna_id = service.find(session, first).customer_id
        assert {s.key for s in service.for_customer(session, anna_id)} == {first, second}
        with pytest.raises(PatronError):
            service.list_subscriptions(session, status="gone")


def test_every_change_is_in_the_history_with_its_actor(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        key = create(session)
        service.skip(session, key, actor="portal", now=NOW)
        service.pause(session, key, until=None, actor="user:7", now=NOW)
        actors = session.execute(
            select(SubscriptionChange.kind, SubscriptionChange.actor).order_by(
                SubscriptionChange.id
            )
        ).all()
        assert [tuple(a) for a in actors] == [
            ("created", API),
            ("skipped", "portal"),
            ("paused", "user:7"),
        ]


def test_an_erasure_ends_even_a_cancelled_subscription_still_delivering(
    sessions: sessionmaker[Session], shop: dict[str, str]
) -> None:
    with sessions() as session:
        running = create(session, notice_days=30, first_due="2026-03-12")
        ending = create(session, notice_days=30, first_due="2026-03-20")
        service.cancel(
            session, ending, reason="moving", note=None, actor=API, settings=SETTINGS, now=NOW
        )
        deliveries.open_due(session, settings=SETTINGS, now=NOW)  # 12 March: announced
        customer_id = service.find(session, running).customer_id
        assert service.end_for_erasure(session, customer_id, now=NOW) == 2
        session.commit()
        for key in (running, ending):
            row = service.find(session, key)
            assert (row.status, row.next_due, row.ends_on) == ("cancelled", None, date(2026, 3, 10))
            line = service.history(session, key).data[-1]
            assert (line.kind, line.actor) == ("ended", "privacy")
        statuses = set(session.scalars(select(SubscriptionDelivery.status)))
        assert statuses == {"cancelled"}
        # ended, nothing is left for the worker or a second erasure to do
        assert service.end_for_erasure(session, customer_id, now=NOW) == 0
