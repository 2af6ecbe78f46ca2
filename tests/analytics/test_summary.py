"""The per-customer summary: Hardie's CDNOW numbers, money net of returns, the holdout split."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from analytics.cdnow import CALIBRATION_END, START
from analytics.cdnow import summary as hardie_summary
from analytics.transactions import cdnow_sample_lines, lines, returns
from patron.analytics.facts import facts_from_arrow
from patron.analytics.summary import (
    InvalidPeriod,
    calibration_and_holdout,
    period_bounds,
    summarise,
)

HOLDOUT_END = date(1998, 6, 30)


@pytest.fixture(scope="module")
def cdnow_facts(shared_data: Path):
    return facts_from_arrow(cdnow_sample_lines(shared_data))


def _by_customer(table):
    return {row["customer_id"]: row for row in table.to_pylist()}


def test_the_cdnow_sample_summary_is_hardies(cdnow_facts, shared_data: Path) -> None:
    table = summarise(cdnow_facts, end=CALIBRATION_END, unit="week").to_pyarrow()
    assert table.num_rows == 2357
    frequency = np.asarray(table["frequency"])
    assert frequency.sum() == 2457
    # customer by customer, the same (x, t_x, T) as the independent reading in analytics.cdnow
    x, t_x, T = hardie_summary(shared_data)
    ordered = table.sort_by("customer_id")
    assert np.array_equal(np.asarray(ordered["frequency"]), x)
    assert np.allclose(np.asarray(ordered["recency"]), t_x, rtol=0, atol=1e-12)
    assert np.allclose(np.asarray(ordered["T"]), T, rtol=0, atol=1e-12)


def test_the_holdout_counts_the_purchase_days_after_calibration(
    cdnow_facts, shared_data: Path
) -> None:
    split = calibration_and_holdout(
        cdnow_facts, calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END, unit="week"
    ).to_pyarrow()
    rows = np.loadtxt(shared_data / "cdnow" / "CDNOW_sample.txt", dtype=str)
    days = np.array([datetime.strptime(d, "%Y%m%d").date() for d in rows[:, 2]])
    later = (days > CALIBRATION_END) & (days <= HOLDOUT_END)
    expected = len({(c, d) for c, d in zip(rows[later, 1], days[later], strict=True)})
    assert int(np.asarray(split["holdout_purchases"]).sum()) == expected
    assert split.num_rows == 2357
    assert split["holdout_length"][0].as_py() == pytest.approx(
        (HOLDOUT_END - CALIBRATION_END).days / 7
    )


def test_money_is_net_of_returns_and_discounts() -> None:
    facts = facts_from_arrow(
        lines(
            # customer, order, when, amount, product, quantity, discount, cost
            ("a", "o1", "2024-01-01 09:00", 100.0, "p1", 2.0, 10.0, 60.0),
            ("a", "o1", "2024-01-01 09:00", 50.0, "p2", 1.0, 0.0, None),
            ("a", "o2", "2024-01-01 17:00", 30.0, "p1", 1.0, 0.0, 20.0),
            ("a", "o3", "2024-01-15 12:00", 40.0, "p1", 1.0, 0.0, 25.0),
            ("a", "o4", "2024-01-29 12:00", 80.0, "p1", 2.0, 0.0, 50.0),
            ("b", "o5", "2024-01-10 12:00", 20.0, "p3", 1.0, 0.0, 5.0),
            (None, "o6", "2024-01-10 12:00", 999.0),  # anonymous: not anyone's
        ),
        returns(("a", "2024-01-20", 60.0, "p1"), ("b", "2024-02-01", 5.0)),
    )
    table = _by_customer(summarise(facts, end=date(2024, 1, 31), unit="day").to_pyarrow())
    assert set(table) == {"a", "b"}
    a = table["a"]
    assert a["orders"] == 4
    assert a["purchase_days"] == 3  # two orders on 1 January are one purchase day
    assert a["frequency"] == 2
    assert a["recency"] == 28.0
    assert a["T"] == 30.0
    assert a["monetary"] == pytest.approx((40 + 80) / 2)
    assert a["sales"] == pytest.approx(300.0)
    assert a["returns"] == pytest.approx(60.0)
    assert a["revenue"] == pytest.approx(240.0)
    assert a["discounts"] == pytest.approx(10.0)
    assert a["return_rate"] == pytest.approx(0.2)
    assert a["cost_of_goods"] == pytest.approx((60 + 20 + 25 + 50) * 0.8)
    assert a["margin"] == pytest.approx(240 - 155 * 0.8)
    assert a["cost_known"] == pytest.approx(250 / 300)
    assert a["discount_share"] == pytest.approx(10 / 310)
    assert a["tenure_days"] == 30
    assert a["days_since_last"] == 2
    assert a["first_purchase"] == date(2024, 1, 1)
    assert a["last_purchase"] == date(2024, 1, 29)
    # b's return is after the period: not counted
    assert table["b"]["returns"] == 0.0
    assert table["b"]["frequency"] == 0
    assert table["b"]["monetary"] == 0.0


def test_units_scale_recency_and_t() -> None:
    facts = facts_from_arrow(lines(("a", "1", "2024-01-01", 1.0), ("a", "2", "2024-03-01", 1.0)))
    end = date(2024, 12, 31)
    days = summarise(facts, end=end, unit="day").to_pyarrow().to_pylist()[0]
    for unit, length in (("week", 7), ("month", 365.25 / 12), ("year", 365.25)):
        row = summarise(facts, end=end, unit=unit).to_pyarrow().to_pylist()[0]
        assert row["recency"] == pytest.approx(days["recency"] / length)
        assert row["T"] == pytest.approx(days["T"] / length)


def test_a_start_leaves_earlier_purchases_out() -> None:
    facts = facts_from_arrow(
        lines(
            ("a", "1", "2023-06-01", 5.0),
            ("a", "2", "2024-01-05", 7.0),
            ("b", "3", "2023-01-01", 1.0),
        )
    )
    table = summarise(facts, start=date(2024, 1, 1), end=date(2024, 1, 31)).to_pyarrow()
    assert table["customer_id"].to_pylist() == ["a"]
    assert table["sales"].to_pylist() == [7.0]
    assert period_bounds(facts) == (date(2023, 1, 1), date(2024, 1, 5))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": date(2024, 2, 1), "end": date(2024, 1, 1)}, "start"),
        ({"end": date(2024, 1, 1), "unit": "fortnight"}, "time_unit"),
    ],
)
def test_a_bad_period_is_refused_naming_the_field(kwargs, field: str) -> None:
    facts = facts_from_arrow(lines(("a", "1", "2024-01-01", 1.0)))
    with pytest.raises(InvalidPeriod) as caught:
        summarise(facts, **kwargs)
    assert caught.value.details["field"] == field


def test_a_holdout_must_end_after_the_calibration() -> None:
    facts = facts_from_arrow(lines(("a", "1", "2024-01-01", 1.0)))
    with pytest.raises(InvalidPeriod) as caught:
        calibration_and_holdout(facts, calibration_end=START, holdout_end=START)
    assert caught.value.details["field"] == "holdout_end"
