"""BG/NBD (Fader, Hardie & Lee 2005): repeat purchases of customers who may silently leave.

While alive, a customer buys at rate λ ~ Gamma(r, α); after each repeat purchase they leave
with probability p ~ Beta(a, b). Inputs per customer: ``frequency`` x (repeat purchases),
``recency`` t_x (age at the last one) and ``T`` (age at the end of the calibration period), in
one time unit (weeks for CDNOW).

The functions below serve MBG/NBD too, which differs only in how many purchases a customer may
leave after: n = x here (none before the first repeat purchase), n = x + 1 there. Given λ and p,

    L(λ, p) = (1-p)^n λ^x e^(-λT) + [n > 0] p (1-p)^(n-1) λ^x e^(-λ t_x),

and over the mixing distributions (E[(1-p)^n] = B(a, b+n)/B(a, b), E[p (1-p)^(n-1)] =
a/(b+n-1) · B(a, b+n)/B(a, b))

    LL = ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+n) - ln B(a, b)
         + ln[(α+T)^-(r+x) + [n > 0] a/(b+n-1) (α+t_x)^-(r+x)],

whose derivatives are closed (digamma functions), so the fit uses the analytic gradient.

References
----------
Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2); Fader, Hardie & Lee (2007), "Computing P(alive)
using the BG/NBD model" (the x = 0 case of the formulas).
"""

from __future__ import annotations

import numpy as np
from scipy import integrate
from scipy.special import betaln, digamma, gammaln, hyp2f1

from patron.analytics.clv.base import Floats
from patron.analytics.clv.transaction import TransactionModel


class BetaGeoFitter(TransactionModel):
    """BG/NBD. ``fit(frequency, recency, T)`` estimates r, α, a, b by maximum likelihood."""

    _names = ("r", "alpha", "a", "b")
    _has_gradient = True

    @staticmethod
    def _log_likelihood(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats:
        return log_likelihood(params, x, t_x, age, x)

    @staticmethod
    def _gradient(params: Floats, x: Floats, t_x: Floats, age: Floats, weights: Floats) -> Floats:
        return log_likelihood_gradient(params, x, t_x, age, x, weights)

    @staticmethod
    def _probability_alive(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """1 / (1 + [x > 0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x)): 1 without repeat purchases."""
        return probability_alive(params, x, t_x, age, x)

    @staticmethod
    def _expected_if_alive(params: Floats, t: Floats, x: Floats, age: Floats) -> Floats:
        """(a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]."""
        r, alpha, a, b = params
        return expected_while_alive(r, a, b, x, t / (alpha + age + t))

    @staticmethod
    def _expected(params: Floats, t: Floats) -> Floats:
        """(a+b-1)/(a-1) [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))]."""
        r, alpha, a, b = params
        return expected_while_alive(r, a, b, np.zeros_like(t), t / (alpha + t))


def _log_odds_gone(params: Floats, x: Floats, t_x: Floats, age: Floats, n: Floats) -> Floats:
    """log of [n > 0] a/(b+n-1) ((α+T)/(α+t_x))^(r+x): the odds of having left after the last
    purchase against being alive; -inf when no purchase gave the chance to leave."""
    r, alpha, a, b = params
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.log(a) - np.log(b + n - 1.0) + (r + x) * np.log1p((age - t_x) / (alpha + t_x))
    return np.where(n > 0, odds, -np.inf)


def log_likelihood(params: Floats, x: Floats, t_x: Floats, age: Floats, n: Floats) -> Floats:
    """Each customer's log-likelihood after n chances to leave, in logs throughout (no overflow
    for x in the thousands)."""
    r, alpha, a, b = params
    alive = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        - (r + x) * np.log(alpha + age)
        + betaln(a, b + n)
        - betaln(a, b)
    )
    return alive + np.logaddexp(0.0, _log_odds_gone(params, x, t_x, age, n))


def log_likelihood_gradient(
    params: Floats, x: Floats, t_x: Floats, age: Floats, n: Floats, weights: Floats
) -> Floats:
    """The weighted log-likelihood's derivatives in (r, α, a, b), n chances to leave each.

    With LL = ln(alive part) + ln(1 + odds), every derivative is the alive part's plus
    P(gone) times the log-odds' own.
    """
    r, alpha, a, b = params
    odds = _log_odds_gone(params, x, t_x, age, n)
    gone = np.exp(-np.logaddexp(0.0, -odds))  # odds / (1 + odds), 0 for n = 0
    late = age - t_x
    shared = digamma(a + b) - digamma(a + b + n)
    with np.errstate(divide="ignore"):
        per_b = np.where(n > 0, 1.0 / (b + n - 1.0), 0.0)
    columns = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - np.log(alpha + age)
        + gone * np.log1p(late / (alpha + t_x)),
        r / alpha
        - (r + x) / (alpha + age)
        - gone * (r + x) * late / ((alpha + age) * (alpha + t_x)),
        shared + gone / a,
        shared + digamma(b + n) - digamma(b) - gone * per_b,
    )
    return np.array([np.sum(weights * column) for column in columns])


def probability_alive(params: Floats, x: Floats, t_x: Floats, age: Floats, n: Floats) -> Floats:
    """P(alive at T) = 1 / (1 + the odds of having left after the last purchase)."""
    return np.exp(-np.logaddexp(0.0, _log_odds_gone(params, x, t_x, age, n)))


def expected_while_alive(r: float, a: float, b: float, x: Floats, z: Floats) -> Floats:
    """E[(1 - e^(-λpt))/p] for p ~ Beta(a, b+x), λ ~ Gamma(r+x, α+T), z = t/(α+T+t): the
    expected purchases in the next t of a customer alive at T,

        (a+b+x-1)/(a-1) [1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)].

    Euler's transformation writes the bracket as 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z):
    no large power, no large 2F1 parameter but the last. ``scipy.special.hyp2f1`` still returns
    NaN or infinity for some far horizons (z very near 1 with a large a+b+x); those entries are
    integrated over p numerically instead, with E_λ[e^(-λpt)] = (1 + p z/(1-z))^-(r+x).
    """
    with np.errstate(all="ignore"):
        power = np.exp((a - 1.0) * np.log1p(-z))
        series = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        value = (a + b + x - 1.0) / (a - 1.0) * (1.0 - power * series)
    for i in np.flatnonzero(~np.isfinite(value)):
        value[i] = _expected_by_quadrature(r + x[i], a, b + x[i], z[i] / (1.0 - z[i]))
    return value


def _expected_by_quadrature(shape: float, a: float, b: float, k: float) -> float:
    """E[(1 - (1 + p k)^-shape) / p] for p ~ Beta(a, b)."""
    log_norm = betaln(a, b)

    def integrand(p: float) -> float:
        density = np.exp((a - 1.0) * np.log(p) + (b - 1.0) * np.log1p(-p) - log_norm)
        return float(-np.expm1(-shape * np.log1p(p * k)) / p * density)

    breaks = [1e-8, 1e-6, 1e-4, 1e-2, 0.1]
    value, _ = integrate.quad(integrand, 0.0, 1.0, limit=1000, epsrel=1e-12, points=breaks)
    return float(value)
