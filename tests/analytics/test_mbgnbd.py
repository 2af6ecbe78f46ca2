"""MBG/NBD: simulations of its own story (parameters, P(alive), expectations), the closed forms
against direct integration, CDNOW, and bad input. There is no canonical published CDNOW fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from analytics.cdnow import summary
from patron.analytics.clv import BetaGeoFitter, InvalidData
from patron.analytics.clv.mbgnbd import ModifiedBetaGeoFitter

Arrays = tuple[np.ndarray, ...]
TRUTH = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}


@pytest.fixture(scope="module")
def cdnow(shared_data: Path) -> Arrays:
    return summary(shared_data)


@pytest.fixture(scope="module")
def fitted(cdnow: Arrays) -> ModifiedBetaGeoFitter:
    return ModifiedBetaGeoFitter().fit(*cdnow)


def with_params(params: dict[str, float]) -> ModifiedBetaGeoFitter:
    model = ModifiedBetaGeoFitter()
    model.params_ = dict(params)
    return model


def simulate(
    rng: np.random.Generator, params: dict[str, float], age: np.ndarray, horizon: float
) -> Arrays:
    """The MBG/NBD story: (x, t_x, alive at T, purchases in (T, T+horizon]) per customer.

    A customer buys at time 0 and leaves right after it with probability p; while alive they buy
    at rate λ, and leave right after each purchase with probability p.
    """
    n = age.size
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    dropout = rng.beta(params["a"], params["b"], n)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n)
    clock = np.zeros(n)
    active = np.flatnonzero(rng.random(n) >= dropout)  # survived the first purchase
    alive[np.setdiff1d(np.arange(n), active)] = 0.0
    while active.size:
        clock[active] += rng.exponential(1 / rate[active])
        active = active[clock[active] <= age[active] + horizon]
        calibration = clock[active] <= age[active]
        mine = active[calibration]
        x[mine] += 1
        t_x[mine] = clock[mine]
        future[active[~calibration]] += 1
        left = rng.random(active.size) < dropout[active]
        alive[active[left & calibration]] = 0.0
        active = active[~left]
    return x, t_x, alive, future


def test_the_model_recovers_the_parameters_it_simulated() -> None:
    rng = np.random.default_rng(7)
    age = rng.uniform(20, 80, 20_000)
    x, t_x, _alive, _future = simulate(rng, TRUTH, age, 0.0)
    model = ModifiedBetaGeoFitter().fit(x, t_x, age)
    for name, value in TRUTH.items():
        error = model.standard_errors_[name]
        assert abs(model.params_[name] - value) < 4 * error, (name, model.params_[name], error)
    # the data were not made by BG/NBD, where every customer without repeat purchases is alive
    assert BetaGeoFitter().fit(x, t_x, age).log_likelihood_ < model.log_likelihood_ - 10


def test_probability_alive_and_expectation_match_a_simulation() -> None:
    rng = np.random.default_rng(11)
    params = {"r": 0.8, "alpha": 10.0, "a": 1.5, "b": 4.0}
    model = with_params(params)
    n, age, horizon = 400_000, 40.0, 26.0
    x, t_x, alive, future = simulate(rng, params, np.full(n, age), horizon)
    for frequency, low, high in [(0, 0.0, 0.0), (2, 30.0, 34.0), (4, 6.0, 18.0), (1, 36.0, 40.0)]:
        chosen = (x == frequency) & (t_x >= low) & (t_x <= high)
        count = int(chosen.sum())
        assert count > 2000, (frequency, count)
        ages = np.full(count, age)
        frequencies = np.full(count, float(frequency))
        predicted = model.conditional_probability_alive(frequencies, t_x[chosen], ages).mean()
        error = np.sqrt(predicted * (1 - predicted) / count)
        assert abs(alive[chosen].mean() - predicted) < 4 * error, (frequency, predicted)
        expected = model.conditional_expected_number_of_purchases_up_to_time(
            horizon, frequencies, t_x[chosen], ages
        ).mean()
        error = future[chosen].std() / np.sqrt(count)
        assert abs(future[chosen].mean() - expected) < 4 * error, (frequency, expected)
    new = model.expected_number_of_purchases_up_to_time(horizon)[0]
    _, _, _, first = simulate(rng, params, np.zeros(n), horizon)
    assert abs(first.mean() - new) < 4 * first.std() / np.sqrt(n)


@pytest.mark.parametrize(
    "params",
    [
        TRUTH,
        {"r": 0.25, "alpha": 4.4, "a": 0.79, "b": 2.4},
        {"r": 2.0, "alpha": 10.0, "a": 3.0, "b": 1.0},
    ],
)
def test_the_expectation_is_the_integral_it_stands_for(params: dict[str, float]) -> None:
    """E[(1 - e^(-λpt))/p | alive] with λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x+1), integrated over p
    directly, for ordinary and far horizons (where scipy's hyp2f1 gives up) and x in thousands."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    model = with_params(params)
    for x, age in [(0, 38.0), (3, 30.0), (100, 40.0), (5000, 100.0)]:
        for t in [1.0, 39.0, 400.0, 1e5]:
            got = model.conditional_expected_number_of_purchases_up_to_time(
                t, x, age * (x > 0), age
            )[0]

            def integrand(p: float, x: int = x, age: float = age, t: float = t) -> float:
                gone = -np.expm1(-(r + x) * np.log1p(p * t / (alpha + age)))
                return float(gone / p * stats.beta.pdf(p, a, b + x + 1))

            bracket, _ = integrate.quad(
                integrand, 0, 1, limit=500, epsrel=1e-12, points=[1e-6, 1e-3, 0.01, 0.1]
            )
            alive = model.conditional_probability_alive(x, age * (x > 0), age)[0]
            assert got == pytest.approx(bracket * alive, rel=1e-6), (x, age, t)


def test_the_cdnow_fit_is_at_least_as_good_as_bg_nbd(
    fitted: ModifiedBetaGeoFitter, cdnow: Arrays
) -> None:
    bg = BetaGeoFitter().fit(*cdnow)
    assert fitted.n_customers_ == 2357
    assert fitted.log_likelihood_ > bg.log_likelihood_
    assert all(0 < error < fitted.params_[name] for name, error in fitted.standard_errors_.items())
    # the MLE: no nearby point is better
    for name in fitted.params_:
        for factor in (0.99, 1.01):
            moved = with_params({**fitted.params_, name: fitted.params_[name] * factor})
            assert moved.individual_log_likelihood(*cdnow).sum() < fitted.log_likelihood_


def test_probability_alive_falls_the_longer_a_buyer_has_been_silent(
    fitted: ModifiedBetaGeoFitter,
) -> None:
    recency = np.array([38.0, 30.0, 20.0, 10.0, 2.0])
    alive = fitted.conditional_probability_alive(np.full(5, 5.0), recency, np.full(5, 38.86))
    assert np.all(np.diff(alive) < 0)
    assert np.all((alive > 0) & (alive <= 1))
    silent = fitted.conditional_probability_alive([0, 0, 0], [0, 0, 0], [1.0, 10.0, 38.0])
    assert np.all(np.diff(silent) < 0)
    assert np.all((silent > 0) & (silent < 1))  # MBG/NBD: may have left after the first purchase
    a, b = fitted.params_["a"], fitted.params_["b"]
    at_once = fitted.conditional_probability_alive(0, 0, 1e-12)[0]
    assert at_once == pytest.approx(b / (a + b))  # nothing seen yet: P(survived the first purchase)


def test_expectations_grow_with_the_horizon(fitted: ModifiedBetaGeoFitter) -> None:
    horizons = np.array([0.0, 4.0, 13.0, 52.0, 104.0])
    population = fitted.expected_number_of_purchases_up_to_time(horizons)
    assert population[0] == 0.0
    assert np.all(np.diff(population) > 0)
    individual = fitted.conditional_expected_number_of_purchases_up_to_time(
        horizons, np.full(5, 3.0), np.full(5, 20.0), np.full(5, 38.0)
    )
    assert individual[0] == 0.0
    assert np.all(np.diff(individual) > 0)
    with pytest.raises(InvalidData):
        fitted.conditional_expected_number_of_purchases_up_to_time(-1.0, 1, 1, 2)


def test_equal_customers_count_as_weights() -> None:
    rng = np.random.default_rng(3)
    age = rng.uniform(20, 80, 400).round()
    x, t_x, _alive, _future = simulate(rng, TRUTH, age, 0.0)
    once = ModifiedBetaGeoFitter().fit(x, t_x, age)
    twice = ModifiedBetaGeoFitter().fit(np.tile(x, 2), np.tile(t_x, 2), np.tile(age, 2))
    assert twice.log_likelihood_ == pytest.approx(2 * once.log_likelihood_, rel=1e-6)
    assert twice.n_customers_ == 2 * once.n_customers_
    for name in once.params_:
        assert twice.params_[name] == pytest.approx(once.params_[name], rel=1e-3)


def test_thousands_of_purchases_stay_finite(fitted: ModifiedBetaGeoFitter) -> None:
    likelihood = fitted.individual_log_likelihood([5000, 12000], [99.0, 100.0], [100.0, 100.0])
    assert np.all(np.isfinite(likelihood))
    alive = fitted.conditional_probability_alive([5000, 5000], [99.0, 100.0], [100.0, 100.0])
    assert np.all(np.isfinite(alive))
    assert 0 < alive[0] < alive[1] < 1
    expected = fitted.conditional_expected_number_of_purchases_up_to_time(10, 5000, 100.0, 100.0)
    assert np.isfinite(expected[0])
    assert expected[0] > 0
