"""Lifecycle phases, loyalty types, profitability, subscription candidates and cohorts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import ibis
import pyarrow as pa
import pytest

from analytics.transactions import lines, returns
from patron.analytics.cohorts import cohort_retention, repeat_purchases_by_period
from patron.analytics.facts import ATTITUDES, facts_from_arrow
from patron.analytics.lifecycle import LifecycleRules, lifecycle_phase, trend
from patron.analytics.loyalty_types import LoyaltyRules, latest_attitude, loyalty_type
from patron.analytics.profitability import CostToServe, InvalidCosts, profitability
from patron.analytics.regularity import RegularitySettings, subscription_candidates

END = date(2024, 12, 31)


def _phases(rows: list[dict[str, object]], rules: LifecycleRules = LifecycleRules()) -> list[str]:
    columns = (
        "purchase_days",
        "days_since_last",
        "p_alive",
        "recent_value",
        "recent_days",
        "previous_value",
        "previous_days",
    )
    data = pa.table(
        {name: pa.array([row.get(name) for row in rows], pa.float64()) for name in columns}
    )
    table = ibis.memtable(data)
    return table.select(phase=lifecycle_phase(table, rules)).to_pyarrow()["phase"].to_pylist()


def test_each_phase_has_its_rule() -> None:
    base = {
        "purchase_days": 6,
        "days_since_last": 10,
        "p_alive": 0.9,
        "recent_value": 100,
        "recent_days": 2,
        "previous_value": 100,
        "previous_days": 2,
    }
    rows = [
        {"purchase_days": None},  # known, never bought
        {**base, "p_alive": 0.1},  # fading
        {**base, "purchase_days": 2},  # first and trial purchases
        {**base, "recent_value": 150},  # spends 50 % more than in the period before
        {**base, "recent_days": 3},  # buys on more days
        base,  # stable
        {**base, "p_alive": None, "days_since_last": 400},  # no model: a year without purchase
    ]
    assert _phases(rows) == [
        "awareness",
        "dissolution",
        "exploration",
        "expansion",
        "expansion",
        "commitment",
        "dissolution",
    ]
    # the thresholds are settings
    stricter = LifecycleRules(dissolution_p_alive=0.95, growth=2.0)
    assert _phases([base, {**base, "recent_value": 150}], stricter) == [
        "dissolution",
        "dissolution",
    ]
    looser = LifecycleRules(exploration_purchase_days=1, growth=2.0)
    assert _phases([{**base, "purchase_days": 2}, {**base, "recent_value": 150}], looser) == [
        "commitment",
        "commitment",
    ]


def test_the_trend_compares_the_last_period_with_the_one_before() -> None:
    facts = facts_from_arrow(
        lines(
            ("a", "1", "2024-12-30", 30.0),
            ("a", "2", "2024-11-15", 20.0),
            ("a", "3", "2024-09-01", 50.0),  # 121 days before the end: the period before
            ("a", "4", "2024-05-01", 999.0),  # older than both periods
        )
    )
    row = trend(facts, end=END, period_days=90).to_pyarrow().to_pylist()[0]
    assert row == {
        "customer_id": "a",
        "recent_value": 50.0,
        "recent_days": 2,
        "previous_value": 50.0,
        "previous_days": 1,
    }


def _types(rows: list[dict[str, object]]) -> list[str]:
    data = pa.table(
        {
            "frequency": pa.array([r["frequency"] for r in rows], pa.int64()),
            "p_alive": pa.array([r.get("p_alive") for r in rows], pa.float64()),
            "positive_attitude": pa.array([r.get("positive") for r in rows], pa.bool_()),
        }
    )
    table = ibis.memtable(data)
    return table.select(kind=loyalty_type(table)).to_pyarrow()["kind"].to_pylist()


def test_loyalty_type_is_attitude_times_behaviour_and_never_a_guess() -> None:
    assert _types(
        [
            {"frequency": 5, "p_alive": 0.9, "positive": True},
            {"frequency": 0, "p_alive": 0.9, "positive": True},
            {"frequency": 5, "p_alive": 0.9, "positive": False},
            {"frequency": 1, "p_alive": 0.9, "positive": False},
            {"frequency": 5, "p_alive": 0.2, "positive": True},  # rebuys no more: latent
            {"frequency": 9, "p_alive": 0.9, "positive": None},  # no answer: unknown
        ]
    ) == ["true", "latent", "spurious", "none", "latent", "unknown attitude"]


def test_the_latest_answer_decides_the_attitude() -> None:
    answers = pa.table(
        {
            "customer_id": ["a", "a", "b", "c", "d"],
            "answered_at": [
                datetime(2024, 1, 1),
                datetime(2024, 6, 1),
                datetime(2024, 3, 1),
                datetime(2024, 3, 1),
                datetime(2025, 3, 1),
            ],
            "kind": ["nps", "nps", "csat", "csat", "nps"],
            "score": [10.0, 6.0, 4.0, 3.0, 10.0],
        },
        schema=ATTITUDES,
    )
    rows = latest_attitude(ibis.memtable(answers), end=END, rules=LoyaltyRules()).to_pyarrow()
    got = {r["customer_id"]: r["positive_attitude"] for r in rows.to_pylist()}
    # a: the later detractor answer wins; b satisfied; c not; d answered after the period
    assert got == {"a": False, "b": True, "c": False}


def test_profit_takes_off_every_cost_to_serve() -> None:
    data = pa.table(
        {
            "orders": pa.array([4, 1], pa.int64()),
            "returned_items": pa.array([2, 0], pa.int64()),
            "cases": pa.array([1, None], pa.int64()),
            "margin": pa.array([50.0, 3.0]),
        }
    )
    table = ibis.memtable(data)
    costs = CostToServe(per_order=5.0, per_return=7.5, per_case=12.0)
    done = table.mutate(**profitability(table, costs)).to_pyarrow().to_pylist()
    assert done[0]["cost_to_serve"] == pytest.approx(4 * 5 + 2 * 7.5 + 12)
    assert done[0]["profit"] == pytest.approx(50 - 47)
    assert done[1]["profit"] == pytest.approx(3 - 5)  # unprofitable


def test_negative_costs_are_refused() -> None:
    with pytest.raises(InvalidCosts) as caught:
        CostToServe(per_return=-1)
    assert caught.value.details["field"] == "per_return"


def _every(
    days: int, count: int, customer: str, product: str, last: date, jitter: list[int] | None = None
) -> list[tuple]:
    rows = []
    for i in range(count):
        day = last - timedelta(days=days * (count - 1 - i) + (jitter[i] if jitter else 0))
        rows.append((customer, f"{customer}-{product}-{i}", day.isoformat(), 10.0, product))
    return rows


def test_regular_reorders_of_one_product_make_a_candidate() -> None:
    facts = facts_from_arrow(
        lines(
            *_every(28, 6, "coffee", "beans", END - timedelta(days=10), [0, 2, -1, 1, 0, 0]),
            *_every(14, 3, "short", "tea", END),  # too few purchases
            *_every(30, 6, "stopped", "beans", END - timedelta(days=120)),  # rhythm broke off
            *_every(2, 10, "daily", "bread", END),  # daily shopping is no delivery rhythm
            ("erratic", "e1", "2024-01-01", 1.0, "x"),
            ("erratic", "e2", "2024-01-05", 1.0, "x"),
            ("erratic", "e3", "2024-06-01", 1.0, "x"),
            ("erratic", "e4", "2024-12-20", 1.0, "x"),
            # a customer with two regular products: the steadier one wins
            *_every(21, 5, "two", "filters", END),
            *_every(35, 6, "two", "pods", END, [0, 5, -5, 4, -4, 0]),
        )
    )
    rows = subscription_candidates(facts, end=END).to_pyarrow().to_pylist()
    got = {r["customer_id"]: r for r in rows}
    assert set(got) == {"coffee", "two"}
    assert got["coffee"]["subscription_product"] == "beans"
    assert got["coffee"]["subscription_interval_days"] == 28
    assert got["coffee"]["subscription_purchases"] == 6
    assert got["two"]["subscription_product"] == "filters"
    assert got["two"]["subscription_variation"] == 0
    # looser settings let the short series in
    looser = RegularitySettings(min_purchases=3)
    assert "short" in {
        r["customer_id"]
        for r in subscription_candidates(facts, end=END, settings=looser).to_pyarrow().to_pylist()
    }


def test_cohorts_count_who_came_back_each_month() -> None:
    facts = facts_from_arrow(
        lines(
            ("a", "1", "2024-01-05", 1.0),
            ("a", "2", "2024-02-07", 1.0),
            ("a", "3", "2024-04-01", 1.0),
            ("b", "4", "2024-01-20", 1.0),
            ("b", "5", "2024-01-25", 1.0),
            ("c", "6", "2024-02-02", 1.0),
            ("c", "7", "2024-03-02", 1.0),
        ),
        returns(("a", "2024-02-01", 1.0)),
    )
    rows = cohort_retention(facts, end=END).to_pyarrow().to_pylist()
    got = {(r["cohort"], r["period"]): (r["customers"], r["active"], r["retention"]) for r in rows}
    assert got == {
        (date(2024, 1, 1), 0): (2, 2, 1.0),
        (date(2024, 1, 1), 1): (2, 1, 0.5),
        (date(2024, 1, 1), 3): (2, 1, 0.5),
        (date(2024, 2, 1), 0): (1, 1, 1.0),
        (date(2024, 2, 1), 1): (1, 1, 1.0),
    }
    periods = (
        repeat_purchases_by_period(
            facts, end=END, origin=date(2024, 1, 1), unit="week", cohort_end=date(2024, 1, 31)
        )
        .to_pyarrow()
        .to_pylist()
    )
    # repeat purchase days of a and b only (c's first purchase is after the cohort end)
    assert periods == [
        {"period": 3, "repeat_purchases": 1},  # b on 25 January: day 24
        {"period": 5, "repeat_purchases": 1},  # a on 7 February: day 37
        {"period": 13, "repeat_purchases": 1},  # a on 1 April: day 91
    ]
