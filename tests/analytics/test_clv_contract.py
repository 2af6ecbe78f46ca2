"""What every transaction model promises alike: bad input named by row and field, no prediction
before a fit, and the multi-horizon expectation equal to one call per horizon."""

from __future__ import annotations

import numpy as np
import pytest

from patron.analytics.clv import (
    BetaGeoFitter,
    InvalidData,
    ModifiedBetaGeoFitter,
    NotFitted,
    ParetoNBDFitter,
    TransactionModel,
)

MODELS = [BetaGeoFitter, ParetoNBDFitter, ModifiedBetaGeoFitter]
PARAMS = {
    BetaGeoFitter: {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    ParetoNBDFitter: {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
    ModifiedBetaGeoFitter: {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("frequency", "recency", "age", "row", "field"),
    [
        ([1, -1], [1, 0], [5, 5], 1, "frequency"),
        ([1, 1.5], [1, 1], [5, 5], 1, "frequency"),
        ([1, 2], [1, 6], [5, 5], 1, "recency"),
        ([0, 2], [1, 1], [5, 5], 0, "recency"),
        ([1, 2], [1, 1], [5, 0], 1, "T"),
        ([1, 2], [1, float("nan")], [5, 5], 1, "recency"),
        ([float("nan"), 2], [1, 1], [5, 5], 0, "frequency"),
    ],
)
def test_bad_input_names_the_row_and_the_field(
    model: type[TransactionModel],
    frequency: list[float],
    recency: list[float],
    age: list[float],
    row: int,
    field: str,
) -> None:
    with pytest.raises(InvalidData) as refused:
        model().fit(frequency, recency, age)
    assert refused.value.details["row"] == row
    assert refused.value.details["field"] == field
    assert f"row {row}" in refused.value.message


@pytest.mark.parametrize("model", MODELS)
def test_predicting_before_fitting_is_refused(model: type[TransactionModel]) -> None:
    unfitted = model()
    for predict in (
        lambda: unfitted.conditional_probability_alive([1], [1], [2]),
        lambda: unfitted.conditional_expected_number_of_purchases_up_to_time(1, [1], [1], [2]),
        lambda: unfitted.conditional_expected_purchases_by_horizon([1], [1], [1], [2]),
        lambda: unfitted.expected_number_of_purchases_up_to_time(1),
        lambda: unfitted.individual_log_likelihood([1], [1], [2]),
    ):
        with pytest.raises(NotFitted):
            predict()


@pytest.mark.parametrize("model", MODELS)
def test_many_horizons_at_once_are_one_call_each(model: type[TransactionModel]) -> None:
    fitted = model()
    fitted.params_ = PARAMS[model]
    rng = np.random.default_rng(4)
    x = rng.integers(0, 6, 500).astype(float)
    age = rng.integers(1, 40, 500).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, 500) * age), 0.0)  # many equal customers
    horizons = np.array([0.0, 4.345, 13.0, 52.0, 400.0])
    together = fitted.conditional_expected_purchases_by_horizon(horizons, x, t_x, age)
    assert together.shape == (horizons.size, x.size)
    for row, t in zip(together, horizons, strict=True):
        one = fitted.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age)
        np.testing.assert_allclose(row, one, rtol=1e-13, atol=0)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("t", "row"), [([1.0, -2.0, 3.0], 1), ([float("nan")], 0), ([1.0, 2.0], None)]
)
def test_bad_horizons_are_refused(
    model: type[TransactionModel], t: list[float], row: int | None
) -> None:
    fitted = model()
    fitted.params_ = PARAMS[model]
    with pytest.raises(InvalidData) as refused:
        fitted.conditional_expected_number_of_purchases_up_to_time(
            t, [1, 2, 0], [1, 2, 0], [5, 5, 5]
        )
    assert refused.value.details["field"] == "t"
    assert refused.value.details.get("row") == row
