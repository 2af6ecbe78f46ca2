"""The figures the analytics page and the report share, each against numpy on synthetic scores."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pytest

from analytics.scores_factory import fake_scores
from patron.analytics.figures import (
    GROUPINGS,
    key_figures,
    pareto_table,
    segment_rows,
    subscription_candidates,
    top_by_clv,
    unprofitable_customers,
)


@pytest.fixture(scope="module")
def scores() -> pa.Table:
    return fake_scores(2_000, seed=3)


def values(scores: pa.Table, name: str) -> np.ndarray:
    """A column as numpy: text as objects (None kept), numbers as floats (None as NaN)."""
    column = scores.column(name).to_pylist()
    if pa.types.is_string(scores.schema.field(name).type):
        return np.array(column, dtype=object)
    return np.array([np.nan if v is None else v for v in column], dtype=np.float64)


def ranked(ids: np.ndarray, key: np.ndarray, chosen: np.ndarray, k: int) -> list[str]:
    """The ids of the ``chosen`` rows by ``key`` ascending, ties by id, the first ``k``."""
    order = np.lexsort((ids[chosen], key[chosen]))
    return list(ids[chosen][order][:k])


@pytest.mark.parametrize("by", ["revenue", "margin"])
def test_key_figures(scores: pa.Table, by: str) -> None:
    abc, profit = values(scores, "abc"), values(scores, "profit")
    buyers = np.nan_to_num(values(scores, "purchase_days")) > 0
    is_a = abc == "A"
    value = np.maximum(np.nan_to_num(values(scores, by)), 0.0)
    p_alive = values(scores, "p_alive")
    products = values(scores, "subscription_product")
    expected = {
        "customers": scores.num_rows,
        "buyers": buyers.sum(),
        "revenue": pytest.approx(np.nansum(values(scores, "revenue"))),
        "a_customers": is_a.sum(),
        "a_share_of_buyers": pytest.approx(is_a.sum() / buyers.sum()),
        "a_share_of_value": pytest.approx(value[is_a].sum() / value.sum()),
        "with_p_alive": (~np.isnan(p_alive)).sum(),
        "mean_p_alive": pytest.approx(np.nanmean(p_alive)),
        "total_clv": pytest.approx(np.nansum(values(scores, "clv"))),
        "unprofitable": (profit < 0).sum(),
        "unprofitable_loss": pytest.approx(-profit[profit < 0].sum()),
        "subscription_candidates": sum(1 for p in products if p),
    }
    assert asdict(key_figures(scores, by=by)) == expected
    assert 0 < expected["buyers"] < scores.num_rows  # the factory makes a few leads
    assert 0 < expected["with_p_alive"] < expected["buyers"]  # and a few it cannot score


def test_an_empty_subscription_product_is_no_candidate() -> None:
    scores = fake_scores(300, 5)
    products = ["" if p is None else p for p in scores.column("subscription_product").to_pylist()]
    index = scores.column_names.index("subscription_product")
    changed = scores.set_column(index, "subscription_product", pa.array(products))
    named = sum(1 for p in products if p)
    assert key_figures(changed).subscription_candidates == named
    assert len(subscription_candidates(changed, 300)) == named


def test_the_pareto_curve_ranks_the_buyers_by_value(scores: pa.Table) -> None:
    buyers = np.nan_to_num(values(scores, "purchase_days")) > 0
    value = np.sort(np.maximum(np.nan_to_num(values(scores, "revenue")[buyers]), 0.0))[::-1]
    curve = pareto_table(scores)
    assert curve["customer_share"].to_numpy() == pytest.approx(
        np.arange(1, buyers.sum() + 1) / buyers.sum()
    )
    assert curve["value_share"].to_numpy() == pytest.approx(np.cumsum(value) / value.sum())


@pytest.mark.parametrize("key", list(GROUPINGS))
def test_segment_rows(scores: pa.Table, key: str) -> None:
    groups = values(scores, key)
    revenue, clv = values(scores, "revenue"), values(scores, "clv")
    rows = segment_rows(scores, key)
    known = [row.value for row in rows if row.value in GROUPINGS[key]]
    assert known == [value for value in GROUPINGS[key] if value in set(groups)]
    assert {row.value for row in rows} == set(groups)
    if None in set(groups):
        assert rows[-1].value is None  # customers without a value, last
    for row in rows:
        members = np.array([g == row.value for g in groups])
        clvs = clv[members & ~np.isnan(clv)]
        assert row.customers == members.sum()
        assert row.revenue == pytest.approx(np.nansum(revenue[members]))
        assert row.mean_clv == (pytest.approx(clvs.mean()) if clvs.size else None)


def test_segment_rows_put_unknown_values_after_the_known_by_size() -> None:
    scores = pa.table(
        {
            "abc": ["X", "A", "Y", "Y", None, "C"],
            "revenue": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "clv": [None, 1.0, 2.0, 4.0, None, None],
        }
    )
    rows = segment_rows(scores, "abc")
    assert [(r.value, r.customers) for r in rows] == [
        ("A", 1),
        ("C", 1),
        ("Y", 2),
        ("X", 1),
        (None, 1),
    ]
    assert [r.mean_clv for r in rows] == [1.0, None, 3.0, None, None]


@pytest.mark.parametrize("ties", [False, True])
def test_top_by_clv(scores: pa.Table, ties: bool) -> None:
    if ties:  # many customers with the same CLV: the customer id decides
        index = scores.column_names.index("clv")
        rounded = np.round(values(scores, "clv"), -2)
        scores = scores.set_column(index, "clv", pa.array(rounded, from_pandas=True))
    clv, ids = values(scores, "clv"), values(scores, "customer_id")
    rows = top_by_clv(scores, 20)
    assert [row["customer_id"] for row in rows] == ranked(ids, -clv, ~np.isnan(clv), 20)
    assert [row["clv"] for row in rows] == sorted(clv[~np.isnan(clv)], reverse=True)[:20]
    assert len(top_by_clv(scores.slice(0, 10), 20)) == (~np.isnan(clv[:10])).sum()


def test_unprofitable_customers(scores: pa.Table) -> None:
    profit, ids = values(scores, "profit"), values(scores, "customer_id")
    rows = unprofitable_customers(scores, 20)
    assert [row["customer_id"] for row in rows] == ranked(ids, profit, profit < 0, 20)
    assert all(row["profit"] < 0 for row in rows)
    assert len(unprofitable_customers(scores, scores.num_rows)) == (profit < 0).sum()


def test_subscription_candidates(scores: pa.Table) -> None:
    revenue, ids = values(scores, "revenue"), values(scores, "customer_id")
    products = values(scores, "subscription_product")
    named = np.array([bool(p) for p in products])
    rows = subscription_candidates(scores, 50)
    assert [row["customer_id"] for row in rows] == ranked(ids, -revenue, named, 50)
    by_id = dict(zip(ids, products, strict=True))
    assert all(by_id[row["customer_id"]] == row["subscription_product"] for row in rows)


def test_an_empty_table_has_figures_too() -> None:
    empty = fake_scores(10).slice(0, 0)
    figures = key_figures(empty)
    assert (figures.customers, figures.buyers, figures.revenue) == (0, 0, 0.0)
    assert (figures.a_share_of_buyers, figures.a_share_of_value, figures.mean_p_alive) == (
        None,
        None,
        None,
    )
    assert (figures.unprofitable, figures.unprofitable_loss) == (0, 0.0)
    assert pareto_table(empty).num_rows == 0
    assert segment_rows(empty, "abc") == []
    assert top_by_clv(empty, 5) == unprofitable_customers(empty, 5) == []
    assert subscription_candidates(empty, 5) == []
