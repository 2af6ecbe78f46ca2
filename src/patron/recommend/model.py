"""The recommender: fitted on the shop's baskets, it ranks products for any customer.

``Recommender().fit(baskets, catalogue)`` learns, from the shop's own history, what predicts a
customer's next basket: it holds out every customer's last basket, builds the candidates and
features from what came before, and fits the weights of ``ranking.FEATURES`` to what was then
bought. ``recommend`` ranks candidates with those weights, keeps what the business rules allow
(``rules``) and says why (``reasons``). Follows scikit-learn's estimator contract.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from patron.recommend import reasons as why
from patron.recommend.associations import TrendWindow, neighbours, product_stats
from patron.recommend.baskets import Baskets, split_last
from patron.recommend.catalogue import Catalogue
from patron.recommend.learn import NotLearnt, Weights, logistic
from patron.recommend.ranking import FEATURES, POPULAR, Candidates, Knowledge, candidates, prior
from patron.recommend.rules import Rules, pick

LEARN_CUSTOMERS = 1_500  # customers whose last basket teaches the weights (a fixed sample)
SEED = 7
NEGATIVE_SHARE = 0.3
BATCH = 2_000  # customers ranked at a time


@dataclass(frozen=True)
class Recommendation:
    product: int  # code
    score: float  # cross and partner: the probability that it is in the next basket
    reason: why.Reason


class Recommender:
    def __init__(self, *, learn_customers: int = LEARN_CUSTOMERS) -> None:
        self.learn_customers = learn_customers

    def fit(
        self, baskets: Baskets, catalogue: Catalogue, *, as_of: float | None = None
    ) -> Recommender:
        if len(catalogue) != baskets.n_products:
            raise ValueError("catalogue and baskets must share the product codes")
        if len(baskets) == 0:
            raise NotLearnt("Nothing to learn from: there are no orders with products yet.")
        self.knowledge_ = know(baskets, catalogue, as_of=as_of)
        self.weights_ = learn_weights(baskets, catalogue, self.learn_customers)
        return self

    @classmethod
    def from_parts(cls, knowledge: Knowledge, weights: Weights) -> Recommender:
        """A fitted recommender from stored parts (the service loads only what a customer
        needs: their products' neighbours and the candidates' profiles)."""
        model = cls()
        model.knowledge_ = knowledge
        model.weights_ = weights
        return model

    def recommend(
        self,
        history: Baskets,
        customers: np.ndarray,
        now: np.ndarray,
        *,
        k: int = 10,
        rules: Rules | None = None,
        explain: bool = True,
        trend_window: TrendWindow | None = None,
    ) -> dict[int, list[Recommendation]]:
        """Top ``k`` per customer code, at moments ``now`` (days since the epoch).

        Customers are ranked ``BATCH`` at a time, so memory stays bounded however many
        customers are asked for.
        """
        rules = rules or Rules()
        result: dict[int, list[Recommendation]] = {}
        for start in range(0, len(customers), BATCH):
            part = slice(start, start + BATCH)
            result |= self._recommend(
                history, customers[part], now[part], k, rules, explain, trend_window
            )
        return result

    def _recommend(
        self,
        history: Baskets,
        customers: np.ndarray,
        now: np.ndarray,
        k: int,
        rules: Rules,
        explain: bool,
        trend_window: TrendWindow | None,
    ) -> dict[int, list[Recommendation]]:
        extra = rules.extra_candidates(self.knowledge_.catalogue)
        found = candidates(history, self.knowledge_, customers, now, extra=extra)
        moment = np.full(history.n_customers, -np.inf)
        moment[customers] = now
        if trend_window is not None:
            found = found.at_moments(trend_window, moment[found.customer])
        probability = self.weights_.probability(found.features)
        chosen = pick(found, probability, self.knowledge_, rules, k)
        before = history.take(history.time < moment[history.customer])  # what they knew then
        texts = why.explain(found, chosen, before, self.knowledge_) if explain else {}
        result: dict[int, list[Recommendation]] = {int(c): [] for c in customers.tolist()}
        for row in chosen.tolist():
            customer = int(found.customer[row])
            result[customer].append(
                Recommendation(
                    int(found.product[row]),
                    float(probability[row]),
                    texts.get(row, why.NONE),
                )
            )
        return result


def know(baskets: Baskets, catalogue: Catalogue, *, as_of: float | None = None) -> Knowledge:
    stats = product_stats(baskets, as_of=as_of)
    order = np.lexsort((-stats.buyers, -stats.trend))
    popular = order[catalogue.active[order]][:POPULAR]
    return Knowledge(stats, neighbours(baskets), catalogue, popular.astype(np.int64))


def learn_weights(baskets: Baskets, catalogue: Catalogue, sample: int) -> Weights:
    """Weights fitted on each (sampled) customer's last basket, predicted from the rest.

    (Learning from the basket before the last as well doubles the examples but did not rank
    better on Online Retail or the demo shop, so one level it is.)
    """
    history, target = split_last(baskets)
    if len(target) == 0:
        raise NotLearnt("Too little history to learn from: no customer has two or more orders yet.")
    features, labels = _examples(history, target, catalogue, sample)
    weights = logistic(features, labels, FEATURES, prior())
    return replace(weights, intercept=weights.intercept + float(np.log(NEGATIVE_SHARE)))


def _examples(
    history: Baskets, target: Baskets, catalogue: Catalogue, sample: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate features and labels (bought in ``target`` or not) for the target's customers.

    Every positive and a fixed share of the negatives are kept: the same weights for a third
    of the work; the intercept is corrected by the log of that share afterwards.
    """
    learners = np.unique(target.customer)
    if len(learners) > sample:
        learners = np.sort(np.random.default_rng(SEED).choice(learners, sample, replace=False))
    knowledge = know(history, catalogue)
    moment = np.zeros(history.n_customers)
    moment[target.customer] = target.time
    found: Candidates = candidates(history, knowledge, learners, moment[learners])
    found = found.at_moments(TrendWindow(history), moment[found.customer])
    n = history.n_products
    bought = np.unique(target.customer * n + target.product)
    labels = np.isin(found.customer * n + found.product, bought)
    rows = labels | (np.random.default_rng(SEED).random(len(labels)) < NEGATIVE_SHARE)
    return found.features[rows], labels[rows]
