"""What the models of how often customers buy share: fitting on (x, t_x, T) and predicting.

BG/NBD, MBG/NBD and Pareto/NBD differ only in their mathematics, which each supplies as static
methods on the natural parameters: ``_log_likelihood``, ``_probability_alive``,
``_expected_if_alive`` (E[X(T, T+t)] of a customer known to be alive at T), ``_expected``
(E[X(t)] of a new customer) and, where it has a closed form, ``_gradient``. Here the input is
checked, equal customers are collapsed into weights, the parameters in time units are fitted on
T scaled to about 1, and every prediction is vectorised over customers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from patron.analytics.clv.base import (
    Floats,
    Model,
    as_horizon,
    check_rfm,
    collapse,
    distinct,
    maximise,
)


class TransactionModel(Model, ABC):
    """A model of repeat purchases fitted on ``frequency`` x, ``recency`` t_x and ``T``.

    Inputs per customer: x repeat purchases, t_x the age at the last one, T the age at the end
    of the calibration period, all in one time unit (weeks for CDNOW).
    """

    #: the parameters measured in the time unit (rates' scales): fitted relative to max(T)
    _in_time_units: ClassVar[tuple[str, ...]] = ("alpha",)
    #: whether ``_gradient`` is defined; without it the fit differentiates numerically
    _has_gradient: ClassVar[bool] = False

    def __init__(self, *, start: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> None:
        self.start = start

    @staticmethod
    @abstractmethod
    def _log_likelihood(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats: ...

    @staticmethod
    @abstractmethod
    def _probability_alive(params: Floats, x: Floats, t_x: Floats, age: Floats) -> Floats: ...

    @staticmethod
    @abstractmethod
    def _expected_if_alive(params: Floats, t: Floats, x: Floats, age: Floats) -> Floats: ...

    @staticmethod
    @abstractmethod
    def _expected(params: Floats, t: Floats) -> Floats: ...

    @staticmethod
    def _gradient(params: Floats, x: Floats, t_x: Floats, age: Floats, weights: Floats) -> Floats:
        """The weighted log-likelihood's derivatives in the natural parameters."""
        raise NotImplementedError

    @classmethod
    def _likelihood_for(cls, x: Floats, t_x: Floats, age: Floats) -> Callable[[Floats], Floats]:
        """The customers' log-likelihoods as a function of the parameters, for one fit: a model
        may prepare what does not depend on the parameters once, before the search."""
        return lambda params: cls._log_likelihood(params, x, t_x, age)

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Self:
        """Maximum likelihood estimates of the parameters; equal customers are counted once."""
        x, t_x, age = check_rfm(frequency, recency, T)
        (x, t_x, age), weights = collapse(x, t_x, age)
        # fit on T scaled to ~1: the parameters in time units then start near the data's size
        scale = float(np.max(age))
        units = np.array([scale if n in self._in_time_units else 1.0 for n in self._names])

        per_customer = self._likelihood_for(x, t_x, age)

        def total(params: Floats) -> float:
            return float(np.sum(weights * per_customer(params * units)))

        def gradient(params: Floats) -> Floats:
            return self._gradient(params * units, x, t_x, age, weights) * units

        fit = maximise(
            total,
            self._names,
            np.array(self.start) / units,
            gradient=gradient if self._has_gradient else None,
        )
        for name, unit in zip(self._names, units.tolist(), strict=True):
            fit.params[name] *= unit
            fit.standard_errors[name] *= unit
        self._set(fit, int(weights.sum()))
        return self

    def individual_log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        """Each customer's log-likelihood at the fitted parameters."""
        params = self._params()
        return self._log_likelihood(params, *check_rfm(frequency, recency, T))

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        """P(alive at T | x, t_x, T): the chance each customer has not left yet."""
        params = self._params()
        return self._probability_alive(params, *check_rfm(frequency, recency, T))

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        """E[X(T, T+t) | x, t_x, T]: expected repeat purchases in the next ``t`` time units
        (one ``t`` for all customers, or one each)."""
        params = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        horizon = as_horizon(t, x.shape[0])
        alive = self._probability_alive(params, x, t_x, age)
        return self._expected_if_alive(params, horizon, x, age) * alive

    def conditional_expected_purchases_by_horizon(
        self, horizons: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Floats:
        """E[X(T, T+t) | x, t_x, T] for each t of ``horizons`` (rows) and customer (columns).

        The same numbers as one call per horizon, for many horizons at once (a lifetime value's
        months): P(alive) is computed once, and equal customers once each.
        """
        params = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        steps = as_horizon(horizons)
        (x, t_x, age), inverse = distinct(x, t_x, age)
        alive = self._probability_alive(params, x, t_x, age)
        rows = [self._expected_if_alive(params, np.full_like(x, t), x, age) for t in steps]
        return (np.array(rows).reshape(steps.shape[0], x.shape[0]) * alive)[:, inverse]

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> Floats:
        """E[X(t)] for a new customer: expected repeat purchases in their first ``t`` units."""
        params = self._params()
        return self._expected(params, as_horizon(t))
