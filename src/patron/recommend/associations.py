"""What the whole shop's purchase histories say about products: association and repurchase.

- **Associations** between two products: how many customers bought both (co-buyers), the
  confidence "of the buyers of A, this share also bought B", the lift (how much more often
  than chance), and a cosine similarity that ranks a product's neighbours. Computed with one
  sparse matrix product (customers × products, transposed, times itself), which is what
  association-rule mining of item pairs amounts to, without enumerating itemsets.
- **Repurchase** of a product: the share of its buyers who bought it again, and the typical
  days between two purchases by the same customer (a consumable's rhythm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from patron.recommend.baskets import Baskets

NEIGHBOURS = 50  # neighbours kept per product
TREND_DAYS = 30.0  # the window of "selling now"
YEAR_DAYS = 365.0
PRIOR_INTERVAL_DAYS = 30.0  # pulls a rarely repurchased product's interval towards a month


@dataclass(frozen=True)
class ProductStats:
    buyers: np.ndarray  # distinct customers who bought it
    repeat_buyers: np.ndarray  # of them, those who bought it in two or more baskets
    interval: np.ndarray  # mean days between two purchases by the same customer (smoothed)
    trend: np.ndarray  # baskets with it in the TREND_DAYS before ``as_of``
    season: np.ndarray  # baskets with it in the TREND_DAYS after ``as_of``, a year earlier
    as_of: float  # days since the epoch
    customers: int  # customers with at least one basket

    @property
    def repurchase_rate(self) -> np.ndarray:
        """Share of buyers who bought again, smoothed towards one in two (Laplace)."""
        return (self.repeat_buyers + 1.0) / (self.buyers + 2.0)


@dataclass(frozen=True)
class Neighbours:
    """Each product's most similar products, as two CSR matrices with the same structure."""

    similarity: sp.csr_matrix  # cosine over customers
    co_buyers: sp.csr_matrix  # customers who bought both

    def of(self, product: int) -> list[tuple[int, float, int]]:
        """(neighbour, similarity, co-buyers) of one product, most similar first."""
        start, end = self.similarity.indptr[product], self.similarity.indptr[product + 1]
        rows = sorted(
            zip(
                self.similarity.indices[start:end].tolist(),
                self.similarity.data[start:end].tolist(),
                self.co_buyers.data[start:end].astype(np.int64).tolist(),
                strict=True,
            ),
            key=lambda row: (-row[1], row[0]),
        )
        return rows


class TrendWindow:
    """Baskets per product in the TREND_DAYS before any moment (for time-true evaluation)."""

    def __init__(self, baskets: Baskets) -> None:
        product, time = baskets.product, baskets.time  # one row per (basket, product) already
        order = np.lexsort((time, product))
        self._product = product[order]
        self._time = time[order]
        self._start = np.searchsorted(self._product, np.arange(baskets.n_products + 1))

    def counts(self, product: np.ndarray, now: np.ndarray) -> np.ndarray:
        """Baskets with ``product[k]`` in [now[k] - TREND_DAYS, now[k])."""
        if len(product) == 0:
            return np.zeros(0)
        base = self._start[product]
        end = self._start[product + 1]
        # searchsorted within each product's slice: offset the times by product rank
        span = float(self._time.max(initial=0.0) - self._time.min(initial=0.0)) + 4 * TREND_DAYS
        lifted = self._time + self._product * span
        upper = np.searchsorted(lifted, now + product * span, side="left")
        lower = np.searchsorted(lifted, now - TREND_DAYS + product * span, side="left")
        upper = np.clip(upper, base, end)
        lower = np.clip(lower, base, end)
        return (upper - lower).astype(np.float64)

    def season(self, product: np.ndarray, now: np.ndarray) -> np.ndarray:
        """Baskets with ``product[k]`` in the TREND_DAYS after now[k], a year earlier: what
        sold at this time last year (Christmas comes every year)."""
        return self.counts(product, now - YEAR_DAYS + TREND_DAYS)


def customer_products(baskets: Baskets) -> sp.csr_matrix:
    """Customers × products: in how many baskets each customer bought each product."""
    ones = np.ones(len(baskets), dtype=np.float64)
    matrix = sp.csr_matrix(
        (ones, (baskets.customer, baskets.product)),
        shape=(baskets.n_customers, baskets.n_products),
    )
    matrix.sum_duplicates()
    return matrix


def product_stats(baskets: Baskets, *, as_of: float | None = None) -> ProductStats:
    counts = customer_products(baskets)
    counts.sort_indices()
    counts = counts.tocoo()
    n = baskets.n_products
    buyers = np.bincount(counts.col, minlength=n).astype(np.float64)
    repeat = np.bincount(counts.col[counts.data >= 2], minlength=n).astype(np.float64)
    first, last = _first_last(baskets)  # in (customer, product) order, like ``counts``
    pair_product = counts.col
    pair_count = counts.data
    span = np.where(pair_count >= 2, last - first, 0.0)
    gaps = np.maximum(pair_count - 1, 0)
    interval = (np.bincount(pair_product, span, n) + PRIOR_INTERVAL_DAYS) / (
        np.bincount(pair_product, gaps, n) + 1.0
    )
    moment = float(baskets.time.max(initial=0.0)) + 1e-6 if as_of is None else as_of
    recent, season = np.zeros(n), np.zeros(n)
    if len(baskets):
        window = TrendWindow(baskets)
        recent = window.counts(np.arange(n), np.full(n, moment))
        season = window.season(np.arange(n), np.full(n, moment))
    active = int((np.bincount(baskets.customer, minlength=baskets.n_customers) > 0).sum())
    return ProductStats(buyers, repeat, interval, recent, season, moment, active)


def neighbours(baskets: Baskets, *, keep: int = NEIGHBOURS) -> Neighbours:
    """Each product's ``keep`` most similar products by cosine over their buyers."""
    bought = customer_products(baskets).astype(np.float32)
    bought.data[:] = 1.0
    co = bought.T.tocsr() @ bought
    buyers = np.asarray(bought.sum(axis=0)).ravel()
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    similarity = co.copy()
    similarity.data = co.data / np.sqrt(buyers[rows] * buyers[co.indices])
    similarity.data[rows == co.indices] = -1.0  # a product is not its own neighbour
    kept = top_per_row(similarity, keep) & (rows != co.indices)
    return Neighbours(_masked(similarity, kept), _masked(co, kept))


def top_per_row(matrix: sp.csr_matrix, keep: int) -> np.ndarray:
    """Boolean mask over ``matrix.data``: the ``keep`` largest values of each row."""
    mask = np.ones(len(matrix.data), dtype=bool)
    indptr, data = matrix.indptr, matrix.data
    for row in np.flatnonzero(np.diff(indptr) > keep).tolist():
        start, end = indptr[row], indptr[row + 1]
        dropped = np.argpartition(-data[start:end], keep)[keep:]
        mask[start + dropped] = False
    return mask


def _masked(matrix: sp.csr_matrix, mask: np.ndarray) -> sp.csr_matrix:
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    out = sp.csr_matrix((matrix.data[mask], (rows[mask], matrix.indices[mask])), shape=matrix.shape)
    out.sort_indices()
    return out


def _first_last(baskets: Baskets) -> tuple[np.ndarray, np.ndarray]:
    """First and last purchase time of each (customer, product) pair, in key order."""
    n = baskets.n_products
    key = baskets.customer * n + baskets.product
    order = np.lexsort((baskets.time, key))
    sorted_key = key[order]
    sorted_time = baskets.time[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], len(sorted_key)] - 1
    return sorted_time[starts], sorted_time[ends]
