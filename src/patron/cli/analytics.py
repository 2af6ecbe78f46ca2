"""``patron analyze [FILE]`` and ``patron clv fit FILE``: score customers, fit one CLV model."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from patron.cli.output import JSON_OPTION, print_json, runtime

if TYPE_CHECKING:
    from patron.analytics.scoring import Scoring, ScoringSettings

clv_app = typer.Typer(help="Buy-till-you-die models on a transaction file.", no_args_is_help=True)

END = typer.Option(
    None, "--end", help="Last day of the period, YYYY-MM-DD (default: the last purchase day)."
)
UNIT = typer.Option("week", "--time-unit", help="Unit of recency and T: day, week, month or year.")
MODEL = typer.Option("bgnbd", "--model", help="Transaction model: bgnbd, pnbd or mbgnbd.")
MAP = typer.Option(
    None, "--map", help="COLUMN=FIELD: read a column as one of Patron's fields (repeatable)."
)
SKIP = typer.Option(False, "--skip-invalid", help="Analyse the valid rows and report the rest.")
TZ = typer.Option(
    None, "--timezone", help="Time zone of timestamps without offset (default PATRON_TIMEZONE)."
)


def _day(value: str | None, field: str) -> date | None:
    from patron.errors import PatronError

    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise PatronError(
            f"{field} must be a date like 2024-12-31, not {value!r}",
            code="cli.invalid_date",
            details={"field": field, "value": value},
        ) from None


def analyze(
    file: Path = typer.Argument(
        None, help="A transaction file to analyse directly (nothing is imported)."
    ),
    out: Path = typer.Option(None, "--out", help="Write the scores to a .parquet or .csv file."),
    report: Path = typer.Option(None, "--report", help="Write a standalone HTML report here."),
    end: str = END,
    time_unit: str = UNIT,
    model: str = MODEL,
    horizon: int = typer.Option(12, "--horizon", help="CLV horizon in months."),
    discount_rate: float = typer.Option(
        0.10, "--discount-rate", help="Annual discount rate of the CLV."
    ),
    margin: float = typer.Option(
        1.0, "--margin", help="Margin share for customers without known costs (0..1)."
    ),
    holdout: float = typer.Option(
        0.25, "--holdout-share", help="Share of the period held out to compare models (0 = none)."
    ),
    abc_by: str = typer.Option("revenue", "--abc-by", help="ABC classes by revenue or margin."),
    abc_a: float = typer.Option(0.80, "--abc-a", help="Cumulative value share of the A class."),
    abc_b: float = typer.Option(
        0.95, "--abc-b", help="Cumulative value share of A and B together."
    ),
    cost_per_order: float = typer.Option(0.0, "--cost-per-order", help="Cost to serve one order."),
    cost_per_return: float = typer.Option(
        0.0, "--cost-per-return", help="Cost to handle one returned line."
    ),
    cost_per_case: float = typer.Option(0.0, "--cost-per-case", help="Cost of one service case."),
    keep: int = typer.Option(None, "--keep", help="Keep only the newest N snapshots in the store."),
    language: str = typer.Option("en", "--language", help="Language of the report: en or de."),
    rules: Path = typer.Option(
        None,
        "--rules",
        help="TOML or JSON file of rule tables: [lifecycle], [loyalty], [regularity], [[segments]].",
    ),
    map_: list[str] = MAP,
    skip_invalid: bool = SKIP,
    timezone: str = TZ,
    json_output: bool = JSON_OPTION,
) -> None:
    """Score every customer: ABC, RFM, CLV and P(alive), phase, loyalty type, profit.

    Without FILE the store's customers are scored and the snapshot is stored; with FILE the file
    is analysed in DuckDB and --out writes the scores.
    """
    from patron.analytics.abc import AbcSettings
    from patron.analytics.profitability import CostToServe
    from patron.analytics.scoring import ScoringSettings

    settings = ScoringSettings(
        unit=time_unit,
        model=model,
        horizon_months=horizon,
        annual_discount_rate=discount_rate,
        default_margin=margin,
        holdout_share=holdout,
        abc=AbcSettings(by=abc_by, a=abc_a, b=abc_b),
        costs=CostToServe(cost_per_order, cost_per_return, cost_per_case),
    )
    if rules is not None:
        from patron.analytics.rules import apply_rules, read_rules

        settings = apply_rules(settings, read_rules(rules))
    last_day = _day(end, "end")
    _check_language(language)
    if file is None:
        result, snapshot_id = _store(settings, last_day, keep, quiet=json_output)
    else:
        result, snapshot_id = (
            _file(file, settings, last_day, map_, skip_invalid, timezone, quiet=json_output),
            None,
        )
    if out is not None:
        from patron.analytics.service import write_scores

        write_scores(result.scores, out)
    if report is not None:
        _write_report(
            result,
            report,
            title=file.name if file else "Patron",
            language=language,
            currency=None if file else runtime().settings.currency,
        )
    _show(result, snapshot_id, out, report, json_output)


def _check_language(language: str) -> None:
    from patron.errors import PatronError
    from patron.web.i18n import LANGUAGES

    if language not in LANGUAGES:
        raise PatronError(
            f"the report speaks {', '.join(LANGUAGES)}, not {language!r}",
            code="cli.invalid_language",
            details={"field": "language", "value": language},
        )


def _store(
    settings: ScoringSettings, end: date | None, keep: int | None, *, quiet: bool
) -> tuple[Scoring, int]:
    from patron.analytics.service import analyze_store

    rt = runtime()
    rt.sessions()  # refuses an outdated schema
    with _StatusLine(quiet) as step:
        stored = analyze_store(rt.engine, settings, end=end, keep=keep, progress=step)
    _reassign_key_accounts(rt, quiet=quiet)
    return stored


def _reassign_key_accounts(rt: Any, *, quiet: bool) -> None:
    """New scores may move customers between ABC classes: assign the key accounts again."""
    from rich.console import Console

    from patron.care.accounts import service as accounts
    from patron.db import utcnow

    with rt.sessions()() as session:
        run = accounts.run_assignment(session, settings=rt.settings, now=utcnow())
    if not quiet and run.a_customers:
        Console(stderr=True, highlight=False).print(
            f"key accounts: {run.assigned} assigned, {run.moved} moved, {run.released} "
            f"released, {run.unplaced} without a manager"
        )


def _file(
    file: Path,
    settings: ScoringSettings,
    end: date | None,
    mapping: list[str] | None,
    skip_invalid: bool,
    timezone: str | None,
    *,
    quiet: bool,
) -> Scoring:
    from patron.analytics.scoring import score
    from patron.analytics.service import file_facts
    from patron.customers.importer.layouts import read_mapping

    zone = timezone or runtime().settings.timezone
    with _StatusLine(quiet) as step:
        facts = file_facts(
            file,
            timezone=zone,
            mapping=read_mapping(mapping or [], None),
            skip_invalid=skip_invalid,
        )
        step("read")
        return score(facts, end=end, settings=settings, progress=step)


STEP_TEXT = {
    "summary": "summarising customers",
    "segments": "ABC, RFM, cohorts",
    "lifetime value": "fitting CLV models",
    "phases": "phases, loyalty types, profit",
    "holdout": "comparing models on the holdout",
}
NEXT_STEP = {
    "read": "summary",
    "summary": "segments",
    "segments": "lifetime value",
    "lifetime value": "phases",
    "phases": "holdout",
}


class _StatusLine:
    """A Rich status line naming the step that runs (nothing with --json)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.status: Any = None

    def __enter__(self) -> Any:
        if self.quiet:
            return lambda name: None
        from rich.console import Console

        self.status = Console(stderr=True).status("reading transactions")
        self.status.start()
        return self.step

    def step(self, name: str) -> None:
        upcoming = NEXT_STEP.get(name)
        if self.status is not None and upcoming:
            self.status.update(STEP_TEXT[upcoming])

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()


