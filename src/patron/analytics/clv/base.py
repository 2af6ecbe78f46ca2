"""What every CLV model shares: input checks, collapsing equal customers, maximum likelihood.

The models follow scikit-learn's estimator contract: parameters of the fit go to ``__init__``,
``fit`` returns ``self``, learned values end in ``_`` (``params_``, ``standard_errors_``,
``log_likelihood_``). Bad input raises ``InvalidData`` naming the row and the field; a fit that
does not converge raises ``NotConverged``; predicting before fitting raises ``NotFitted``.

Fitting works on the logarithms of the (positive) parameters, so the optimiser cannot leave
their domain; standard errors come from the inverse Hessian of the negative log-likelihood
in the natural parameters, by central differences (of the analytic gradient where a model
has one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from patron.errors import PatronError

Floats = NDArray[np.float64]


class InvalidData(PatronError):
    code = "clv.invalid_data"
    status = 422


class NotConverged(PatronError):
    code = "clv.not_converged"
    status = 422


class NotFitted(PatronError):
    code = "clv.not_fitted"
    status = 409


def as_vector(values: ArrayLike, field: str, length: int | None = None) -> Floats:
    """``values`` as a 1-D float array, every value finite; else ``InvalidData`` naming a row."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise InvalidData(f"{field} must be one-dimensional", details={"field": field})
    if length is not None and array.shape[0] != length:
        raise InvalidData(
            f"{field} has {array.shape[0]} values, expected {length}",
            details={"field": field, "length": int(array.shape[0]), "expected": length},
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        _refuse(field, bad, array, "is not a finite number")
    return array


def _refuse(field: str, rows: NDArray[np.intp], values: Floats, reason: str) -> None:
    row = int(rows[0])
    raise InvalidData(
        f"row {row}: {field} {values[row]!r} {reason}"
        + (f" (and {rows.size - 1} more rows)" if rows.size > 1 else ""),
        details={"row": row, "field": field, "value": float(values[row]), "rows": int(rows.size)},
    )


def check_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[Floats, Floats, Floats]:
    """Validated (x, t_x, T): x a whole number >= 0, 0 <= t_x <= T, T > 0, t_x = 0 when x = 0."""
    x = as_vector(frequency, "frequency")
    t_x = as_vector(recency, "recency", x.shape[0])
    age = as_vector(T, "T", x.shape[0])
    if x.shape[0] == 0:
        raise InvalidData("no customers to fit", details={"field": "frequency"})
    for field, values, wrong, reason in (
        ("frequency", x, (x < 0) | (x != np.round(x)), "is not a whole number >= 0"),
        ("T", age, age <= 0, "is not > 0"),
        ("recency", t_x, (t_x < 0) | (t_x > age * (1 + 1e-9)), "is not between 0 and T"),
        (
            "recency",
            t_x,
            (x == 0) & (t_x != 0),
            "must be 0 for a customer without repeat purchases",
        ),
    ):
        rows = np.flatnonzero(wrong)
        if rows.size:
            _refuse(field, rows, values, reason)
    return x, t_x, age


def distinct(*columns: Floats) -> tuple[tuple[Floats, ...], NDArray[np.intp]]:
    """Equal rows once each (sorted by the first column, then the next), and for every row
    the index of its distinct row: ``unique[i][inverse]`` gives ``columns[i]`` back.

    One lexicographic sort; ``np.unique(axis=0)`` takes eight times as long on a million rows.
    """
    order = np.lexsort(columns[::-1])
    repeated = np.zeros(order.size, dtype=bool)  # equal to the row before, in sorted order
    repeated[1:] = True
    for column in columns:
        ordered = column[order]
        repeated[1:] &= ordered[1:] == ordered[:-1]
    starts = ~repeated
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.cumsum(starts) - 1
    chosen = order[starts]
    return tuple(column[chosen] for column in columns), inverse


def collapse(*columns: Floats) -> tuple[tuple[Floats, ...], Floats]:
    """Equal rows once each, with how often they occur (the likelihood's weights)."""
    unique, inverse = distinct(*columns)
    return unique, np.bincount(inverse, minlength=unique[0].shape[0]).astype(np.float64)


def as_horizon(t: ArrayLike, customers: int | None = None, *, field: str = "t") -> Floats:
    """Validated lengths of time ``t`` >= 0: one for all customers, or one per customer."""
    horizon = as_vector(t, field)
    if customers is not None and horizon.shape[0] not in (1, customers):
        raise InvalidData(
            f"{field} has {horizon.shape[0]} values, expected 1 or {customers}",
            details={"field": field, "length": int(horizon.shape[0]), "expected": customers},
        )
    rows = np.flatnonzero(horizon < 0)
    if rows.size:
        _refuse(field, rows, horizon, "is not >= 0")
    if customers is not None:
        return np.broadcast_to(horizon, (customers,))
    return horizon


@dataclass(frozen=True)
class Fit:
    params: dict[str, float]
    standard_errors: dict[str, float]
    log_likelihood: float
    iterations: int
    seconds: float


def maximise(
    log_likelihood: Callable[[Floats], float],
    names: Sequence[str],
    start: Floats,
    *,
    gradient: Callable[[Floats], Floats] | None = None,
    max_iterations: int = 2000,
) -> Fit:
    """Maximum likelihood of positive parameters (``log_likelihood`` takes natural values).

    ``gradient`` (of the log-likelihood in natural values) is used when given; the optimiser
    works on the logarithms. Raises ``NotConverged`` when it cannot find a maximum.
    """
    began = time.perf_counter()

    def objective(logs: Floats) -> float:
        value = log_likelihood(np.exp(logs))
        return -value if np.isfinite(value) else np.inf

    jac: Callable[[Floats], Floats] | None = None
    if gradient is not None:
        grad = gradient

        def jac(logs: Floats) -> Floats:
            natural = np.exp(logs)
            return -grad(natural) * natural

    result = optimize.minimize(
        objective,
        np.log(start),
        jac=jac,
        method="L-BFGS-B",
        # ftol 1e-12: the log-likelihood to 12 digits, far finer than the parameters need;
        # tighter only adds finite-difference gradients (Pareto/NBD) that change nothing.
        options={"maxiter": max_iterations, "ftol": 1e-12, "gtol": 1e-6},
    )
    natural = np.exp(result.x)
    if not (result.success or _flat(result)) or not np.isfinite(result.fun):
        raise NotConverged(
            f"the fit did not converge: {result.message}",
            details={
                "message": str(result.message),
                "params": dict(zip(names, natural.tolist(), strict=True)),
            },
        )
    errors = _standard_errors(_hessian(log_likelihood, gradient, natural))
    return Fit(
        params=dict(zip(names, natural.tolist(), strict=True)),
        standard_errors=dict(zip(names, errors.tolist(), strict=True)),
        log_likelihood=float(-result.fun),
        iterations=int(result.nit),
        seconds=time.perf_counter() - began,
    )


def _flat(result: Any) -> bool:
    """L-BFGS-B stops with ABNORMAL when the line search cannot improve a converged point.

    Converged: a relative change of any parameter moves the log-likelihood, a sum over
    customers, by less than 1e-7 of itself (for a million customers the function's own rounding
    hides the last improvements long before its gradient reaches an absolute threshold).
    """
    scale = 1e-7 * max(1.0, abs(float(result.fun)))
    return "ABNORMAL" in str(result.message) and bool(np.all(np.abs(result.jac) < scale))


def _hessian(
    log_likelihood: Callable[[Floats], float],
    gradient: Callable[[Floats], Floats] | None,
    at: Floats,
) -> Floats:
    """The log-likelihood's second derivatives at ``at``, by central differences (of the
    gradient where there is one: fewer evaluations, and one differencing less)."""
    size = at.shape[0]
    steps = 1e-4 * np.maximum(np.abs(at), 1e-3)
    hessian = np.empty((size, size))
    if gradient is not None:
        for i in range(size):
            step = np.zeros(size)
            step[i] = steps[i]
            hessian[:, i] = (gradient(at + step) - gradient(at - step)) / (2 * steps[i])
        return (hessian + hessian.T) / 2
    for i in range(size):
        for j in range(i, size):

            def value(di: float, dj: float, i: int = i, j: int = j) -> float:
                point = at.copy()
                point[i] += di
                point[j] += dj
                return log_likelihood(point)

            hi, hj = steps[i], steps[j]
            hessian[i, j] = hessian[j, i] = (
                value(hi, hj) - value(hi, -hj) - value(-hi, hj) + value(-hi, -hj)
            ) / (4 * hi * hj)
    return hessian


def _standard_errors(hessian: Floats) -> Floats:
    """Square roots of the diagonal of the inverse observed information (NaN if singular)."""
    try:
        covariance = np.linalg.inv(-hessian)
    except np.linalg.LinAlgError:
        return np.full(hessian.shape[0], np.nan)
    diagonal = np.diag(covariance)
    return np.where(diagonal > 0, np.sqrt(np.abs(diagonal)), np.nan)


class Model:
    """The shared estimator plumbing; subclasses define ``_names`` and fit ``params_``."""

    _names: tuple[str, ...] = ()

    params_: dict[str, float]
    standard_errors_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    fit_seconds_: float

    def _set(self, fit: Fit, customers: int) -> None:
        self.params_ = fit.params
        self.standard_errors_ = fit.standard_errors
        self.log_likelihood_ = fit.log_likelihood
        self.n_customers_ = customers
        self.fit_seconds_ = fit.seconds

    def _params(self) -> Floats:
        if not hasattr(self, "params_"):
            raise NotFitted(f"{type(self).__name__} is not fitted yet: call fit(...) first")
        return np.array([self.params_[name] for name in self._names])

    def summary(self) -> dict[str, Any]:
        """Parameters, standard errors, log-likelihood, customers and fit time, as plain data."""
        self._params()
        return {
            "model": type(self).__name__,
            "params": dict(self.params_),
            "standard_errors": dict(self.standard_errors_),
            "log_likelihood": self.log_likelihood_,
            "customers": self.n_customers_,
            "fit_seconds": self.fit_seconds_,
        }
