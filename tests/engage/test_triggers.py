"""The journeys' triggers on SQLite and PostgreSQL: who is due, on which occasion, with which
variables — and each occasion's variables render its journey's template."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from loyalty.shop import T0, demo_document, purchase
from patron.analytics.snapshots import save_snapshot
from patron.config import Settings
from patron.customers.models import Customer, Product
from patron.engage import context, journeys, library, triggers
from patron.engage.rendering import LANGUAGES, render
from patron.loyalty import service, setup, upkeep
from patron.loyalty.programme import read_spec
from patron.outbox import service as outbox

NOW = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
SETTINGS = Settings(_env_file=None, shop_name="Kaffeehaus Berg", currency="EUR")  # type: ignore[call-arg]


def _due(
    session: Session, journey: str, now: datetime = NOW, **kw: object
) -> list[triggers.Occasion]:
    settings = kw.pop("settings", {})
    return triggers.due(session, journey, settings, now=now, **kw)  # type: ignore[arg-type]


def _renders(session: Session, journey: str, occasion: triggers.Occasion, now: datetime) -> str:
    """The journey's shipped template, rendered for the occasion's customer in every language;
    the German text. The occasion has the variables of the journey's example."""
    assert set(occasion.context) == set(journeys.JOURNEYS[journey].example)
    shipped = {s.key: s for s in library.shipped()}[journeys.JOURNEYS[journey].template]
    made = context.contexts(
        session,
        [occasion.customer_id],
        needs=context.needs(shipped.template) - {"voucher", "recommended"},
        settings=SETTINGS,
        now=now,
        channel="email",
        purpose=shipped.purpose,
    )[occasion.customer_id]
    made |= {"voucher": None, "recommended": []}
    german = ""
    for language in LANGUAGES:
        values = made | context.localise(occasion.context, language=language, currency="EUR")
        rendered = render(shipped.template, values, language=language)
        assert "None" not in rendered.text
        german = rendered.text if language == "de" else german
    return german


def _scores(engine: Engine, rows: dict[int, dict[str, object]], period_end: date) -> int:
    names = sorted({name for row in rows.values() for name in row})
    types = {
        "p_alive": pa.float64(),
        "clv": pa.float64(),
        "subscription_product": pa.string(),
        "subscription_interval_days": pa.float64(),
    }
    table = pa.table(
        {"customer_id": pa.array([str(c) for c in rows], pa.string())}
        | {name: pa.array([row.get(name) for row in rows.values()], types[name]) for name in names}
    )
    with engine.begin() as connection:
        return save_snapshot(
            connection,
            table,
            period_start=date(2024, 1, 1),
            period_end=period_end,
            time_unit="week",
            model="bgnbd",
            settings={},
            models={},
            warnings=[],
        )


# --- orders ------------------------------------------------------------------------------------