def _write_report(
    result: Scoring, path: Path, *, title: str, language: str, currency: str | None
) -> None:
    from patron.analytics.service import report_html
    from patron.web.i18n import translations

    html = report_html(
        result,
        title=title,
        currency=currency,
        gettext=translations(language).gettext,
        language=language,
    )
    path.write_text(html, encoding="utf-8")


def _show(
    result: Scoring,
    snapshot_id: int | None,
    out: Path | None,
    report: Path | None,
    json_output: bool,
) -> None:
    from patron.analytics.figures import key_figures

    scores = result.scores
    counts = {
        name: {str(k): int(v) for k, v in zip(*_value_counts(scores[name]), strict=True)}
        for name in ("abc", "rfm_segment", "lifecycle_phase", "loyalty_type")
    }
    key = key_figures(scores, by=result.settings.abc.by)
    figures = {
        "customers": key.customers,
        "buyers": key.buyers,
        "period": {"start": result.start.isoformat(), "end": result.end.isoformat()},
        "snapshot_id": snapshot_id,
        "revenue": key.revenue,
        "a_customers": key.a_customers,
        "a_share_of_value": key.a_share_of_value,
        "clv": key.total_clv,
        "mean_p_alive": key.mean_p_alive,
        "unprofitable": key.unprofitable,
        "subscription_candidates": key.subscription_candidates,
        "counts": counts,
        "models": result.models,
        "warnings": result.warnings,
        "seconds": result.seconds,
        "out": str(out) if out else None,
        "report": str(report) if report else None,
    }
    if json_output:
        print_json(figures)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{scores.num_rows:,}[/] customers scored, {result.start} to {result.end}"
        + (f" (snapshot {snapshot_id})" if snapshot_id else "")
    )
    for name, values in counts.items():
        table = Table(title=name.replace("_", " "), title_justify="left")
        table.add_column(name.replace("_", " "))
        table.add_column("customers", justify="right")
        for value, count in sorted(values.items(), key=lambda item: -item[1]):
            table.add_row(value, f"{count:,}")
        console.print(table)
    for model, fitted in result.models.items():
        params = ", ".join(f"{k}={v:.4g}" for k, v in fitted["params"].items())
        console.print(f"{model}: {params}  (log-likelihood {fitted['log_likelihood']:.1f})")
    for warning in result.warnings:
        console.print(f"[yellow]warning[/] {warning}")
    for label, path in (("scores", out), ("report", report)):
        if path:
            console.print(f"{label} written to {path}")


