"""Offline evaluation: leave each customer's last basket out, recommend, compare with it.

Protocol (``evaluate``):

1. Every customer with at least two baskets has the last one held out; everything else is the
   training history. The recommender is fitted on the training history only (it learns its
   weights from the baskets before, again by holding out the last of those).
2. Each customer's list is made as of the moment of the held-out basket, from their history
   before it (what a shop knows when the customer comes back).
3. Three parts, each with its own list of ``k`` and its own truth:
   - **overall**: the recommender's list as offered (its business rules included) against the
     whole held-out basket;
   - **bought before**: the customer's own earlier products ranked, against the part of the
     basket they had bought before (re-buying);
   - **new**: products the customer never bought, against the new part of the basket (this is
     what measures cross-selling).
4. Precision@k, recall@k, hit rate@k and NDCG@k (binary relevance) are averaged over the
   customers whose truth in that part is not empty; coverage is the share of the catalogue's
   products that appear in at least one list.

Baselines on the same split: global popularity (customers who bought a product), and the
customer's own most-bought products (by baskets) followed by popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.recommend.associations import TrendWindow, customer_products
from patron.recommend.baskets import Baskets, split_last
from patron.recommend.catalogue import Catalogue
from patron.recommend.model import Recommender
from patron.recommend.ranking import candidates
from patron.recommend.rules import Rules, pick

PARTS = ("overall", "bought before", "new")
METHODS = ("patron", "popularity", "own + popularity")


@dataclass(frozen=True)
class Scores:
    customers: int
    precision: float
    recall: float
    hit_rate: float
    ndcg: float
    coverage: float


@dataclass(frozen=True)
class Evaluation:
    k: int
    customers: int  # customers with a held-out basket
    products: int
    baskets: int  # training baskets
    scores: dict[tuple[str, str], Scores]  # (method, part) → scores

    def ratio(self, part: str) -> float:
        """Patron's NDCG divided by the better baseline's, in one part."""
        best = max(self.scores[(method, part)].ndcg for method in METHODS[1:])
        return self.scores[("patron", part)].ndcg / best if best > 0 else float("inf")


def evaluate(
    baskets: Baskets,
    catalogue: Catalogue,
    *,
    k: int = 10,
    rules: Rules | None = None,
    model: Recommender | None = None,
) -> Evaluation:
    rules = rules or Rules()
    train, held = split_last(baskets)
    customers = np.unique(held.customer)
    moment = np.zeros(baskets.n_customers)
    moment[held.customer] = held.time
    n = baskets.n_products
    truth = np.unique(held.customer * n + held.product)
    known = customer_products(train)
    owned = np.unique(known.tocoo().row.astype(np.int64) * n + known.tocoo().col)
    tops = {
        "patron": _patron(model or Recommender(), train, catalogue, customers, moment, rules, k),
        "popularity": _baselines(known, customers, k, own=False),
        "own + popularity": _baselines(known, customers, k, own=True),
    }
    scores = {}
    for method, lists in tops.items():
        for part in PARTS:
            scores[(method, part)] = score(lists[part], customers, truth, owned, part, n, k)
    baskets_in_training = len(np.unique(train.basket))
    return Evaluation(k, len(customers), n, baskets_in_training, scores)


def _patron(
    model: Recommender,
    train: Baskets,
    catalogue: Catalogue,
    customers: np.ndarray,
    moment: np.ndarray,
    rules: Rules,
    k: int,
) -> dict[str, np.ndarray]:
    model.fit(train, catalogue)
    found = candidates(train, model.knowledge_, customers, moment[customers])
    found = found.at_moments(TrendWindow(train), moment[found.customer])
    probability = model.weights_.probability(found.features)
    bought = found.column("bought") > 0
    lists = {"overall": pick(found, probability, model.knowledge_, rules, k)}
    for part, mask in (("bought before", bought), ("new", ~bought)):
        lists[part] = _best_rows(found.customer, probability, mask, k)
    return {
        part: _as_matrix(found.customer[rows], found.product[rows], customers, k)
        for part, rows in lists.items()
    }


def _baselines(known: object, customers: np.ndarray, k: int, *, own: bool) -> dict[str, np.ndarray]:
    import scipy.sparse as sp

    assert isinstance(known, sp.csr_matrix)
    buyers = np.asarray((known > 0).sum(axis=0)).ravel().astype(np.float64)
    popularity = buyers / (buyers.max() + 1.0)  # below 1: breaks ties of own counts only
    ranked = np.argsort(-buyers, kind="stable")
    rows = known[customers].tocoo()
    owner = customers[rows.row]
    mine = rows.data + popularity[rows.col] if own else popularity[rows.col]
    before = _as_matrix(*_top_pairs(owner, rows.col, mine, k), customers, k)
    new = np.empty((len(customers), k), dtype=np.int64)
    owned_rows = known[customers]
    for at in range(len(customers)):
        bought = set(owned_rows.indices[owned_rows.indptr[at] : owned_rows.indptr[at + 1]].tolist())
        fresh = [p for p in ranked[: k + len(bought)].tolist() if p not in bought][:k]
        new[at] = np.pad(np.asarray(fresh, dtype=np.int64), (0, k - len(fresh)), constant_values=-1)
    if not own:
        return {
            "overall": np.tile(ranked[:k], (len(customers), 1)),
            "bought before": before,
            "new": new,
        }
    overall = np.empty_like(new)
    for at in range(len(customers)):
        first = [p for p in before[at].tolist() if p >= 0]
        fill = [p for p in ranked[: 2 * k].tolist() if p not in first]
        overall[at] = np.asarray((first + fill)[:k], dtype=np.int64)
    return {"overall": overall, "bought before": before, "new": new}


def _top_pairs(
    customer: np.ndarray, product: np.ndarray, score: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    rows = _best_rows(customer, score, np.ones(len(score), dtype=bool), k)
    return customer[rows], product[rows]


def _best_rows(customer: np.ndarray, score: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    rows = np.flatnonzero(mask)
    rows = rows[np.lexsort((-score[rows], customer[rows]))]
    owner = customer[rows]
    rank = np.arange(len(rows)) - np.searchsorted(owner, owner, side="left")
    return rows[rank < k]


def _as_matrix(
    customer: np.ndarray, product: np.ndarray, customers: np.ndarray, k: int
) -> np.ndarray:
    """customers × k product codes in list order, -1 where a list is shorter."""
    out = np.full((len(customers), k), -1, dtype=np.int64)
    position = np.searchsorted(customers, customer)
    order = np.argsort(position, kind="stable")
    position, product = position[order], product[order]
    rank = np.arange(len(position)) - np.searchsorted(position, position, side="left")
    out[position, rank] = product
    return out


def score(
    top: np.ndarray,
    customers: np.ndarray,
    truth: np.ndarray,
    owned: np.ndarray,
    part: str,
    n: int,
    k: int,
) -> Scores:
    """Scores of the lists ``top`` (customers × k product codes, -1 padded; ``customers``
    sorted) against the held-out ``truth`` keys (customer * n + product) in one ``part``;
    ``owned`` are the keys of what each customer bought before."""
    keys = customers[:, None] * n + np.maximum(top, 0)
    relevant_truth = truth
    if part == "bought before":
        relevant_truth = truth[np.isin(truth, owned)]
    elif part == "new":
        relevant_truth = truth[~np.isin(truth, owned)]
    hit = np.isin(keys, relevant_truth) & (top >= 0)
    size = np.bincount(
        np.searchsorted(customers, relevant_truth // n), minlength=len(customers)
    ).astype(np.float64)
    counted = size > 0
    if not counted.any():
        return Scores(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(size, k).astype(int) - 1]
    hits = hit.sum(axis=1)
    shown = np.unique(top[counted][top[counted] >= 0])
    return Scores(
        customers=int(counted.sum()),
        precision=float((hits[counted] / k).mean()),
        recall=float((hits[counted] / size[counted]).mean()),
        hit_rate=float((hits[counted] > 0).mean()),
        ndcg=float(((hit[counted] * discount).sum(axis=1) / ideal[counted]).mean()),
        coverage=len(shown) / n,
    )
