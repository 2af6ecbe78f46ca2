"""What a measure earned: treated customers against the holdout, per outcome, with Welch's interval.

Outcomes are per customer over the report's window (orders, revenue, margin; zeros for customers
who did not buy). Each comparison is a two-sample difference of means with unequal variances;
the incremental total scales it to everyone treated.

References
----------
Welch, B. L. (1947). The generalization of "Student's" problem when several different population
variances are involved. *Biometrika* 34(1–2), 28–35.
Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance components.
*Biometrics Bulletin* 2(6), 110–114.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from patron.engage.holdout import HOLDOUT
from patron.errors import PatronError

TREATMENT = "treatment"  # the label of all treated customers together

Interval = tuple[float, float]


class InvalidOutcomes(PatronError):
    """Groups and outcomes that no uplift can be computed from."""

    code = "engage.bad_outcomes"
    status = 422


@dataclass(frozen=True)
class GroupFigures:
    """One group's figures for one outcome; ``mean`` is None without customers, ``variance``
    (sample, n − 1) is None below two."""

    group: str
    n: int
    mean: float | None
    variance: float | None


@dataclass(frozen=True)
class Uplift:
    """Treatment − holdout for one outcome.

    ``interval``, ``t``, ``df`` and ``p_value`` are None when they cannot be computed, and
    ``reason`` says why; it also notes an interval of zero width (no variation in either group).
    ``incremental`` is ``difference × treatment.n``, its interval scaled the same way.
    """

    metric: str
    treatment: GroupFigures
    holdout: GroupFigures
    confidence: float
    difference: float | None
    interval: Interval | None
    t: float | None
    df: float | None
    p_value: float | None
    incremental: float | None
    incremental_interval: Interval | None
    reason: str | None = None


@dataclass(frozen=True)
class Report:
    """Every treated customer against the holdout (``overall``) and each variant against it
    (``by_variant``), per outcome metric in the order given."""

    holdout: str
    confidence: float
    metrics: tuple[str, ...]
    overall: Mapping[str, Uplift]
    by_variant: Mapping[str, Mapping[str, Uplift]]

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.by_variant)


def uplift(
    groups: Sequence[str],
    outcomes: Mapping[str, Sequence[float]],
    *,
    holdout: str = HOLDOUT,
    confidence: float = 0.95,
) -> Report:
    """Compare each customer's outcomes by group: everyone treated, and each variant, vs holdout.

    ``groups[i]`` is customer i's group (``holdout`` or a variant name); ``outcomes[metric][i]``
    is that customer's value of the metric over the window.
    """
    labels = _check(groups, outcomes, confidence)
    held = labels == holdout
    variants = sorted(set(labels[~held].tolist()))
    overall: dict[str, Uplift] = {}
    by_variant: dict[str, dict[str, Uplift]] = {name: {} for name in variants}
    for metric, values in outcomes.items():
        data = np.asarray(values, dtype=np.float64)
        base = _figures(holdout, data[held])
        overall[metric] = compare(metric, _figures(TREATMENT, data[~held]), base, confidence)
        for name in variants:
            treated = _figures(name, data[labels == name])
            by_variant[name][metric] = compare(metric, treated, base, confidence)
    return Report(
        holdout=holdout,
        confidence=confidence,
        metrics=tuple(outcomes),
        overall=overall,
        by_variant=by_variant,
    )


def _check(
    groups: Sequence[str], outcomes: Mapping[str, Sequence[float]], confidence: float
) -> npt.NDArray[np.str_]:
    if not 0 < confidence < 1:
        raise InvalidOutcomes(
            f"the confidence must lie between 0 and 1, not {confidence!r}",
            details={"field": "confidence"},
        )
    if not outcomes:
        raise InvalidOutcomes(
            "there are no outcome metrics to compare", details={"field": "outcomes"}
        )
    if not all(isinstance(g, str) for g in groups):
        raise InvalidOutcomes("groups are names (strings)", details={"field": "groups"})
    for metric, values in outcomes.items():
        if len(values) != len(groups):
            raise InvalidOutcomes(
                f"{metric!r} has {len(values)} values for {len(groups)} customers",
                details={"field": metric},
            )
        try:
            finite = bool(np.isfinite(np.asarray(values, dtype=np.float64)).all())
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise InvalidOutcomes(
                f"{metric!r} holds a value that is not a finite number", details={"field": metric}
            )
    return np.asarray(groups, dtype=np.str_) if len(groups) else np.empty(0, dtype=np.str_)


def _figures(group: str, values: npt.NDArray[np.float64]) -> GroupFigures:
    n = len(values)
    if n == 0:
        return GroupFigures(group, 0, None, None)
    if values.min() == values.max():
        # Exactly constant: summing would leave rounding noise where the variance is exactly 0.
        return GroupFigures(group, n, float(values[0]), 0.0 if n > 1 else None)
    return GroupFigures(
        group, n, float(values.mean()), float(values.var(ddof=1)) if n > 1 else None
    )


def compare(
    metric: str, treatment: GroupFigures, holdout: GroupFigures, confidence: float = 0.95
) -> Uplift:
    """Welch's two-sample comparison of ``treatment`` against ``holdout`` from their figures."""
    if treatment.mean is None or holdout.mean is None:
        empty = treatment if treatment.mean is None else holdout
        return _without_interval(
            metric, treatment, holdout, confidence, f"no customers in {empty.group!r}"
        )
    if treatment.variance is None or holdout.variance is None:
        few = treatment if treatment.variance is None else holdout
        return _without_interval(
            metric,
            treatment,
            holdout,
            confidence,
            f"fewer than 2 customers in {few.group!r} ({few.n}): no interval",
        )
    difference = treatment.mean - holdout.mean
    incremental = difference * treatment.n
    a, b = treatment.variance / treatment.n, holdout.variance / holdout.n
    t: float | None = None
    df: float | None = None
    reason = None
    if a + b == 0:
        low = high = difference
        p_value = 1.0 if difference == 0 else 0.0
        reason = "no variation in either group: the interval has zero width"
    else:
        se = math.sqrt(a + b)
        # Welch–Satterthwaite: the t distribution's degrees of freedom for unequal variances.
        df = (a + b) ** 2 / (a**2 / (treatment.n - 1) + b**2 / (holdout.n - 1))
        t = difference / se
        half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
        low, high = difference - half, difference + half
        p_value = float(2 * stats.t.sf(abs(t), df))
    return Uplift(
        metric=metric,
        treatment=treatment,
        holdout=holdout,
        confidence=confidence,
        difference=difference,
        interval=(low, high),
        t=t,
        df=df,
        p_value=p_value,
        incremental=incremental,
        incremental_interval=(low * treatment.n, high * treatment.n),
        reason=reason,
    )


def _without_interval(
    metric: str, treatment: GroupFigures, holdout: GroupFigures, confidence: float, reason: str
) -> Uplift:
    difference = None
    if treatment.mean is not None and holdout.mean is not None:
        difference = treatment.mean - holdout.mean
    return Uplift(
        metric=metric,
        treatment=treatment,
        holdout=holdout,
        confidence=confidence,
        difference=difference,
        interval=None,
        t=None,
        df=None,
        p_value=None,
        incremental=None if difference is None else difference * treatment.n,
        incremental_interval=None,
        reason=reason,
    )
