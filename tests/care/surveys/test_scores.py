"""Scores: NPS and its interval (by hand and by simulated coverage), CSAT, NPS per period."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest

from patron.care.surveys.scores import CsatResult, NpsResult, csat, nps, nps_by_period, period_start

Z95 = 1.959963984540054


def test_nps_by_hand() -> None:
    # 6 promoters, 2 passives, 2 detractors: NPS = 60 % - 20 % = 40
    result = nps([10, 9, 10, 9, 10, 9, 8, 7, 6, 0])
    assert (result.n, result.promoters, result.passives, result.detractors) == (10, 6, 2, 2)
    assert result.nps == pytest.approx(40.0)
    # var = (0.6 + 0.2 - 0.4^2) / 10 = 0.064
    half = 100 * Z95 * math.sqrt(0.064)
    assert result.ci is not None
    assert result.ci == pytest.approx((40 - half, 40 + half))
    assert result.ci == pytest.approx((-9.583, 89.583), abs=1e-3)


def test_nps_balanced_answers() -> None:
    result = nps([10, 10, 9, 9, 8, 7, 6, 5, 3, 0])
    assert result.nps == pytest.approx(0.0)
    assert result.ci == pytest.approx((-100 * Z95 * math.sqrt(0.08), 100 * Z95 * math.sqrt(0.08)))


def test_nps_interval_stays_within_the_scale() -> None:
    result = nps([10, 10, 10, 0])
    assert result.ci is not None
    assert -100 <= result.ci[0] <= result.ci[1] <= 100
    assert result.ci[1] == 100.0


def test_nps_needs_answers_and_two_for_an_interval() -> None:
    assert nps([]) == NpsResult(n=0, promoters=0, passives=0, detractors=0, nps=None, ci=None)
    one = nps([9])
    assert (one.nps, one.ci) == (100.0, None)


@pytest.mark.parametrize("score", [-1, 11, 9.5, True, "9", None])
def test_nps_rejects_anything_but_whole_numbers_0_to_10(score: object) -> None:
    with pytest.raises(ValueError, match=r"0\.\.10"):
        nps([9, score])  # type: ignore[list-item]


def test_nps_accepts_whole_floats_from_the_database() -> None:
    assert nps([9.0, 0.0]) == nps([9, 0])


def test_nps_interval_covers_the_true_value_about_95_percent_of_the_time() -> None:
    # 50 % promoters, 30 % passives, 20 % detractors: true NPS = 30
    rng = np.random.default_rng(20240611)
    runs, n = 1000, 200
    covered = 0
    for _ in range(runs):
        scores = rng.choice([10, 8, 3], size=n, p=[0.5, 0.3, 0.2]).tolist()
        low, high = nps(scores).ci or (math.nan, math.nan)
        covered += low <= 30 <= high
    assert 0.92 <= covered / runs <= 0.975


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927) score interval, written out to check the scipy call."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_csat_by_hand() -> None:
    result = csat([5, 4, 4, 3, 1])
    assert (result.n, result.satisfied) == (5, 3)
    assert result.mean == pytest.approx(3.4)
    assert result.share_satisfied == pytest.approx(0.6)
    assert result.ci == pytest.approx(wilson(3, 5))


@pytest.mark.parametrize(("satisfied", "n"), [(0, 7), (8, 10), (10, 10), (37, 120)])
def test_csat_interval_is_wilson(satisfied: int, n: int) -> None:
    result = csat([5] * satisfied + [2] * (n - satisfied))
    assert result.ci == pytest.approx(wilson(satisfied, n))


def test_csat_without_answers() -> None:
    assert csat([]) == CsatResult(n=0, mean=None, satisfied=0, share_satisfied=None, ci=None)


@pytest.mark.parametrize("score", [0, 6, 4.5, False])
def test_csat_rejects_scores_outside_1_to_5(score: object) -> None:
    with pytest.raises(ValueError, match=r"1\.\.5"):
        csat([score])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("day", "period", "start"),
    [
        (date(2025, 5, 17), "month", date(2025, 5, 1)),
        (date(2025, 5, 17), "quarter", date(2025, 4, 1)),
        (date(2025, 12, 31), "quarter", date(2025, 10, 1)),
        (date(2025, 5, 17), "week", date(2025, 5, 12)),  # a Saturday; Monday the 12th
        (date(2025, 1, 1), "week", date(2024, 12, 30)),
        (datetime(2025, 3, 31, 23, 59), "quarter", date(2025, 1, 1)),
    ],
)
def test_period_start(day: date, period: str, start: date) -> None:
    assert period_start(day, period) == start  # type: ignore[arg-type]


def test_nps_by_period_is_ordered_and_per_period() -> None:
    answers = [
        (date(2025, 3, 2), 10),
        (date(2025, 1, 15), 0),
        (date(2025, 1, 20), 10),
        (date(2025, 3, 30), 9),
    ]
    by_month = nps_by_period(answers)
    assert [start for start, _ in by_month] == [date(2025, 1, 1), date(2025, 3, 1)]
    assert [result.nps for _, result in by_month] == [0.0, 100.0]
    by_quarter = nps_by_period(answers, period="quarter")
    assert len(by_quarter) == 1
    assert by_quarter[0][1] == nps([10, 0, 10, 9])


def test_nps_by_period_rejects_unknown_periods() -> None:
    with pytest.raises(ValueError, match="period"):
        nps_by_period([(date(2025, 1, 1), 9)], period="year")  # type: ignore[arg-type]