def _value_counts(column: Any) -> tuple[list[Any], list[int]]:
    import pyarrow.compute as pc

    counted = pc.value_counts(column)
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()


@clv_app.command("fit")
def fit(
    file: Path = typer.Argument(
        ..., help="A transaction file (any layout `patron import orders` reads)."
    ),
    model: str = typer.Option(
        ..., "--model", help="bgnbd, pnbd, mbgnbd or gg (Gamma-Gamma spend)."
    ),
    calibration_end: str = typer.Option(
        ..., "--calibration-end", help="Last day of the calibration period, YYYY-MM-DD."
    ),
    start: str = typer.Option(None, "--start", help="First day (default: the first purchase)."),
    time_unit: str = UNIT,
    map_: list[str] = MAP,
    skip_invalid: bool = SKIP,
    timezone: str = TZ,
    json_output: bool = JSON_OPTION,
) -> None:
    """Fit one model: parameters, standard errors, log-likelihood and fit time."""
    from patron.analytics.service import file_facts, fit_model
    from patron.customers.importer.layouts import read_mapping

    end_day = _day(calibration_end, "calibration_end")
    assert end_day is not None
    facts = file_facts(
        file,
        timezone=timezone or runtime().settings.timezone,
        mapping=read_mapping(map_ or [], None),
        skip_invalid=skip_invalid,
    )
    fitted = fit_model(
        facts, model, calibration_end=end_day, start=_day(start, "start"), unit=time_unit
    )
    if json_output:
        print_json(fitted)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{model}: {fitted['customers']:,} customers", title_justify="left")
    for column in ("parameter", "estimate", "standard error"):
        table.add_column(column, justify="right")
    for name, value in fitted["params"].items():
        table.add_row(name, f"{value:.4f}", f"{fitted['standard_errors'][name]:.4f}")
    console = Console()
    console.print(table)
    console.print(
        f"log-likelihood {fitted['log_likelihood']:.3f}, fitted in {fitted['fit_seconds']:.3f} s"
    )
