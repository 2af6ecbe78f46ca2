"""Key figures, Pareto curve and segment tables of the analytics page, on synthetic scores."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from analytics.scores_factory import fake_scores
from patron.analytics.columns import SEGMENTS
from patron.analytics.figures import key_figures, pareto_table, segment_rows


@pytest.fixture(scope="module")
def scores() -> pa.Table:
    return fake_scores(2_000, seed=3)


def test_key_figures(scores: pa.Table) -> None:
    rows = scores.to_pylist()
    buyers = [row for row in rows if row["purchase_days"]]
    value = {id(row): max(row["revenue"] or 0.0, 0.0) for row in rows}
    a_value = sum(value[id(row)] for row in rows if row["abc"] == "A")
    p_alive = [row["p_alive"] for row in rows if row["p_alive"] is not None]
    figures = key_figures(scores)
    assert figures.customers == len(rows)
    assert figures.buyers == len(buyers) < len(rows)  # the factory makes a few leads
    assert figures.a_customers == sum(row["abc"] == "A" for row in rows)
    assert figures.a_share == pytest.approx(a_value / sum(value.values()))
    assert figures.mean_p_alive == pytest.approx(float(np.mean(p_alive)))
    assert figures.total_clv == pytest.approx(sum(row["clv"] or 0.0 for row in rows))
    assert figures.unprofitable == sum((row["profit"] or 0.0) < 0 for row in rows)
    assert figures.subscription_candidates == sum(bool(row["subscription_product"]) for row in rows)


def test_the_pareto_curve_ranks_the_buyers_by_value(scores: pa.Table) -> None:
    curve = pareto_table(scores)
    x, y = curve["customer_share"].to_numpy(), curve["value_share"].to_numpy()
    assert curve.num_rows == pc.sum(pc.greater(scores["purchase_days"], 0)).as_py()
    assert (x[-1], y[-1]) == pytest.approx((1.0, 1.0))
    assert np.all(np.diff(x) > 0)
    assert np.all(np.diff(y) >= -1e-12)
    assert np.all(np.diff(y, 2) <= 1e-12)  # concave: the most valuable first


def test_segment_rows_keep_the_segment_order_and_add_up(scores: pa.Table) -> None:
    rows = segment_rows(scores, "rfm_segment")
    named = [row.value for row in rows if row.value is not None]
    assert named == [segment for segment in SEGMENTS if segment in named]
    assert rows[-1].value is None  # the leads, last
    assert sum(row.customers for row in rows) == scores.num_rows
    revenue = pc.sum(scores["revenue"]).as_py()
    assert sum(row.revenue for row in rows) == pytest.approx(revenue)
    champions = scores.filter(pc.equal(scores["rfm_segment"], "champions"))
    assert rows[0].mean_clv == pytest.approx(pc.mean(champions["clv"]).as_py())


def test_an_empty_snapshot_has_figures_too() -> None:
    empty = fake_scores(10).slice(0, 0)
    figures = key_figures(empty)
    assert (figures.customers, figures.a_share, figures.mean_p_alive) == (0, None, None)
    assert pareto_table(empty).num_rows == 0
    assert segment_rows(empty, "abc") == []
