"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD where a customer may leave at once.

While alive, a customer buys at rate λ ~ Gamma(r, α); right after each purchase, the first one
at time 0 included, they leave with probability p ~ Beta(a, b). Unlike BG/NBD, a customer
without repeat purchases may therefore be gone. Inputs per customer: ``frequency`` x (repeat
purchases), ``recency`` t_x (age at the last one) and ``T`` (age at the end of the calibration
period), in one time unit (weeks for CDNOW).

Given λ and p, a customer with x repeat purchases, the last at t_x, either survived all x+1
purchases and bought nothing in (t_x, T], or left right after the last one:

    L(λ, p) = (1-p)^x λ^x [(1-p) e^(-λT) + p e^(-λ t_x)].

Averaging over the Beta and Gamma mixing distributions (E[(1-p)^(x+1)] = B(a, b+x+1)/B(a, b),
E[p (1-p)^x] = a/(b+x) · B(a, b+x+1)/B(a, b)):

    LL = ln B(a, b+x+1)/B(a, b) + ln Γ(r+x) - ln Γ(r) + r ln α
         + ln[(α+T)^-(r+x) + a/(b+x) (α+t_x)^-(r+x)].
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate
from scipy.special import betaln, gammaln, hyp2f1

from patron.analytics.clv.base import (
    Floats,
    InvalidData,
    Model,
    as_vector,
    check_rfm,
    collapse,
    maximise,
)


class ModifiedBetaGeoFitter(Model):
    """MBG/NBD. ``fit(frequency, recency, T)`` estimates r, α, a, b by maximum likelihood."""

    _names = ("r", "alpha", "a", "b")

    def __init__(self, *, start: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> None:
        self.start = start

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> ModifiedBetaGeoFitter:
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
        """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)), x = 0 included."""
        r, alpha, a, b = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        return _probability_alive(r, alpha, a, b, x, t_x, age)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        """E[X(T, T+t) | x, t_x, T]: expected repeat purchases in the next ``t`` time units,

        (a+b+x)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(α+T+t))] · P(alive).

        Alive at T, the customer has p ~ Beta(a, b+x+1) and λ ~ Gamma(r+x, α+T), and buys
        (1 - e^(-λpt))/p more times in expectation. Euler's transformation writes the bracket as
        1 - (1-z)^(a-1) 2F1(a+b-r, a-1; a+b+x; z): no large power, no large 2F1.
        """
        r, alpha, a, b = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        horizon = np.broadcast_to(_horizon(t), x.shape)
        z = horizon / (alpha + age + horizon)
        return _bracket(r, alpha, a, b, x, z) * _probability_alive(r, alpha, a, b, x, t_x, age)

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> Floats:
        """E[X(t)] for a new customer: b/(a-1) · [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]."""
        r, alpha, a, b = self._params()
        horizon = _horizon(t)
        z = horizon / (alpha + horizon)
        # a customer who bought at time 0 is alive with probability b/(a+b); then as above with x=0
        return b / (a + b) * _bracket(r, alpha, a, b, np.zeros_like(z), z)


def _horizon(t: ArrayLike) -> Floats:
    horizon = as_vector(t, "t")
    if np.any(horizon < 0):
        raise InvalidData("t must be >= 0", details={"field": "t"})
    return horizon


def _bracket(r: float, alpha: float, a: float, b: float, x: Floats, z: Floats) -> Floats:
    """(a+b+x)/(a-1) [1 - (1-z)^(a-1) 2F1(a+b-r, a-1; a+b+x; z)]: E[(1 - e^(-λpt))/p | alive].

    ``scipy.special.hyp2f1`` returns NaN or infinity for some far horizons (z very near 1 with
    a large a+b+x); those entries are integrated over p ~ Beta(a, b+x+1) numerically instead,
    with E_λ[e^(-λpt)] = (1 + p t/(α+T))^-(r+x) and t/(α+T) = z/(1-z).
    """
    with np.errstate(all="ignore"):
        power = np.exp((a - 1.0) * np.log1p(-z))
        value = (a + b + x) / (a - 1.0) * (1.0 - power * hyp2f1(a + b - r, a - 1.0, a + b + x, z))
    for i in np.flatnonzero(~np.isfinite(value)):
        value[i] = _bracket_by_quadrature(r, a, b + x[i] + 1.0, x[i], z[i] / (1.0 - z[i]))
    return value


def _bracket_by_quadrature(r: float, a: float, b: float, x: float, k: float) -> float:
    """E[(1 - (1 + p k)^-(r+x)) / p] for p ~ Beta(a, b)."""
    log_norm = betaln(a, b)

    def integrand(p: float) -> float:
        density = np.exp((a - 1.0) * np.log(p) + (b - 1.0) * np.log1p(-p) - log_norm)
        return float(-np.expm1(-(r + x) * np.log1p(p * k)) / p * density)

    breaks = [q for q in (1e-8, 1e-6, 1e-4, 1e-2, 0.1) if q < 1]
    value, _ = integrate.quad(integrand, 0.0, 1.0, limit=1000, epsrel=1e-12, points=breaks)
    return float(value)


def _log_dropout_term(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, age: Floats
) -> Floats:
    """log of a/(b+x) ((α+T)/(α+t_x))^(r+x): the odds of having left after the last purchase."""
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))


def _probability_alive(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, age: Floats
) -> Floats:
    return np.exp(-np.logaddexp(0.0, _log_dropout_term(r, alpha, a, b, x, t_x, age)))


def _log_likelihood(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, age: Floats
) -> Floats:
    """Each customer's log-likelihood, in logs throughout (no overflow for x in the thousands)."""
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x + 1.0) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + age)
    left = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return common + np.logaddexp(alive, left)
