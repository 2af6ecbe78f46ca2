"""Candidates for each customer and the features that rank them.

Candidates are the customer's own products, the neighbours of what they bought (weighted by
how recently) and of their last basket, products by the same author or artist, and what sells
now. Each (customer, product) candidate gets the features below; ``weights`` (a logistic
regression, see ``learn``) turns them into the probability that the product is in the
customer's next basket. The features are few and named so that the weights can be read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from patron.recommend.associations import (
    TREND_DAYS,
    YEAR_DAYS,
    Neighbours,
    ProductStats,
    TrendWindow,
    customer_products,
    top_per_row,
)
from patron.recommend.baskets import Baskets, baskets_per_customer, last_basket
from patron.recommend.catalogue import Catalogue

HALF_LIFE_DAYS = 90.0  # how fast a purchase stops counting for "what they like"
FROM_NEIGHBOURS = 50  # candidates per customer from their products' neighbours
FROM_LAST_BASKET = 20
RECENT_PRODUCTS = 100  # the customer's products (most recent first) whose neighbours are candidates
POPULAR = 50  # candidates that sell now, for every customer
FROM_ATTRIBUTES = 20  # per attribute (author/artist, brand, category)
THIN = 3  # fewer buyers than this: too little history for associations
DUE_CAP = 10.0

FEATURES = (
    "bought",  # bought before
    "share",  # share of the customer's baskets with it
    "log_count",
    "log_days_since",  # since the customer last bought it
    "due",  # days since / the product's repurchase interval
    "in_last_basket",
    "repurchase_rate",
    "bought_x_repurchase_rate",
    "log_buyers",
    "log_trend",  # baskets with it in the last 30 days
    "association",  # similarity to what the customer bought, recency-weighted
    "after_last_basket",  # similarity to the customer's last basket
    "same_creator",  # the customer bought other works of its author or artist
    "same_brand",
    "same_category",
    "bought_x_log_gap",  # days since the customer's last basket, for their own products
    "bought_x_log_baskets",
    "bought_x_log_trend",
    "due_closeness",  # 1 when exactly due, falling off on either side
    "share_x_log_gap",
    "log_season",  # baskets with it in the coming 30 days, a year ago
    "bought_last_season",  # the customer bought it around this time last year
    "own_due",  # days since / the customer's own interval for it (bought twice or more)
    "last_baskets_share",  # share of the customer's last three baskets with it
)


# Where the learnt weights start and what they are pulled towards (per standardised feature):
# what the customer bought together with and after, what they buy often, and what sells now.
PRIOR = {
    "share": 0.5,
    "log_count": 0.5,
    "association": 1.0,
    "after_last_basket": 0.5,
    "log_buyers": 0.3,
    "log_trend": 0.5,
    "same_creator": 0.5,
    "same_brand": 0.2,
    "same_category": 0.2,
}


def prior() -> np.ndarray:
    return np.array([PRIOR.get(name, 0.0) for name in FEATURES])


@dataclass(frozen=True)
class Candidates:
    customer: np.ndarray  # customer code per row
    product: np.ndarray  # product code per row
    features: np.ndarray  # rows × FEATURES

    def column(self, name: str) -> np.ndarray:
        return self.features[:, FEATURES.index(name)]

    def at_moments(self, window: TrendWindow, moments: np.ndarray) -> Candidates:
        """The same rows with trend and season counted as of each row's own moment (when
        customers are ranked at different moments: learning and evaluation)."""
        features = self.features.copy()
        trend = np.log1p(window.counts(self.product, moments))
        features[:, FEATURES.index("log_trend")] = trend
        features[:, FEATURES.index("bought_x_log_trend")] = trend * self.column("bought")
        features[:, FEATURES.index("log_season")] = np.log1p(window.season(self.product, moments))
        return Candidates(self.customer, self.product, features)


@dataclass(frozen=True)
class Knowledge:
    """What the ranking reads about the shop: fitted once, used for every customer."""

    stats: ProductStats
    neighbours: Neighbours
    catalogue: Catalogue
    popular: np.ndarray  # product codes that sell most now (candidates for everyone)


def candidates(
    history: Baskets,
    knowledge: Knowledge,
    customers: np.ndarray,
    now: np.ndarray,
    *,
    extra: np.ndarray | None = None,
) -> Candidates:
    """Candidate rows and features for ``customers`` (codes) at moments ``now`` (days, per
    customer in the same order); ``extra`` products are candidates for everyone.
    """
    n_products = len(knowledge.catalogue)
    moment = np.full(history.n_customers, np.nan)
    moment[customers] = now
    mine = np.isin(history.customer, customers) & (history.time < moment[history.customer])
    own = history.take(mine)
    counts = customer_products(own)
    recency = _weighted(own, 0.5 ** ((moment[own.customer] - own.time) / HALF_LIFE_DAYS))
    last = _last_basket_pairs(own)
    sim = knowledge.neighbours.similarity
    association = (_top(recency, RECENT_PRODUCTS) @ sim).tocsr()
    after_last = (last @ sim).tocsr()
    keys = _union(
        np.concatenate(
            [
                _keys(counts, n_products),
                _keys(_top(association, FROM_NEIGHBOURS), n_products),
                _keys(_top(after_last, FROM_LAST_BASKET), n_products),
                *_affinity_keys(counts, knowledge, n_products),
                (customers[:, None] * n_products + knowledge.popular[None, :]).ravel(),
                (customers[:, None] * n_products + _or_none(extra)[None, :]).ravel(),
            ]
        ),
        n_products,
    )
    customer, product = keys // n_products, keys % n_products
    return Candidates(
        customer,
        product,
        _features(own, knowledge, customer, product, moment, counts, last, association, after_last),
    )


def _affinity_keys(
    counts: sp.csr_matrix, knowledge: Knowledge, n_products: int
) -> list[np.ndarray]:
    """Attribute affinity: every work of the customer's authors and artists, and products
    with little history yet (fewer than THIN buyers) of their brands and categories."""
    catalogue = knowledge.catalogue
    thin = knowledge.stats.buyers < THIN
    everything = np.ones(len(catalogue), dtype=bool)
    return [
        _attribute_keys(counts, catalogue.creator, everything, n_products),
        _attribute_keys(counts, catalogue.brand, thin, n_products),
        _attribute_keys(counts, catalogue.category, thin, n_products),
    ]


def _union(keys: np.ndarray, width: int) -> np.ndarray:
    """Sorted distinct keys (row * width + col), through a sparse matrix: faster than unique."""
    rows = keys // width
    matrix = sp.csr_matrix(
        (np.ones(len(keys), dtype=np.float32), (rows, keys % width)),
        shape=(int(rows.max(initial=0)) + 1, width),
    )
    matrix.sum_duplicates()
    coo = matrix.tocoo()
    return coo.row.astype(np.int64) * width + coo.col


def _or_none(products: np.ndarray | None) -> np.ndarray:
    return np.zeros(0, dtype=np.int64) if products is None else products.astype(np.int64)


def _features(
    own: Baskets,
    knowledge: Knowledge,
    customer: np.ndarray,
    product: np.ndarray,
    moment: np.ndarray,
    counts: sp.csr_matrix,
    last: sp.csr_matrix,
    association: sp.csr_matrix,
    after_last: sp.csr_matrix,
) -> np.ndarray:
    stats, catalogue = knowledge.stats, knowledge.catalogue
    count = lookup(counts, customer, product)
    bought = (count > 0).astype(np.float64)
    n_baskets = baskets_per_customer(own).astype(np.float64)
    last_time = lookup(_weighted(own, own.time, reduce="max"), customer, product)
    now = moment[customer]
    since = np.where(bought > 0, now - last_time, 0.0)
    customer_last = np.full(own.n_customers, np.nan)
    np.fmax.at(customer_last, own.customer, own.time)
    gap = np.nan_to_num(now - customer_last[customer], nan=0.0)
    rate = stats.repurchase_rate[product]
    recent = stats.trend[product]
    in_last = lookup(last, customer, product)
    same = [
        _attribute_overlap(counts, attribute, customer, product)
        for attribute in (catalogue.creator, catalogue.brand, catalogue.category)
    ]
    columns = [
        bought,
        count / np.maximum(n_baskets[customer], 1.0),
        np.log1p(count),
        np.log1p(np.maximum(since, 0.0)) * bought,
        np.minimum(since / stats.interval[product], DUE_CAP) * bought,
        (in_last > 0).astype(np.float64),
        rate,
        rate * bought,
        np.log1p(stats.buyers[product]),
        np.log1p(recent),
        lookup(association, customer, product),
        lookup(after_last, customer, product),
        *(np.log1p(value) for value in same),
        bought * np.log1p(np.maximum(gap, 0.0)),
        bought * np.log1p(n_baskets[customer]),
        bought * np.log1p(recent),
        bought * np.exp(-np.abs(np.log(np.maximum(since, 0.5) / stats.interval[product]))),
        count / np.maximum(n_baskets[customer], 1.0) * np.log1p(np.maximum(gap, 0.0)),
        np.log1p(stats.season[product]),
        lookup(_last_season(own, moment), customer, product),
        _own_due(own, customer, product, count, since),
        lookup(_last_baskets(own, 3), customer, product)
        / np.minimum(n_baskets[customer], 3.0).clip(1),
    ]
    return np.column_stack(columns)


def _own_due(
    own: Baskets, customer: np.ndarray, product: np.ndarray, count: np.ndarray, since: np.ndarray
) -> np.ndarray:
    first = lookup(_weighted(own, -own.time, reduce="max"), customer, product)  # -first time
    last = lookup(_weighted(own, own.time, reduce="max"), customer, product)
    interval = (last + first) / np.maximum(count - 1, 1)  # (last - first) / (count - 1)
    due = np.where(count >= 2, since / np.maximum(interval, 1.0), 0.0)
    return np.minimum(due, DUE_CAP)


def _last_baskets(own: Baskets, keep: int) -> sp.csr_matrix:
    """How many of each customer's ``keep`` latest baskets hold each product."""
    if len(own) == 0:
        return sp.csr_matrix((own.n_customers, own.n_products))
    order = np.lexsort((own.basket, own.time, own.customer))
    owner, basket = own.customer[order], own.basket[order]
    fresh = np.r_[True, (owner[1:] != owner[:-1]) | (basket[1:] != basket[:-1])]
    basket_rank = np.cumsum(fresh) - 1  # running basket number over all customers
    first_of_owner = np.r_[True, owner[1:] != owner[:-1]]
    start = np.maximum.accumulate(np.where(first_of_owner, basket_rank, 0))
    n_of_owner = np.bincount(owner, weights=fresh, minlength=own.n_customers)
    position = basket_rank - start  # 0 = the customer's first basket
    recent = position >= n_of_owner[owner] - keep
    chosen = order[recent]
    return _weighted(own.take(np.isin(np.arange(len(own)), chosen)), np.ones(len(chosen)))


