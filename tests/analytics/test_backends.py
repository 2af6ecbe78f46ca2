"""The analyses give the same rows on every engine: DuckDB, PostgreSQL and Spark.

Two data sets: the CDNOW master file (real, 23,570 customers) and a small synthetic shop with
returns, costs, discounts, products, anonymous sales, ties, midnight orders and regular
reorders, so every column and branch is exercised. On each, the facts are made on each engine
with ``facts_from_arrow(..., backend=...)`` and every analysis is compared, row by row, with the
default (in-memory DuckDB) result: ints, strings and dates exactly, floats to 1e-9 relative.
On the synthetic shop the results are also checked against values computed here by hand.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pytest

from analytics.backends import differences
from patron.analytics.abc import AbcSettings, abc_classes, pareto_curve
from patron.analytics.cohorts import cohort_retention, repeat_purchases_by_period
from patron.analytics.facts import ATTITUDES, CASES, LINES, RETURNS, Facts, facts_from_arrow
from patron.analytics.files import read_transactions
from patron.analytics.lifecycle import trend
from patron.analytics.loyalty_types import latest_attitude
from patron.analytics.profitability import case_counts
from patron.analytics.regularity import RegularitySettings, subscription_candidates
from patron.analytics.rfm import SEGMENT_RULES, rfm_scores
from patron.analytics.summary import calibration_and_holdout, period_bounds, summarise

# -- the data sets --------------------------------------------------------------------------

Data = dict[str, pa.Table]  # lines, returns, and optionally attitudes and cases


@pytest.fixture(scope="session")
def cdnow_master(shared_data: Path) -> Data:
    read = read_transactions(shared_data / "cdnow" / "CDNOW_master.txt")
    return {"lines": read.lines, "returns": read.returns}


SHOP_START = date(2023, 1, 1)
SHOP_END = date(2024, 12, 31)


def synthetic_shop() -> Data:
    """~80 customers over two years: random orders of 1-3 lines (discounts, costs some unknown,
    products some unknown, some after the end), returns (some larger than the sales, some after
    the end), survey answers and service cases, plus planted cases: equal single purchases
    (ties), regular coffee buyers, a lapsed and a too-frequent one, a net refund, orders either
    side of midnight and on the last day, two answers at the same instant, and anonymous sales
    and returns."""
    rng = np.random.default_rng(20240531)
    lines: list[tuple[Any, ...]] = []
    refunds: list[tuple[Any, ...]] = []
    numbers = itertools.count(1)

    def order(customer: str | None, at: datetime, *items: tuple[Any, ...]) -> None:
        number = f"o{next(numbers)}"
        for product, quantity, amount, discount, cost in items:
            lines.append((customer, number, at, product, quantity, amount, discount, cost))

    def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute))

    for index in range(60):
        customer = f"c{index:02d}"
        for _ in range(int(rng.integers(1, 12))):
            day = SHOP_START + timedelta(days=int(rng.integers(0, 760)))  # some after the end
            items = []
            for _ in range(int(rng.integers(1, 4))):
                quantity = float(rng.integers(1, 4))
                price = round(float(rng.uniform(2, 80)), 2)
                discount = round(price * quantity * 0.1, 2) if rng.random() < 0.3 else 0.0
                cost = None if rng.random() < 0.2 else round(price * quantity * 0.55, 2)
                product = None if rng.random() < 0.1 else f"p{int(rng.integers(0, 8))}"
                items.append(
                    (product, quantity, round(price * quantity - discount, 2), discount, cost)
                )
            order(customer, at(day, int(rng.integers(0, 24)), int(rng.integers(0, 60))), *items)
        if rng.random() < 0.35:
            for _ in range(int(rng.integers(1, 3))):
                day = SHOP_START + timedelta(days=int(rng.integers(30, 760)))
                amount = round(float(rng.uniform(1, 60)), 2)
                refunds.append((customer, at(day, 15), f"p{int(rng.integers(0, 8))}", 1.0, amount))
    for customer in ("tie1", "tie2", "tie3"):  # equal value, recency and frequency
        order(customer, at(date(2024, 3, 1)), ("p1", 1.0, 50.0, 0.0, 20.0))
    for number, customer in enumerate(("sub1", "sub2", "sub3", "sub4")):  # every ~28 days
        day = date(2024, 1, 3) + timedelta(days=number)
        while day <= SHOP_END - timedelta(days=10):
            order(customer, at(day, 8), ("coffee", 1.0, 12.5, 0.0, 6.0))
            day += timedelta(days=28 + (1 if day.day % 2 else -1) * (number % 2))
        order(customer, at(date(2024, 6, 1)), ("p2", 2.0, 30.0, 3.0, None))
    day = date(2024, 7, 1)
    for gap in (0, 28, 29, 28, 29, 28, 29):  # a mean gap of 28.5 days: rounds to 29
        day += timedelta(days=gap)
        order("half", at(day, 9), ("tea", 1.0, 8.0, 0.0, 3.0))
    day = date(2023, 2, 1)
    while day < date(2023, 12, 1):  # regular, but stopped a year ago
        order("lapsed", at(day), ("coffee", 1.0, 12.5, 0.0, 6.0))
        day += timedelta(days=30)
    day = date(2024, 10, 1)
    while day <= SHOP_END:  # regular, but every other day is shopping, not a delivery rhythm
        order("daily", at(day), ("coffee", 1.0, 12.5, 0.0, 6.0))
        day += timedelta(days=2)
    order("refund", at(date(2024, 2, 10)), ("p3", 1.0, 100.0, 0.0, 70.0))
    refunds.append(("refund", at(date(2024, 2, 20)), "p3", 1.0, 120.0))  # more than bought
    order("midnight", at(date(2024, 5, 1), 23, 59), ("p4", 1.0, 10.0, 0.0, 4.0))
    order("midnight", at(date(2024, 5, 2), 0, 1), ("p4", 1.0, 11.0, 0.0, 4.0))
    order("midnight", at(date(2024, 5, 2), 18), ("p5", 1.0, 12.0, 1.0, None))
    # float noise: 0.1 + 0.2 + 0.3 is not 0.6, and 0.1 + 0.2 - 0.3 is not 0 (in some orders)
    order("noise1", at(date(2024, 8, 1)), ("p7", 1.0, 0.6, 0.0, None))
    order("noise2", at(date(2024, 8, 1)), *(("p7", 1.0, v, 0.0, None) for v in (0.1, 0.2, 0.3)))
    order("zero", at(date(2024, 8, 2)), ("p7", 1.0, 0.1, 0.0, None), ("p7", 1.0, 0.2, 0.0, None))
    refunds.append(("zero", at(date(2024, 8, 3)), "p7", 1.0, 0.3))
    order("lastday", at(SHOP_END, 23, 30), ("p6", 1.0, 25.0, 0.0, 10.0))
    refunds.append(("lastday", at(SHOP_END + timedelta(days=1), 0, 30), "p6", 1.0, 25.0))
    order(None, at(date(2024, 4, 4)), ("p1", 1.0, 999.0, 0.0, 1.0))  # anonymous
    refunds.append((None, at(date(2024, 4, 5)), "p1", 1.0, 999.0))
    answers: list[tuple[Any, ...]] = []
    cases: list[tuple[Any, ...]] = []
    for index in range(0, 60, 2):
        for _ in range(int(rng.integers(1, 4))):
            when = at(SHOP_START + timedelta(days=int(rng.integers(0, 760))), 10)
            if rng.random() < 0.5:
                answers.append((f"c{index:02d}", when, "nps", float(rng.integers(0, 11))))
            else:
                answers.append((f"c{index:02d}", when, "csat", float(rng.integers(1, 6))))
        for _ in range(int(rng.integers(0, 4))):
            cases.append(
                (f"c{index:02d}", at(SHOP_START + timedelta(days=int(rng.integers(0, 760)))))
            )
    same = at(date(2024, 9, 9), 9)  # two answers at once: the later kind in order ("nps") wins
    answers += [("c01", same, "csat", 2.0), ("c01", same, "nps", 10.0)]
    return {
        "lines": _arrow(LINES, lines),
        "returns": _arrow(RETURNS, refunds),
        "attitudes": _arrow(ATTITUDES, answers),
        "cases": _arrow(CASES, cases),
    }


def _arrow(schema: pa.Schema, rows: list[tuple[Any, ...]]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, row, strict=True)) for row in rows]).cast(
        schema
    )


@pytest.fixture(scope="session")
def shop() -> Data:
    return synthetic_shop()


# -- the analyses, each with the columns that identify a row ---------------------------------

Analysis = Callable[[Facts, date], ir.Table]
ENDS = {"shop": SHOP_END, "cdnow": date(1998, 6, 30)}
CALIBRATION_ENDS = {"shop": date(2024, 6, 30), "cdnow": date(1997, 9, 30)}
REGULAR = RegularitySettings()


def _summary(facts: Facts, dataset: str) -> ir.Table:
    return summarise(facts, end=ENDS[dataset], unit="week")


ANALYSES: dict[str, tuple[Callable[[Facts, str], ir.Table], tuple[str, ...]]] = {
    "summarise": (_summary, ("customer_id",)),
    "summarise_from_start_in_days": (
        lambda f, d: summarise(
            f, start=CALIBRATION_ENDS[d] - timedelta(days=180), end=ENDS[d], unit="day"
        ),
        ("customer_id",),
    ),
    "calibration_and_holdout": (
        lambda f, d: calibration_and_holdout(
            f, calibration_end=CALIBRATION_ENDS[d], holdout_end=ENDS[d], unit="week"
        ),
        ("customer_id",),
    ),
    "abc_classes": (lambda f, d: abc_classes(_summary(f, d)), ("customer_id",)),
    "abc_classes_by_margin": (
        lambda f, d: abc_classes(_summary(f, d), AbcSettings(by="margin", a=0.6, b=0.9)),
        ("customer_id",),
    ),
    "rfm_scores": (lambda f, d: rfm_scores(_summary(f, d)), ("customer_id",)),
    "pareto_curve": (lambda f, d: pareto_curve(_summary(f, d)), ("customer_share",)),
    "subscription_candidates": (
        lambda f, d: subscription_candidates(f, end=ENDS[d]),
        ("customer_id",),
    ),
    "cohort_retention": (lambda f, d: cohort_retention(f, end=ENDS[d]), ("cohort", "period")),
    "repeat_purchases_by_period": (
        lambda f, d: repeat_purchases_by_period(
            f, end=ENDS[d], origin=ENDS[d] - timedelta(days=700), unit="month"
        ),
        ("period",),
    ),
    "trend": (lambda f, d: trend(f, end=ENDS[d]), ("customer_id",)),
    # only where the data set has survey answers and service cases (CDNOW has none)
    "latest_attitude": (
        lambda f, d: latest_attitude(_given(f.attitudes), end=ENDS[d]),
        ("customer_id",),
    ),
    "case_counts": (
        lambda f, d: case_counts(
            _given(f.cases), start=SHOP_START + timedelta(days=90), end=ENDS[d]
        ),
        ("customer_id",),
    ),
}
SHOP_ONLY = ("latest_attitude", "case_counts")


def _given(table: ir.Table | None) -> ir.Table:
    assert table is not None
    return table


# -- the engines ----------------------------------------------------------------------------

SPARK = (
    pytest.mark.spark,
    pytest.mark.xdist_group("spark"),  # one worker starts Spark, and runs all its tests
    # PySpark 4.0 and Ibis 12 still use pandas options that pandas 3 deprecates
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
)
ENGINES = [
    pytest.param("duckdb", id="duckdb"),  # tables made on a DuckDB connection, not memtables
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("spark", marks=SPARK, id="spark"),
]
DATASETS = [
    pytest.param("shop", id="shop"),
    pytest.param("cdnow", marks=pytest.mark.realdata, id="cdnow"),
]


def _backend(request: pytest.FixtureRequest, engine: str) -> Any:
    if engine == "duckdb":
        return ibis.duckdb.connect()
    return request.getfixturevalue(f"{engine}_backend")


@pytest.fixture(scope="session")
def facts_cache() -> dict[tuple[str, str], Facts]:
    return {}


@pytest.fixture(scope="session")
def result_cache() -> dict[tuple[str, str, str], pa.Table]:
    return {}


def _data(request: pytest.FixtureRequest, dataset: str) -> Data:
    return request.getfixturevalue("shop" if dataset == "shop" else "cdnow_master")


def _facts(
    request: pytest.FixtureRequest, cache: dict[tuple[str, str], Facts], engine: str, dataset: str
) -> Facts:
    """The facts of ``dataset`` on ``engine`` ("default": in-memory DuckDB), made once."""
    if (engine, dataset) not in cache:
        data = _data(request, dataset)
        cache[engine, dataset] = facts_from_arrow(
            data["lines"],
            data["returns"],
            attitudes=data.get("attitudes"),
            cases=data.get("cases"),
            backend=None if engine == "default" else _backend(request, engine),
        )
    return cache[engine, dataset]


@pytest.fixture
def run(
    request: pytest.FixtureRequest,
    facts_cache: dict[tuple[str, str], Facts],
    result_cache: dict[tuple[str, str, str], pa.Table],
) -> Callable[[str, str, str], pa.Table]:
    """run(engine, dataset, analysis) → the analysis' rows as Arrow, computed on the engine
    once per test run (the hand-computed checks reuse the agreement tests' results)."""

    def execute(engine: str, dataset: str, analysis: str) -> pa.Table:
        key = (engine, dataset, analysis)
        if key not in result_cache:
            build, _ = ANALYSES[analysis]
            facts = _facts(request, facts_cache, engine, dataset)
            result_cache[key] = build(facts, dataset).to_pyarrow()
        return result_cache[key]

    return execute


# -- every engine gives the default's rows --------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "analysis"),
    [
        pytest.param(*dataset.values, analysis, marks=dataset.marks, id=f"{dataset.id}-{analysis}")
        for dataset in DATASETS
        for analysis in ANALYSES
        if dataset.id == "shop" or analysis not in SHOP_ONLY
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_gives_the_same_rows(engine: str, dataset: str, analysis: str, run) -> None:
    expected = run("default", dataset, analysis)
    actual = run(engine, dataset, analysis)
    if dataset == "shop" or analysis != "subscription_candidates":  # CDNOW has no products
        assert expected.num_rows > 0, "a comparison of empty results proves nothing"
    problems = differences(expected, actual, ANALYSES[analysis][1])
    assert not problems, f"{engine} differs from DuckDB:\n" + "\n".join(problems)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_finds_the_same_period(
    engine: str, dataset: str, request: pytest.FixtureRequest, facts_cache
) -> None:
    expected = period_bounds(_facts(request, facts_cache, "default", dataset))
    assert period_bounds(_facts(request, facts_cache, engine, dataset)) == expected
    assert expected is not None
    assert expected[1] >= ENDS[dataset]  # the shop has lines after its end, CDNOW ends on it


def test_the_comparison_notices_a_difference(run) -> None:
    """The comparison itself can fail: a changed float, int, string or row is caught."""
    summary = run("default", "shop", "summarise")
    keys = ("customer_id",)
    assert differences(summary, summary, keys) == []
    revenue = summary.column("revenue").to_pylist()
    revenue[3] *= 1 + 1e-7
    changed = summary.set_column(summary.schema.get_field_index("revenue"), "revenue", [revenue])
    assert differences(summary, changed, keys)
    days = summary.column("purchase_days").to_pylist()
    days[0] += 1
    index = summary.schema.get_field_index("purchase_days")
    assert differences(summary, summary.set_column(index, "purchase_days", [days]), keys)
    assert differences(summary, summary.slice(1), keys)
    narrower = summary.schema.set(index, pa.field("purchase_days", pa.int32()))
    assert differences(summary, summary.cast(narrower), keys)


def test_money_equal_but_for_float_rounding_ties() -> None:
    """0.1 + 0.2 + 0.3 and 0.6 are the same money, ranked by customer id; 0.1 + 0.2 - 0.3 is
    nothing (class C). Engines add in their own order, so float bits must not decide."""
    summary = ibis.memtable(
        {
            "customer_id": ["b", "a", "c", "d"],
            "revenue": [0.1 + 0.2 + 0.3, 0.6, 0.1 + 0.2 - 0.3, 1.0],
            "margin": [0.0, 0.0, 0.0, 0.0],
            "purchase_days": [1, 1, 1, 1],
            "days_since_last": [5, 5, 5, 5],
        }
    )
    assert 0.1 + 0.2 + 0.3 > 0.6  # the premise
    assert 0.1 + 0.2 - 0.3 > 0
    classes = {row["customer_id"]: row for row in abc_classes(summary).to_pyarrow().to_pylist()}
    assert classes["a"]["abc_share"] < classes["b"]["abc_share"]
    assert classes["c"]["abc"] == "C"
    scores = {row["customer_id"]: row for row in rfm_scores(summary).to_pyarrow().to_pylist()}
    assert scores["a"]["m_score"] == scores["b"]["m_score"] < scores["d"]["m_score"]
    curve = pareto_curve(summary, points=4).to_pyarrow().to_pylist()
    assert [round(point["value_share"], 12) for point in curve] == [
        round(value / 2.2, 12) for value in (1.0, 1.6, 2.2, 2.2)
    ]


# -- the synthetic shop against values computed here by hand ---------------------------------

ALL_ENGINES = [pytest.param("default", id="default"), *ENGINES]


def _day(value: datetime) -> date:
    return value.date()


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def _within(rows: list[dict[str, Any]], column: str, start: date | None, end: date) -> list[dict]:
    return [
        row
        for row in rows
        if row["customer_id"] is not None
        and _day(row[column]) <= end
        and (start is None or _day(row[column]) >= start)
    ]


def hand_summary(
    shop: Data, *, end: date, start: date | None = None, unit: float = 7.0
) -> dict[str, dict[str, Any]]:
    """The summary of ``patron.analytics.summary`` computed row by row in Python."""
    lines = _within(_rows(shop["lines"]), "placed_at", start, end)
    refunds = _within(_rows(shop["returns"]), "returned_at", start, end)
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for row in lines:
        by_customer[row["customer_id"]].append(row)
    returned: dict[str, list[float]] = defaultdict(list)
    for row in refunds:
        returned[row["customer_id"]].append(row["amount"])
    result = {}
    for customer, rows in by_customer.items():
        days = sorted({_day(row["placed_at"]) for row in rows})
        first, last = days[0], days[-1]
        sales = sum(row["amount"] for row in rows)
        repeat_value = sum(row["amount"] for row in rows if _day(row["placed_at"]) > first)
        returns = sum(returned[customer])
        gross_cost = sum(row["cost"] or 0.0 for row in rows)
        costed = sum(row["amount"] for row in rows if row["cost"] is not None)
        discounts = sum(row["discount"] for row in rows)
        return_rate = returns / sales if sales > 0 else 0.0
        # revenue, cost of goods and margin are rounded to the store's 4 decimals
        cost_of_goods = round(gross_cost * (1.0 - min(return_rate, 1.0)), 4)
        revenue = round(sales - returns, 4)
        frequency = len(days) - 1
        result[customer] = {
            "customer_id": customer,
            "first_purchase": first,
            "last_purchase": last,
            "orders": len({row["order_id"] for row in rows}),
            "purchase_days": len(days),
            "frequency": frequency,
            "recency": (last - first).days / unit,
            "T": (end - first).days / unit,
            "monetary": repeat_value / frequency if frequency else 0.0,
            "sales": sales,
            "returns": returns,
            "revenue": revenue,
            "discounts": discounts,
            "cost_of_goods": cost_of_goods,
            "margin": round(revenue - cost_of_goods, 4),
            "cost_known": costed / sales if sales > 0 else 0.0,
            "return_rate": return_rate,
            "discount_share": discounts / (sales + discounts) if sales + discounts > 0 else 0.0,
            "returned_items": len(returned[customer]),
            "tenure_days": (end - first).days,
            "days_since_last": (end - last).days,
        }
    return result


def _table(rows: list[dict[str, Any]], like: pa.Table) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=like.schema)


def _agree(expected: list[dict[str, Any]], actual: pa.Table, keys: tuple[str, ...]) -> None:
    problems = differences(_table(expected, actual), actual, keys)
    assert not problems, "differs from the hand-computed values:\n" + "\n".join(problems)


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_the_summary_is_the_hand_computed_one(engine: str, run, shop) -> None:
    expected = hand_summary(shop, end=SHOP_END)
    # the planted cases, read off the data by eye
    assert expected["midnight"]["purchase_days"] == 2
    assert expected["midnight"]["orders"] == 3
    assert expected["refund"]["revenue"] == -20.0
    assert expected["refund"]["cost_of_goods"] == 0.0
    assert expected["zero"]["revenue"] == 0.0
    assert expected["lastday"]["T"] == 0.0
    assert expected["lastday"]["returns"] == 0.0  # its return is dated after the end
    assert None not in expected
    _agree(list(expected.values()), run(engine, "shop", "summarise"), ("customer_id",))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_the_summary_from_a_start_in_days_is_the_hand_computed_one(engine: str, run, shop) -> None:
    start = CALIBRATION_ENDS["shop"] - timedelta(days=180)
    expected = hand_summary(shop, start=start, end=SHOP_END, unit=1.0)
    actual = run(engine, "shop", "summarise_from_start_in_days")
    _agree(list(expected.values()), actual, ("customer_id",))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_the_holdout_is_the_hand_computed_one(engine: str, run, shop) -> None:
    calibration_end = CALIBRATION_ENDS["shop"]
    expected = hand_summary(shop, end=calibration_end)
    later = _within(
        _rows(shop["lines"]), "placed_at", calibration_end + timedelta(days=1), SHOP_END
    )
    days: dict[str, set[date]] = defaultdict(set)
    value: dict[str, float] = defaultdict(float)
    for row in later:
        days[row["customer_id"]].add(_day(row["placed_at"]))
        value[row["customer_id"]] += row["amount"]
    for customer, row in expected.items():
        row["holdout_purchases"] = len(days[customer])
        row["holdout_value"] = value[customer]
        row["holdout_length"] = (SHOP_END - calibration_end).days / 7
    assert any(row["holdout_purchases"] == 0 for row in expected.values())
    assert any(row["holdout_purchases"] > 2 for row in expected.values())
    _agree(
        list(expected.values()), run(engine, "shop", "calibration_and_holdout"), ("customer_id",)
    )


def _cents(value: float) -> int:
    """Money as compared: in whole 1/10,000 of the currency unit."""
    return math.floor(value * 10_000 + 0.5)


def hand_abc(summary: dict[str, dict[str, Any]], by: str, a: float, b: float) -> list[dict]:
    ranked = sorted(summary, key=lambda c: (-_cents(max(summary[c][by], 0.0)), c))
    total = sum(max(summary[c][by], 0.0) for c in ranked)
    result, cumulative = [], 0.0
    for customer in ranked:
        value = max(summary[customer][by], 0.0)
        positive = _cents(value) > 0
        before = cumulative / total
        cumulative += value
        klass = "A" if positive and before < a else "B" if positive and before < b else "C"
        result.append({"customer_id": customer, "abc": klass, "abc_share": cumulative / total})
    return result


@pytest.mark.parametrize(
    ("analysis", "by", "a", "b"),
    [("abc_classes", "revenue", 0.8, 0.95), ("abc_classes_by_margin", "margin", 0.6, 0.9)],
)
@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_abc_classes_are_the_hand_computed_ones(
    engine: str, analysis: str, by: str, a: float, b: float, run, shop
) -> None:
    expected = hand_abc(hand_summary(shop, end=SHOP_END), by, a, b)
    classes = {row["customer_id"]: row["abc"] for row in expected}
    shares = {row["customer_id"]: row["abc_share"] for row in expected}
    assert shares["tie1"] < shares["tie2"] < shares["tie3"]  # equal value: in customer order
    assert shares["noise1"] < shares["noise2"]  # equal money, though not equal floats
    assert classes["refund"] == classes["zero"] == "C"
    assert set(classes.values()) == {"A", "B", "C"}
    _agree(expected, run(engine, "shop", analysis), ("customer_id",))


def _percent_rank(values: dict[str, float]) -> dict[str, float]:
    n = len(values)
    ordered = sorted(values.values())
    return {c: (ordered.index(v)) / (n - 1) if n > 1 else 0.0 for c, v in values.items()}


def _scores(values: dict[str, float]) -> dict[str, int]:
    return {c: min(math.floor(rank * 5) + 1, 5) for c, rank in _percent_rank(values).items()}


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_rfm_scores_are_the_hand_computed_ones(engine: str, run, shop) -> None:
    summary = hand_summary(shop, end=SHOP_END)
    r = _scores({c: -row["days_since_last"] for c, row in summary.items()})
    f = _scores({c: row["purchase_days"] for c, row in summary.items()})
    m = _scores({c: _cents(row["revenue"]) for c, row in summary.items()})
    expected = []
    for customer in summary:
        segment = next(
            rule.name
            for rule in SEGMENT_RULES
            if rule.r[0] <= r[customer] <= rule.r[1] and rule.f[0] <= f[customer] <= rule.f[1]
        )
        expected.append(
            {
                "customer_id": customer,
                "r_score": r[customer],
                "f_score": f[customer],
                "m_score": m[customer],
                "rfm_segment": segment,
            }
        )
    assert r["tie1"] == r["tie2"] == r["tie3"]
    assert m["tie1"] == m["tie2"] == m["tie3"]
    assert {row["rfm_segment"] for row in expected} >= {"champions", "lost", "new"}
    _agree(expected, run(engine, "shop", "rfm_scores"), ("customer_id",))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_the_pareto_curve_is_the_hand_computed_one(engine: str, run, shop) -> None:
    summary = hand_summary(shop, end=SHOP_END)
    ranked = sorted(summary.values(), key=lambda row: (-_cents(row["revenue"]), row["customer_id"]))
    values = [max(row["revenue"], 0.0) for row in ranked]
    n, total = len(values), sum(values)
    steps: dict[int, tuple[float, float]] = {}
    for position, cumulative in enumerate(itertools.accumulate(values), start=1):
        steps[math.ceil(position * 100 / n)] = (position / n, min(cumulative / total, 1.0))
    expected = [{"customer_share": c, "value_share": v} for c, v in steps.values()]
    assert expected[-1] == {"customer_share": 1.0, "value_share": 1.0}
    _agree(expected, run(engine, "shop", "pareto_curve"), ("customer_share",))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_cohort_retention_is_the_hand_computed_one(engine: str, run, shop) -> None:
    summary = hand_summary(shop, end=SHOP_END)
    lines = _within(_rows(shop["lines"]), "placed_at", None, SHOP_END)
    active: dict[tuple[date, int], set[str]] = defaultdict(set)
    for row in lines:
        first = summary[row["customer_id"]]["first_purchase"]
        day = _day(row["placed_at"])
        period = (day.year - first.year) * 12 + day.month - first.month
        active[first.replace(day=1), period].add(row["customer_id"])
    expected = [
        {
            "cohort": cohort,
            "period": period,
            "customers": len(active[cohort, 0]),
            "active": len(customers),
            "retention": len(customers) / len(active[cohort, 0]),
        }
        for (cohort, period), customers in active.items()
    ]
    assert len({row["cohort"] for row in expected}) > 12
    _agree(expected, run(engine, "shop", "cohort_retention"), ("cohort", "period"))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_the_trend_is_the_hand_computed_one(engine: str, run, shop) -> None:
    start = SHOP_END - timedelta(days=179)
    recent_from = SHOP_END - timedelta(days=89)
    per: dict[str, dict[str, Any]] = {}
    days: dict[tuple[str, date], float] = defaultdict(float)
    for row in _within(_rows(shop["lines"]), "placed_at", start, SHOP_END):
        days[row["customer_id"], _day(row["placed_at"])] += row["amount"]
    for (customer, day), value in days.items():
        entry = per.setdefault(
            customer,
            {
                "customer_id": customer,
                "recent_value": 0.0,
                "recent_days": 0,
                "previous_value": 0.0,
                "previous_days": 0,
            },
        )
        when = "recent" if day >= recent_from else "previous"
        entry[f"{when}_value"] += value
        entry[f"{when}_days"] += 1
    assert any(row["recent_days"] and row["previous_days"] for row in per.values())
    _agree(list(per.values()), run(engine, "shop", "trend"), ("customer_id",))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_subscription_candidates_are_the_hand_computed_ones(engine: str, run, shop) -> None:
    days: dict[tuple[str, str], set[date]] = defaultdict(set)
    for row in _within(_rows(shop["lines"]), "placed_at", None, SHOP_END):
        if row["product"] is not None:
            days[row["customer_id"], row["product"]].add(_day(row["placed_at"]))
    best: dict[str, tuple[float, int, str, float]] = {}
    for (customer, product), bought in days.items():
        ordered = sorted(bought)
        gaps = np.diff([day.toordinal() for day in ordered]).astype(float)
        if len(ordered) < REGULAR.min_purchases:
            continue
        mean, sd = float(gaps.mean()), float(gaps.std(ddof=1))
        overdue = (SHOP_END - ordered[-1]).days
        if (
            mean >= REGULAR.min_interval_days
            and sd <= mean * REGULAR.max_variation
            and overdue <= mean * REGULAR.overdue_factor
        ):
            candidate = (sd / mean, -len(ordered), product, mean)
            if customer not in best or candidate < best[customer]:
                best[customer] = candidate
    expected = [
        {
            "customer_id": customer,
            "subscription_product": product,
            "subscription_interval_days": float(math.floor(mean + 0.5)),  # half up
            "subscription_variation": variation,
            "subscription_purchases": -negative,
        }
        for customer, (variation, negative, product, mean) in best.items()
    ]
    found = {row["customer_id"]: row["subscription_product"] for row in expected}
    assert {found.get(c) for c in ("sub1", "sub2", "sub3", "sub4")} == {"coffee"}
    assert found["half"] == "tea"
    assert "lapsed" not in found
    assert "daily" not in found
    _agree(expected, run(engine, "shop", "subscription_candidates"), ("customer_id",))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_the_latest_attitude_is_the_hand_computed_one(engine: str, run, shop) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for row in _within(_rows(shop["attitudes"]), "answered_at", None, SHOP_END):
        found = latest.get(row["customer_id"])
        if found is None or (row["answered_at"], row["kind"]) > (found["at"], found["kind"]):
            latest[row["customer_id"]] = {"at": row["answered_at"], **row}
    expected = [
        {
            "customer_id": customer,
            "attitude_kind": row["kind"],
            "attitude_score": row["score"],
            "positive_attitude": row["score"] >= (9 if row["kind"] == "nps" else 4),
        }
        for customer, row in latest.items()
    ]
    assert latest["c01"]["kind"] == "nps"
    assert {row["positive_attitude"] for row in expected} == {True, False}
    _agree(expected, run(engine, "shop", "latest_attitude"), ("customer_id",))


@pytest.mark.parametrize("engine", ALL_ENGINES)
def test_case_counts_are_the_hand_computed_ones(engine: str, run, shop) -> None:
    start = SHOP_START + timedelta(days=90)
    counts: dict[str, int] = defaultdict(int)
    for row in _within(_rows(shop["cases"]), "opened_at", start, SHOP_END):
        counts[row["customer_id"]] += 1
    expected = [{"customer_id": c, "cases": n} for c, n in counts.items()]
    assert len(expected) > 5
    _agree(expected, run(engine, "shop", "case_counts"), ("customer_id",))
