"""BG/NBD (Fader, Hardie & Lee 2005): repeat purchases of customers who may silently leave.

While alive, a customer buys at rate λ ~ Gamma(r, α); after each repeat purchase they leave
with probability p ~ Beta(a, b). Inputs per customer: ``frequency`` x (repeat purchases),
``recency`` t_x (age at the last one) and ``T`` (age at the end of the calibration period), in
one time unit (weeks for CDNOW).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, gammaln, hyp2f1

from patron.analytics.clv.base import Floats, Model, as_vector, check_rfm, collapse, maximise


class BetaGeoFitter(Model):
    """BG/NBD. ``fit(frequency, recency, T)`` estimates r, α, a, b by maximum likelihood."""

    _names = ("r", "alpha", "a", "b")

    def __init__(self, *, start: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> None:
        self.start = start

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoFitter:
        x, t_x, age = check_rfm(frequency, recency, T)
        (x, t_x, age), weights = collapse(x, t_x, age)
        scale = float(np.max(age))  # fit on T scaled to ~1: α then starts near the data's size

        def total(params: Floats) -> float:
            r, alpha, a, b = params
            return float(np.sum(weights * _log_likelihood(r, alpha * scale, a, b, x, t_x, age)))

        fit = maximise(total, self._names, np.array(self.start) * np.array([1, 1 / scale, 1, 1]))
        fit.params["alpha"] *= scale
        fit.standard_errors["alpha"] *= scale
        self._set(fit, int(weights.sum()))
        return self

    def individual_log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        r, alpha, a, b = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        return _log_likelihood(r, alpha, a, b, x, t_x, age)

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x))."""
        r, alpha, a, b = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        return np.exp(-np.logaddexp(0.0, _log_dropout_term(r, alpha, a, b, x, t_x, age)))

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        """E[X(T, T+t) | x, t_x, T]: expected repeat purchases in the next ``t`` time units."""
        r, alpha, a, b = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        horizon = np.broadcast_to(as_vector(t, "t"), x.shape)
        if np.any(horizon < 0):
            raise_negative_horizon()
        z = horizon / (alpha + age + horizon)
        log_ratio = (r + x) * (np.log(alpha + age) - np.log(alpha + age + horizon))
        numerator = 1.0 - np.exp(log_ratio) * hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        factor = (a + b + x - 1.0) / (a - 1.0)
        return (
            factor
            * numerator
            * np.exp(-np.logaddexp(0.0, _log_dropout_term(r, alpha, a, b, x, t_x, age)))
        )

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> Floats:
        """E[X(t)] for a new customer: expected repeat purchases in their first ``t`` units."""
        r, alpha, a, b = self._params()
        horizon = as_vector(t, "t")
        if np.any(horizon < 0):
            raise_negative_horizon()
        z = horizon / (alpha + horizon)
        return (
            (a + b - 1.0)
            / (a - 1.0)
            * (1.0 - (alpha / (alpha + horizon)) ** r * hyp2f1(r, b, a + b - 1.0, z))
        )


def raise_negative_horizon() -> None:
    from patron.analytics.clv.base import InvalidData

    raise InvalidData("t must be >= 0", details={"field": "t"})


def _log_dropout_term(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, age: Floats
) -> Floats:
    """log of [x > 0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x); -inf for x = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        term = (
            np.log(a)
            - np.log(np.maximum(b + x - 1.0, 1e-300))
            + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
        )
    return np.where(x > 0, term, -np.inf)


def _log_likelihood(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, age: Floats
) -> Floats:
    """Each customer's log-likelihood, in logs throughout (no overflow for x in the thousands)."""
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + age)
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.log(a) - np.log(np.maximum(b + x - 1.0, 1e-300)) - (r + x) * np.log(alpha + t_x)
    left = np.where(x > 0, left, -np.inf)
    return common + np.logaddexp(alive, left)
