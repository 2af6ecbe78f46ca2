"""A logistic regression that weighs the ranking features, learnt from the shop's own baskets.

Twenty lines on scipy's L-BFGS (which the CLV fits already use) instead of a machine-learning
library: the features are standardised, and the weights are a short list of numbers that can
be stored as JSON and read by a person. The penalty pulls the weights towards a ``prior``
(sensible defaults: what is bought together and what sells counts for more) rather than
towards zero, with the strength of ``PRIOR_EXAMPLES`` examples: a shop with few orders gets
the defaults, one with many gets what its own data say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from patron.errors import PatronError

PRIOR_EXAMPLES = 200.0
GRADIENT_TOLERANCE = 1e-4  # a stop short of this is a failure, not a warning


class NotLearnt(PatronError):
    code = "recommend.not_learnt"
    status = 422


@dataclass(frozen=True)
class Weights:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def score(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of each row."""
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(expit(self.score(features)))

    def as_dict(self) -> dict[str, object]:
        return {
            "names": list(self.names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Weights:
        return cls(
            tuple(data["names"]),  # type: ignore[arg-type]
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            np.asarray(data["coef"], dtype=np.float64),
            float(data["intercept"]),  # type: ignore[arg-type]
        )


def logistic(
    features: np.ndarray,
    labels: np.ndarray,
    names: tuple[str, ...],
    prior: np.ndarray | None = None,
) -> Weights:
    """Weights that maximise the likelihood of ``labels`` (0/1) given ``features``, penalised
    by their squared distance from ``prior`` (zero when not given)."""
    labels = labels.astype(np.float64)
    if len(labels) == 0 or labels.min() == labels.max():
        raise NotLearnt(
            "Too little history to learn from: the ranking needs customers with at least "
            "two orders, some of whose products they bought again and some not."
        )
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    x = (features - mean) / scale
    sign = 2.0 * labels - 1.0
    n = len(labels)
    centre = np.zeros(x.shape[1]) if prior is None else np.asarray(prior, dtype=np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        margin = sign * (x @ theta[:-1] + theta[-1])
        away = theta[:-1] - centre
        value = -log_expit(margin).sum() / n + 0.5 * PRIOR_EXAMPLES * away @ away / n
        pull = -sign * expit(-margin) / n
        grad = np.append(x.T @ pull + PRIOR_EXAMPLES * away / n, pull.sum())
        return float(value), grad

    start = np.append(centre, 0.0)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    if not result.success and np.abs(result.jac).max() > GRADIENT_TOLERANCE:
        raise NotLearnt(f"The ranking weights did not converge: {result.message}")
    theta = result.x
    return Weights(names, mean, scale, theta[:-1], float(theta[-1]))
