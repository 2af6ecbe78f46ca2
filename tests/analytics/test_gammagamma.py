"""Gamma-Gamma against the published CDNOW estimates, its own simulation, CLV and bad input."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from analytics.cdnow import CALIBRATION_END, START, summary
from patron.analytics.clv import BetaGeoFitter, InvalidData, NotFitted
from patron.analytics.clv.gammagamma import GammaGammaFitter

Arrays = tuple[np.ndarray, ...]


def spend(shared_data: Path) -> Arrays:
    """(x, m̄) per customer, in ``summary``'s order: repeat purchase days in the calibration
    period and the average dollar value of those days (a day's rows summed, the first purchase
    day left out; m̄ = 0 for a customer without repeat purchases)."""
    rows = np.loadtxt(shared_data / "cdnow" / "CDNOW_sample.txt", dtype=str)
    customers = rows[:, 1].astype(np.int64)
    dollars = rows[:, 4].astype(np.float64)
    days = np.array([(date(int(d[:4]), int(d[4:6]), int(d[6:])) - START).days for d in rows[:, 2]])
    end = (CALIBRATION_END - START).days
    x, m = [], []
    for customer in np.unique(customers):
        mine = (customers == customer) & (days <= end)
        bought, day_of_row = np.unique(days[mine], return_inverse=True)
        per_day = np.bincount(day_of_row, weights=dollars[mine])
        x.append(bought.size - 1)
        m.append(per_day[1:].mean() if bought.size > 1 else 0.0)
    return np.array(x, float), np.array(m)


@pytest.fixture(scope="module")
def cdnow(shared_data: Path) -> Arrays:
    """(x, t_x, T, m̄) for all 2357 customers; t_x and T in weeks."""
    x, t_x, age = summary(shared_data)
    same_x, m = spend(shared_data)
    assert np.array_equal(x, same_x)
    return x, t_x, age, m


@pytest.fixture(scope="module")
def repeat(cdnow: Arrays) -> Arrays:
    """(x, m̄) of the customers with repeat purchases: the ones the model is fitted on."""
    x, _t_x, _age, m = cdnow
    return x[x > 0], m[x > 0]


@pytest.fixture(scope="module")
def fitted(repeat: Arrays) -> GammaGammaFitter:
    return GammaGammaFitter().fit(*repeat)


@pytest.fixture(scope="module")
def transactions(cdnow: Arrays) -> BetaGeoFitter:
    x, t_x, age, _m = cdnow
    return BetaGeoFitter().fit(x, t_x, age)


def test_the_cdnow_repeat_customers_are_hardies(repeat: Arrays) -> None:
    x, m = repeat
    assert x.size == 946
    assert np.all(x >= 1)
    assert np.all(m > 0)


def test_parameters_match_fader_hardie_2013(fitted: GammaGammaFitter, repeat: Arrays) -> None:
    published = {"p": 6.25, "q": 3.74, "v": 15.44}
    for name, value in published.items():
        assert f"{fitted.params_[name]:.3g}" == f"{value:.3g}", (name, fitted.params_[name])
    assert fitted.n_customers_ == 946
    assert all(0 < error < fitted.params_[name] for name, error in fitted.standard_errors_.items())
    total = fitted.individual_log_likelihood(*repeat).sum()
    assert fitted.log_likelihood_ == pytest.approx(total, rel=1e-12)


def test_the_likelihood_is_the_formula() -> None:
    p, q, v, x, m = 2.0, 3.0, 10.0, 4.0, 7.5
    model = GammaGammaFitter()
    model.params_ = {"p": p, "q": q, "v": v}
    density = (
        math.exp(math.lgamma(p * x + q) - math.lgamma(p * x) - math.lgamma(q))
        * v**q
        * m ** (p * x - 1)
        * x ** (p * x)
        / (x * m + v) ** (p * x + q)
    )
    by_hand = math.log(density)
    assert model.individual_log_likelihood([x], [m])[0] == pytest.approx(by_hand, rel=1e-12)


def test_expected_profit_shrinks_a_customer_toward_the_population(
    fitted: GammaGammaFitter, repeat: Arrays
) -> None:
    x, m = repeat
    population = fitted.population_average_profit()
    p, q, v = (fitted.params_[name] for name in ("p", "q", "v"))
    assert population == pytest.approx(p * v / (q - 1))
    expected = fitted.conditional_expected_average_profit(x, m)
    low, high = np.minimum(m, population), np.maximum(m, population)
    assert np.all((expected >= low) & (expected <= high))
    away = np.abs(m - population) > 1.0
    assert np.all((expected[away] > low[away]) & (expected[away] < high[away]))
    # the more purchases, the more the customer's own mean counts
    many = fitted.conditional_expected_average_profit([1, 5, 20, 100], np.full(4, 200.0))
    assert np.all(np.diff(many) > 0)
    assert many[-1] < 200.0
    # without repeat purchases only the population mean is left
    assert fitted.conditional_expected_average_profit([0], [0.0])[0] == pytest.approx(population)


def test_an_infinite_mean_is_refused() -> None:
    model = GammaGammaFitter()
    model.params_ = {"p": 2.0, "q": 0.9, "v": 10.0}
    with pytest.raises(InvalidData, match="infinite") as refused:
        model.conditional_expected_average_profit([2], [30.0])
    assert refused.value.code == "clv.infinite_mean"
    with pytest.raises(InvalidData, match="infinite"):
        model.population_average_profit()


def test_the_model_recovers_the_parameters_it_simulated() -> None:
    rng = np.random.default_rng(11)
    p, q, v = 4.0, 3.0, 20.0
    customers = 5000
    x = rng.integers(1, 15, customers).astype(float)
    rate = rng.gamma(q, 1 / v, customers)
    m = np.array([rng.gamma(p, 1 / rate[i], int(x[i])).mean() for i in range(customers)])
    model = GammaGammaFitter().fit(x, m)
    for name, truth in {"p": p, "q": q, "v": v}.items():
        error = model.standard_errors_[name]
        assert abs(model.params_[name] - truth) < 4 * error, (name, model.params_[name], error)


def test_equal_customers_count_as_weights() -> None:
    x = np.array([1, 2, 5, 3, 1, 7, 2, 4], float)
    m = np.array([20.0, 35.5, 18.2, 60.0, 12.0, 25.0, 90.0, 33.3])
    once = GammaGammaFitter().fit(x, m)
    twice = GammaGammaFitter().fit(np.tile(x, 2), np.tile(m, 2))
    assert twice.n_customers_ == 2 * once.n_customers_
    assert twice.log_likelihood_ == pytest.approx(2 * once.log_likelihood_, rel=1e-6)
    for name in once.params_:
        assert twice.params_[name] == pytest.approx(once.params_[name], rel=1e-3)


def test_huge_frequencies_and_spends_stay_finite(fitted: GammaGammaFitter) -> None:
    likelihood = fitted.individual_log_likelihood([5000, 20000], [1e6, 3.5])
    assert np.all(np.isfinite(likelihood))


@pytest.mark.parametrize(
    ("frequency", "monetary_value", "row", "field"),
    [
        ([1, -1], [10.0, 10.0], 1, "frequency"),
        ([1, 1.5], [10.0, 10.0], 1, "frequency"),
        ([2, 1], [10.0, 0.0], 1, "monetary_value"),
        ([2, 1], [-3.0, 10.0], 0, "monetary_value"),
        ([2, 1], [10.0, float("nan")], 1, "monetary_value"),
        ([2, float("inf")], [10.0, 10.0], 1, "frequency"),
    ],
)
def test_bad_input_names_the_row_and_the_field(
    frequency: list[float], monetary_value: list[float], row: int, field: str
) -> None:
    with pytest.raises(InvalidData) as refused:
        GammaGammaFitter().fit(frequency, monetary_value)
    assert refused.value.details["row"] == row
    assert refused.value.details["field"] == field
    assert f"row {row}" in refused.value.message


def test_customers_without_repeat_purchases_are_refused_with_advice() -> None:
    with pytest.raises(InvalidData, match=r"row 2: .*repeat customers.*frequency >= 1") as refused:
        GammaGammaFitter().fit([3, 1, 0, 0], [10.0, 12.0, 0.0, 0.0])
    assert refused.value.details["row"] == 2
    assert refused.value.details["rows"] == 2


def test_predicting_before_fitting_is_refused() -> None:
    model = GammaGammaFitter()
    with pytest.raises(NotFitted):
        model.conditional_expected_average_profit([1], [10.0])
    with pytest.raises(NotFitted):
        model.population_average_profit()
    with pytest.raises(NotFitted):
        model.customer_lifetime_value(BetaGeoFitter(), [1], [1.0], [2.0], [10.0])


def test_lifetime_value_is_the_discounted_sum(
    fitted: GammaGammaFitter, transactions: BetaGeoFitter
) -> None:
    x, t_x, age, m = 3.0, 20.0, 38.0, 42.0
    month = 4.345
    spend_ = fitted.conditional_expected_average_profit([x], [m])[0]

    def purchases(t: float) -> float:
        return transactions.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age)[0]

    by_hand = sum(
        (purchases(i * month) - purchases((i - 1) * month)) * spend_ * 0.3 / 1.05**i
        for i in range(1, 4)
    )
    value = fitted.customer_lifetime_value(
        transactions, [x], [t_x], [age], [m], time=3, discount_rate=0.05, margin=0.3
    )
    assert value[0] == pytest.approx(by_hand, rel=1e-10)
    undiscounted = fitted.customer_lifetime_value(
        transactions, [x], [t_x], [age], [m], time=6, discount_rate=0.0
    )
    assert undiscounted[0] == pytest.approx(purchases(6 * month) * spend_, rel=1e-10)


def test_lifetime_value_grows_with_the_horizon_and_shrinks_with_the_discount(
    fitted: GammaGammaFitter, transactions: BetaGeoFitter, cdnow: Arrays
) -> None:
    x, t_x, age, m = cdnow
    horizons = [
        fitted.customer_lifetime_value(transactions, x, t_x, age, m, time=months)
        for months in (1, 3, 6, 12, 24)
    ]
    assert np.all(horizons[0] > 0)
    assert np.all(np.diff(np.array(horizons), axis=0) > 0)
    rates = [
        fitted.customer_lifetime_value(transactions, x, t_x, age, m, discount_rate=rate)
        for rate in (0.0, 0.01, 0.05, 0.2)
    ]
    assert np.all(np.diff(np.array(rates), axis=0) < 0)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("time", 0), ("time", 2.5), ("discount_rate", -1.0), ("freq_unit_per_period", 0.0)],
)
def test_bad_lifetime_value_settings_are_refused(
    fitted: GammaGammaFitter, transactions: BetaGeoFitter, setting: str, value: float
) -> None:
    with pytest.raises(InvalidData) as refused:
        fitted.customer_lifetime_value(transactions, [1], [1.0], [2.0], [10.0], **{setting: value})
    assert refused.value.details["field"] == setting
