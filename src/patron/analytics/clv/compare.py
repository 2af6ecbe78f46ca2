"""Which transaction model predicts a holdout period best, and the cohort's tracking curve.

Each model is fitted on a calibration period; what the same customers bought afterwards (the
holdout) shows how well it predicts, in total, per customer and by calibration frequency, the
checks of Fader, Hardie & Lee (2005) on CDNOW's weeks 40-78. AIC and BIC weigh the calibration
fit against the number of parameters. ``expected_cumulative_purchases`` is the tracking curve:
the whole cohort's expected cumulative repeat purchases over calendar time.

References
----------
Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2), figures 2 (tracking curve) and 4 (conditional
expectations by frequency).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from patron.analytics.clv.base import (
    Floats,
    InvalidData,
    _refuse,
    as_horizon,
    as_vector,
    check_rfm,
)
from patron.analytics.clv.transaction import TransactionModel

FREQUENCY_BINS = ("0", "1", "2", "3", "4", "5", "6", "7+")


class FrequencyBin(NamedTuple):
    """Customers with one calibration frequency ("7+": seven or more) and their holdout
    purchases: the mean actual and the mean the model predicted."""

    frequency: str
    customers: int
    mean_actual: float
    mean_predicted: float


@dataclass(frozen=True)
class ModelScore:
    """One model's calibration fit and holdout predictions (errors are per customer)."""

    name: str
    params: dict[str, float]
    log_likelihood: float  # of the calibration data given, at the fitted parameters
    n_params: int
    aic: float
    bic: float
    predicted_total: float
    actual_total: float
    mae: float
    rmse: float
    by_frequency: tuple[FrequencyBin, ...]  # bins without customers left out


def holdout_comparison(
    models: Mapping[str, TransactionModel],
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    holdout_purchases: ArrayLike,
    holdout_length: ArrayLike,
) -> list[ModelScore]:
    """Score fitted models on a holdout period: best first (lowest BIC; ties keep the order
    of ``models``).

    ``frequency``, ``recency`` and ``T`` describe the calibration period (what the models were
    fitted on); ``holdout_purchases`` are each customer's repeat purchases in the holdout that
    follows it, ``holdout_length`` its length in the models' time unit (one for all customers,
    or one each). A model predicts E[X(T, T + holdout_length) | x, t_x, T] per customer.
    """
    if not models:
        raise InvalidData("no models to compare", details={"field": "models"})
    x, t_x, age = check_rfm(frequency, recency, T)
    actual = as_vector(holdout_purchases, "holdout_purchases", x.shape[0])
    rows = np.flatnonzero((actual < 0) | (actual != np.round(actual)))
    if rows.size:
        _refuse("holdout_purchases", rows, actual, "is not a whole number >= 0")
    length = as_horizon(holdout_length, x.shape[0], field="holdout_length")
    rows = np.flatnonzero(length == 0)
    if rows.size:
        _refuse("holdout_length", rows, np.asarray(length), "is not > 0")
    scores = [
        _score(name, _fitted(model, "models", name), x, t_x, age, actual, length)
        for name, model in models.items()
    ]
    return sorted(scores, key=lambda score: score.bic)


def _fitted(model: object, field: str, name: str | None = None) -> TransactionModel:
    if not isinstance(model, TransactionModel):
        which = f"model {name!r}" if name is not None else field
        raise InvalidData(
            f"{which} is a {type(model).__name__}, not a model of repeat purchases",
            details={"field": field, "model": name},
        )
    model._params()  # NotFitted before anything is computed
    return model


def _score(
    name: str,
    model: TransactionModel,
    x: Floats,
    t_x: Floats,
    age: Floats,
    actual: Floats,
    length: Floats,
) -> ModelScore:
    log_likelihood = float(np.sum(model.individual_log_likelihood(x, t_x, age)))
    k = len(model.params_)
    predicted = model.conditional_expected_number_of_purchases_up_to_time(length, x, t_x, age)
    error = predicted - actual
    return ModelScore(
        name=name,
        params=dict(model.params_),
        log_likelihood=log_likelihood,
        n_params=k,
        aic=2 * k - 2 * log_likelihood,
        bic=k * np.log(x.shape[0]) - 2 * log_likelihood,
        predicted_total=float(predicted.sum()),
        actual_total=float(actual.sum()),
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error**2))),
        by_frequency=_by_frequency(x, actual, predicted),
    )


def _by_frequency(x: Floats, actual: Floats, predicted: Floats) -> tuple[FrequencyBin, ...]:
    bins = np.minimum(x, len(FREQUENCY_BINS) - 1).astype(np.intp)
    size = len(FREQUENCY_BINS)
    customers = np.bincount(bins, minlength=size)
    actual_sums = np.bincount(bins, weights=actual, minlength=size)
    predicted_sums = np.bincount(bins, weights=predicted, minlength=size)
    return tuple(
        FrequencyBin(label, int(count), float(bought / count), float(expected / count))
        for label, count, bought, expected in zip(
            FREQUENCY_BINS, customers, actual_sums, predicted_sums, strict=True
        )
        if count > 0
    )


def expected_cumulative_purchases(
    model: TransactionModel, first_purchase_offsets: ArrayLike, grid: ArrayLike
) -> Floats:
    """The cohort's expected cumulative repeat purchases at each time of ``grid``.

    Σ_i E[X(t - s_i)] for t in ``grid``, customer i having made their first purchase at
    s_i = ``first_purchase_offsets[i]``, both in the model's time unit from a common start;
    a customer contributes 0 until s_i. E[X(·)] is the model's expectation for a new customer,
    computed once for every distinct t - s_i (customers who started together count once): with
    first purchases on whole days, 100,000 customers and 100 times take milliseconds; with
    offsets that all differ, every (t, s_i) is its own evaluation (seconds).
    """
    model = _fitted(model, "model")
    offsets = as_vector(first_purchase_offsets, "first_purchase_offsets")
    times = as_vector(grid, "grid")
    starts, counts = np.unique(offsets, return_counts=True)
    total = np.zeros(times.shape[0])
    chunk = max(1, 2**20 // max(1, times.shape[0]))  # bounds the (grid x starts) block
    for begin in range(0, starts.shape[0], chunk):
        ages = times[:, None] - starts[None, begin : begin + chunk]
        started = ages > 0
        values, where = np.unique(ages[started], return_inverse=True)
        expected = np.zeros(ages.shape)
        expected[started] = model.expected_number_of_purchases_up_to_time(values)[where]
        total += expected @ counts[begin : begin + chunk]
    return total
