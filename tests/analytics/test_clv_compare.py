"""Holdout comparison and tracking curve: CDNOW's weeks 40-78 as Fader, Hardie & Lee (2005) use
them, the definitions on simulated data, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.cdnow import CALIBRATION_END, HOLDOUT_END, START, purchase_days, summary
from analytics.test_mbgnbd import simulate
from patron.analytics import clv
from patron.analytics.clv import (
    BetaGeoFitter,
    GammaGammaFitter,
    InvalidData,
    ModifiedBetaGeoFitter,
    NotFitted,
    ParetoNBDFitter,
    expected_cumulative_purchases,
    holdout_comparison,
)
from patron.analytics.clv.compare import FREQUENCY_BINS

Arrays = tuple[np.ndarray, ...]
END = (CALIBRATION_END - START).days  # the calibration period's last day, days after START
HOLDOUT_WEEKS = (HOLDOUT_END - CALIBRATION_END).days / 7


@pytest.fixture(scope="module")
def cdnow(shared_data: Path) -> Arrays:
    """(x, t_x, T, holdout repeat purchases, week of the first purchase) per customer."""
    x, t_x, age = summary(shared_data)
    days = purchase_days(shared_data)
    holdout = np.array([np.sum((d > END) & (d <= (HOLDOUT_END - START).days)) for d in days])
    first = np.array([d[0] for d in days]) / 7
    return x, t_x, age, holdout.astype(float), first


@pytest.fixture(scope="module")
def repeat_days(shared_data: Path) -> np.ndarray:
    """Every repeat purchase day of the cohort (days after START), calibration and holdout."""
    return np.concatenate([d[1:] for d in purchase_days(shared_data)])


@pytest.fixture(scope="module")
def fitted(cdnow: Arrays) -> dict[str, clv.TransactionModel]:
    x, t_x, age, _holdout, _first = cdnow
    return {name: clv.MODELS[name]().fit(x, t_x, age) for name in ("bgnbd", "pnbd", "mbgnbd")}


@pytest.fixture(scope="module")
def ranked(cdnow: Arrays, fitted: dict[str, clv.TransactionModel]) -> list[clv.ModelScore]:
    x, t_x, age, holdout, _first = cdnow
    return holdout_comparison(fitted, x, t_x, age, holdout, HOLDOUT_WEEKS)


@pytest.fixture(scope="module")
def scores(ranked: list[clv.ModelScore]) -> dict[str, clv.ModelScore]:
    return {score.name: score for score in ranked}


def test_the_holdout_follows_the_calibration_summary(cdnow: Arrays) -> None:
    x, _t_x, age, holdout, first = cdnow
    assert HOLDOUT_WEEKS == 39  # weeks 40-78
    np.testing.assert_allclose(age, END / 7 - first)  # the same first purchases as summary's
    assert x.sum() == 2457
    assert holdout.sum() > 0


def test_the_holdout_totals_against_the_actual_count(
    scores: dict[str, clv.ModelScore], cdnow: Arrays
) -> None:
    """Both models fall short of CDNOW's holdout by about 12 %: their weekly purchases match the
    actual ones in weeks 66-78, not from October 1997 to March 1998. What stays within a few per
    cent is the cumulative curve (below)."""
    actual = cdnow[3].sum()
    for name in ("bgnbd", "pnbd"):
        assert scores[name].actual_total == actual
        assert 0.85 * actual < scores[name].predicted_total < actual, name


def test_mean_holdout_purchases_grow_with_the_calibration_frequency(
    scores: dict[str, clv.ModelScore], cdnow: Arrays
) -> None:
    x, _t_x, _age, holdout, _first = cdnow
    for score in scores.values():
        bins = score.by_frequency
        assert [b.frequency for b in bins] == list(FREQUENCY_BINS)
        assert sum(b.customers for b in bins) == x.size
        assert np.all(np.diff([b.mean_actual for b in bins]) > 0), score.name
        assert np.all(np.diff([b.mean_predicted for b in bins]) > 0), score.name
        seven = bins[-1]
        assert seven.customers == np.sum(x >= 7)
        assert seven.mean_actual == pytest.approx(holdout[x >= 7].mean())


def test_the_scores_are_the_models_own_numbers(
    ranked: list[clv.ModelScore],
    scores: dict[str, clv.ModelScore],
    fitted: dict[str, clv.TransactionModel],
) -> None:
    assert sorted(score.name for score in ranked) == sorted(fitted)
    assert np.all(np.diff([score.bic for score in ranked]) >= 0)  # best (lowest BIC) first
    for name, model in fitted.items():
        score = scores[name]
        assert score.params == model.params_
        assert score.log_likelihood == pytest.approx(model.log_likelihood_, abs=1e-6)
        assert score.n_params == 4
        assert score.aic == pytest.approx(8 - 2 * model.log_likelihood_)
        assert score.bic == pytest.approx(4 * np.log(2357) - 2 * model.log_likelihood_)


def test_the_tracking_curve_meets_the_actual_cumulative_purchases(
    fitted: dict[str, clv.TransactionModel], cdnow: Arrays, repeat_days: np.ndarray
) -> None:
    """Weekly ends (day 7w - 1 after START) up to week 78; week 39 ends the calibration."""
    first = cdnow[4]
    weeks = np.arange(1, 79)
    ends = 7 * weeks - 1
    assert ends[38] == END
    actual = np.array([np.sum(repeat_days <= day) for day in ends])
    assert actual[38] == cdnow[0].sum()  # the calibration's 2457 repeat purchases
    for name in ("bgnbd", "pnbd"):
        expected = expected_cumulative_purchases(fitted[name], first, ends / 7)
        assert np.all(np.diff(expected) > 0)
        assert expected[38] == pytest.approx(actual[38], rel=0.05), name
        assert expected[77] == pytest.approx(actual[77], rel=0.08), name


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (BetaGeoFitter, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        (ParetoNBDFitter, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
        (ModifiedBetaGeoFitter, {"r": 0.52, "alpha": 6.2, "a": 0.89, "b": 1.6}),
    ],
)
def test_the_tracking_curve_is_the_sum_it_stands_for(
    model: type[clv.TransactionModel], params: dict[str, float]
) -> None:
    fitted = model()
    fitted.params_ = params
    rng = np.random.default_rng(5)
    offsets = np.concatenate([rng.integers(0, 84, 40) / 7, rng.uniform(0, 12, 10), [3.0, 3.0]])
    grid = np.array([0.0, 1.0, 3.0, 2 / 7, 11.5, 12.0, 30.25, 78.0])
    got = expected_cumulative_purchases(fitted, offsets, grid)
    for k, t in enumerate(grid):
        by_customer = [
            fitted.expected_number_of_purchases_up_to_time(t - s)[0] if t > s else 0.0
            for s in offsets
        ]
        assert got[k] == pytest.approx(sum(by_customer), rel=1e-12, abs=1e-12), t
    assert got[0] == 0.0


def test_a_large_cohort_is_summed_in_blocks() -> None:
    model = ParetoNBDFitter()
    model.params_ = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    rng = np.random.default_rng(9)
    offsets = rng.uniform(0, 13, 3000)  # 3000 distinct starts, over 2048 grid points: 3 blocks
    grid = np.linspace(0, 80, 2048)
    got = expected_cumulative_purchases(model, offsets, grid)
    ages = np.clip(grid[:, None] - offsets[None, :], 0, None).ravel()
    each = model.expected_number_of_purchases_up_to_time(ages).reshape(grid.size, offsets.size)
    np.testing.assert_allclose(got, each.sum(axis=1), rtol=1e-12)


def test_the_model_that_made_the_data_wins() -> None:
    rng = np.random.default_rng(21)
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}
    age = rng.uniform(20, 60, 20_000)
    x, t_x, _alive, future = simulate(rng, truth, age, 26.0)
    models = {
        "bgnbd": BetaGeoFitter().fit(x, t_x, age),
        "mbgnbd": ModifiedBetaGeoFitter().fit(x, t_x, age),
    }
    ranked = holdout_comparison(models, x, t_x, age, future, 26.0)
    assert [score.name for score in ranked] == ["mbgnbd", "bgnbd"]
    best = ranked[0]
    predicted = models["mbgnbd"].conditional_expected_number_of_purchases_up_to_time(
        26.0, x, t_x, age
    )
    assert best.predicted_total == pytest.approx(predicted.sum())
    assert best.actual_total == future.sum()
    assert best.mae == pytest.approx(np.mean(np.abs(predicted - future)))
    assert best.rmse == pytest.approx(np.sqrt(np.mean((predicted - future) ** 2)))
    # its own story: the total is right within sampling error
    assert abs(best.predicted_total - future.sum()) < 4 * np.sqrt(future.var() * future.size)


@pytest.mark.parametrize(
    ("holdout", "length", "row", "field"),
    [
        ([0, -1, 2], 39.0, 1, "holdout_purchases"),
        ([0, 1, 2.5], 39.0, 2, "holdout_purchases"),
        ([0, 1, float("nan")], 39.0, 2, "holdout_purchases"),
        ([0, 1, 2], [39.0, 0.0, 39.0], 1, "holdout_length"),
        ([0, 1, 2], -1.0, 0, "holdout_length"),
    ],
)
def test_bad_holdouts_name_the_row_and_the_field(
    holdout: list[float], length: float | list[float], row: int, field: str
) -> None:
    model = BetaGeoFitter()
    model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    with pytest.raises(InvalidData) as refused:
        holdout_comparison({"bgnbd": model}, [0, 1, 2], [0, 5, 9], [10, 10, 10], holdout, length)
    assert refused.value.details["row"] == row
    assert refused.value.details["field"] == field


def test_what_cannot_be_compared_is_refused() -> None:
    rfm = ([0, 1], [0, 5], [10, 10], [0, 1], 39.0)
    with pytest.raises(InvalidData, match="no models"):
        holdout_comparison({}, *rfm)
    with pytest.raises(InvalidData, match="not a model of repeat purchases") as refused:
        holdout_comparison({"gg": GammaGammaFitter()}, *rfm)
    assert refused.value.details == {"field": "models", "model": "gg"}
    with pytest.raises(NotFitted):
        holdout_comparison({"bgnbd": BetaGeoFitter()}, *rfm)
    with pytest.raises(NotFitted):
        expected_cumulative_purchases(ParetoNBDFitter(), [], [1.0])
    model = ParetoNBDFitter()
    model.params_ = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    with pytest.raises(InvalidData) as refused:
        expected_cumulative_purchases(model, [1.0, float("inf")], [1.0])
    assert refused.value.details["row"] == 1
    assert refused.value.details["field"] == "first_purchase_offsets"
