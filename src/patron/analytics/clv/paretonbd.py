"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): repeat purchases with an unobserved lifetime.

While alive, a customer buys at rate λ ~ Gamma(r, α); their lifetime is exponential with rate
μ ~ Gamma(s, β), independent of λ. Inputs per customer: ``frequency`` x (repeat purchases),
``recency`` t_x (age at the last one) and ``T`` (age at the end of the calibration period), in
one time unit (weeks for CDNOW). The likelihood follows Fader & Hardie's note "A Note on
Deriving the Pareto/NBD Model and Related Expressions" (2005):

    L = Γ(r+x) α^r β^s / Γ(r) · { (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) · A0 },

A0 written with the Gaussian hypergeometric function of argument (α-β)/(α+t) when α ≥ β and
(β-α)/(β+t) when α < β, so that the argument lies in [0, 1). Here everything is in logs, and each
2F1 is first put through Euler's transformation so that its large parameters (r+x, r+s+x)
leave the function and only the last one stays large: no overflow for x in the thousands.

Unlike BG/NBD, the fit differentiates the likelihood numerically. r and s sit among the
parameters of A0's 2F1, and a hypergeometric function has no closed derivative in its
parameters: each would take a second continued fraction (or a quadrature) per customer, more
work than the four extra likelihood evaluations of a forward-difference gradient, for a fit that
takes a fraction of a second on CDNOW.

References
----------
Schmittlein, Morrison & Colombo (1987), "Counting your customers: who are they and what will
they do next?", Management Science 33(1); Fader & Hardie (2005), "A note on deriving the
Pareto/NBD model and related expressions".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import gammaln, hyp2f1

from patron.analytics.clv.base import Floats, distinct
from patron.analytics.clv.transaction import TransactionModel

SCIPY_UP_TO = 0.9  # hyp2f1_one: SciPy's series below, the continued fraction above


