"""Pareto/NBD against the published CDNOW estimates, the defining integral, simulations of its own
story, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import gammaln

from analytics.cdnow import summary
from patron.analytics.clv import InvalidData
from patron.analytics.clv.paretonbd import ParetoNBDFitter, hyp2f1_one

Arrays = tuple[np.ndarray, ...]
PUBLISHED = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


@pytest.fixture(scope="module")
def cdnow(shared_data: Path) -> Arrays:
    return summary(shared_data)


@pytest.fixture(scope="module")
def fitted(cdnow: Arrays) -> ParetoNBDFitter:
    return ParetoNBDFitter().fit(*cdnow)


def with_params(params: dict[str, float]) -> ParetoNBDFitter:
    model = ParetoNBDFitter()
    model.params_ = dict(params)
    return model


def simulate(
    rng: np.random.Generator, params: dict[str, float], age: np.ndarray, horizon: float
) -> Arrays:
    """The Pareto/NBD story: (x, t_x, alive at T, purchases in (T, T+horizon]) per customer."""
    n = age.size
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    death = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], n))
    window = np.minimum(death, age + horizon)
    counts = rng.poisson(rate * window)
    owner = np.repeat(np.arange(n), counts)
    times = rng.uniform(0, 1, owner.size) * window[owner]
    before = times <= age[owner]
    x = np.bincount(owner[before], minlength=n).astype(float)
    t_x = np.zeros(n)
    np.maximum.at(t_x, owner[before], times[before])
    future = np.bincount(owner[~before], minlength=n).astype(float)
    return x, t_x, (death > age).astype(float), future


def reference_log_likelihood(params: dict[str, float], x: float, t_x: float, age: float) -> float:
    """The likelihood as the integral it is (alive at T, or died at τ in (t_x, T]), by quadrature."""
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))

    def log_density(tau: float) -> float:  # died at τ: (α+τ)^-(r+x) · s (β+τ)^-(s+1)
        return -(r + x) * np.log(alpha + tau) + np.log(s) - (s + 1) * np.log(beta + tau)

    peak = log_density(t_x)
    died, _ = integrate.quad(
        lambda tau: np.exp(log_density(tau) - peak),
        t_x,
        age,
        epsabs=0,
        epsrel=1e-12,
        limit=500,
        points=[min(age, t_x + (alpha + t_x) / (r + x + s + 1))],
    )
    alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return float(common + np.logaddexp(alive, peak + np.log(died) if died > 0 else -np.inf))


def test_parameters_match_the_published_cdnow_estimates(
    fitted: ParetoNBDFitter, cdnow: Arrays
) -> None:
    for name, value in PUBLISHED.items():
        tolerance = 6e-4 if name in ("r", "s") else 1e-3  # the published values, rounded
        assert fitted.params_[name] == pytest.approx(value, abs=tolerance), name
    assert fitted.n_customers_ == 2357
    at_published = with_params(PUBLISHED).individual_log_likelihood(*cdnow).sum()
    assert at_published <= fitted.log_likelihood_ < at_published + 0.01
    assert all(0 < error < fitted.params_[name] for name, error in fitted.standard_errors_.items())


@pytest.mark.parametrize(
    "params",
    [
        PUBLISHED,  # α < β
        {"r": 0.5, "alpha": 30.0, "s": 0.8, "beta": 0.01},  # α ≫ β
        {"r": 2.0, "alpha": 0.01, "s": 0.3, "beta": 50.0},  # α ≪ β, r whole (scipy's 2F1 fails)
        {"r": 0.2, "alpha": 5.0, "s": 3.0, "beta": 5.0},  # α = β
    ],
)
def test_the_likelihood_is_the_integral_it_stands_for(params: dict[str, float]) -> None:
    profiles = [
        (0, 0, 38),
        (1, 5, 38),
        (3, 37.9, 38),
        (2, 38, 38),
        (50, 10, 38),
        (5000, 99, 100),
        (5000, 30, 100),
        (100, 39.999, 40),
    ]
    x, t_x, age = (np.array(column, float) for column in zip(*profiles, strict=True))
    got = with_params(params).individual_log_likelihood(x, t_x, age)
    expected = [reference_log_likelihood(params, *profile) for profile in profiles]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-8)


def test_the_continued_fraction_where_scipys_hyp2f1_fails() -> None:
    b = np.array([1.3, 1.3, 1000.0, 5000.3, 5000.3, 0.3, 10.0])
    c = b + 1 + np.array([0.0, 2.0, 5.0, 0.0, 1.0, 0.5, -0.5])
    z = np.array([0.999, 0.9999, 0.99, 0.999, 0.999999, 0.5, 0.9999])
    got = hyp2f1_one(b, c, z)
    for i in range(b.size):  # Euler: (c-1) ∫ v^(c-2) (1 - z + z v)^-b dv over [0, 1]
        expected, _ = integrate.quad(
            lambda v, i=i: (
                (c[i] - 1) * np.exp((c[i] - 2) * np.log(v) - b[i] * np.log1p(-z[i] + z[i] * v))
            ),
            0,
            1,
            epsabs=0,
            epsrel=1e-13,
            limit=2000,
        )
        assert got[i] == pytest.approx(expected, rel=1e-9), (b[i], c[i], z[i])
    assert hyp2f1_one(np.array([2.0]), np.array([3.0]), np.array([0.0]))[0] == 1.0


def test_probability_alive_and_expectation_match_a_simulation() -> None:
    rng = np.random.default_rng(11)
    params = {"r": 0.6, "alpha": 8.0, "s": 0.8, "beta": 20.0}
    model = with_params(params)
    n, age, horizon = 400_000, 40.0, 26.0
    x, t_x, alive, future = simulate(rng, params, np.full(n, age), horizon)
    for frequency, low, high in [(0, 0.0, 0.0), (2, 30.0, 34.0), (4, 8.0, 16.0), (1, 36.0, 40.0)]:
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


@pytest.mark.parametrize("params", [PUBLISHED, {"r": 2.0, "alpha": 3.0, "s": 1.0, "beta": 0.5}])
def test_the_expectation_is_the_integral_it_stands_for(params: dict[str, float]) -> None:
    """Alive at T, λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T) independently, and the customer
    buys λ E[min(τ, t) | μ] = λ (1 - e^(-μt))/μ more times: integrated over μ directly."""
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    model = with_params(params)
    for x, t_x, age in [(0, 0.0, 38.0), (3, 20.0, 30.0), (5000, 99.0, 100.0)]:
        for t in [1.0, 39.0, 400.0]:
            got = model.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age)[0]
            lifetime, _ = integrate.quad(
                lambda mu, t=t, age=age: (
                    -np.expm1(-mu * t) / mu * stats.gamma.pdf(mu, s, scale=1 / (beta + age))
                ),
                0,
                np.inf,
                limit=500,
                epsrel=1e-12,
            )
            alive = model.conditional_probability_alive(x, t_x, age)[0]
            assert got == pytest.approx((r + x) / (alpha + age) * lifetime * alive, rel=1e-8)


def test_the_model_recovers_the_parameters_it_simulated() -> None:
    rng = np.random.default_rng(7)
    truth = {"r": 0.5, "alpha": 6.0, "s": 0.7, "beta": 12.0}
    age = rng.uniform(20, 80, 20_000)
    x, t_x, _alive, _future = simulate(rng, truth, age, 0.0)
    model = ParetoNBDFitter().fit(x, t_x, age)
    for name, value in truth.items():
        error = model.standard_errors_[name]
        assert abs(model.params_[name] - value) < 4 * error, (name, model.params_[name], error)


def test_probability_alive_falls_the_longer_a_buyer_has_been_silent(
    fitted: ParetoNBDFitter,
) -> None:
    recency = np.array([38.0, 30.0, 20.0, 10.0, 2.0])
    alive = fitted.conditional_probability_alive(np.full(5, 5.0), recency, np.full(5, 38.86))
    assert np.all(np.diff(alive) < 0)
    assert np.all((alive > 0) & (alive <= 1))
    silent = fitted.conditional_probability_alive([0, 0, 0], [0, 0, 0], [1.0, 10.0, 38.0])
    assert np.all(np.diff(silent) < 0)
    assert np.all((silent > 0) & (silent < 1))


def test_expectations_grow_with_the_horizon(fitted: ParetoNBDFitter) -> None:
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
        fitted.expected_number_of_purchases_up_to_time([-1.0])


def test_equal_customers_count_as_weights() -> None:
    rng = np.random.default_rng(3)
    age = rng.uniform(20, 80, 400).round()
    x, t_x, _alive, _future = simulate(
        rng, {"r": 0.5, "alpha": 6.0, "s": 0.7, "beta": 12.0}, age, 0
    )
    once = ParetoNBDFitter().fit(x, t_x, age)
    twice = ParetoNBDFitter().fit(np.tile(x, 2), np.tile(t_x, 2), np.tile(age, 2))
    assert twice.log_likelihood_ == pytest.approx(2 * once.log_likelihood_, rel=1e-6)
    assert twice.n_customers_ == 2 * once.n_customers_
    for name in once.params_:
        assert twice.params_[name] == pytest.approx(once.params_[name], rel=1e-3)


def test_thousands_of_purchases_stay_finite(fitted: ParetoNBDFitter) -> None:
    likelihood = fitted.individual_log_likelihood([5000, 12000], [99.0, 100.0], [100.0, 100.0])
    assert np.all(np.isfinite(likelihood))
    alive = fitted.conditional_probability_alive([5000, 5000], [99.0, 100.0], [100.0, 100.0])
    assert np.all(np.isfinite(alive))
    assert 0 < alive[0] < alive[1] == 1.0
    expected = fitted.conditional_expected_number_of_purchases_up_to_time(10, 5000, 100.0, 100.0)
    assert np.isfinite(expected[0])
    assert expected[0] > 0
