"""The survey charts are Vega-Lite that compiles (v5 as written, and the dashboard bundle's
version) and carry the report's numbers."""

from __future__ import annotations

import json
from datetime import date

import pytest
import vl_convert

from patron.analytics.charts import VEGA_LITE_VERSION
from patron.care.surveys import charts, kano
from patron.care.surveys.schemas import KanoRow, NpsRow


def _kano(feature: str, counts: dict[str, int]) -> KanoRow:
    result = kano.evaluate(
        pair
        for category, n in counts.items()
        for pair in [next(p for p in _PAIRS if kano.category(*p) == category)] * n
    )
    return KanoRow(
        feature=feature,
        name=feature.title(),
        n=result.n,
        counts=dict(result.counts),
        shares=dict(result.shares),
        dominant=result.dominant,
        better=result.better,
        worse=result.worse,
    )


_PAIRS = [(f, d) for f in kano.ANSWERS for d in kano.ANSWERS]
ROWS = [_kano("tracking", {"O": 3, "A": 1}), _kano("gift_wrap", {"I": 2, "R": 1, "Q": 1})]
NPS = [
    NpsRow(
        group="2026-01-01",
        period=date(2026, 1, 1),
        n=4,
        promoters=2,
        passives=1,
        detractors=1,
        nps=25.0,
        ci_low=-56.3,
        ci_high=100.0,
    ),
    NpsRow(
        group="2026-02-01",
        period=date(2026, 2, 1),
        n=1,
        promoters=1,
        passives=0,
        detractors=0,
        nps=100.0,
        ci_low=None,
        ci_high=None,
    ),
]


@pytest.mark.parametrize("version", [VEGA_LITE_VERSION, None])
def test_every_chart_compiles(version: str | None) -> None:
    for chart in (
        charts.nps_over_time(NPS, str),
        charts.kano_categories(ROWS, str),
        charts.better_worse(ROWS, str),
    ):
        json.dumps(chart.spec, allow_nan=False)
        vega = vl_convert.vegalite_to_vega(chart.spec, vl_version=version)
        assert vega["marks"], chart.title


def test_the_charts_carry_the_reports_numbers() -> None:
    bars = charts.kano_categories(ROWS, str)
    values = {(v["feature"], v["category"]): v["answers"] for v in bars.spec["data"]["values"]}
    assert values[("Tracking", "One-dimensional")] == 3
    assert values[("Gift_Wrap", "Reverse")] == 1
    assert len(values) == 2 * len(kano.CATEGORIES)
    plane = charts.better_worse(ROWS, str)
    # tracking: better (A + O) / 4 = 1, worse -(O + M) / 4 = -0.75
    assert plane.table[0] == {
        "feature": "Tracking",
        "better": 1.0,
        "worse": -0.75,
        "dissatisfaction": 0.75,
    }
    # gift wrap: only I counts among A, O, M, I: better 0, worse 0
    assert (plane.table[1]["better"], plane.table[1]["worse"]) == (0.0, 0.0)
    svg = vl_convert.vegalite_to_svg(plane.spec, vl_version=VEGA_LITE_VERSION)
    assert "Tracking" in svg
