"""The subscription report on a small shop whose every figure is worked out by hand below:
subscriptions in force, MRR over 12 months (pauses and ends from the history), subscriber churn
(a swap is no churn), the reasons, the revenue share (time zone at the period's edge, other
currencies and bookkeeping lines left out) and the stratified CLV comparison."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.cases.helpers import snapshot
from patron.customers.models import Customer, Product
from patron.subscriptions import reports
from patron.subscriptions.models import SubscriptionChange, SubscriptionDelivery
from subscriptions.shop import at, settings, subscription

SETTINGS = settings(currency="EUR")
NOW = at(2027, 3, 15, 12, 0)  # Berlin
TODAY = date(2027, 3, 15)


@dataclass
class Shop:
    ids: dict[str, int]


def _people(session: Session) -> dict[str, Customer]:
    return {name: make.customer(session, name=f"Customer {name}") for name in "ABCDEFGHIJKL"}


def _pause(session: Session, row: Any, at_: datetime, until: str | None) -> None:
    session.add(
        SubscriptionChange(
            subscription_id=row.id,
            kind="paused",
            at=at_,
            actor="test",
            details={"until": until, "next_due": None},
        )
    )


def _resume(session: Session, row: Any, at_: datetime) -> None:
    session.add(SubscriptionChange(subscription_id=row.id, kind="resumed", at=at_, actor="test"))


def monthly(**more: Any) -> dict[str, Any]:
    return {"interval_unit": "month", "interval_count": 1, "anchor_day": 1} | more


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> Shop:
    """Nine subscriptions (see each line) and the orders of the revenue share."""
    with sessions() as session:
        who = _people(session)
        p1 = make.product(session, price=Decimal("10.00"))
        p2 = make.product(session, price=Decimal("20.00"))
        # S1: 2 × 9.00 − 10 % = 2 × 8.10 = 16.20 a month, since January 2026
        s1 = subscription(
            session,
            who["A"],
            [(p1, 2, "9.00")],
            **monthly(started_on=date(2026, 1, 1), discount_percent=Decimal(10)),
        )
        # S2: 20.00 list price every 2 weeks: 20 × 365.2425 / 7 / 12 / 2 = 43.48125 → 43.48
        s2 = subscription(
            session,
            who["B"],
            [(p2, 1, None)],
            interval_unit="week",
            interval_count=2,
            anchor_day=None,
            started_on=date(2026, 6, 1),
        )
        # S3: 10.00 a month, cancelled (too expensive), last day 31 January 2027
        subscription(
            session,
            who["C"],
            [(p1, 1, None)],
            **monthly(
                started_on=date(2026, 3, 1),
                status="cancelled",
                ends_on=date(2027, 1, 31),
                cancel_reason="too_expensive",
                next_due=None,
            ),
        )
        # S4: 30.00 a month, paused 10 December 2026 until resumed on 1 February 2027
        s4 = subscription(
            session, who["D"], [(p1, 3, None)], **monthly(started_on=date(2026, 9, 1))
        )
        _pause(session, s4, datetime(2026, 12, 10, 10, 0, tzinfo=UTC), "2027-02-01")
        _resume(session, s4, datetime(2027, 2, 1, 5, 0, tzinfo=UTC))
        # S5 (20.00, quality, last day 30 November) is followed by S6 (10.00) on 1 December:
        # customer E swapped, and has not churned
        subscription(
            session,
            who["E"],
            [(p2, 1, None)],
            **monthly(
                started_on=date(2026, 5, 1),
                status="cancelled",
                ends_on=date(2026, 11, 30),
                cancel_reason="quality",
            ),
        )
        subscription(session, who["E"], [(p1, 1, None)], **monthly(started_on=date(2026, 12, 1)))
        # S7: in kroner, left out of the euro MRR
        subscription(
            session,
            who["F"],
            [(p1, 1, "100.00")],
            **monthly(started_on=date(2026, 1, 1), currency="NOK"),
        )
        # S8: 10.00 a month, cancelled, runs until 30 April 2027 ("ending")
        subscription(
            session,
            who["B"],
            [(p1, 1, None)],
            **monthly(
                started_on=date(2026, 10, 1),
                status="cancelled",
                ends_on=date(2027, 4, 30),
                cancel_reason="too_expensive",
            ),
        )
        # S9: 10.00 a month from November 2026, paused since 1 March 2027 until resumed
        s9 = subscription(
            session,
            who["G"],
            [(p1, 1, None)],
            **monthly(started_on=date(2026, 11, 1), status="paused"),
        )
        _pause(session, s9, datetime(2027, 3, 1, 8, 0, tzinfo=UTC), None)
        _orders(session, who, p1, p2, s1, s2)
        session.commit()
        return Shop({name: c.id for name, c in who.items()})


def _orders(
    session: Session, who: dict[str, Customer], p1: Product, p2: Product, s1: Any, s2: Any
) -> None:
    """In the period 16 March 2026 .. 15 March 2027 (Berlin): 223.20 in euros, of which the
    deliveries 36.20 (O1 by reference, O7 linked afterwards) and subscribers 116.20."""
    session.add(
        SubscriptionDelivery(
            subscription_id=s1.id, reference="S1/2026-06-01", due_on=date(2026, 6, 1), items=[]
        )
    )
    o1 = make.order(
        session,
        who["A"],
        placed_at=datetime(2026, 6, 10, tzinfo=UTC),
        subscription_ref="S1/2026-06-01",
        lines=[make.line(p1, quantity=2, unit_price="8.10")],
    )
    make.order(
        session,
        who["A"],
        placed_at=datetime(2026, 7, 1, tzinfo=UTC),
        lines=[make.line(p2, unit_price="50.00")],
    )
    make.order(
        session,
        who["C"],
        placed_at=datetime(2026, 8, 1, tzinfo=UTC),
        lines=[make.line(p1, unit_price="30.00")],
    )
    make.order(
        session,
        who["H"],
        placed_at=datetime(2026, 9, 1, tzinfo=UTC),
        lines=[make.line(p2, unit_price="100.00")],
    )
    make.order(  # before the period
        session,
        who["H"],
        placed_at=datetime(2025, 12, 1, tzinfo=UTC),
        lines=[make.line(p2, unit_price="999.00")],
    )
    make.order(  # another currency
        session,
        who["B"],
        placed_at=datetime(2026, 9, 1, tzinfo=UTC),
        currency="NOK",
        lines=[make.line(p2, unit_price="500.00")],
    )
    o7 = make.order(  # fulfils S2's delivery, linked afterwards; the adjustment is no revenue
        session,
        who["B"],
        placed_at=datetime(2026, 10, 5, tzinfo=UTC),
        lines=[
            make.line(p2, unit_price="20.00"),
            make.line(None, unit_price="3.00", kind="adjustment"),
        ],
    )
    session.add(
        SubscriptionDelivery(
            subscription_id=s2.id,
            reference="S2/2026-10-01",
            due_on=date(2026, 10, 1),
            items=[],
            status="fulfilled",
            order_id=o7.id,
        )
    )
    make.order(  # 00:30 on 16 March in Berlin: inside
        session,
        who["H"],
        placed_at=datetime(2026, 3, 15, 23, 30, tzinfo=UTC),
        lines=[make.line(p1, unit_price="7.00")],
    )
    make.order(  # 23:30 on 15 March in Berlin: outside
        session,
        who["H"],
        placed_at=datetime(2026, 3, 15, 22, 30, tzinfo=UTC),
        lines=[make.line(p1, unit_price="11.00")],
    )
    assert o1.id


def test_subscriptions_in_force_by_status_and_rhythm(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        found = reports.report(session, settings=SETTINGS, now=NOW)
    assert found.as_of == TODAY
    # S1 S2 S4 S6 S7 active, S9 paused, S8 ending; S3 and S5 have ended
    assert found.active.in_force == 7
    assert found.active.subscribers == 6  # A B D E F G
    assert [(s.status, s.subscriptions) for s in found.active.by_status] == [
        ("active", 5),
        ("paused", 1),
        ("ending", 1),
    ]
    assert [(i.unit, i.count, i.subscriptions) for i in found.active.by_interval] == [
        ("week", 2, 1),
        ("month", 1, 6),
    ]


def test_mrr_today_and_on_the_last_day_of_each_month(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        mrr = reports.report(session, settings=SETTINGS, now=NOW).mrr
    # S1 16.20 + S2 43.48 + S4 30.00 + S6 10.00 + S8 10.00 (S9 paused, S7 in kroner)
    assert mrr.mrr == Decimal("109.68")
    assert mrr.subscriptions == 5
    assert mrr.other_currency == 1
    assert mrr.unpriced == 0
    expected = [
        (date(2026, 4, 1), date(2026, 4, 30), "26.20", 2),  # S1, S3
        (date(2026, 5, 1), date(2026, 5, 31), "46.20", 3),  # + S5
        (date(2026, 6, 1), date(2026, 6, 30), "89.68", 4),  # + S2
        (date(2026, 7, 1), date(2026, 7, 31), "89.68", 4),
        (date(2026, 8, 1), date(2026, 8, 31), "89.68", 4),
        (date(2026, 9, 1), date(2026, 9, 30), "119.68", 5),  # + S4
        (date(2026, 10, 1), date(2026, 10, 31), "129.68", 6),  # + S8
        (date(2026, 11, 1), date(2026, 11, 30), "139.68", 7),  # + S9; S5's last day
        (date(2026, 12, 1), date(2026, 12, 31), "99.68", 6),  # − S5 + S6 − S4 (paused)
        (date(2027, 1, 1), date(2027, 1, 31), "99.68", 6),  # S3's last day, S4 paused
        (date(2027, 2, 1), date(2027, 2, 28), "119.68", 6),  # − S3 + S4 (resumed)
        (date(2027, 3, 1), TODAY, "109.68", 5),  # − S9 (paused since 1 March)
    ]
    assert [(m.month, m.measured_on, m.mrr, m.subscriptions) for m in mrr.by_month] == [
        (month, day, Decimal(value), n) for month, day, value, n in expected
    ]


def test_churn_per_month_counts_subscribers_who_left_and_why(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        churn = reports.report(session, settings=SETTINGS, now=NOW).churn
    months = {m.month: (m.subscribers_at_start, m.churned, m.rate) for m in churn.by_month}
    assert list(months) == [date(2026, m, 1) for m in range(3, 13)] + [
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]
    assert months[date(2026, 3, 1)] == (3, 0, 0.0)  # A (S1), C (S3 from 1 March), F
    assert months[date(2026, 11, 1)] == (7, 0, 0.0)  # E swapped S5 for S6: no churn
    assert months[date(2027, 1, 1)] == (7, 1, 1 / 7)  # C's S3 ended on 31 January
    assert months[date(2027, 2, 1)] == (6, 0, 0.0)
    assert churn.last_month is not None
    assert churn.last_month.month == date(2027, 2, 1)
    # ended in 16 March 2026 .. 15 March 2027: S5 (quality), S3 (too expensive); S8 ends later
    assert churn.cancellations == 2
    reasons = [(r.reason, r.cancellations, r.share) for r in churn.reasons]
    assert reasons[:2] == [("too_expensive", 1, 0.5), ("quality", 1, 0.5)]
    assert {r for r, n, _ in reasons[2:] if n == 0} == {
        "too_much_product",
        "delivery_problems",
        "switching_supplier",
        "no_longer_needed",
        "moving",
        "other",
    }


def test_revenue_share_of_deliveries_and_of_subscribers(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        share = reports.report(session, settings=SETTINGS, now=NOW).revenue
    assert (share.since, share.until) == (date(2026, 3, 16), TODAY)
    # 16.20 + 50 + 30 + 100 + 20 + 7 (the 00:30 order); not 999 (earlier), 500 NOK, 3 adjustment
    assert share.revenue == Decimal("223.20")
    assert share.delivery_revenue == Decimal("36.20")  # O1 by reference + O7 linked
    assert share.delivery_orders == 2
    assert share.delivery_share == pytest.approx(36.20 / 223.20)
    assert share.subscriber_revenue == Decimal("116.20")  # A 16.20 + 50, C 30, B 20
    assert share.subscribers == 7  # A B C D E F G
    assert share.subscriber_share == pytest.approx(116.20 / 223.20)


def test_revenue_share_of_a_chosen_period(sessions: sessionmaker[Session], shop: Shop) -> None:
    with sessions() as session:
        share = reports.revenue_share(
            session, since=date(2026, 7, 1), until=date(2026, 9, 30), settings=SETTINGS
        )
    assert share.revenue == Decimal("180.00")  # A 50, C 30, H 100
    assert share.delivery_revenue == Decimal("0.00")
    assert share.subscriber_revenue == Decimal("80.00")
    assert share.subscribers == 6  # A B C D E F (G started in November)


def test_clv_of_subscribers_against_the_same_strata(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    ids = shop.ids
    with sessions() as session:
        snapshot(  # an older snapshot, not read
            session, datetime(2026, 6, 1, tzinfo=UTC), {ids["A"]: {"abc": "C", "clv": 1.0}}
        )
        snapshot(  # describes 1 March 2027: subscribers A B D E F G (C's ended in January)
            session,
            datetime(2027, 3, 1, tzinfo=UTC),
            {
                ids["A"]: {"abc": "A", "rfm_segment": "champions", "clv": 500.0},
                ids["B"]: {"abc": "A", "rfm_segment": "champions", "clv": 700.0},
                ids["H"]: {"abc": "A", "rfm_segment": "champions", "clv": 400.0},
                ids["I"]: {"abc": "A", "rfm_segment": "champions", "clv": 600.0},
                ids["J"]: {"abc": "A", "rfm_segment": "champions", "clv": 500.0},
                ids["D"]: {"abc": "B", "rfm_segment": "loyal", "clv": 300.0},
                ids["C"]: {"abc": "B", "rfm_segment": "loyal", "clv": 100.0},
                ids["K"]: {"abc": "B", "rfm_segment": "loyal", "clv": 200.0},
                ids["E"]: {"abc": "C", "rfm_segment": "at_risk", "clv": 50.0},  # alone
                ids["F"]: {"abc": "A", "rfm_segment": "champions", "clv": None},  # no CLV
                ids["G"]: {"clv": 100.0},  # unclassified, with L
                ids["L"]: {"clv": 80.0},
            },
        )
        session.commit()
        clv = reports.report(session, settings=SETTINGS, now=NOW).clv
    assert clv.period_end == date(2027, 3, 1)
    assert clv.subscribers_scored == 5  # A B D E G
    assert clv.subscribers_matched == 4  # E's stratum has no non-subscriber
    assert clv.others_matched == 6
    assert clv.strata == 3
    # weights 2 (A, B), 1 (D), 1 (G): differences 600 − 500, 300 − 150, 100 − 80
    assert clv.difference == pytest.approx((2 * 100 + 150 + 20) / 4)
    assert clv.subscriber_mean == pytest.approx((2 * 600 + 300 + 100) / 4)
    assert clv.comparison_mean == pytest.approx((2 * 500 + 150 + 80) / 4)
    assert clv.low is not None
    assert clv.high is not None
    assert clv.low <= clv.difference <= clv.high
    assert [(s.abc, s.rfm_segment, s.subscribers, s.others) for s in clv.by_stratum] == [
        ("A", "champions", 2, 3),
        ("B", "loyal", 1, 2),
        ("–", "–", 1, 1),
    ]
    assert "not proof" in clv.note


def test_clv_without_any_snapshot_says_nothing(sessions: sessionmaker[Session], shop: Shop) -> None:
    with sessions() as session:
        clv = reports.report(session, settings=SETTINGS, now=NOW).clv
    assert clv.snapshot_id is None
    assert clv.difference is None
    assert clv.low is None
    assert clv.by_stratum == []


def test_the_bootstrap_interval_is_exact_without_spread_and_repeatable() -> None:
    flat = reports.compare(
        {("A", "x"): ([5.0, 5.0], [3.0, 3.0, 3.0]), ("B", "y"): ([1.0], [2.0])},
        snapshot_id=1,
        period_end=None,
        scored=3,
    )
    assert flat.difference == pytest.approx((2 * 2 - 1) / 3)
    assert flat.low == pytest.approx(flat.difference)
    assert flat.high == pytest.approx(flat.difference)
    apart = {("A", "x"): ([100.0 + i for i in range(30)], [10.0 + i for i in range(40)])}
    first = reports.compare(apart, snapshot_id=1, period_end=None, scored=30)
    assert first.low is not None
    assert first.low > 0
    assert first == reports.compare(apart, snapshot_id=1, period_end=None, scored=30)
    same = {("A", "x"): ([float(i % 7) for i in range(50)], [float(i % 7) for i in range(60)])}
    even = reports.compare(same, snapshot_id=1, period_end=None, scored=50)
    assert even.low is not None
    assert even.high is not None
    assert even.low < 0 < even.high
    big = {("A", "x"): ([float(i % 5) for i in range(2_000)], [float(i % 5) for i in range(3_000)])}
    normal = reports.compare(big, snapshot_id=1, period_end=None, scored=2_000)
    assert normal.low is not None
    assert normal.high is not None
    assert normal.low < 0 < normal.high
    assert normal.high - normal.low < 0.2


def test_key_figures_for_the_list_page(sessions: sessionmaker[Session], shop: Shop) -> None:
    with sessions() as session:
        figures = reports.key_figures(session, settings=SETTINGS, now=NOW)
    assert (figures.in_force, figures.subscribers, figures.mrr) == (7, 6, Decimal("109.68"))
    assert figures.churn is not None
    assert (figures.churn.month, figures.churn.subscribers_at_start) == (date(2027, 2, 1), 6)


def test_a_period_must_run_forwards_and_stay_within_ten_years() -> None:
    assert reports.period(TODAY, None, None) == (date(2026, 3, 16), TODAY)
    with pytest.raises(reports.ReportProblem, match=r"starts .* after it ends"):
        reports.period(TODAY, date(2027, 3, 16), TODAY)
    with pytest.raises(reports.ReportProblem, match="at most ten years"):
        reports.period(TODAY, date(2000, 1, 1), TODAY)


def test_an_empty_store_reports_zeros(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        found = reports.report(session, settings=SETTINGS, now=NOW)
    assert found.active.in_force == 0
    assert found.mrr.mrr == Decimal("0.00")
    assert all(m.rate is None for m in found.churn.by_month)
    assert found.revenue.revenue == Decimal("0.00")
    assert found.revenue.delivery_share is None
    assert found.offers.campaigns == 0