class ParetoNBDFitter(TransactionModel):
    """Pareto/NBD. ``fit(frequency, recency, T)`` estimates r, α, s, β by maximum likelihood."""

    _names = ("r", "alpha", "s", "beta")
    _in_time_units = ("alpha", "beta")

    @staticmethod
    def _log_likelihood(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """Each customer's log-likelihood, in logs throughout (no overflow for x in the thousands)."""
        return _log_likelihoods(x, t_x, age)(params)

    @classmethod
    def _likelihood_for(cls, x: Floats, t_x: Floats, age: Floats) -> Callable[[Floats], Floats]:
        return _log_likelihoods(x, t_x, age)

    @staticmethod
    def _probability_alive(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0)."""
        r, alpha, s, beta = params
        return _probability_alive(r, alpha, s, beta, x, t_x, age)

    @staticmethod
    def _expected_if_alive(params: Floats, t: Floats, x: Floats, age: Floats) -> Floats:
        """(r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)]: λ ~ Gamma(r+x, α+T) times
        the expected remaining lifetime within t, μ ~ Gamma(s, β+T)."""
        r, alpha, s, beta = params
        return (r + x) / (alpha + age) * _expected_lifetime(s, beta + age, t)

    @staticmethod
    def _expected(params: Floats, t: Floats) -> Floats:
        """r β / (α (s-1)) · [1 - (β/(β+t))^(s-1)]."""
        r, alpha, s, beta = params
        return r / alpha * _expected_lifetime(s, beta, t)


def _expected_lifetime(s: float, beta: float | Floats, horizon: Floats) -> Floats:
    """E[min(τ, t)] for τ ~ Exp(μ), μ ~ Gamma(s, β): β/(s-1) [1 - (β/(β+t))^(s-1)] (s = 1: log)."""
    log_ratio = -np.log1p(horizon / beta)  # log(β/(β+t)) <= 0
    if abs(s - 1.0) < 1e-9:
        return beta * -log_ratio
    return beta * -np.expm1((s - 1.0) * log_ratio) / (s - 1.0)


def _log1mexp(d: Floats) -> Floats:
    """log(1 - e^d) for d <= 0, accurate on both sides of -log 2; -inf at d = 0."""
    d = np.minimum(d, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(d > -np.log(2.0), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


def _log_a0_part(r: float, alpha: float, s: float, beta: float, x: Floats, until: Floats) -> Floats:
    """log of 2F1(...; z(t)) / (max(α,β)+t)^(r+s+x) at t = ``until``, Fader & Hardie's A0 term.

    α ≥ β: 2F1(r+s+x, s+1; r+s+x+1; z), z = (α-β)/(α+t); Euler's transformation turns it into
    (1-z)^-s 2F1(1, r+x; r+s+x+1; z). α < β: 2F1(r+s+x, r+x; r+s+x+1; z), z = (β-α)/(β+t),
    which is (1-z)^(1-r-x) 2F1(1, s+1; r+s+x+1; z). With 1-z a ratio of (α+t) and (β+t), both
    cases become sums of logs of positive numbers.
    """
    total = r + s + x
    log_a, log_b = np.log(alpha + until), np.log(beta + until)
    if alpha >= beta:
        z = (alpha - beta) / (alpha + until)
        series = hyp2f1_one(r + x, total + 1.0, z)
        return -s * log_b - (r + x) * log_a + np.log(series)
    z = (beta - alpha) / (beta + until)
    series = hyp2f1_one(np.full_like(total, s + 1.0), total + 1.0, z)
    return (1.0 - r - x) * log_a - (1.0 + s) * log_b + np.log(series)


def hyp2f1_one(b: Floats, c: Floats, z: Floats, *, max_terms: int = 100_000) -> Floats:
    """2F1(1, b; c; z) for 0 < b < c, c > 1 and 0 <= z < 1.

    Up to z = ``SCIPY_UP_TO`` (0.9) SciPy's ``hyp2f1`` (its power series there, checked to
    agree with the continued fraction to 1e-14 for b up to 2e4, whole c - b - 1 included) at
    half the cost; above, Gauss's continued fraction (``_continued_fraction``).
    """
    b, c, z = (np.array(v, dtype=np.float64) for v in np.broadcast_arrays(b, c, z))
    result = np.empty_like(z)
    near = z > SCIPY_UP_TO
    result[~near] = hyp2f1(1.0, b[~near], c[~near], z[~near])
    bad = ~near & ~np.isfinite(result)
    near |= bad
    if near.any():
        result[near] = _continued_fraction(b[near], c[near], z[near], max_terms=max_terms)
    return result


def _continued_fraction(b: Floats, c: Floats, z: Floats, *, max_terms: int) -> Floats:
    """2F1(1, b; c; z) by Gauss's continued fraction.

    ``scipy.special.hyp2f1`` cannot be used near z = 1: for a large b, or with c - b - 1
    a whole number, it returns NaN, infinity or plainly wrong values (even negative ones). This
    is the continued fraction of the incomplete beta function (2F1(1, b; c; z) is
    B_z(c-1, b-c+1) / (z^(c-1) (1-z)^(b-c+1) / (c-1))), evaluated by the modified Lentz method
    on the entries not yet converged. It converges for every z < 1: in tens of steps for
    z <= 0.9, in thousands only as 1 - z falls towards 1e-6. NaN where it has not converged.
    """
    b, c, z = (np.array(v, dtype=np.float64) for v in np.broadcast_arrays(b, c, z))
    tiny = 1e-300

    def nonzero(values: Floats) -> Floats:
        return np.where(np.abs(values) < tiny, tiny, values)

    d = 1.0 / nonzero(1.0 - b * z / c)
    previous = np.ones_like(z)  # Lentz's C
    result = d.copy()
    active = np.flatnonzero(z > 0)
    for m in range(1, max_terms):
        if active.size == 0:
            break
        bb, cc, zz = b[active], c[active], z[active]
        dd, pp, hh = d[active], previous[active], result[active]
        for step in (
            m * (bb - cc + 1.0 - m) * zz / ((cc - 2.0 + 2 * m) * (cc - 1.0 + 2 * m)),
            -(cc - 1.0 + m) * (bb + m) * zz / ((cc - 1.0 + 2 * m) * (cc + 2 * m)),
        ):
            dd = 1.0 / nonzero(1.0 + step * dd)
            pp = nonzero(1.0 + step / pp)
            delta = dd * pp
            hh = hh * delta
        d[active], previous[active], result[active] = dd, pp, hh
        active = active[np.abs(delta - 1.0) >= 1e-15]
    else:
        result[active] = np.nan
    return result


def _log_likelihoods(x: Floats, t_x: Floats, age: Floats) -> Callable[[Floats], Floats]:
    """The customers' log-likelihoods as a function of (r, α, s, β).

    A0's hypergeometric terms depend on a customer only through (x, t_x) and (x, T), and
    customers share those pairs far more often than whole rows (a cohort's T, small x): each
    term is computed once per distinct pair, found once for the whole fit.
    """
    (x_at_tx, at_tx), to_tx = distinct(x, t_x)
    (x_at_T, at_T), to_T = distinct(x, age)

    def per_customer(params: Floats) -> Floats:
        r, alpha, s, beta = params
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        upper = _log_a0_part(r, alpha, s, beta, x_at_tx, at_tx)[to_tx]
        lower = _log_a0_part(r, alpha, s, beta, x_at_T, at_T)[to_T]
        alive, died = _alive_and_died(r, alpha, s, beta, x, age, upper, lower)
        return common + np.logaddexp(alive, died)

    return per_customer


def _log_terms(
    r: float, alpha: float, s: float, beta: float, x: Floats, t_x: Floats, age: Floats
) -> tuple[Floats, Floats]:
    """(log of the alive-at-T term, log of the died-in-(t_x, T] term) of the likelihood's braces.

    The second is log(s/(r+s+x)) + log A0, A0 = F(t_x) - F(T) computed as
    log F(t_x) + log(1 - F(T)/F(t_x)); the ratio is clipped to <= 1 so rounding never makes A0
    negative (t_x = T gives A0 = 0 exactly, log A0 = -inf).
    """
    upper = _log_a0_part(r, alpha, s, beta, x, t_x)
    lower = _log_a0_part(r, alpha, s, beta, x, age)
    return _alive_and_died(r, alpha, s, beta, x, age, upper, lower)


def _alive_and_died(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: Floats,
    age: Floats,
    upper: Floats,
    lower: Floats,
) -> tuple[Floats, Floats]:
    """The two terms from A0's parts at t_x (``upper``) and at T (``lower``)."""
    alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    died = np.log(s) - np.log(r + s + x) + upper + _log1mexp(lower - upper)
    return alive, died


def _probability_alive(
    r: float, alpha: float, s: float, beta: float, x: Floats, t_x: Floats, age: Floats
) -> Floats:
    alive, died = _log_terms(r, alpha, s, beta, x, t_x, age)
    return np.exp(alive - np.logaddexp(alive, died))
