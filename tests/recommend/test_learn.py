"""The logistic ranking: known coefficients recovered, a true optimum, refusals, storage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from patron.recommend.learn import PRIOR_EXAMPLES, NotLearnt, Weights, logistic

N = 200_000  # enough rows that the pull of PRIOR_EXAMPLES towards zero is about 2 %
TRUE_COEF = np.array([1.5, -0.4, 0.8])
TRUE_INTERCEPT = -0.5


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Three features on different scales (one of them 0/1) and labels from known log-odds."""
    rng = np.random.default_rng(2024)
    features = np.column_stack(
        [rng.normal(2.0, 1.0, N), rng.normal(-1.0, 3.0, N), (rng.random(N) < 0.3) * 1.0]
    )
    labels = rng.random(N) < expit(features @ TRUE_COEF + TRUE_INTERCEPT)
    return features, labels


@pytest.fixture(scope="module")
def weights(data: tuple[np.ndarray, np.ndarray]) -> Weights:
    return logistic(*data, ("x1", "x2", "x3"))


def _objective(theta: np.ndarray, x: np.ndarray, labels: np.ndarray, prior: np.ndarray) -> float:
    """Mean negative log-likelihood on standardised features plus the pull towards the prior,
    PRIOR_EXAMPLES / 2 · |w - prior|² / n (the intercept is free)."""
    sign = 2.0 * labels - 1.0
    margin = sign * (x @ theta[:-1] + theta[-1])
    away = theta[:-1] - prior
    n = len(labels)
    return float(np.logaddexp(0.0, -margin).mean() + 0.5 * PRIOR_EXAMPLES * away @ away / n)


def _newton(x: np.ndarray, labels: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The same optimum by Newton's method (intercept last)."""
    n = len(labels)
    design = np.column_stack([x, np.ones(n)])
    pull = np.diag([PRIOR_EXAMPLES / n] * x.shape[1] + [0.0])
    centre = np.append(prior, 0.0)
    theta = np.zeros(design.shape[1])
    for _ in range(30):
        p = expit(design @ theta)
        gradient = design.T @ (p - labels) / n + pull @ (theta - centre)
        hessian = (design * (p * (1 - p))[:, None]).T @ design / n + pull
        theta -= np.linalg.solve(hessian, gradient)
    return theta


def _standardised(features: np.ndarray) -> np.ndarray:
    return (features - features.mean(axis=0)) / features.std(axis=0)


def test_recovers_the_coefficients_that_made_the_labels(weights: Weights) -> None:
    # the weights live on standardised features: raw coefficient = coef / scale,
    # raw intercept = intercept - sum(coef * mean / scale)
    raw = weights.coef / weights.scale
    intercept = weights.intercept - float((weights.coef * weights.mean / weights.scale).sum())
    # standard errors at this size (Fisher information): 0.011, 0.003, 0.02, 0.015; the pull
    # of PRIOR_EXAMPLES towards zero shrinks by about 2 %
    assert raw == pytest.approx(TRUE_COEF, abs=0.1)
    assert raw[1] == pytest.approx(TRUE_COEF[1], abs=0.03)
    assert intercept == pytest.approx(TRUE_INTERCEPT, abs=0.1)
    assert weights.names == ("x1", "x2", "x3")


def test_the_weights_are_the_optimum_of_the_penalised_likelihood(
    data: tuple[np.ndarray, np.ndarray], weights: Weights
) -> None:
    x, labels, prior = _standardised(data[0]), data[1], np.zeros(3)
    theta = np.append(weights.coef, weights.intercept)
    step = 1e-5
    gradient = [
        (
            _objective(theta + step * e, x, labels, prior)
            - _objective(theta - step * e, x, labels, prior)
        )
        / (2 * step)
        for e in np.eye(len(theta))
    ]
    assert np.abs(gradient).max() < 1e-4  # at the start (all zero) it is about 0.2


def test_newtons_method_finds_the_same_weights(
    data: tuple[np.ndarray, np.ndarray], weights: Weights
) -> None:
    expected = _newton(_standardised(data[0]), data[1].astype(np.float64), np.zeros(3))
    assert np.append(weights.coef, weights.intercept) == pytest.approx(expected, abs=1e-3)


def test_few_examples_stay_near_the_prior_many_follow_the_data(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    features, labels = data
    prior = np.array([-1.0, 1.0, 2.0])  # every sign wrong (standardised truth ≈ 1.5, -1.2, 0.4)
    few = logistic(features[:40], labels[:40], ("x1", "x2", "x3"), prior)
    expected = _newton(_standardised(features[:40]), labels[:40].astype(np.float64), prior)
    assert np.append(few.coef, few.intercept) == pytest.approx(expected, abs=1e-3)
    # 40 rows against the weight of 200 examples: much nearer the prior than the truth
    assert np.abs(few.coef - prior).max() < 0.8
    many = logistic(features, labels, ("x1", "x2", "x3"), prior)
    assert np.sign(many.coef).tolist() == [1.0, -1.0, 1.0]
    assert many.coef / many.scale == pytest.approx(TRUE_COEF, abs=0.1)


def test_probability_is_the_logistic_of_the_standardised_score() -> None:
    weights = Weights(
        ("a", "b"), np.array([1.0, 2.0]), np.array([2.0, 4.0]), np.array([1.0, -1.0]), 0.5
    )
    # ((3 - 1) / 2, (6 - 2) / 4) = (1, 1) → 1 - 1 + 0.5 = 0.5;  (1, 2) → (0, 0) → 0.5 as well
    assert weights.score(np.array([[3.0, 6.0], [1.0, 2.0]])).tolist() == [0.5, 0.5]
    assert weights.probability(np.array([[3.0, 6.0]]))[0] == pytest.approx(1 / (1 + np.exp(-0.5)))


@pytest.mark.parametrize(
    "labels", [np.zeros(50, dtype=bool), np.ones(50, dtype=bool), np.zeros(0, dtype=bool)]
)
def test_one_class_or_no_labels_cannot_be_learnt(labels: np.ndarray) -> None:
    features = np.arange(2 * len(labels), dtype=np.float64).reshape(len(labels), 2)
    with pytest.raises(NotLearnt) as caught:
        logistic(features, labels, ("a", "b"))
    assert caught.value.code == "recommend.not_learnt"


def test_a_constant_feature_does_not_break_the_fit() -> None:
    rng = np.random.default_rng(5)
    signal = rng.normal(size=2_000)
    features = np.column_stack([signal, np.full(2_000, 7.0)])
    weights = logistic(features, rng.random(2_000) < expit(2.0 * signal), ("signal", "constant"))
    assert np.isfinite(weights.coef).all()
    assert weights.coef[1] == 0.0  # a constant standardises to zero: its weight stays at the start
    assert weights.coef[0] > 0


def test_weights_survive_json(weights: Weights) -> None:
    again = Weights.from_dict(json.loads(json.dumps(weights.as_dict())))
    assert again.names == weights.names
    for field in ("mean", "scale", "coef"):
        assert np.array_equal(getattr(again, field), getattr(weights, field)), field
    assert again.intercept == weights.intercept
    rows = np.array([[1.0, 2.0, 0.0], [3.0, -4.0, 1.0]])
    assert np.array_equal(again.probability(rows), weights.probability(rows))
