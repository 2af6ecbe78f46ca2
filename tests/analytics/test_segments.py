"""ABC classes, the Pareto curve and RFM scores and segments, against values computed by hand."""

from __future__ import annotations

from datetime import date

import ibis
import numpy as np
import pyarrow as pa
import pytest

from analytics.transactions import lines
from patron.analytics.abc import AbcSettings, InvalidAbcSettings, abc_classes, pareto_curve
from patron.analytics.columns import SEGMENTS
from patron.analytics.facts import facts_from_arrow
from patron.analytics.rfm import (
    SEGMENT_RULES,
    InvalidSegmentRules,
    SegmentRule,
    check_rules,
    rfm_scores,
)
from patron.analytics.summary import summarise


def _summary(values: dict[str, float]) -> ibis.Table:
    """A summary-like table: revenue and margin per customer."""
    names = sorted(values)
    return ibis.memtable(
        pa.table(
            {
                "customer_id": names,
                "revenue": [values[n] for n in names],
                "margin": [values[n] / 2 for n in names],
            }
        )
    )


def _classes(table: ibis.Table, settings: AbcSettings = AbcSettings()) -> dict[str, str]:
    rows = abc_classes(table, settings).to_pyarrow().to_pylist()
    return {row["customer_id"]: row["abc"] for row in rows}


def test_a_is_the_top_that_makes_the_first_80_percent() -> None:
    # 100 in all: c1 50 (0..50 %), c2 25 (50..75 %), c3 10 (75..85 % — starts in A), c4 5, c5 5,
    # c6 5 (95..100 %), c7 0 (nothing: C)
    values = {"c1": 50, "c2": 25, "c3": 10, "c4": 5, "c5": 5, "c6": 5, "c7": 0}
    assert _classes(_summary(values)) == {
        "c1": "A",
        "c2": "A",
        "c3": "A",
        "c4": "B",
        "c5": "B",
        "c6": "C",
        "c7": "C",
    }


def test_the_bounds_and_the_value_are_configurable() -> None:
    values = {"c1": 50, "c2": 25, "c3": 10, "c4": 15}
    assert _classes(_summary(values), AbcSettings(a=0.5, b=0.75)) == {
        "c1": "A",
        "c2": "B",
        "c3": "C",
        "c4": "C",
    }
    # by margin (here half the revenue each, so the same ranking and classes)
    assert _classes(_summary(values), AbcSettings(by="margin")) == _classes(_summary(values))


def test_the_classes_follow_the_definition_on_random_values() -> None:
    rng = np.random.default_rng(7)
    values = {f"c{i:04d}": float(v) for i, v in enumerate(rng.pareto(1.2, 2000) * 10)}
    got = _classes(_summary(values))
    ranked = sorted(values, key=lambda name: (-values[name], name))
    total, before = sum(values.values()), 0.0
    for name in ranked:
        share = before / total
        expected = "A" if share < 0.8 else "B" if share < 0.95 else "C"
        assert got[name] == expected, name
        before += values[name]


@pytest.mark.parametrize(
    ("a", "b", "by"), [(0.9, 0.8, "revenue"), (0.0, 0.5, "revenue"), (0.8, 0.95, "profit")]
)
def test_bad_abc_settings_are_refused(a: float, b: float, by: str) -> None:
    with pytest.raises(InvalidAbcSettings):
        AbcSettings(by=by, a=a, b=b)


def test_the_pareto_curve_rises_to_one_and_matches_the_sorted_values() -> None:
    rng = np.random.default_rng(3)
    values = {f"c{i:04d}": float(v) for i, v in enumerate(rng.lognormal(3, 1.5, 1000))}
    curve = pareto_curve(_summary(values), points=10).to_pyarrow().to_pylist()
    assert len(curve) == 10
    ordered = np.sort(np.array(list(values.values())))[::-1]
    for point in curve:
        count = round(point["customer_share"] * 1000)
        assert point["value_share"] == pytest.approx(ordered[:count].sum() / ordered.sum())
    assert curve[-1]["customer_share"] == pytest.approx(1.0)
    assert curve[-1]["value_share"] == pytest.approx(1.0)
    shares = [p["value_share"] for p in curve]
    assert shares == sorted(shares)


