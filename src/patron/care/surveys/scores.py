"""Satisfaction scores: Net Promoter Score and CSAT, each with a confidence interval.

NPS asks "how likely are you to recommend us" on 0..10: promoters answer 9-10, passives 7-8,
detractors 0-6, and NPS = % promoters - % detractors [1]. Its interval uses the variance of the
difference of two multinomial shares, var = (p_prom + p_det - (p_prom - p_det)^2) / n, with the
normal approximation [2]; the interval is cut to -100..100. CSAT asks for satisfaction on 1..5;
the share of satisfied customers (4 or 5) gets a Wilson score interval [3], which stays inside
0..1 and behaves well for small samples and shares near 0 or 1.

Scores come from a float column, so a whole number stored as a float (9.0) counts as 9;
anything else that is not a whole number in range is rejected.

References
----------
.. [1] Reichheld, F. F. (2003). The one number you need to grow. Harvard Business Review
   81(12), 46-54.
.. [2] Rocks, B. (2016). Interval estimation for the "net promoter score". The American
   Statistician 70(4), 365-372 (the Wald interval and its variance).
.. [3] Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
   inference. Journal of the American Statistical Association 22(158), 209-212.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from numbers import Real
from statistics import NormalDist
from typing import Literal

from scipy.stats import binomtest

Period = Literal["week", "month", "quarter"]
PERIODS: tuple[Period, ...] = ("week", "month", "quarter")


@dataclass(frozen=True)
class NpsResult:
    """Counts, the NPS in -100..100 (None without answers) and its interval (None when n < 2)."""

    n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    ci: tuple[float, float] | None


@dataclass(frozen=True)
class CsatResult:
    """Mean score, share answering 4 or 5 and its Wilson interval (all None without answers)."""

    n: int
    mean: float | None
    satisfied: int
    share_satisfied: float | None
    ci: tuple[float, float] | None


def _whole(score: float, low: int, high: int, name: str) -> int:
    valid = (
        not isinstance(score, bool)
        and isinstance(score, Real)
        and float(score).is_integer()
        and low <= score <= high
    )
    if not valid:
        raise ValueError(f"{name} score must be a whole number {low}..{high}, got {score!r}")
    return int(score)


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf((1 + confidence) / 2)


def nps(scores: Iterable[float], *, confidence: float = 0.95) -> NpsResult:
    """Net Promoter Score of 0..10 answers, with a normal-approximation interval."""
    values = [_whole(s, 0, 10, "NPS") for s in scores]
    n = len(values)
    promoters = sum(v >= 9 for v in values)
    detractors = sum(v <= 6 for v in values)
    z = _z(confidence)
    if n == 0:
        return NpsResult(0, 0, 0, 0, None, None)
    p_prom, p_det = promoters / n, detractors / n
    score = 100 * (p_prom - p_det)
    ci = None
    if n >= 2:
        half = 100 * z * math.sqrt((p_prom + p_det - (p_prom - p_det) ** 2) / n)
        ci = (max(-100.0, score - half), min(100.0, score + half))
    return NpsResult(n, promoters, n - promoters - detractors, detractors, score, ci)


def csat(scores: Iterable[float], *, confidence: float = 0.95) -> CsatResult:
    """CSAT of 1..5 answers: mean and share satisfied (4 or 5) with a Wilson interval."""
    values = [_whole(s, 1, 5, "CSAT") for s in scores]
    _z(confidence)  # validates before any early return
    n = len(values)
    if n == 0:
        return CsatResult(0, None, 0, None, None)
    satisfied = sum(v >= 4 for v in values)
    interval = binomtest(satisfied, n).proportion_ci(confidence_level=confidence, method="wilson")
    return CsatResult(
        n=n,
        mean=sum(values) / n,
        satisfied=satisfied,
        share_satisfied=satisfied / n,
        ci=(float(interval.low), float(interval.high)),
    )


def period_start(day: date, period: Period) -> date:
    """First day of the ISO week (Monday), month or quarter that ``day`` falls in."""
    if isinstance(day, datetime):
        day = day.date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")


def nps_by_period(
    answers: Iterable[tuple[date, float]], period: Period = "month", *, confidence: float = 0.95
) -> list[tuple[date, NpsResult]]:
    """NPS per week, month or quarter, oldest first; periods without answers are left out."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    groups: dict[date, list[float]] = {}
    for day, score in answers:
        groups.setdefault(period_start(day, period), []).append(score)
    return [(start, nps(groups[start], confidence=confidence)) for start in sorted(groups)]
