"""Purchase histories as integer-coded baskets: the one input every recommender here reads.

A basket is one order. Each (basket, product) pair appears once, whatever its quantity, because
the recommenders ask "was it bought", not "how many". Times are days (float) since the epoch,
so intervals are plain subtractions. Customers and products are coded 0..n-1; ``customers``
and ``products`` turn codes back into the shop's ids.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Baskets:
    customer: np.ndarray  # int64 code per (basket, product) pair
    product: np.ndarray  # int64 code
    basket: np.ndarray  # int64 code
    time: np.ndarray  # float64 days since the epoch
    customers: np.ndarray  # customer id (object/str) per code
    products: np.ndarray  # product id (object/str) per code

    @property
    def n_customers(self) -> int:
        return len(self.customers)

    @property
    def n_products(self) -> int:
        return len(self.products)

    def __len__(self) -> int:
        return len(self.customer)

    def take(self, mask: np.ndarray) -> Baskets:
        """The same code space with only the pairs in ``mask``."""
        return Baskets(
            self.customer[mask],
            self.product[mask],
            self.basket[mask],
            self.time[mask],
            self.customers,
            self.products,
        )


def excluded(products: Iterable[object], patterns: Collection[str]) -> np.ndarray:
    """Whether each product id matches one of ``patterns``: SKUs, or shell-style wildcards
    (``gift_*``, ``DCGS?``), case-sensitive."""
    names = [str(product) for product in products]
    if not patterns:
        return np.zeros(len(names), dtype=bool)
    exact = {p for p in patterns if not any(c in p for c in "*?[")}
    wild = [p for p in patterns if p not in exact]
    return np.array([n in exact or any(fnmatchcase(n, p) for p in wild) for n in names], dtype=bool)


def from_lines(lines: pa.Table, *, exclude: Collection[str] = ()) -> Baskets:
    """Baskets of the analytics ``lines`` table (customer_id, order_id, placed_at, product).

    Lines without a customer or a product are left out, and so are the products matching
    ``exclude`` (see ``excluded``: service lines such as postage, which nobody should be
    offered).
    """
    table = lines.select(["customer_id", "order_id", "placed_at", "product"])
    keep = pc.and_(pc.is_valid(table["customer_id"]), pc.is_valid(table["product"]))
    if exclude:
        distinct = pc.unique(table["product"].drop_null()).to_pylist()
        dropped = [p for p, out in zip(distinct, excluded(distinct, exclude), strict=True) if out]
        keep = pc.and_(keep, pc.invert(pc.is_in(table["product"], pa.array(dropped, pa.string()))))
    table = table.filter(keep)
    customers, customer = _codes(table["customer_id"])
    products, product = _codes(table["product"])
    _, basket = _codes(table["order_id"])
    micros = pc.cast(table["placed_at"], pa.timestamp("us")).cast(pa.int64())
    time = micros.to_numpy(zero_copy_only=False).astype(np.float64) / (SECONDS_PER_DAY * 1e6)
    return _unique_pairs(customer, product, basket, time, customers, products)


def from_arrays(
    customer_ids: np.ndarray,
    order_ids: np.ndarray,
    days: np.ndarray,
    product_ids: np.ndarray,
) -> Baskets:
    """Baskets of parallel arrays (ids of any hashable kind, times in days)."""
    customers, customer = np.unique(np.asarray(customer_ids), return_inverse=True)
    products, product = np.unique(np.asarray(product_ids), return_inverse=True)
    _, basket = np.unique(np.asarray(order_ids), return_inverse=True)
    return _unique_pairs(
        customer.astype(np.int64),
        product.astype(np.int64),
        basket.astype(np.int64),
        np.asarray(days, dtype=np.float64),
        customers.astype(object),
        products.astype(object),
    )


def with_products(baskets: Baskets, products: np.ndarray) -> Baskets:
    """The same baskets coded over ``products`` (sorted ids; e.g. the whole catalogue, so
    that products nobody bought yet have codes too). Ids missing there are appended."""
    universe = np.asarray(products, dtype=object)
    missing = np.setdiff1d(baskets.products.astype(str), universe.astype(str))
    if len(missing):
        known = set(missing.tolist())
        extra = [p for p in baskets.products.tolist() if str(p) in known]
        universe = np.concatenate([universe, np.asarray(extra, dtype=object)])
    position = {str(product): code for code, product in enumerate(universe.tolist())}
    mapping = np.array([position[str(p)] for p in baskets.products.tolist()], dtype=np.int64)
    return Baskets(
        baskets.customer,
        mapping[baskets.product] if len(mapping) else baskets.product,
        baskets.basket,
        baskets.time,
        baskets.customers,
        universe,
    )


def split_last(baskets: Baskets) -> tuple[Baskets, Baskets]:
    """(history, last basket) of every customer with at least two baskets.

    Customers with one basket stay whole in the history and have no held-out basket. Among
    baskets at the same moment the one with the highest code counts as the last.
    """
    last = last_basket(baskets)
    n_baskets = baskets_per_customer(baskets)
    held = (baskets.basket == last[baskets.customer]) & (n_baskets[baskets.customer] >= 2)
    return baskets.take(~held), baskets.take(held)


def last_basket(baskets: Baskets) -> np.ndarray:
    """Each customer's latest basket code (-1 for a customer without any)."""
    order = np.lexsort((baskets.basket, baskets.time, baskets.customer))
    last = np.full(baskets.n_customers, -1, dtype=np.int64)
    last[baskets.customer[order]] = baskets.basket[order]  # the last write per customer wins
    return last


def baskets_per_customer(baskets: Baskets) -> np.ndarray:
    owner = np.full(int(baskets.basket.max(initial=-1)) + 1, -1, dtype=np.int64)
    owner[baskets.basket] = baskets.customer
    return np.bincount(owner[owner >= 0], minlength=baskets.n_customers)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    encoded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
    values = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(values.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return values[order], rank[indices]


def _unique_pairs(
    customer: np.ndarray,
    product: np.ndarray,
    basket: np.ndarray,
    time: np.ndarray,
    customers: np.ndarray,
    products: np.ndarray,
) -> Baskets:
    key = basket * max(len(products), 1) + product
    _, first = np.unique(key, return_index=True)
    return Baskets(customer[first], product[first], basket[first], time[first], customers, products)
