"""Uplift: the same figures as scipy's Welch test and as hand arithmetic, and honest intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from patron.engage.uplift import GroupFigures, InvalidOutcomes, Uplift, compare, uplift


def groups_of(n_treated: int, n_held: int, variant: str = "A") -> list[str]:
    return [variant] * n_treated + ["holdout"] * n_held


# --- an independent computation ---------------------------------------------------------------


def test_tiny_example_by_hand() -> None:
    # treated 1, 2, 3, 6: mean 3, squares of deviations 4 + 1 + 0 + 9 = 14, variance 14/3
    # held    1, 1, 4:    mean 2, squares of deviations 1 + 1 + 4 = 6,      variance 6/2 = 3
    # difference 3 − 2 = 1; se² = (14/3)/4 + 3/3 = 7/6 + 1 = 13/6; t = 1/√(13/6) = √(6/13)
    # df = (13/6)² / ((7/6)²/3 + 1²/2) = (169/36) / (49/108 + 54/108) = 169·108/(36·103) = 507/103
    # incremental = 1 × 4 treated = 4
    report = uplift(groups_of(4, 3), {"revenue": [1, 2, 3, 6, 1, 1, 4]})
    u = report.overall["revenue"]
    assert (u.treatment.n, u.treatment.mean, u.treatment.variance) == (4, 3, pytest.approx(14 / 3))
    assert (u.holdout.n, u.holdout.mean, u.holdout.variance) == (3, 2, pytest.approx(3))
    assert u.difference == 1
    assert u.t == pytest.approx(math.sqrt(6 / 13))
    assert u.df == pytest.approx(507 / 103)
    half = stats.t.ppf(0.975, 507 / 103) * math.sqrt(13 / 6)
    assert u.interval == pytest.approx((1 - half, 1 + half))
    assert u.incremental == 4
    assert u.incremental_interval == pytest.approx((4 * (1 - half), 4 * (1 + half)))
    assert u.reason is None


@pytest.mark.parametrize("seed", range(5))
def test_figures_equal_scipy_welch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_t, n_h = rng.integers(5, 400, size=2)
    # revenue-like: many customers without an order, a skewed amount for the others
    treated = rng.exponential(80, n_t) * (rng.random(n_t) < 0.4)
    held = rng.exponential(60, n_h) * (rng.random(n_h) < 0.3)
    report = uplift(groups_of(n_t, n_h), {"revenue": [*treated, *held]})
    u = report.overall["revenue"]
    expected = stats.ttest_ind(treated, held, equal_var=False)
    ci = expected.confidence_interval(0.95)
    assert u.t == pytest.approx(expected.statistic, rel=1e-10)
    assert u.p_value == pytest.approx(expected.pvalue, rel=1e-8)
    assert u.df == pytest.approx(expected.df, rel=1e-10)
    assert u.interval == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert u.difference == pytest.approx(treated.mean() - held.mean(), rel=1e-12)
    assert u.incremental == pytest.approx((treated.mean() - held.mean()) * n_t, rel=1e-12)
    assert u.incremental_interval == pytest.approx((ci.low * n_t, ci.high * n_t), rel=1e-10)


def test_other_confidence_levels_match_scipy() -> None:
    rng = np.random.default_rng(7)
    treated, held = rng.normal(3, 2, 50), rng.normal(2, 5, 30)
    for level in (0.8, 0.99):
        u = uplift(groups_of(50, 30), {"m": [*treated, *held]}, confidence=level).overall["m"]
        ci = stats.ttest_ind(treated, held, equal_var=False).confidence_interval(level)
        assert u.interval == pytest.approx((ci.low, ci.high), rel=1e-10)
        assert u.confidence == level


def test_each_variant_is_compared_with_the_holdout() -> None:
    rng = np.random.default_rng(3)
    values = {"A": rng.normal(10, 3, 300), "B": rng.normal(11, 4, 200), "h": rng.normal(9, 3, 100)}
    groups = ["A"] * 300 + ["B"] * 200 + ["control"] * 100
    orders = [*values["A"], *values["B"], *values["h"]]
    report = uplift(
        groups, {"orders": orders, "margin": [o / 2 for o in orders]}, holdout="control"
    )
    assert report.variants == ("A", "B")
    assert report.metrics == ("orders", "margin")
    for name in ("A", "B"):
        u = report.by_variant[name]["orders"]
        expected = stats.ttest_ind(values[name], values["h"], equal_var=False)
        assert (u.treatment.group, u.treatment.n) == (name, len(values[name]))
        assert u.p_value == pytest.approx(expected.pvalue, rel=1e-8)
        assert u.incremental == pytest.approx(u.difference * len(values[name]))
    pooled = stats.ttest_ind([*values["A"], *values["B"]], values["h"], equal_var=False)
    assert report.overall["orders"].treatment.n == 500
    assert report.overall["orders"].t == pytest.approx(pooled.statistic, rel=1e-10)
    # halving the outcome halves the difference and leaves t alone
    assert report.overall["margin"].difference == pytest.approx(
        report.overall["orders"].difference / 2
    )
    assert report.overall["margin"].t == pytest.approx(report.overall["orders"].t)


# --- behaviour on simulated experiments -----------------------------------------------------


def test_a_known_effect_is_recovered() -> None:
    rng = np.random.default_rng(2025)
    treated = rng.normal(52, 30, 18_000)  # 20,000 customers, 10 % held out, effect +2
    held = rng.normal(50, 30, 2_000)
    u = uplift(groups_of(18_000, 2_000), {"revenue": [*treated, *held]}).overall["revenue"]
    assert u.interval is not None
    low, high = u.interval
    assert low < 2 < high
    assert low > 0
    assert u.p_value is not None
    assert u.p_value < 0.05


def test_a_a_intervals_cover_zero_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    runs, covered = 400, 0
    for _ in range(runs):
        # no effect, but unequal sizes and variances: the case Welch's interval is made for
        treated, held = rng.normal(20, 8, 300), rng.normal(20, 3, 60)
        u = uplift(groups_of(300, 60), {"revenue": [*treated, *held]}).overall["revenue"]
        assert u.interval is not None
        covered += u.interval[0] <= 0 <= u.interval[1]
    low, high = stats.binom.interval(0.999, runs, 0.95)
    assert low <= covered <= high


# --- edge cases ------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_treated", "n_held"), [(1, 5), (5, 1), (1, 1)])
def test_fewer_than_two_customers_give_no_interval_and_a_reason(
    n_treated: int, n_held: int
) -> None:
    u = uplift(groups_of(n_treated, n_held), {"orders": [2.0] * n_treated + [1.0] * n_held})
    o = u.overall["orders"]
    assert o.difference == 1.0
    assert o.incremental == n_treated
    assert (o.interval, o.p_value, o.t, o.df, o.incremental_interval) == (None,) * 5
    assert o.reason is not None
    assert "fewer than 2" in o.reason


def test_an_empty_holdout_or_no_treated_give_reasons() -> None:
    no_holdout = uplift(["A", "A", "A"], {"orders": [1, 2, 3]}).overall["orders"]
    assert no_holdout.holdout.n == 0
    assert no_holdout.holdout.mean is None
    assert no_holdout.difference is None
    assert no_holdout.interval is None
    assert no_holdout.reason == "no customers in 'holdout'"

    only_holdout = uplift(["holdout"] * 3, {"orders": [1, 2, 3]})
    assert only_holdout.variants == ()
    assert only_holdout.overall["orders"].treatment.n == 0
    assert only_holdout.overall["orders"].reason == "no customers in 'treatment'"

    nobody = uplift([], {"orders": []})
    assert nobody.overall["orders"].difference is None


def test_zero_variance_in_both_groups_gives_a_zero_width_interval() -> None:
    report = uplift(groups_of(4, 3), {"orders": [0.1] * 4 + [0.0] * 3, "zero": [0.0] * 7})
    u = report.overall["orders"]
    assert u.treatment.variance == 0
    assert u.holdout.variance == 0
    assert u.interval == (0.1, 0.1)
    assert u.incremental_interval == (0.1 * 4, 0.1 * 4)
    assert u.p_value == 0.0
    assert u.reason is not None
    assert "zero width" in u.reason
    z = report.overall["zero"]
    assert (z.difference, z.interval, z.p_value) == (0.0, (0.0, 0.0), 1.0)


def test_zero_variance_in_one_group_is_an_ordinary_interval() -> None:
    treated, held = [0.0, 0.0, 0.0], [1.0, 2.0, 4.0, 5.0]
    u = uplift(groups_of(3, 4), {"orders": treated + held}).overall["orders"]
    expected = stats.ttest_ind(treated, held, equal_var=False)
    assert u.df == pytest.approx(3)  # all the uncertainty is the holdout's: n − 1
    assert u.p_value == pytest.approx(expected.pvalue)


def test_compare_works_from_stored_figures() -> None:
    # what a report computed in the database would pass: n, mean and variance per group
    from_figures = compare(
        "revenue", GroupFigures("A", 4, 3.0, 14 / 3), GroupFigures("holdout", 3, 2.0, 3.0)
    )
    from_rows = uplift(groups_of(4, 3), {"revenue": [1, 2, 3, 6, 1, 1, 4]}).overall["revenue"]
    assert isinstance(from_figures, Uplift)
    assert from_figures.interval == pytest.approx(from_rows.interval)


@pytest.mark.parametrize(
    ("groups", "outcomes", "confidence"),
    [
        (["A", "holdout"], {"orders": [1.0]}, 0.95),
        (["A", "holdout"], {"orders": [1.0, float("nan")]}, 0.95),
        (["A", "holdout"], {"orders": [1.0, float("inf")]}, 0.95),
        (["A", "holdout"], {"orders": [1.0, "x"]}, 0.95),
        (["A", "holdout"], {}, 0.95),
        (["A", "holdout"], {"orders": [1.0, 2.0]}, 1.0),
        (["A", "holdout"], {"orders": [1.0, 2.0]}, 0.0),
        (["A", 1], {"orders": [1.0, 2.0]}, 0.95),
    ],
)
def test_bad_inputs_are_refused(groups: list, outcomes: dict, confidence: float) -> None:
    with pytest.raises(InvalidOutcomes) as raised:
        uplift(groups, outcomes, confidence=confidence)
    assert raised.value.code == "engage.bad_outcomes"