def test_a_first_purchase_gives_one_occasion_and_a_second_order_none(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        new = make.customer(session, name="Anna Berg", language="de")
        first = make.order(session, new, external_id="A-1", placed_at=NOW - timedelta(days=1))
        make.order(session, new, external_id="A-2", placed_at=NOW - timedelta(hours=2))
        regular = make.customer(session)
        make.order(session, regular, placed_at=NOW - timedelta(days=40))
        make.order(session, regular, placed_at=NOW - timedelta(hours=5))
        # a cancelled order is no purchase: the completed one after it is the first
        careful = make.customer(session)
        make.order(session, careful, placed_at=NOW - timedelta(days=20), status="cancelled")
        kept = make.order(session, careful, placed_at=NOW - timedelta(hours=1))
        ids = (new.id, first.id, careful.id, kept.id)
    with sessions() as session:
        found = _due(session, "thank_you")
        assert [(o.customer_id, o.occasion) for o in found] == [
            (ids[0], f"order:{ids[1]}"),
            (ids[2], f"order:{ids[3]}"),
        ]
        assert found[0].context == {"order": {"number": "A-1", "date": date(2026, 3, 13)}}
        assert _due(session, "thank_you", now=NOW + timedelta(hours=1)) == found  # still in window
        assert _due(session, "thank_you", now=NOW + timedelta(days=4)) == []
        text = _renders(session, "thank_you", found[0], NOW)
        assert "Hallo Anna," in text
        assert "Bestellung A-1" in text


def test_cross_sell_and_feedback_come_days_after_the_customers_latest_order(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        three = make.customer(session)
        order_3 = make.order(session, three, placed_at=NOW - timedelta(days=3, hours=2))
        seven = make.customer(session)
        order_7 = make.order(session, seven, placed_at=NOW - timedelta(days=7, hours=2))
        busy = make.customer(session)  # ordered again since: no feedback on the older order
        make.order(session, busy, placed_at=NOW - timedelta(days=7, hours=1))
        make.order(session, busy, placed_at=NOW - timedelta(days=1))
        recent = make.customer(session)
        make.order(session, recent, placed_at=NOW - timedelta(days=2))
        ids = three.id, order_3.id, seven.id, order_7.id
    with sessions() as session:
        cross = _due(session, "cross_sell")
        assert [(o.customer_id, o.occasion) for o in cross] == [(ids[0], f"order:{ids[1]}")]
        feedback = _due(session, "feedback", settings={"survey_url": "https://shop.example/nps"})
        assert [(o.customer_id, o.occasion) for o in feedback] == [(ids[2], f"order:{ids[3]}")]
        assert feedback[0].context["survey_url"] == "https://shop.example/nps"
        assert [o.customer_id for o in _due(session, "feedback", settings={"days_after": 3})] == [
            ids[0]
        ]
        text = _renders(session, "feedback", feedback[0], NOW)
        assert "https://shop.example/nps?score=10&order=" in text.replace("&amp;", "&")


# --- birthdays ---------------------------------------------------------------------------------


def test_a_birthday_begins_at_midnight_in_the_customers_time_zone(
    sessions: sessionmaker[Session],
) -> None:
    birthday = date(1990, 3, 15)
    with sessions.begin() as session:
        berlin = make.customer(session, birthday=birthday, time_zone="Europe/Berlin")
        utc = make.customer(session, birthday=birthday, time_zone="UTC")
        new_york = make.customer(session, birthday=birthday, time_zone="America/New_York")
        shop_zone = make.customer(session, birthday=birthday)  # none of its own: the shop's
        unknown_zone = make.customer(session, birthday=birthday, time_zone="Mars/Olympus")
        make.customer(session, birthday=date(1990, 3, 20), time_zone="Europe/Berlin")
        ids = berlin.id, utc.id, new_york.id, shop_zone.id, unknown_zone.id
    # 23:30 UTC on 14 March is 00:30 on 15 March in Berlin, 19:30 on 14 March in New York
    with sessions() as session:
        found = _due(session, "birthday", lookback=timedelta(hours=2))
        assert [(o.customer_id, o.occasion) for o in found] == [(ids[0], "birthday:2026")]
        assert found[0].context == {"birthday": date(2026, 3, 15)}
        in_oslo = _due(session, "birthday", lookback=timedelta(hours=2), timezone="Europe/Oslo")
        assert {o.customer_id for o in in_oslo} == {ids[0], ids[3], ids[4]}
        later = _due(session, "birthday", now=NOW + timedelta(hours=4))  # 03:30 UTC on the 15th
        assert {o.customer_id for o in later} == {ids[0], ids[1], ids[3], ids[4]}
        new_york_morning = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)  # midnight there (EDT)
        assert ids[2] in {o.customer_id for o in _due(session, "birthday", now=new_york_morning)}
        _renders(session, "birthday", found[0], NOW)


def test_29_february_is_celebrated_on_28_february_in_common_years(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        leapling = make.customer(session, birthday=date(2000, 2, 29)).id
        make.customer(session, birthday=date(2000, 3, 1))
    day = timedelta(hours=23)
    with sessions() as session:
        common = _due(session, "birthday", now=datetime(2027, 2, 28, 12, tzinfo=UTC), lookback=day)
        assert [(o.customer_id, o.occasion) for o in common] == [(leapling, "birthday:2027")]
        assert common[0].context == {"birthday": date(2027, 2, 28)}
        assert (
            _due(session, "birthday", now=datetime(2028, 2, 28, 12, tzinfo=UTC), lookback=day) == []
        )
        leap = _due(session, "birthday", now=datetime(2028, 2, 29, 12, tzinfo=UTC), lookback=day)
        assert [o.customer_id for o in leap] == [leapling]
    assert triggers.celebration(date(2000, 2, 29), 2027) == date(2027, 2, 28)
    assert triggers.celebration(date(2000, 2, 29), 2028) == date(2028, 2, 29)


# --- loyalty -----------------------------------------------------------------------------------


def _buy(session: Session, customer: str, order: str, amount: str, at: datetime) -> None:
    service.record_purchase(
        session,
        programme_code="club",
        key=f"{customer}:{order}",
        purchase=purchase(customer, f"{customer}-{order}", amount),
        actor=None,
        now=at,
    )


@pytest.fixture
def club(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The demo programme (Bronze 0, Silver 500, Gold 1500, VIP 4000 points in 12 months)."""
    with sessions() as session:
        session.add_all(Customer(external_id=f"C{i}", name=f"Kunde {i}") for i in range(1, 4))
        session.commit()
        setup.set_up(session, spec=read_spec(demo_document()), actor="test", now=T0)
    return sessions


def test_a_tier_upgrade_is_due_and_a_downgrade_is_not(club: sessionmaker[Session]) -> None:
    hour = timedelta(hours=1)
    with club() as session:
        _buy(session, "C1", "O1", "150", T0)  # 150 + 100 first-purchase bonus: Bronze
        _buy(session, "C1", "O2", "300", T0 + timedelta(days=1))  # 550 points: Silver
        _buy(session, "C2", "O1", "500", T0)  # Silver at once (an enrolment, not a change)
        welcome = _due(session, "loyalty_welcome", now=T0 + hour)
        assert [(o.customer_id, o.occasion) for o in welcome] == [
            (1, "enrolled:club"),
            (2, "enrolled:club"),
        ]
        assert welcome[0].context == {"programme": "Patron Club"}
        up = _due(session, "tier_upgrade", now=T0 + timedelta(days=1) + hour)
        assert [(o.customer_id, o.occasion) for o in up] == [(1, "tier:silver:2026-03-03")]
        assert up[0].context == {
            "new_tier": "Silver",
            "previous_tier": "Bronze",
            "benefits": ["Free shipping"],
        }
        text = _renders(session, "tier_upgrade", up[0], T0 + timedelta(days=1) + hour)
        assert "Silver" in text
        assert "Free shipping" in text
        # C2's purchase leaves the 12-month window; after the 90 days' grace: back to Bronze
        lapsed = datetime(2027, 3, 3, tzinfo=UTC)
        upkeep.review_tiers(session, as_of=lapsed)
        ended = lapsed + timedelta(days=90)
        assert upkeep.review_tiers(session, as_of=ended)["tiers_changed"] == 2
        changes = outbox.events_since(
            session, topics=["tier.changed"], since=ended - hour, until=ended + hour
        )
        assert {(e.payload["customer_id"], e.payload["to"]) for e in changes} == {
            (1, "bronze"),
            (2, "bronze"),
        }
        assert _due(session, "tier_upgrade", now=ended + hour) == []
        _renders(session, "loyalty_welcome", welcome[0], T0 + hour)


# --- analytics ---------------------------------------------------------------------------------


def test_win_back_below_the_threshold_once_per_lapse(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        faded = make.customer(session, name="Fritz Faded", language="de")
        faded_order = make.order(session, faded, external_id="F-9", placed_at=make.at(100))
        valuable = make.customer(session)
        valuable_order = make.order(session, valuable, placed_at=make.at(50))
        alive = make.customer(session)
        make.order(session, alive, placed_at=make.at(300))
        back = make.customer(session)  # scored as lapsing, but has ordered since
        make.order(session, back, placed_at=make.at(50))
        make.order(session, back, placed_at=datetime(2025, 1, 5, tzinfo=UTC))
        ids = faded.id, valuable.id, alive.id, back.id
    period_end = date(2024, 12, 31)
    rows = {
        ids[0]: {"p_alive": 0.1, "clv": 20.0},
        ids[1]: {"p_alive": 0.25, "clv": 300.0},
        ids[2]: {"p_alive": 0.8, "clv": 100.0},
        ids[3]: {"p_alive": 0.05, "clv": 50.0},
    }
    _scores(engine, rows, period_end)
    now = datetime(2025, 2, 1, tzinfo=UTC)
    with sessions() as session:
        found = _due(session, "win_back", now=now)
        assert [(o.customer_id, o.occasion) for o in found] == [
            (ids[1], f"lapse:{valuable_order.id}"),  # the most valuable first
            (ids[0], f"lapse:{faded_order.id}"),
        ]
        assert found[1].context == {
            "last_order": {"number": "F-9", "date": date(2024, 4, 10)},
            "days_since": (now - make.at(100)).days,
        }
        week_later = _due(session, "win_back", now=now + timedelta(days=7))
        assert [o.occasion for o in week_later] == [o.occasion for o in found]  # the same lapse
        strict = _due(session, "win_back", now=now, settings={"p_alive_below": 0.2})
        assert [o.customer_id for o in strict] == [ids[0]]
        text = _renders(session, "win_back", found[1], now)
        assert text.startswith("Hallo Fritz,")
    with sessions.begin() as session:  # Fritz comes back, then fades again: a new lapse
        again = make.order(
            session, session.get_one(Customer, ids[0]), placed_at=datetime(2025, 3, 1, tzinfo=UTC)
        ).id
    _scores(engine, rows, date(2025, 12, 31))
    with sessions() as session:
        later = _due(session, "win_back", now=datetime(2026, 1, 10, tzinfo=UTC))
        assert (ids[0], f"lapse:{again}") in [(o.customer_id, o.occasion) for o in later]


def test_replenishment_is_due_days_before_the_next_expected_purchase(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    now = datetime(2026, 3, 14, 10, tzinfo=UTC)
    with sessions.begin() as session:
        beans = make.product(session, sku="ESP-1000", name="Espresso 1 kg", price="17.90")
        soon = make.customer(session)
        for days in (88, 58, 28):  # every 30 days; the next is expected in 2 days
            make.order(
                session, soon, placed_at=now - timedelta(days=days), lines=[make.line(beans)]
            )
        later = make.customer(session)
        for days in (70, 40, 10):
            make.order(
                session, later, placed_at=now - timedelta(days=days), lines=[make.line(beans)]
            )
        ids = soon.id, later.id, beans.id
    regular = {"subscription_product": "ESP-1000", "subscription_interval_days": 30.0}
    _scores(engine, {ids[0]: regular, ids[1]: regular}, date(2026, 3, 1))
    with sessions() as session:
        found = _due(session, "replenishment", now=now)
        assert [(o.customer_id, o.occasion) for o in found] == [
            (ids[0], f"replenish:{ids[2]}:2026-02-14")
        ]
        assert found[0].context["expected_on"] == date(2026, 3, 16)
        assert found[0].context["product"] == {
            "name": "Espresso 1 kg",
            "sku": "ESP-1000",
            "price": Decimal("17.90"),
        }
        assert _due(session, "replenishment", now=now, settings={"days_before": 1}) == []
        text = _renders(session, "replenishment", found[0], now)
        assert "17,90 €" in text
        assert "alle 30 Tage" in text


# --- interactions ------------------------------------------------------------------------------


def test_a_price_drop_is_due_only_below_the_watched_price(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        grinder = make.product(session, name="Hand grinder", price="10.00")
        watched = {"kind": "price_watch", "product_id": grinder.id}

        def watch(price: object, days: float, **more: object) -> tuple[int, int]:
            person = more.pop("customer", None) or make.customer(session)
            seen = make.interaction(
                session,
                person,
                payload={"price": price},
                occurred_at=NOW - timedelta(days=days),
                **watched,
            )
            return person.id, seen.id

        cheaper = watch("12.90", 5)
        same = watch("10.00", 5)
        watch("9.00", 5)  # it was cheaper when watched
        watch("not a price", 5)
        watch("15.00", 200)  # too old a watch
        bought = watch("12.90", 10)
        make.order(
            session,
            session.get_one(Customer, bought[0]),
            placed_at=NOW - timedelta(days=2),
            lines=[make.line(grinder)],
        )
        twice = make.customer(session)
        watch("20.00", 30, customer=twice)
        newest = watch(11, 3, customer=twice)  # a JSON number is read too; the newest counts
        grinder_id = grinder.id
    with sessions() as session:
        found = _due(session, "price_drop")
        assert [(o.customer_id, o.occasion) for o in found] == [
            (cheaper[0], f"watch:{cheaper[1]}:10.00"),  # 22 % off first
            (newest[0], f"watch:{newest[1]}:10.00"),
        ]
        assert found[0].context["old_price"] == Decimal("12.90")
        assert found[0].context["new_price"] == Decimal("10.00")
        assert same[0] not in {o.customer_id for o in found}
        text = _renders(session, "price_drop", found[0], NOW)
        assert "jetzt 10,00 € statt 12,90 €" in text
    with sessions.begin() as session:
        session.get_one(Product, grinder_id).price = Decimal("9.50")
    with sessions() as session:  # cheaper still: a new occasion for the same watch
        found = _due(session, "price_drop")
        assert f"watch:{cheaper[1]}:9.50" in {o.occasion for o in found}
        assert same[0] in {o.customer_id for o in found}


def test_a_complaint_is_followed_up_days_later_unless_unresolved(
    sessions: sessionmaker[Session],
) -> None:
    at = NOW - timedelta(days=3, hours=5)
    with sessions.begin() as session:
        called = make.customer(session)
        complaint = make.interaction(
            session, called, kind="call", occurred_at=at, payload={"topic": "complaint"}
        )
        open_case = make.customer(session)
        make.interaction(
            session,
            open_case,
            kind="meeting",
            occurred_at=at,
            payload={"topic": "complaint", "resolved": False},
        )
        chat = make.customer(session)
        make.interaction(session, chat, kind="call", occurred_at=at, payload={"topic": "order"})
        fresh = make.customer(session)
        make.interaction(
            session,
            fresh,
            kind="call",
            occurred_at=NOW - timedelta(days=1),
            payload={"topic": "complaint"},
        )
        ids = called.id, complaint.id
    with sessions() as session:
        found = _due(session, "complaint_follow_up")
        assert [(o.customer_id, o.occasion) for o in found] == [(ids[0], f"complaint:{ids[1]}")]
        assert found[0].context == {"complaint": {"date": date(2026, 3, 11)}}
        text = _renders(session, "complaint_follow_up", found[0], NOW)
        assert "am 11. März 2026" in text


# --- event invitations -------------------------------------------------------------------------


def test_quiet_first_orders_by_days_since_the_last_order_or_interaction(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        lately_seen = make.customer(session, created_at=NOW - timedelta(days=900))
        make.order(session, lately_seen, placed_at=NOW - timedelta(days=200))
        make.interaction(session, lately_seen, occurred_at=NOW - timedelta(days=10))
        ordered = make.customer(session, created_at=NOW - timedelta(days=900))
        make.order(session, ordered, placed_at=NOW - timedelta(days=100))
        silent = make.customer(session, created_at=NOW - timedelta(days=50))  # nothing at all
        oldest = make.customer(session, created_at=NOW - timedelta(days=900))
        make.order(session, oldest, placed_at=NOW - timedelta(days=300))
        ids = [lately_seen.id, ordered.id, silent.id, oldest.id]
    with sessions() as session:
        assert triggers.quiet_first(session, ids) == [ids[3], ids[1], ids[2], ids[0]]
        assert triggers.quiet_first(session, ids[:2]) == [ids[1], ids[0]]
        assert triggers.quiet_first(session, []) == []


def test_an_event_invitation_is_not_triggered_and_unknown_journeys_are_refused(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        with pytest.raises(journeys.JourneyProblem, match="quiet_first"):
            _due(session, "event_invitation")
        with pytest.raises(journeys.JourneyProblem, match="unknown journey"):
            _due(session, "anniversary")
        with pytest.raises(journeys.JourneyProblem, match="p_alive_below"):
            _due(session, "win_back", settings={"p_alive_below": 3})


def test_every_journey_but_the_invitation_has_a_trigger() -> None:
    triggered = {key for key, journey in journeys.JOURNEYS.items() if not journey.one_off}
    assert set(triggers.TRIGGERS) == triggered
