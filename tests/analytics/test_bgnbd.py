"""BG/NBD against the published CDNOW estimates, a simulation of its own story, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.cdnow import summary
from patron.analytics.clv import BetaGeoFitter


@pytest.fixture(scope="module")
def cdnow(shared_data: Path) -> tuple[np.ndarray, ...]:
    return summary(shared_data)


@pytest.fixture(scope="module")
def fitted(cdnow: tuple[np.ndarray, ...]) -> BetaGeoFitter:
    return BetaGeoFitter().fit(*cdnow)


def test_the_cdnow_summary_is_hardies(cdnow: tuple[np.ndarray, ...]) -> None:
    x, _t_x, age = cdnow
    assert x.size == 2357
    assert x.sum() == 2457
    assert age.max() == pytest.approx(38.857, abs=1e-3)  # bought on 1 January: 272 days


def test_parameters_match_fader_hardie_lee_2005(fitted: BetaGeoFitter) -> None:
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert fitted.params_[name] == pytest.approx(value, rel=5e-4, abs=6e-4), name
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert fitted.n_customers_ == 2357
    assert all(0 < error < fitted.params_[name] for name, error in fitted.standard_errors_.items())


def test_the_published_individual_expectation(fitted: BetaGeoFitter) -> None:
    expected = fitted.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert expected[0] == pytest.approx(1.226, abs=5e-4)


def test_probability_alive_falls_the_longer_a_buyer_has_been_silent(
    fitted: BetaGeoFitter,
) -> None:
    recency = np.array([38.0, 30.0, 20.0, 10.0, 2.0])
    alive = fitted.conditional_probability_alive(np.full(5, 5.0), recency, np.full(5, 38.86))
    assert np.all(np.diff(alive) < 0)
    assert np.all((alive > 0) & (alive <= 1))
    assert fitted.conditional_probability_alive(0, 0, 38.86)[0] == 1.0  # BG/NBD: no dropout yet


def test_expectations_grow_with_the_horizon(fitted: BetaGeoFitter) -> None:
    horizons = np.array([0.0, 4.0, 13.0, 52.0, 104.0])
    population = fitted.expected_number_of_purchases_up_to_time(horizons)
    assert population[0] == 0.0
    assert np.all(np.diff(population) > 0)
    individual = [
        fitted.conditional_expected_number_of_purchases_up_to_time(t, 3, 20.0, 38.0)[0]
        for t in horizons
    ]
    assert np.all(np.diff(individual) > 0)


def test_the_model_recovers_the_parameters_it_simulated() -> None:
    rng = np.random.default_rng(7)
    r, alpha, a, b = 0.5, 6.0, 0.9, 3.0
    customers = 20_000
    rate = rng.gamma(r, 1 / alpha, customers)
    dropout = rng.beta(a, b, customers)
    age = rng.uniform(20, 80, customers)
    x = np.zeros(customers)
    t_x = np.zeros(customers)
    for i in range(customers):
        clock = 0.0
        while True:
            clock += rng.exponential(1 / rate[i])
            if clock > age[i]:
                break
            x[i] += 1
            t_x[i] = clock
            if rng.random() < dropout[i]:
                break
    model = BetaGeoFitter().fit(x, t_x, age)
    for name, truth in {"r": r, "alpha": alpha, "a": a, "b": b}.items():
        error = model.standard_errors_[name]
        assert abs(model.params_[name] - truth) < 4 * error, (name, model.params_[name], error)


def test_equal_customers_count_as_weights() -> None:
    x = np.array([0, 1, 2, 5, 0, 3, 1, 7], float)
    t_x = np.array([0, 5, 10, 30, 0, 20, 2, 35], float)
    age = np.array([40, 40, 40, 40, 30, 30, 38, 39], float)
    once = BetaGeoFitter().fit(x, t_x, age)
    twice = BetaGeoFitter().fit(np.tile(x, 2), np.tile(t_x, 2), np.tile(age, 2))
    assert twice.log_likelihood_ == pytest.approx(2 * once.log_likelihood_, rel=1e-6)
    for name in once.params_:
        assert twice.params_[name] == pytest.approx(once.params_[name], rel=1e-3)


def test_thousands_of_purchases_stay_finite(fitted: BetaGeoFitter) -> None:
    likelihood = fitted.individual_log_likelihood([5000, 12000], [99.0, 100.0], [100.0, 100.0])
    assert np.all(np.isfinite(likelihood))
    alive = fitted.conditional_probability_alive([5000], [99.0], [100.0])
    assert np.isfinite(alive[0])
    assert 0 < alive[0] <= 1
