"""What every CLV model shares: input checks, collapsing equal customers, maximum likelihood.

The models follow scikit-learn's estimator contract: parameters of the fit go to ``__init__``,
``fit`` returns ``self``, learned values end in ``_`` (``params_``, ``standard_errors_``,
``log_likelihood_``). Bad input raises ``InvalidData`` naming the row and the field; a fit that
does not converge raises ``NotConverged``; predicting before fitting raises ``NotFitted``.

Fitting works on the logarithms of the (positive) parameters, so the optimiser cannot leave
their domain; standard errors come from the inverse Hessian of the negative log-likelihood
in the natural parameters, by central differences.
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


def collapse(*columns: Floats) -> tuple[tuple[Floats, ...], Floats]:
    """Equal rows once each, with how often they occur (the likelihood's weights)."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return tuple(unique[:, i] for i in range(unique.shape[1])), counts.astype(np.float64)


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
        options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-9},
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
    errors = _standard_errors(log_likelihood, natural)
    return Fit(
        params=dict(zip(names, natural.tolist(), strict=True)),
        standard_errors=dict(zip(names, errors.tolist(), strict=True)),
        log_likelihood=float(-result.fun),
        iterations=int(result.nit),
        seconds=time.perf_counter() - began,
    )


def _flat(result: Any) -> bool:
    """L-BFGS-B stops with ABNORMAL when the line search cannot improve a converged point."""
    return "ABNORMAL" in str(result.message) and bool(np.all(np.abs(result.jac) < 1e-3))


def _standard_errors(log_likelihood: Callable[[Floats], float], at: Floats) -> Floats:
    """Square roots of the diagonal of the inverse observed information (NaN if singular)."""
    size = at.shape[0]
    steps = 1e-4 * np.maximum(np.abs(at), 1e-3)
    hessian = np.empty((size, size))
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
    try:
        covariance = np.linalg.inv(-hessian)
    except np.linalg.LinAlgError:
        return np.full(size, np.nan)
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