def _last_season(own: Baskets, moment: np.ndarray) -> sp.csr_matrix:
    """1 where the customer bought the product within TREND_DAYS of this moment last year."""
    offset = moment[own.customer] - YEAR_DAYS - own.time
    near = np.abs(offset) <= TREND_DAYS
    matrix = _weighted(own.take(near), np.ones(int(near.sum())))
    matrix.data[:] = 1.0
    return matrix


def _weighted(baskets: Baskets, values: np.ndarray, reduce: str = "sum") -> sp.csr_matrix:
    shape = (baskets.n_customers, baskets.n_products)
    if reduce == "sum":
        matrix = sp.csr_matrix((values, (baskets.customer, baskets.product)), shape=shape)
        matrix.sum_duplicates()
        return matrix
    if len(values) == 0:
        return sp.csr_matrix(shape)
    key = baskets.customer * baskets.n_products + baskets.product
    order = np.lexsort((values, key))
    ends = np.flatnonzero(np.r_[key[order][1:] != key[order][:-1], True])
    picked = order[ends]
    return sp.csr_matrix(
        (values[picked], (baskets.customer[picked], baskets.product[picked])), shape=shape
    )


def _last_basket_pairs(baskets: Baskets) -> sp.csr_matrix:
    """1 for each product in each customer's latest basket."""
    if len(baskets) == 0:
        return sp.csr_matrix((baskets.n_customers, baskets.n_products))
    mask = baskets.basket == last_basket(baskets)[baskets.customer]
    return _weighted(baskets.take(mask), np.ones(int(mask.sum())))


