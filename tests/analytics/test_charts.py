"""The report's charts: valid Vega-Lite, aggregates that equal numpy's, texts through gettext."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import vl_convert

from analytics.scores_factory import (
    ARROW_TYPES,
    fake_cohorts,
    fake_comparison,
    fake_pareto,
    fake_scores,
    fake_tracking,
    shout,
)
from patron.analytics import charts, columns

N = 3000


def same(text: str) -> str:
    return text


@pytest.fixture(scope="module")
def scores() -> pa.Table:
    return fake_scores(N, seed=7)


def all_charts(scores: pa.Table, gettext: Callable[[str], str] = same) -> dict[str, charts.Chart]:
    return {
        "pareto": charts.pareto_curve(fake_pareto(scores), gettext),
        "abc": charts.abc_classes(scores, gettext, currency="EUR"),
        "rfm": charts.rfm_grid(scores, gettext, currency="EUR"),
        "segments": charts.segment_sizes(scores, gettext),
        "clv": charts.clv_distribution(scores, gettext),
        "p_alive": charts.p_alive_heatmap(scores, gettext),
        "lifecycle": charts.lifecycle_funnel(scores, gettext),
        "loyalty": charts.loyalty_types(scores, gettext),
        "cohorts": charts.cohort_retention(fake_cohorts(14), gettext),
        "tracking": charts.tracking(fake_tracking(), 52.0, gettext, time_unit="week"),
        "models": charts.model_comparison(fake_comparison(), gettext),
    }


def column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


def floats(table: pa.Table, name: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in table.column(name).to_pylist()], float)


def layer_values(spec: dict[str, Any], index: int) -> list[dict[str, Any]]:
    layer = spec["layer"][index]
    return (layer.get("data") or spec["data"])["values"]


def test_the_factory_keeps_the_scores_contract(scores: pa.Table) -> None:
    assert scores.column_names == list(columns.SCORE_NAMES)
    for spec in columns.SCORES:
        assert scores.schema.field(spec.name).type == ARROW_TYPES[spec.type], spec.name
    revenue, sales, returns = (floats(scores, n) for n in ("revenue", "sales", "returns"))
    assert np.allclose(revenue, sales - returns)
    leads = column(scores, "lifecycle_phase") == "awareness"
    assert 0 < leads.sum() < N / 10
    assert np.isnan(floats(scores, "frequency")[leads]).all()
    assert set(column(scores, "rfm_segment")[~leads]) <= set(columns.SEGMENTS)
    assert set(column(scores, "loyalty_type")) <= set(columns.LOYALTY_TYPES)
    assert (floats(scores, "recency")[~leads] <= floats(scores, "T")[~leads]).all()


@pytest.mark.parametrize("version", [charts.VEGA_LITE_VERSION, None])
def test_every_spec_compiles(scores: pa.Table, version: str | None) -> None:
    """vl-convert raises on a spec Vega-Lite cannot compile (v5 as written; v6 as the dashboard
    bundle has)."""
    for name, chart in all_charts(scores).items():
        vega = vl_convert.vegalite_to_vega(chart.spec, vl_version=version)
        assert vega["marks"], name
        json.dumps(chart.spec, allow_nan=False)  # inline data is plain JSON: no NaN, no numpy


def test_the_inline_data_does_not_grow_with_the_customers() -> None:
    small, large = all_charts(fake_scores(1000, 1)), all_charts(fake_scores(40_000, 2))
    for name in small:
        size = len(json.dumps(large[name].spec))
        assert size < 40_000, name
        assert size < 2 * len(json.dumps(small[name].spec)) + 2_000, name


def test_rfm_grid_counts_match_a_numpy_histogram(scores: pa.Table) -> None:
    chart = charts.rfm_grid(scores, same)
    r, f = floats(scores, "r_score"), floats(scores, "f_score")
    scored = ~np.isnan(r)
    expected, _, _ = np.histogram2d(
        r[scored], f[scored], bins=[np.arange(0.5, 6), np.arange(0.5, 6)]
    )
    cells = {(row["r_score"], row["f_score"]): row for row in chart.spec["data"]["values"]}
    assert len(cells) == 25
    assert sum(row["customers"] for row in cells.values()) == scored.sum()
    revenue, segment = floats(scores, "revenue"), column(scores, "rfm_segment")
    for (rs, fs), row in cells.items():
        assert row["customers"] == expected[rs - 1, fs - 1]
        inside = scored & (r == rs) & (f == fs)
        if inside.any():
            assert row["mean_revenue"] == pytest.approx(revenue[inside].mean())
            mode = Counter(segment[inside]).most_common(1)[0][0]
            assert row["segment"] == charts.SEGMENT_NAMES[mode]
        else:
            assert row["mean_revenue"] is None
    assert chart.table == chart.spec["data"]["values"]


def test_the_pareto_curve_runs_from_0_0_to_1_1(scores: pa.Table) -> None:
    pareto = fake_pareto(scores)
    chart = charts.pareto_curve(pareto, same)
    curve = [v for v in chart.spec["data"]["values"] if v["series"] == charts.YOUR_CUSTOMERS]
    assert (curve[0]["x"], curve[0]["y"]) == (0.0, 0.0)
    assert curve[-1]["x"] == pytest.approx(1.0)
    assert curve[-1]["y"] == pytest.approx(1.0)
    assert np.all(np.diff([p["y"] for p in curve]) >= -1e-9)
    x, y = floats(pareto, "customer_share"), floats(pareto, "value_share")
    point = layer_values(chart.spec, 3)[0]
    assert point["y"] == pytest.approx(np.interp(0.2, x, y), abs=1e-6)
    assert [row["customer_share"] for row in chart.table] == pytest.approx(np.arange(1, 11) / 10)
    assert chart.table[-1]["value_share"] == pytest.approx(1.0)


def test_the_pareto_curve_takes_the_ibis_steps_unsorted() -> None:
    """``analytics.abc.pareto_curve`` gives ~100 steps; order is not guaranteed by every backend."""
    steps = np.linspace(0.01, 1, 100)
    shares = 1 - (1 - steps) ** 4
    shuffled = np.random.default_rng(3).permutation(100)
    chart = charts.pareto_curve(
        pa.table({"customer_share": steps[shuffled], "value_share": shares[shuffled]}), same
    )
    assert chart.table[1]["value_share"] == pytest.approx(1 - 0.8**4, abs=1e-9)


def test_abc_shares_match_numpy(scores: pa.Table) -> None:
    chart = charts.abc_classes(scores, same)
    abc, revenue = column(scores, "abc"), floats(scores, "revenue")
    ranked = abc != None  # noqa: E711 (numpy compares element-wise)
    assert [row["abc"] for row in chart.table] == ["A", "B", "C"]
    for row in chart.table:
        mine = abc == row["abc"]
        assert row["customers"] == mine.sum()
        assert row["customer_share"] == pytest.approx(mine.sum() / ranked.sum())
        assert row["revenue_share"] == pytest.approx(revenue[mine].sum() / revenue[ranked].sum())
    assert len(chart.spec["data"]["values"]) == 6  # two bars per class


def test_segment_sizes_follow_the_declared_order(scores: pa.Table) -> None:
    chart = charts.segment_sizes(scores, same)
    assert [row["segment"] for row in chart.table] == [
        charts.SEGMENT_NAMES[s] for s in columns.SEGMENTS
    ]
    segment, clv = column(scores, "rfm_segment"), floats(scores, "clv")
    revenue = floats(scores, "revenue")
    for key, row in zip(columns.SEGMENTS, chart.table, strict=True):
        mine = segment == key
        assert row["customers"] == mine.sum()
        assert row["revenue"] == pytest.approx(revenue[mine].sum())
        assert row["mean_clv"] == pytest.approx(np.nanmean(clv[mine]))
    assert sum(row["customer_share"] for row in chart.table) == pytest.approx(1.0)


def test_clv_bands_count_every_customer_with_a_value(scores: pa.Table) -> None:
    chart = charts.clv_distribution(scores, same)
    clv = floats(scores, "clv")
    valued = clv[~np.isnan(clv)]
    assert sum(row["customers"] for row in chart.table) == valued.size
    bars = chart.spec["data"]["values"]
    edges = [bar["bar_from"] for bar in bars] + [bars[-1]["to"]]
    assert np.all(np.diff(edges) > 0)
    for bar in bars[1:]:
        inside = (valued >= bar["bar_from"]) & (valued < bar["to"])
        assert bar["customers"] == inside.sum()
    assert bars[0]["customers"] == ((valued > 0) & (valued < bars[0]["to"])).sum()
    assert bars[-1]["to"] > valued.max()
    median = layer_values(chart.spec, 1)[0]["bar_from"]
    assert median == pytest.approx(np.median(valued[valued > 0]))
    assert chart.spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"


def test_clv_of_zero_or_less_is_counted_in_the_table() -> None:
    scores = fake_scores(500, 4)
    clv = floats(scores, "clv")
    clv[:7] = [0.0, -1.0, 0.0, -5.0, 0.0, 0.0, -0.5]
    chart = charts.clv_distribution(
        scores.set_column(28, "clv", pa.array(clv, from_pandas=True)), same
    )
    assert chart.table[0]["from"] is None
    assert chart.table[0]["customers"] == 7
    vl_convert.vegalite_to_vega(chart.spec, vl_version=charts.VEGA_LITE_VERSION)


def test_a_clv_on_a_band_edge_belongs_to_the_band_it_starts() -> None:
    scores = fake_scores(12, 4)
    clv = pa.array([1.0, 1.0, 2.0, 2.0, 2.0, 5.0, 5.0, 10.0, 10.0, 20.0, 20.0, 50.0])
    changed = scores.set_column(scores.column_names.index("clv"), "clv", clv)
    bands = {row["to"]: row["customers"] for row in charts.clv_distribution(changed, same).table}
    assert bands == {2.0: 2, 5.0: 3, 10.0: 2, 20.0: 2, 50.0: 2, 100.0: 1}


def test_p_alive_means_match_numpy(scores: pa.Table) -> None:
    chart = charts.p_alive_heatmap(scores, same)
    x, t_x, age, p = (floats(scores, n) for n in ("frequency", "recency", "T", "p_alive"))
    known = ~(np.isnan(x) | np.isnan(p))
    assert sum(row["customers"] for row in chart.table) == known.sum()
    share = np.where(age > 0, t_x / np.where(age > 0, age, 1), 1.0)
    tenth = np.minimum(np.floor(share * 10), 9)  # the documented bands: 0–10 % … 90–100 %
    bins = {"0": (0, 1), "1": (1, 2), "2": (2, 3), "3": (3, 4), "4–5": (4, 6), "6–9": (6, 10)}
    bins["10+"] = (10, np.inf)
    for row in chart.table:
        low, high = bins[row["frequency"]]
        band = round(row["recency_from"] * 10)
        assert row["recency_to"] == pytest.approx(row["recency_from"] + 0.1)
        inside = known & (x >= low) & (x < high) & (tenth == band)
        assert row["customers"] == inside.sum(), row
        assert row["p_alive"] == pytest.approx(p[inside].mean())


@pytest.mark.parametrize(
    ("build", "key", "order", "names"),
    [
        (charts.lifecycle_funnel, "lifecycle_phase", columns.PHASES, charts.PHASE_NAMES),
        (charts.loyalty_types, "loyalty_type", columns.LOYALTY_TYPES, charts.LOYALTY_NAMES),
    ],
)
def test_customers_per_phase_and_loyalty_type(
    scores: pa.Table,
    build: Callable[..., charts.Chart],
    key: str,
    order: tuple[str, ...],
    names: dict[str, str],
) -> None:
    chart = build(scores, same)
    values = column(scores, key)
    assert [row["label"] for row in chart.table] == [names[k] for k in order]
    assert [row["customers"] for row in chart.table] == [(values == k).sum() for k in order]


def test_every_domain_word_has_a_display_name() -> None:
    assert set(charts.SEGMENT_NAMES) == set(columns.SEGMENTS)
    assert set(charts.PHASE_NAMES) == set(columns.PHASES)
    assert set(charts.LOYALTY_NAMES) == set(columns.LOYALTY_TYPES)


def test_cohort_heat_map_keeps_every_cell() -> None:
    cohorts = fake_cohorts(14, seed=2)
    chart = charts.cohort_retention(cohorts, same, month=lambda d: d.strftime("%b %y"))
    values = chart.spec["data"]["values"]
    assert len(values) == cohorts.num_rows
    assert values[0]["cohort"] == date(2023, 1, 1).strftime("%b %y")
    retention = {(v["cohort"], v["period"]): v["retention"] for v in values}
    for row in cohorts.to_pylist():
        assert retention[(row["cohort"].strftime("%b %y"), row["period"])] == row["retention"]
    assert len(chart.table) == 14
    assert chart.table[0]["m13"] == pytest.approx(cohorts.to_pylist()[13]["retention"])


def test_tracking_draws_both_lines_and_the_calibration_end() -> None:
    track = fake_tracking(2000, seed=5)
    chart = charts.tracking(track, 1500.0, same, time_unit="day")
    values = chart.spec["data"]["values"]
    actual = [v for v in values if v["series"] == charts.ACTUAL]
    expected = [v for v in values if v["series"] == charts.EXPECTED]
    assert 0 < len(actual) == len(expected) <= 500
    assert actual[-1]["purchases"] == pytest.approx(floats(track, "actual")[-1], rel=1e-5)
    assert expected[-1]["t"] == pytest.approx(2000)
    assert layer_values(chart.spec, 1) == [{"t": 1500.0, "label": charts.CALIBRATION_END}]
    assert "(days)" in chart.spec["layer"][0]["encoding"]["x"]["title"]
    assert len(charts.tracking(track, None, same).spec["layer"]) == 1


def test_model_comparison_shows_the_totals() -> None:
    comparison = fake_comparison(800.0)
    chart = charts.model_comparison(comparison, same)
    assert [row["model"] for row in chart.table] == comparison.column("model").to_pylist()
    assert [row["predicted_total"] for row in chart.table] == pytest.approx(
        comparison.column("predicted_total").to_pylist()
    )
    assert {row["actual_total"] for row in chart.table} == {800.0}


def test_texts_go_through_gettext(scores: pa.Table) -> None:
    shouting = all_charts(scores, shout)
    for name, chart in shouting.items():
        assert chart.title, name
        assert chart.title == chart.title.upper(), name
        for table_column in chart.columns:
            assert table_column.label == table_column.label.upper(), (name, table_column)
    spec = json.dumps(shouting["segments"].spec)
    assert '"CHAMPIONS"' in spec
    assert '"SHARE OF REVENUE"' in spec
    assert charts.RFM_GRID.upper() == shouting["rfm"].title


def test_charts_of_an_empty_base_still_compile() -> None:
    empty = fake_scores(0, 1)
    built = {
        "pareto": charts.pareto_curve(fake_pareto(empty), same),
        "abc": charts.abc_classes(empty, same),
        "rfm": charts.rfm_grid(empty, same),
        "segments": charts.segment_sizes(empty, same),
        "clv": charts.clv_distribution(empty, same),
        "p_alive": charts.p_alive_heatmap(empty, same),
        "lifecycle": charts.lifecycle_funnel(empty, same),
        "cohorts": charts.cohort_retention(fake_cohorts(0), same),
        "tracking": charts.tracking(fake_tracking(0), None, same),
        "models": charts.model_comparison(fake_comparison().slice(0, 0), same),
    }
    for name, chart in built.items():
        vl_convert.vegalite_to_vega(chart.spec, vl_version=charts.VEGA_LITE_VERSION)
        assert all(row.get("customers", 0) == 0 for row in chart.table), name