def _rfm(facts_lines: pa.Table, end: date) -> dict[str, dict[str, object]]:
    summary = summarise(facts_from_arrow(facts_lines), end=end)
    return {row["customer_id"]: row for row in rfm_scores(summary).to_pyarrow().to_pylist()}


def test_rfm_scores_are_quintiles_of_the_percent_rank() -> None:
    # ten customers: customer k bought k times, the last time k days before the end, for 10·k
    rows = []
    for k in range(1, 11):
        for j in range(k):
            rows.append((f"c{k:02d}", f"o{k}-{j}", f"2024-03-{20 - k - j:02d}", 10.0 * k / k))
    table = _rfm(lines(*rows), date(2024, 3, 20))
    for k in range(1, 11):
        row = table[f"c{k:02d}"]
        # percent rank of k among 1..10 is (k-1)/9; score = 1 + floor(5 · rank), at most 5
        expected = min(1 + int(5 * (k - 1) / 9), 5)
        assert row["f_score"] == expected
        assert row["m_score"] == expected  # revenue is 10·k
        # the most recent is the one with the smallest k
        assert row["r_score"] == min(1 + int(5 * (10 - k) / 9), 5)


def test_equal_values_get_equal_scores() -> None:
    rows = [(f"c{i}", f"o{i}", "2024-01-01", 5.0) for i in range(6)]
    rows += [("c6", "o6a", "2024-01-01", 5.0), ("c6", "o6b", "2024-01-03", 5.0)]
    table = _rfm(lines(*rows), date(2024, 1, 10))
    assert {table[f"c{i}"]["f_score"] for i in range(6)} == {1}
    assert table["c6"]["f_score"] == 5


def test_every_cell_of_the_default_table_has_a_segment() -> None:
    check_rules(SEGMENT_RULES)
    assert {rule.name for rule in SEGMENT_RULES} == set(SEGMENTS)
    # and the first matching rule names it: R=5, F=5 → champions; R=1, F=1 → lost
    cells = {
        (r, f): next(
            x.name for x in SEGMENT_RULES if x.r[0] <= r <= x.r[1] and x.f[0] <= f <= x.f[1]
        )
        for r in range(1, 6)
        for f in range(1, 6)
    }
    assert cells[(5, 5)] == "champions"
    assert cells[(1, 1)] == "lost"
    assert cells[(1, 5)] == "can't lose"
    assert cells[(5, 1)] == "new"


def test_segments_come_from_the_scores() -> None:
    rng = np.random.default_rng(11)
    rows = []
    for i in range(300):
        for j in range(int(rng.integers(1, 8))):
            rows.append(
                (
                    f"c{i:03d}",
                    f"o{i}-{j}",
                    f"2024-{1 + int(rng.integers(0, 12)):02d}-{1 + int(rng.integers(0, 28)):02d}",
                    float(rng.integers(5, 100)),
                )
            )
    table = _rfm(lines(*rows), date(2024, 12, 31))
    for row in table.values():
        rule = next(
            x
            for x in SEGMENT_RULES
            if x.r[0] <= row["r_score"] <= x.r[1] and x.f[0] <= row["f_score"] <= x.f[1]
        )
        assert row["rfm_segment"] == rule.name


def test_a_table_that_leaves_a_cell_unnamed_is_refused() -> None:
    with pytest.raises(InvalidSegmentRules) as caught:
        check_rules([SegmentRule("everyone but the best", (1, 5), (1, 4))])
    assert caught.value.details == {"field": "rules", "r": 1, "f": 5}
    with pytest.raises(InvalidSegmentRules):
        check_rules([SegmentRule("nonsense", (0, 7), (1, 5))])
