"""Entry points of the analytics area: score the store or a file, fit one model, write results."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from sqlalchemy import Engine

from patron.analytics import clv
from patron.analytics.columns import floats
from patron.analytics.facts import Facts, facts_from_arrow
from patron.analytics.files import Progress as FileProgress
from patron.analytics.files import read_transactions
from patron.analytics.scoring import Scoring, ScoringSettings, score
from patron.analytics.snapshots import save_snapshot
from patron.analytics.sources import store_facts
from patron.analytics.summary import period_bounds, summarise
from patron.db import utcnow
from patron.errors import PatronError

Step = Callable[[str], None]
FIT_MODELS = tuple(clv.MODELS)


class UnknownOutput(PatronError):
    code = "analytics.unknown_output"
    status = 422


def analyze_store(
    engine: Engine,
    settings: ScoringSettings,
    *,
    end: date | None = None,
    keep: int | None = None,
    progress: Step | None = None,
) -> tuple[Scoring, int]:
    """Score every customer in the store and save the snapshot; returns it and its id."""
    facts = store_facts(engine)
    if progress:
        progress("read")
    result = score(facts, end=end, settings=settings, progress=progress)
    with engine.begin() as connection:
        snapshot_id = save_snapshot(
            connection,
            result.scores,
            period_start=result.start,
            period_end=result.end,
            time_unit=settings.unit,
            model=settings.model,
            settings=settings.describe(),
            models=result.models,
            warnings=result.warnings,
            series=series_of(result),
            keep=keep,
        )
    if progress:
        progress("stored")
    return result, snapshot_id


def series_of(result: Scoring) -> dict[str, Any]:
    """The run's Pareto curve, cohorts, tracking and model comparison as plain rows (what the
    analytics page draws beside the scores)."""

    def rows(table: pa.Table | None) -> list[dict[str, Any]] | None:
        return None if table is None else table.to_pylist()

    return {
        "pareto": rows(result.pareto),
        "cohorts": rows(result.cohorts),
        "tracking": rows(result.tracking),
        "comparison": rows(result.comparison),
        "calibration_t": result.calibration_t,
        "calibration_end": result.calibration_end,
        "time_unit": result.settings.unit,
    }


def file_facts(
    path: Path,
    *,
    timezone: str = "UTC",
    mapping: dict[str, str] | None = None,
    skip_invalid: bool = False,
    progress: FileProgress | None = None,
) -> Facts:
    """A transaction file's facts in in-memory DuckDB (nothing is imported)."""
    read = read_transactions(
        path, timezone=timezone, mapping=mapping, skip_invalid=skip_invalid, progress=progress
    )
    return facts_from_arrow(read.lines, read.returns)


def write_scores(scores: pa.Table, out: Path) -> None:
    """Scores as Parquet (``.parquet``) or CSV (``.csv``), by the file's suffix."""
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        pq.write_table(scores, out)
    elif suffix == ".csv":
        pcsv.write_csv(scores, out)
    else:
        raise UnknownOutput(
            f"{out.name}: write scores to a .parquet or a .csv file",
            details={"field": "out", "value": str(out)},
        )


def fit_model(
    facts: Facts,
    model: str,
    *,
    calibration_end: date,
    start: date | None = None,
    unit: str = "week",
) -> dict[str, Any]:
    """Fit one model on the summary up to ``calibration_end``: parameters, standard errors,
    log-likelihood, customers and fit time (what ``patron clv fit --json`` prints)."""
    if model not in FIT_MODELS:
        raise clv.InvalidData(
            f"unknown model {model!r}: use one of {', '.join(FIT_MODELS)}",
            details={"field": "model", "value": model},
        )
    began = time.perf_counter()
    table = summarise(facts, end=calibration_end, start=start, unit=unit).to_pyarrow()
    summary_seconds = time.perf_counter() - began
    columns = {name: floats(table, name) for name in ("frequency", "recency", "T", "monetary")}
    if model == "gg":
        repeat = (columns["frequency"] > 0) & (columns["monetary"] > 0)
        fitted: Any = clv.GammaGammaFitter().fit(
            columns["frequency"][repeat], columns["monetary"][repeat]
        )
    else:
        transaction: Any = clv.MODELS[model]()
        fitted = transaction.fit(columns["frequency"], columns["recency"], columns["T"])
    bounds = period_bounds(facts)
    return {
        **fitted.summary(),
        "model": model,
        "calibration_end": calibration_end.isoformat(),
        "start": (start or (bounds[0] if bounds else calibration_end)).isoformat(),
        "time_unit": unit,
        "customers_in_period": table.num_rows,
        "repeat_purchases": int(columns["frequency"].sum()),
        "summary_seconds": summary_seconds,
    }


def report_html(
    result: Scoring,
    *,
    title: str,
    currency: str | None = None,
    gettext: Callable[[str], str] | None = None,
    language: str = "en",
) -> str:
    """The standalone HTML report of a scoring run (see ``patron.analytics.report``)."""
    from patron.analytics.report import ReportData, render_report

    data = ReportData(
        title=title,
        generated_at=utcnow(),
        period_start=result.start,
        period_end=result.end,
        time_unit=result.settings.unit,
        currency=currency,
        scores=result.scores,
        pareto=result.pareto,
        cohorts=result.cohorts,
        tracking=result.tracking,
        calibration_end=result.calibration_t,
        comparison=result.comparison,
        settings=result.settings.describe(),
    )
    if gettext is None:
        return render_report(data, language=language)
    return render_report(data, gettext=gettext, language=language)
