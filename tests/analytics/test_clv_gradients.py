"""The analytic log-likelihood gradients of BG/NBD and MBG/NBD: against central differences on
CDNOW-like data, and fits that land where numerical differentiation lands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.cdnow import summary
from patron.analytics.clv import BetaGeoFitter, ModifiedBetaGeoFitter, TransactionModel
from patron.analytics.clv.base import collapse

Arrays = tuple[np.ndarray, ...]
POINTS = [
    {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},  # BG/NBD on CDNOW
    {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},  # MBG/NBD on CDNOW
    {"r": 2.0, "alpha": 0.5, "a": 3.0, "b": 0.7},  # b < 1: b + x - 1 < 0 for x = 0
    {"r": 0.05, "alpha": 60.0, "a": 0.2, "b": 15.0},
]


def cdnow_like(rng: np.random.Generator, customers: int = 2357) -> Arrays:
    """BG/NBD's story at CDNOW's estimates, first purchases over 12 weeks, days in weeks; plus
    a few customers with purchases in the thousands and very long histories."""
    age = rng.integers(0, 84, customers) / 7 + 27
    rate = rng.gamma(0.243, 1 / 4.414, customers)
    dropout = rng.beta(0.793, 2.426, customers)
    x, t_x = np.zeros(customers), np.zeros(customers)
    for i in range(customers):
        clock = rng.exponential(1 / rate[i])
        while clock <= age[i]:
            x[i] += 1
            t_x[i] = np.floor(clock * 7) / 7
            if rng.random() < dropout[i]:
                break
            clock += rng.exponential(1 / rate[i])
    extreme = np.array([[5000, 99.9, 100.0], [5000, 60.0, 100.0], [3000, 9999.0, 1e4]])
    return (
        np.concatenate([x, extreme[:, 0]]),
        np.concatenate([t_x, extreme[:, 1]]),
        np.concatenate([age, extreme[:, 2]]),
    )


@pytest.fixture(scope="module")
def data() -> Arrays:
    return cdnow_like(np.random.default_rng(17))


@pytest.mark.parametrize("model", [BetaGeoFitter, ModifiedBetaGeoFitter])
@pytest.mark.parametrize("point", POINTS)
def test_the_gradient_is_the_central_difference(
    model: type[TransactionModel], point: dict[str, float], data: Arrays
) -> None:
    (x, t_x, age), weights = collapse(*data)
    params = np.array(list(point.values()))

    def total(at: np.ndarray) -> float:
        return float(np.sum(weights * model._log_likelihood(at, x, t_x, age)))

    analytic = model._gradient(params, x, t_x, age, weights)
    for i in range(params.size):
        step = np.zeros(params.size)
        step[i] = 1e-5 * params[i]
        numeric = (total(params + step) - total(params - step)) / (2 * step[i])
        assert analytic[i] == pytest.approx(numeric, rel=1e-6, abs=1e-4), (i, point)


class NumericalBetaGeo(BetaGeoFitter):
    _has_gradient = False


class NumericalModifiedBetaGeo(ModifiedBetaGeoFitter):
    _has_gradient = False


@pytest.mark.parametrize(
    ("analytic", "numerical"),
    [(BetaGeoFitter, NumericalBetaGeo), (ModifiedBetaGeoFitter, NumericalModifiedBetaGeo)],
)
def test_the_fit_lands_where_numerical_differentiation_lands(
    analytic: type[TransactionModel], numerical: type[TransactionModel], shared_data: Path
) -> None:
    cdnow = summary(shared_data)
    fast, slow = analytic().fit(*cdnow), numerical().fit(*cdnow)
    for name, value in slow.params_.items():
        assert fast.params_[name] == pytest.approx(value, rel=1e-4), name
        error = slow.standard_errors_[name]
        assert fast.standard_errors_[name] == pytest.approx(error, rel=1e-3), name
    assert fast.log_likelihood_ == pytest.approx(slow.log_likelihood_, abs=1e-6)


def test_the_fit_uses_the_gradient(monkeypatch: pytest.MonkeyPatch, data: Arrays) -> None:
    calls = []
    original = BetaGeoFitter._gradient

    def counted(*args: np.ndarray) -> np.ndarray:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(BetaGeoFitter, "_gradient", staticmethod(counted))
    BetaGeoFitter().fit(*data)
    assert calls
