"""The transaction models far from CDNOW: purchases in the thousands, the last one at (or next to)
the end, histories thousands of weeks long. Likelihoods, P(alive) and expectations stay finite,
within their bounds, continuous in x, and equal to their defining integrals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate
from scipy.special import betaln, gammaln

from patron.analytics.clv import (
    BetaGeoFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    TransactionModel,
)

MODELS = [
    (BetaGeoFitter, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
    (ParetoNBDFitter, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    (ModifiedBetaGeoFitter, {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}),
]
AGES = [100.0, 1e4, 1e6]
FREQUENCIES = [1000.0, 5000.0, 20000.0]


def with_params(model: type[TransactionModel], params: dict[str, float]) -> TransactionModel:
    fitted = model()
    fitted.params_ = dict(params)
    return fitted


def profiles(age: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each frequency, t_x from far before T to T itself, ascending."""
    gaps = np.array([age / 2, 5.0, 0.5, 1e-3, 1e-9 * age, 0.0])
    x = np.repeat(FREQUENCIES, gaps.size)
    t_x = np.tile(age - gaps, len(FREQUENCIES))
    return x, t_x, np.full(x.size, age)


@pytest.mark.parametrize(("model", "params"), MODELS)
@pytest.mark.parametrize("age", AGES)
def test_likelihood_and_probability_alive_stay_finite_and_ordered(
    model: type[TransactionModel], params: dict[str, float], age: float
) -> None:
    fitted = with_params(model, params)
    x, t_x, T = profiles(age)
    assert np.all(np.isfinite(fitted.individual_log_likelihood(x, t_x, T)))
    alive = fitted.conditional_probability_alive(x, t_x, T).reshape(len(FREQUENCIES), -1)
    assert np.all((alive >= 0) & (alive <= 1))
    assert np.all(np.diff(alive, axis=1) >= 0)  # the more recent the last purchase, the likelier
    assert np.all(alive[:, -1] > 0.99)  # a heavy buyer who just bought is almost surely alive
    if age == 100.0:  # ~50 purchases a week, then silent for 50 weeks: gone
        assert np.all(alive[:, 0] < 1e-12)


@pytest.mark.parametrize(("model", "params"), MODELS)
@pytest.mark.parametrize("age", AGES)
def test_expectations_stay_within_the_rate_times_the_horizon(
    model: type[TransactionModel], params: dict[str, float], age: float
) -> None:
    """0 < E[X(T, T+t)] <= P(alive) E[λ | alive] t: a customer alive at T buys at most at
    their rate, E[λ | alive] = (r+x)/(α+T), for the whole horizon; near that for short ones."""
    fitted = with_params(model, params)
    x, t_x, T = profiles(age)
    alive = fitted.conditional_probability_alive(x, t_x, T)
    rate = (params["r"] + x) / (params["alpha"] + T)
    bounds = []
    for t in [1.0, 10.0, 52.0, 1000.0, 1e5]:
        expected = fitted.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
        assert np.all(np.isfinite(expected)), t
        bound = alive * rate * t
        assert np.all(expected <= bound * (1 + 1e-9)), t
        bounds.append(expected / np.where(bound > 0, bound, 1))
        if t <= 10 and age >= 1e4:  # a few purchases at most: hardly anyone leaves meanwhile
            lively = alive > 1e-6
            assert np.all(expected[lively] > 0.9 * bound[lively]), t
    ratios = np.array(bounds)
    assert np.all(np.diff(ratios[:, alive > 1e-6], axis=0) <= 1e-9)  # leaving adds up with t


@pytest.mark.parametrize(("model", "params"), MODELS)
def test_one_purchase_more_changes_little(
    model: type[TransactionModel], params: dict[str, float]
) -> None:
    fitted = with_params(model, params)
    x = np.array([5000.0, 5001.0])
    for age in AGES:
        t_x, T = np.full(2, age - 0.25), np.full(2, age)
        alive = fitted.conditional_probability_alive(x, t_x, T)
        expected = fitted.conditional_expected_number_of_purchases_up_to_time(52.0, x, t_x, T)
        assert alive[1] == pytest.approx(alive[0], rel=0.01), age
        assert expected[1] == pytest.approx(expected[0], rel=0.01), age


def beta_geometric_by_quadrature(
    params: dict[str, float], chances: float, x: float, t_x: float, age: float, t: float
) -> tuple[float, float, float]:
    """(log-likelihood, P(alive), E[X(T, T+t)]) of a customer who could leave after ``chances``
    purchases (x for BG/NBD, x + 1 for MBG/NBD), with λ integrated out in closed form and
    p ~ Beta(a, b) by quadrature:

        L = Γ(r+x)/Γ(r) α^r E_p[(1-p)^n (α+T)^-(r+x) + [n > 0] p (1-p)^(n-1) (α+t_x)^-(r+x)].
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    peak = 1 / (chances + a + b)  # where (1-p)^n Beta(p) has its mass

    def expectation(log_g: Callable[[float], float]) -> float:
        def integrand(p: float) -> float:
            log_beta = (a - 1) * np.log(p) + (b - 1) * np.log1p(-p) - betaln(a, b)
            return float(np.exp(log_beta + log_g(p)))

        value, _ = integrate.quad(
            integrand, 0, 1, limit=4000, epsabs=0, epsrel=1e-13, points=[peak / 30, peak, 30 * peak]
        )
        return float(value)

    stay = np.log(expectation(lambda p: chances * np.log1p(-p)))
    stay -= (r + x) * np.log(alpha + age)
    leave = -np.inf
    if chances > 0:
        leave = np.log(expectation(lambda p: np.log(p) + (chances - 1) * np.log1p(-p)))
        leave -= (r + x) * np.log(alpha + t_x)
    log_likelihood = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + np.logaddexp(stay, leave)
    alive = 1 / (1 + np.exp(leave - stay))
    k = t / (alpha + age)  # alive: λ ~ Gamma(r+x, α+T), so E[e^(-λpt)] = (1 + pk)^-(r+x)
    buys = expectation(
        lambda p: chances * np.log1p(-p) + np.log(-np.expm1(-(r + x) * np.log1p(p * k)) / p)
    ) / expectation(lambda p: chances * np.log1p(-p))
    return float(log_likelihood), float(alive), float(buys * alive)


@pytest.mark.parametrize(
    ("model", "extra"), [(BetaGeoFitter, 0.0), (ModifiedBetaGeoFitter, 1.0)], ids=["bg", "mbg"]
)
@pytest.mark.parametrize(
    ("x", "t_x", "age"),
    [(5000, 99.5, 100.0), (5000, 100.0, 100.0), (20000, 9999.0, 1e4), (5000, 999_999.0, 1e6)],
)
def test_beta_geometric_models_are_the_integrals_they_stand_for(
    model: type[TransactionModel], extra: float, x: float, t_x: float, age: float
) -> None:
    params = MODELS[0][1]
    fitted = with_params(model, params)
    for t in [1.0, 52.0, 1e4]:
        reference = beta_geometric_by_quadrature(params, x + extra, x, t_x, age, t)
        got = (
            fitted.individual_log_likelihood(x, t_x, age)[0],
            fitted.conditional_probability_alive(x, t_x, age)[0],
            fitted.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age)[0],
        )
        assert got == pytest.approx(reference, rel=1e-8), t
