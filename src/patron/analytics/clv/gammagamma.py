"""Gamma-Gamma (Fader, Hardie & Lee 2005; Fader & Hardie 2013): what a repeat customer spends.

Each transaction value z ~ Gamma(p, ν), with ν ~ Gamma(q, v) across customers, independent of
how often they buy. The average m̄ of a customer's x repeat transactions is then Gamma(px, νx),
and integrating ν out gives each customer's likelihood

    Γ(px+q) / (Γ(px) Γ(q)) · v^q m̄^(px-1) x^px / (x m̄ + v)^(px+q).

Inputs per customer: ``frequency`` x (repeat purchases, >= 1 to fit) and ``monetary_value`` m̄
(the average value of those repeat purchases, > 0). Combined with a transaction model (BG/NBD)
it gives each customer's discounted lifetime value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from patron.analytics.clv.base import (
    Floats,
    InvalidData,
    Model,
    _refuse,
    as_vector,
    collapse,
    maximise,
)
from patron.analytics.clv.transaction import TransactionModel


class GammaGammaFitter(Model):
    """Gamma-Gamma. ``fit(frequency, monetary_value)`` estimates p, q, v by maximum likelihood."""

    _names = ("p", "q", "v")

    def __init__(self, *, start: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        self.start = start  # v relative to the mean of m̄ (the fit's scale)

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaFitter:
        x, m = _check_fit(frequency, monetary_value)
        (x, m), weights = collapse(x, m)
        scale = float(np.average(m, weights=weights))  # v is in money: start it near the data's

        def total(params: Floats) -> float:
            p, q, v = params
            return float(np.sum(weights * _log_likelihood(p, q, v * scale, x, m)))

        def gradient(params: Floats) -> Floats:
            p, q, v = params
            return _gradient(p, q, v * scale, x, m, weights) * np.array([1.0, 1.0, scale])

        fit = maximise(total, self._names, np.array(self.start), gradient=gradient)
        fit.params["v"] *= scale
        fit.standard_errors["v"] *= scale
        self._set(fit, int(weights.sum()))
        return self

    def individual_log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> Floats:
        p, q, v = self._params()
        x, m = _check_fit(frequency, monetary_value)
        return _log_likelihood(p, q, v, x, m)

    def population_average_profit(self) -> float:
        """E[M] = p v / (q - 1): the mean transaction value across customers (needs q > 1)."""
        p, q, v = self._params()
        _require_finite_mean(q)
        return float(p * v / (q - 1.0))

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> Floats:
        """E[M | x, m̄] = p (v + x m̄) / (px + q - 1) (needs q > 1).

        A weighted average of the population mean p v / (q - 1) and the customer's own m̄, with
        weight px / (px + q - 1) on m̄. A customer without repeat purchases (x = 0; m̄ is then
        ignored and may be 0) gets the population mean.
        """
        p, q, v = self._params()
        x, m = _check_predict(frequency, monetary_value)
        _require_finite_mean(q)
        return p * (v + x * m) / (p * x + q - 1.0)

    def customer_lifetime_value(
        self,
        transaction_model: TransactionModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        *,
        time: int = 12,
        discount_rate: float = 0.01,
        freq_unit_per_period: float = 4.345,
        margin: float = 1.0,
    ) -> Floats:
        """Discounted value of each customer's purchases over the next ``time`` periods.

        Σ_{i=1..time} (E[X(T, T + i·u)] - E[X(T, T + (i-1)·u)]) · E[M | x, m̄] · margin
        / (1 + discount_rate)^i, where u = ``freq_unit_per_period`` is one period (a month by
        default: 4.345 weeks) in the transaction model's time unit. ``frequency``, ``recency``
        and ``T`` are what the transaction model was fitted on.
        """
        _check_clv_settings(time, discount_rate, freq_unit_per_period, margin)
        x, m = _check_predict(frequency, monetary_value)
        spend = self.conditional_expected_average_profit(x, m)
        cumulative = transaction_model.conditional_expected_purchases_by_horizon(
            np.arange(time + 1) * freq_unit_per_period, x, recency, T
        )
        purchases = np.diff(cumulative, axis=0)  # expected purchases in period i, per customer
        discount = (1.0 + discount_rate) ** -np.arange(1, time + 1, dtype=np.float64)
        return np.asarray(margin * spend * (discount @ purchases), dtype=np.float64)


def _check_fit(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[Floats, Floats]:
    """Validated (x, m̄) for fitting: x a whole number >= 1, m̄ > 0."""
    x = as_vector(frequency, "frequency")
    m = as_vector(monetary_value, "monetary_value", x.shape[0])
    if x.shape[0] == 0:
        raise InvalidData("no customers to fit", details={"field": "frequency"})
    for field, values, wrong, reason in (
        ("frequency", x, (x < 0) | (x != np.round(x)), "is not a whole number >= 1"),
        (
            "frequency",
            x,
            x == 0,
            "is 0: the Gamma-Gamma model is fitted on repeat customers only"
            " (filter the customers to frequency >= 1 first)",
        ),
        ("monetary_value", m, m <= 0, "is not > 0"),
    ):
        rows = np.flatnonzero(wrong)
        if rows.size:
            _refuse(field, rows, values, reason)
    return x, m


def _check_predict(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[Floats, Floats]:
    """Validated (x, m̄) for predictions: x a whole number >= 0, m̄ > 0 when x >= 1, else >= 0."""
    x = as_vector(frequency, "frequency")
    m = as_vector(monetary_value, "monetary_value", x.shape[0])
    for field, values, wrong, reason in (
        ("frequency", x, (x < 0) | (x != np.round(x)), "is not a whole number >= 0"),
        ("monetary_value", m, (x > 0) & (m <= 0), "is not > 0"),
        ("monetary_value", m, m < 0, "is not >= 0"),
    ):
        rows = np.flatnonzero(wrong)
        if rows.size:
            _refuse(field, rows, values, reason)
    return x, m


def _check_clv_settings(
    time: int, discount_rate: float, freq_unit_per_period: float, margin: float
) -> None:
    checks = (
        ("time", time, isinstance(time, int | np.integer) and time >= 1, "a whole number >= 1"),
        ("discount_rate", discount_rate, np.isfinite(discount_rate) and discount_rate > -1, "> -1"),
        (
            "freq_unit_per_period",
            freq_unit_per_period,
            np.isfinite(freq_unit_per_period) and freq_unit_per_period > 0,
            "> 0",
        ),
        ("margin", margin, np.isfinite(margin), "a finite number"),
    )
    for field, value, good, expected in checks:
        if not good:
            raise InvalidData(
                f"{field} {value!r} must be {expected}", details={"field": field, "value": value}
            )


def _require_finite_mean(q: float) -> None:
    if q <= 1.0:
        raise InvalidData(
            f"the fitted q = {q:.4g} is <= 1: the Gamma-Gamma model's mean spend is infinite"
            " for it, so no expected average profit exists (the spend data are too heavy-tailed)",
            code="clv.infinite_mean",
            details={"field": "q", "value": float(q)},
        )


def _log_likelihood(p: float, q: float, v: float, x: Floats, m: Floats) -> Floats:
    """Each customer's log-likelihood, in logs throughout (no overflow for large x or m̄)."""
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def _gradient(p: float, q: float, v: float, x: Floats, m: Floats, weights: Floats) -> Floats:
    """The weighted log-likelihood's derivatives in (p, q, v)."""
    px = p * x
    log_total = np.log(x * m + v)
    shared = digamma(px + q)
    return np.array(
        [
            np.sum(weights * x * (shared - digamma(px) + np.log(m) + np.log(x) - log_total)),
            np.sum(weights * (shared - digamma(q) + np.log(v) - log_total)),
            np.sum(weights * (q / v - (px + q) / (x * m + v))),
        ]
    )
