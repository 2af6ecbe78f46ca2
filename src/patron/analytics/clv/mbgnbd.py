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

That is BG/NBD's likelihood with n = x + 1 chances to leave instead of x, so the functions of
``bgnbd`` (the analytic gradient among them) serve here with that n.

References
----------
Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models for
customer base analysis", International Journal of Research in Marketing 24(3).
"""

from __future__ import annotations

import numpy as np

from patron.analytics.clv.base import Floats
from patron.analytics.clv.bgnbd import (
    expected_while_alive,
    log_likelihood,
    log_likelihood_gradient,
    probability_alive,
)
from patron.analytics.clv.transaction import TransactionModel


class ModifiedBetaGeoFitter(TransactionModel):
    """MBG/NBD. ``fit(frequency, recency, T)`` estimates r, α, a, b by maximum likelihood."""

    _names = ("r", "alpha", "a", "b")
    _has_gradient = True

    @staticmethod
    def _log_likelihood(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats:
        return log_likelihood(params, x, t_x, age, x + 1.0)

    @staticmethod
    def _gradient(params: Floats, x: Floats, t_x: Floats, age: Floats, weights: Floats) -> Floats:
        return log_likelihood_gradient(params, x, t_x, age, x + 1.0, weights)

    @staticmethod
    def _probability_alive(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)), x = 0 included."""
        return probability_alive(params, x, t_x, age, x + 1.0)

    @staticmethod
    def _expected_if_alive(params: Floats, t: Floats, x: Floats, age: Floats) -> Floats:
        """(a+b+x)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(α+T+t))].

        Alive at T, the customer has p ~ Beta(a, b+x+1) and λ ~ Gamma(r+x, α+T), and buys
        (1 - e^(-λpt))/p more times in expectation: BG/NBD's expression with b+1 for b.
        """
        r, alpha, a, b = params
        return expected_while_alive(r, a, b + 1.0, x, t / (alpha + age + t))

    @staticmethod
    def _expected(params: Floats, t: Floats) -> Floats:
        """b/(a-1) · [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]."""
        r, alpha, a, b = params
        # a customer who bought at time 0 is alive with probability b/(a+b); then as above, x = 0
        return b / (a + b) * expected_while_alive(r, a, b + 1.0, np.zeros_like(t), t / (alpha + t))