def _keys(matrix: sp.csr_matrix, n_products: int) -> np.ndarray:
    coo = matrix.tocoo()
    return coo.row.astype(np.int64) * n_products + coo.col


def _top(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    matrix = matrix.tocsr()
    kept = top_per_row(matrix, keep)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return sp.csr_matrix(
        (matrix.data[kept], (rows[kept], matrix.indices[kept])), shape=matrix.shape
    )


def lookup(matrix: sp.csr_matrix, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """matrix[row[k], col[k]] for every k, zero where absent (vectorised)."""
    matrix = matrix.tocsr()
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()  # also sorts the indices: the keys below come out sorted
    width = matrix.shape[1]
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys, data = rows * width + matrix.indices, matrix.data
    wanted = row.astype(np.int64) * width + col
    if len(keys) == 0:
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, data[at], 0.0)


def _attribute_overlap(
    counts: sp.csr_matrix, attribute: np.ndarray, customer: np.ndarray, product: np.ndarray
) -> np.ndarray:
    """How many of the customer's products share ``product``'s attribute (0 when unknown)."""
    known = attribute >= 0
    if not known.any():
        return np.zeros(len(customer))
    width = int(attribute.max()) + 1
    onehot = sp.csr_matrix(
        (np.ones(int(known.sum())), (np.flatnonzero(known), attribute[known])),
        shape=(len(attribute), width),
    )
    bought = counts.copy()
    bought.data[:] = 1.0
    per_value = (bought @ onehot).tocsr()
    value = attribute[product]
    overlap = lookup(per_value, customer, np.maximum(value, 0))
    own = lookup(bought, customer, product)  # the product itself does not count
    return np.where(value >= 0, np.maximum(overlap - own, 0.0), 0.0)


def _attribute_keys(
    counts: sp.csr_matrix, attribute: np.ndarray, among: np.ndarray, n_products: int
) -> np.ndarray:
    """Products in ``among`` that share ``attribute`` with a product the customer bought,
    the ``FROM_ATTRIBUTES`` sharing it with most of them first."""
    known = (attribute >= 0) & among
    if not known.any():
        return np.zeros(0, dtype=np.int64)
    width = int(attribute.max()) + 1
    has = attribute >= 0
    onehot = sp.csr_matrix(
        (np.ones(int(has.sum())), (np.flatnonzero(has), attribute[has])),
        shape=(len(attribute), width),
    )
    target = sp.csr_matrix(
        (np.ones(int(known.sum())), (np.flatnonzero(known), attribute[known])),
        shape=(len(attribute), width),
    )
    bought = counts.copy()
    bought.data[:] = 1.0
    shared = ((bought @ onehot) @ target.T).tocsr()
    return _keys(_top(shared, FROM_ATTRIBUTES), n_products)
