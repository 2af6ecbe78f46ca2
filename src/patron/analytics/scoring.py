"""Score every customer: summary, ABC, RFM, CLV and P(alive), phase, loyalty type, profit.

``score(facts)`` runs the analyses as Ibis expressions on the backend that holds the facts
(one query per analysis, executed there), pulls the compact per-customer table to Arrow, fits
the buy-till-you-die models with numpy/scipy, and applies the rules that need the model's
output (phase, loyalty type) as Ibis expressions over that table in DuckDB. The result is one
row per customer with the columns of ``patron.analytics.columns.SCORES``, plus what the report
draws (Pareto curve, cohorts, the calibration-vs-holdout tracking and model comparison).

The CLV is the Gamma-Gamma expected spend × the transaction model's discounted expected
purchases over ``horizon_months``, at ``annual_discount_rate``, times the margin share: the
customer's own (margin / revenue) when the costs of at least half their sales are known, else
``default_margin``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from patron.analytics import clv
from patron.analytics.abc import AbcSettings, abc_classes, pareto_curve
from patron.analytics.cohorts import cohort_retention, repeat_purchases_by_period
from patron.analytics.columns import ARROW_TYPES, SCORES, floats
from patron.analytics.facts import Facts
from patron.analytics.frames import FactsLike, as_facts
from patron.analytics.lifecycle import LifecycleRules, lifecycle_phase, trend
from patron.analytics.loyalty_types import LoyaltyRules, latest_attitude, loyalty_type
from patron.analytics.profitability import CostToServe, case_counts, profitability
from patron.analytics.regularity import RegularitySettings, subscription_candidates
from patron.analytics.rfm import SEGMENT_RULES, SegmentRule, rfm_scores
from patron.analytics.summary import (
    InvalidPeriod,
    calibration_and_holdout,
    period_bounds,
    purchase_days,
    summarise,
    unit_days,
)
from patron.errors import PatronError

Progress = Callable[[str], None]
# The purchase models of clv.MODELS (Gamma-Gamma models spend, not purchases).
TRANSACTION_MODELS: dict[str, Any] = {
    name: model for name, model in clv.MODELS.items() if issubclass(model, clv.TransactionModel)
}
DAYS_PER_MONTH = 365.25 / 12


class InvalidScoringSettings(PatronError):
    code = "analytics.invalid_settings"
    status = 422


@dataclass(frozen=True)
class ScoringSettings:
    unit: str = "week"
    model: str = "bgnbd"
    horizon_months: int = 12
    annual_discount_rate: float = 0.10
    default_margin: float = 1.0
    holdout_share: float = 0.25
    compare: tuple[str, ...] = tuple(TRANSACTION_MODELS)
    abc: AbcSettings = field(default_factory=AbcSettings)
    segments: tuple[SegmentRule, ...] = SEGMENT_RULES
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)
    loyalty: LoyaltyRules = field(default_factory=LoyaltyRules)
    costs: CostToServe = field(default_factory=CostToServe)
    regularity: RegularitySettings = field(default_factory=RegularitySettings)

    def __post_init__(self) -> None:
        unit_days(self.unit)
        if self.model not in TRANSACTION_MODELS:
            raise InvalidScoringSettings(
                f"unknown model {self.model!r}: use one of {', '.join(TRANSACTION_MODELS)}",
                details={"field": "model"},
            )
        checks = (
            ("horizon_months", 1 <= self.horizon_months <= 600),
            ("annual_discount_rate", 0 <= self.annual_discount_rate < 10),
            ("default_margin", 0 <= self.default_margin <= 1),
            ("holdout_share", 0 <= self.holdout_share < 1),
        )
        for name, ok in checks:
            if not ok:
                raise InvalidScoringSettings(
                    f"{name} = {getattr(self, name)!r} is out of range", details={"field": name}
                )

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["segments"] = [asdict(rule) for rule in self.segments]
        return described


@dataclass
class Scoring:
    scores: pa.Table
    start: date
    end: date
    settings: ScoringSettings
    pareto: pa.Table
    cohorts: pa.Table
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    tracking: pa.Table | None = None
    calibration_end: date | None = None
    calibration_t: float | None = None
    comparison: pa.Table | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class _Clock:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def step(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self._last = now
        if self.progress:
            self.progress(name)


def score(
    facts: FactsLike,
    *,
    end: date | None = None,
    start: date | None = None,
    settings: ScoringSettings = ScoringSettings(),
    progress: Progress | None = None,
) -> Scoring:
    """Scores of every customer who bought between ``start`` and ``end`` (default: the data's
    first and last purchase day), and of known customers without purchases (awareness)."""
    facts = as_facts(facts)
    clock = _Clock(progress)
    bounds = period_bounds(facts)
    if bounds is None:
        raise InvalidPeriod("there are no purchases to analyse", details={"field": "lines"})
    start = start or bounds[0]
    end = end or bounds[1]
    if start > end:
        raise InvalidPeriod(
            f"the period starts {start} after it ends {end}",
            details={"field": "start", "start": str(start), "end": str(end)},
        )
    # Every analysis starts from the purchase days and the summary: computed once, kept in the
    # backend (a temporary table in DuckDB and PostgreSQL, a cached frame in Spark).
    days = purchase_days(facts, end=end, start=start, first_day=False).cache()
    summary = summarise(facts, end=end, start=start, unit=settings.unit, days=days).cache()
    # the first purchase day beside each day, from the summary (a join, not a window)
    firsts = summary.select("customer_id", first_day=summary.first_purchase)
    days = days.join(firsts, "customer_id")
    table = _per_customer(facts, summary, days, start=start, end=end, settings=settings)
    rows = table.to_pyarrow()
    clock.step("summary")
    result = Scoring(
        scores=rows,
        start=start,
        end=end,
        settings=settings,
        pareto=pareto_curve(summary, by=settings.abc.by).to_pyarrow(),
        cohorts=cohort_retention(facts, end=end, start=start, days=days).to_pyarrow(),
    )
    clock.step("segments")
    predictions = _predict(rows, settings, result)
    clock.step("lifetime value")
    result.scores = _finish(rows, predictions, settings)
    clock.step("phases")
    if settings.holdout_share > 0:
        _track(facts, days, start, end, settings, result)
        clock.step("holdout")
    result.seconds = clock.seconds
    return result


def _per_customer(
    facts: Facts,
    summary: ir.Table,
    days: ir.Table,
    *,
    start: date,
    end: date,
    settings: ScoringSettings,
) -> ir.Table:
    """The summary joined with every Ibis analysis: ABC, RFM, trend, regularity, cases, attitude."""
    parts: list[ir.Table] = [
        abc_classes(summary, settings.abc),
        rfm_scores(summary, settings.segments),
        trend(facts, end=end, period_days=settings.lifecycle.period_days, days=days),
        subscription_candidates(facts, end=end, start=start, settings=settings.regularity),
    ]
    if facts.cases is not None:
        parts.append(case_counts(facts.cases, end=end, start=start))
    if facts.attitudes is not None:
        parts.append(latest_attitude(facts.attitudes, end=end, rules=settings.loyalty))
    table = summary
    if facts.customers is not None:
        known = facts.customers.select("customer_id").distinct()
        table = known.left_join(summary, "customer_id").select(
            known.customer_id, *[summary[c] for c in summary.columns if c != "customer_id"]
        )
    for part in parts:
        table = table.left_join(part, "customer_id").select(
            table, *[part[c] for c in part.columns if c != "customer_id"]
        )
    return table


@dataclass
class _Predictions:
    p_alive: np.ndarray
    expected_purchases: np.ndarray
    expected_spend: np.ndarray
    clv: np.ndarray


def _fit_transactions(name: str, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> Any:
    """The named model fitted on the customers with a history (T > 0)."""
    informative = T > 0
    model = TRANSACTION_MODELS[name]()
    return model.fit(x[informative], t_x[informative], T[informative])


def _predict(rows: pa.Table, settings: ScoringSettings, result: Scoring) -> _Predictions:
    n = rows.num_rows
    empty = np.full(n, np.nan)
    predictions = _Predictions(empty.copy(), empty.copy(), empty.copy(), empty.copy())
    frequency = floats(rows, "frequency")
    bought = ~np.isnan(frequency)
    x, t_x = frequency[bought], floats(rows, "recency")[bought]
    # A customer whose first purchase is on the last day has T = 0: nothing to learn from
    # (the fit leaves them out), and their prediction is the population's at T -> 0.
    T = floats(rows, "T")[bought]
    monetary = floats(rows, "monetary")[bought]
    if not (T > 0).any():
        result.warnings.append("no customer has a purchase history to fit a model on")
        return predictions
    try:
        model = _fit_transactions(settings.model, x, t_x, T)
    except PatronError as error:
        result.warnings.append(f"the {settings.model} model could not be fitted: {error}")
        return predictions
    result.models[settings.model] = model.summary()
    T = np.maximum(T, 1e-6)
    per_month = DAYS_PER_MONTH / unit_days(settings.unit)
    horizon = settings.horizon_months * per_month
    predictions.p_alive[bought] = model.conditional_probability_alive(x, t_x, T)
    predictions.expected_purchases[bought] = (
        model.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T)
    )
    spend = _spend(x, monetary, result)
    predictions.expected_spend[bought] = spend
    margin = _margin_share(rows, settings)[bought]
    discounted = _discounted_purchases(model, x, t_x, T, settings, per_month)
    predictions.clv[bought] = spend * discounted * margin
    return predictions


def _spend(x: np.ndarray, monetary: np.ndarray, result: Scoring) -> np.ndarray:
    """Expected value of one future purchase: Gamma-Gamma, which shrinks a customer's own
    average repeat value toward the population's (customers without one get the population's)."""
    repeat = (x > 0) & (monetary > 0)
    try:
        spend_model = clv.GammaGammaFitter().fit(x[repeat], monetary[repeat])
        result.models["gg"] = spend_model.summary()
        return spend_model.conditional_expected_average_profit(
            np.where(repeat, x, 0), np.where(repeat, monetary, 0)
        )
    except PatronError as error:
        result.warnings.append(
            f"the Gamma-Gamma spend model could not be fitted ({error}); "
            "each customer's own average repeat value is used"
        )
    fallback = float(monetary[repeat].mean()) if repeat.any() else 0.0
    return np.where(repeat, monetary, fallback)


def _discounted_purchases(
    model: Any,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    settings: ScoringSettings,
    per_month: float,
) -> np.ndarray:
    """Expected purchases in each month of the horizon, discounted to today and summed."""
    monthly_rate = (1 + settings.annual_discount_rate) ** (1 / 12) - 1
    months = np.arange(0, settings.horizon_months + 1)
    cumulative = model.conditional_expected_purchases_by_horizon(months * per_month, x, t_x, T)
    discount = (1 + monthly_rate) ** -months[1:].astype(float)
    return np.asarray(discount @ np.diff(cumulative, axis=0), dtype=np.float64)


def _margin_share(rows: pa.Table, settings: ScoringSettings) -> np.ndarray:
    revenue = floats(rows, "revenue")
    margin = floats(rows, "margin")
    known = floats(rows, "cost_known")
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.clip(margin / revenue, 0.0, 1.0)
    usable = (known >= 0.5) & (revenue > 0) & np.isfinite(own)
    return np.where(usable, own, settings.default_margin)


def _finish(rows: pa.Table, predictions: _Predictions, settings: ScoringSettings) -> pa.Table:
    """Add the predictions, then phase, loyalty type and profit (Ibis over DuckDB), in the
    column order of ``SCORES``."""
    nulls = {
        name: pa.array(
            getattr(predictions, name), pa.float64(), mask=np.isnan(getattr(predictions, name))
        )
        for name in ("p_alive", "expected_purchases", "expected_spend", "clv")
    }
    data = rows
    for name, values in nulls.items():
        data = data.append_column(name, values)
    for name, kind in (("cases", pa.int64()), ("positive_attitude", pa.bool_())):
        if name not in data.column_names:
            data = data.append_column(name, pa.nulls(data.num_rows, kind))
    table = ibis.memtable(data)
    money = profitability(table, settings.costs)
    table = table.mutate(
        abc=table.abc.fill_null("C"),  # known customers without purchases are "the rest"
        lifecycle_phase=lifecycle_phase(table, settings.lifecycle),
        loyalty_type=loyalty_type(table, settings.loyalty),
        **money,
    )
    done = table.to_pyarrow()  # an in-memory table: Ibis' default DuckDB runs it
    # the declared types whatever the backend returned (PostgreSQL's counts come as decimals)
    return pa.Table.from_arrays(
        [done[column.name].cast(ARROW_TYPES[column.type]) for column in SCORES],
        names=[column.name for column in SCORES],
    )


def _track(
    facts: Facts,
    days: ir.Table,
    start: date,
    end: date,
    settings: ScoringSettings,
    result: Scoring,
) -> None:
    """Fit on the first part of the period, compare the models on the rest (the holdout)."""
    span = (end - start).days
    calibration_end = start + timedelta(days=int(span * (1 - settings.holdout_share)))
    if span < 28 or calibration_end <= start:
        result.warnings.append("the period is too short for a holdout comparison")
        return
    split = calibration_and_holdout(
        facts, calibration_end=calibration_end, holdout_end=end, start=start, unit=settings.unit
    ).to_pyarrow()
    x, t_x, T = (floats(split, name) for name in ("frequency", "recency", "T"))
    actual = floats(split, "holdout_purchases")
    length = float(split["holdout_length"][0].as_py()) if split.num_rows else 0.0
    fitted = {}
    for name in settings.compare:
        try:
            fitted[name] = _fit_transactions(name, x, t_x, T)
        except PatronError as error:
            result.warnings.append(f"holdout: the {name} model could not be fitted: {error}")
    if not fitted:
        return
    T = np.maximum(T, 1e-6)
    scores = clv.holdout_comparison(fitted, x, t_x, T, actual, length)
    result.comparison = pa.Table.from_pylist(
        [
            {
                "model": s.name,
                "log_likelihood": s.log_likelihood,
                "bic": s.bic,
                "mae": s.mae,
                "rmse": s.rmse,
                "predicted_total": s.predicted_total,
                "actual_total": s.actual_total,
            }
            for s in scores
        ]
    )
    length_unit = unit_days(settings.unit)
    # when each calibration customer made their first purchase, in units after ``start``
    offsets = (calibration_end - start).days / length_unit - T
    periods = repeat_purchases_by_period(
        facts,
        end=end,
        origin=start,
        start=start,
        unit=settings.unit,
        cohort_end=calibration_end,
        days=days,
    ).to_pyarrow()
    last = int(np.ceil((end - start).days / length_unit))
    counts = np.zeros(last + 1)
    for period, purchases in zip(
        periods["period"].to_pylist(), periods["repeat_purchases"].to_pylist(), strict=True
    ):
        if 0 <= period <= last:
            counts[period] += purchases
    grid = np.arange(1, last + 2, dtype=np.float64)
    model = fitted.get(settings.model) or next(iter(fitted.values()))
    expected = clv.expected_cumulative_purchases(model, offsets, grid)
    result.tracking = pa.table(
        {"t": grid, "actual": np.cumsum(counts), "expected": np.asarray(expected, dtype=float)}
    )
    result.calibration_end = calibration_end
    result.calibration_t = (calibration_end - start).days / length_unit
