"""The notebook API: the analyses take Ibis tables and pandas, Polars and Arrow frames alike."""

from __future__ import annotations

from datetime import date, datetime

import ibis
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from patron.analytics.abc import abc_classes
from patron.analytics.frames import UnknownFrame, as_facts, as_table
from patron.analytics.rfm import rfm_scores
from patron.analytics.scoring import ScoringSettings, score
from patron.analytics.summary import summarise

END = date(2024, 6, 30)
ROWS = {
    "customer_id": ["a", "a", "a", "b", "c", "c"],
    "placed_at": [
        datetime(2024, 1, 3),
        datetime(2024, 2, 10),
        datetime(2024, 5, 1),
        datetime(2024, 3, 3),
        datetime(2024, 1, 20),
        datetime(2024, 6, 2),
    ],
    "amount": [10.0, 20.0, 30.0, 5.0, 7.5, 12.5],
}


def _frames() -> dict[str, object]:
    arrow = pa.table(ROWS)
    return {
        "arrow": arrow,
        "pandas": pd.DataFrame(ROWS),
        "polars": pl.DataFrame(ROWS),
        "ibis": ibis.memtable(arrow),
    }


def _summary_rows(lines: object) -> list[dict[str, object]]:
    table = summarise(as_facts(lines), end=END).to_pyarrow().sort_by("customer_id")
    return table.select(["customer_id", "frequency", "recency", "T", "sales"]).to_pylist()


def test_every_kind_of_frame_gives_the_same_summary() -> None:
    results = {name: _summary_rows(frame) for name, frame in _frames().items()}
    reference = results["arrow"]
    assert [row["frequency"] for row in reference] == [2, 0, 1]
    assert reference[0]["recency"] == pytest.approx((date(2024, 5, 1) - date(2024, 1, 3)).days / 7)
    for name, rows in results.items():
        assert rows == reference, name


def test_the_functions_take_frames_directly() -> None:
    # a pandas frame of lines in, a pandas frame of the summary out, and back into ABC and RFM
    summary = summarise(pd.DataFrame(ROWS), end=END).to_pandas()
    classes = abc_classes(summary).to_pyarrow().to_pylist()
    assert {row["customer_id"]: row["abc"] for row in classes}["a"] == "A"
    assert rfm_scores(pl.from_pandas(summary)).to_pyarrow().num_rows == 3
    assert abc_classes(as_table(summary)).to_pyarrow().num_rows == 3


def test_score_takes_a_polars_frame() -> None:
    result = score(pl.DataFrame(ROWS), settings=ScoringSettings(holdout_share=0))
    assert sorted(result.scores["customer_id"].to_pylist()) == ["a", "b", "c"]


def test_something_else_is_refused_with_a_clear_error() -> None:
    with pytest.raises(UnknownFrame) as caught:
        as_facts([("a", "2024-01-01", 1.0)])
    assert caught.value.details == {"field": "lines", "type": "list"}
