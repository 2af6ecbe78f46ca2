"""The recommender on the demo shop's simulated purchases, whose complementary pairs are known.

The demo (``patron.demo.shop.simulate_shop``, pure numpy) often puts an anchor's complement in
the same basket (pasta → sauce, jeans → T-shirt, dishwasher → the partner's tabs), so the
recommender should find those pairs, and its cross-selling should beat popularity.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pytest

from patron.demo.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from patron.demo.shop import Shop, simulate_shop
from patron.recommend.baskets import Baskets
from patron.recommend.catalogue import Catalogue, plain
from patron.recommend.evaluation import Evaluation, evaluate
from patron.recommend.learn import NotLearnt
from patron.recommend.model import Recommender
from recommend.shops import baskets, demo_baskets, demo_catalogue

K = 10


@dataclass(frozen=True)
class Demo:
    shop: Shop
    baskets: Baskets
    catalogue: Catalogue


@pytest.fixture(scope="module")
def demo() -> Demo:
    shop = simulate_shop(DEFAULT_CUSTOMERS, DEFAULT_SEED)
    bought = demo_baskets(shop)
    return Demo(shop, bought, demo_catalogue(shop.catalogue, bought.products))


@pytest.fixture(scope="module")
def model(demo: Demo) -> Recommender:
    return Recommender().fit(demo.baskets, demo.catalogue)


@pytest.fixture(scope="module")
def evaluation(demo: Demo) -> Evaluation:
    return evaluate(demo.baskets, demo.catalogue, k=K)


def _owned(b: Baskets) -> dict[int, set[int]]:
    owned: dict[int, set[int]] = defaultdict(set)
    for customer, product in zip(b.customer.tolist(), b.product.tolist(), strict=True):
        owned[customer].add(product)
    return owned


def test_the_complement_is_offered_far_more_often_than_chance(
    demo: Demo, model: Recommender
) -> None:
    code = {sku: i for i, sku in enumerate(demo.baskets.products.tolist())}
    owned = _owned(demo.baskets)
    cases = [  # (customer, complement): bought the source, not yet the complement
        (customer, code[target])
        for source, target in demo.shop.catalogue.complementary_pairs()
        if source in code and target in code
        for customer, products in owned.items()
        if code[source] in products and code[target] not in products
    ]
    assert len(cases) > 1_000
    customers = np.unique([customer for customer, _ in cases])
    now = np.full(len(customers), demo.baskets.time.max() + 1.0)
    offers = model.recommend(demo.baskets, customers, now, k=K, explain=False)
    top = {customer: {o.product for o in offers[customer]} for customer in customers.tolist()}
    rate = np.mean([complement in top[customer] for customer, complement in cases])
    # a random list of K products the customer does not have yet
    n = demo.baskets.n_products
    chance = np.mean([K / (n - len(owned[customer])) for customer, _ in cases])
    # the complement's siblings (its category, not bought yet) for the same customers: the
    # category's own appeal, without the pair
    category = demo.catalogue.category
    siblings = []
    for customer, complement in cases:
        others = np.flatnonzero(category == category[complement]).tolist()
        others = [p for p in others if p != complement and p not in owned[customer]]
        if others:
            siblings.append(np.mean([p in top[customer] for p in others]))
    assert rate > 2.5 * chance  # about 0.10 against 0.028
    assert rate > 1.5 * np.mean(siblings)  # about 0.10 against 0.05


@pytest.mark.slow
def test_cross_selling_beats_both_baselines(evaluation: Evaluation) -> None:
    new = {method: evaluation.scores[(method, "new")].ndcg for method, _ in evaluation.scores}
    assert new["patron"] > new["popularity"]
    assert new["patron"] > new["own + popularity"]
    assert evaluation.ratio("new") > 1.1  # about 1.4
    assert evaluation.ratio("overall") > 1.0


@pytest.mark.slow
def test_the_evaluation_counts(demo: Demo, evaluation: Evaluation) -> None:
    b = demo.baskets
    per_customer: dict[int, set[int]] = defaultdict(set)
    for customer, basket in zip(b.customer.tolist(), b.basket.tolist(), strict=True):
        per_customer[customer].add(basket)
    repeat = sum(len(held) >= 2 for held in per_customer.values())
    assert evaluation.customers == repeat
    assert evaluation.baskets == len(set(b.basket.tolist())) - repeat  # one held out each
    assert evaluation.products == b.n_products
    assert evaluation.k == K


@pytest.mark.slow
def test_the_popularity_baseline_recomputed(demo: Demo, evaluation: Evaluation) -> None:
    """Popularity (customers who bought it in training), recomputed here with plain Python:
    the same top K for everyone overall; the top K not bought before for "new"."""
    b = demo.baskets
    baskets_of: dict[int, dict[int, tuple[float, set[int]]]] = defaultdict(dict)
    for c, k, t, p in zip(
        b.customer.tolist(), b.basket.tolist(), b.time.tolist(), b.product.tolist(), strict=True
    ):
        baskets_of[c].setdefault(k, (t, set()))[1].add(p)
    train: dict[int, set[int]] = {}
    held: dict[int, set[int]] = {}
    for customer, own in baskets_of.items():
        order = sorted(own, key=lambda k: (own[k][0], k))  # by time, then code
        keep = order[:-1] if len(order) >= 2 else order
        train[customer] = set().union(*(own[k][1] for k in keep))
        if len(order) >= 2:
            held[customer] = own[order[-1]][1]
    buyers = np.zeros(b.n_products)
    for products in train.values():
        buyers[list(products)] += 1
    ranked = sorted(range(b.n_products), key=lambda p: (-buyers[p], p))

    def ndcg(top: list[int], truth: set[int]) -> float:
        gain = sum(1 / np.log2(rank + 2) for rank, p in enumerate(top) if p in truth)
        return gain / sum(1 / np.log2(rank + 2) for rank in range(min(len(truth), K)))

    overall = [ndcg(ranked[:K], truth) for truth in held.values()]
    new = []
    for customer, truth in held.items():
        fresh = truth - train[customer]
        if fresh:
            new.append(ndcg([p for p in ranked if p not in train[customer]][:K], fresh))
    scores = evaluation.scores
    assert scores[("popularity", "overall")].ndcg == pytest.approx(np.mean(overall))
    assert scores[("popularity", "new")].ndcg == pytest.approx(np.mean(new))
    assert scores[("popularity", "new")].customers == len(new)


def test_offers_are_distinct_best_first_and_at_most_k(demo: Demo, model: Recommender) -> None:
    customers = np.arange(0, demo.baskets.n_customers, 50)
    now = np.full(len(customers), demo.baskets.time.max() + 1.0)
    offers = model.recommend(demo.baskets, customers, now, k=K)
    active = demo.catalogue.active
    for customer in customers.tolist():
        products = [o.product for o in offers[customer]]
        scores = [o.score for o in offers[customer]]
        assert 0 < len(products) <= K
        assert len(set(products)) == len(products)
        assert scores == sorted(scores, reverse=True)
        assert active[products].all()


def test_fit_refuses_a_catalogue_of_other_products(demo: Demo) -> None:
    small = baskets(("a", 1, 0.0, "X"), ("a", 2, 1.0, "Y"))
    with pytest.raises(ValueError, match="share the product codes"):
        Recommender().fit(small, demo.catalogue)


def test_fit_needs_customers_with_two_orders() -> None:
    once = baskets(("a", 1, 0.0, "X Y"), ("b", 2, 1.0, "Y"), ("c", 3, 2.0, "X"))
    with pytest.raises(NotLearnt):
        Recommender().fit(once, plain(once.products))


def test_a_customer_without_history_gets_what_sells(demo: Demo, model: Recommender) -> None:
    before_all = np.array([demo.baskets.time.min() - 1.0])
    offers = model.recommend(demo.baskets, np.array([0]), before_all, k=K)[0]
    assert len(offers) == K
    assert {o.product for o in offers} <= set(model.knowledge_.popular.tolist())
