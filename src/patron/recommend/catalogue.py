"""The products a recommendation may name, and what is known of them, as arrays in code order.

Attributes are coded per product: ``-1`` means unknown. Prices and costs are floats (NaN when
unknown): they rank and filter here, nothing is booked from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Catalogue:
    products: np.ndarray  # product id per code (same code space as the baskets)
    names: np.ndarray  # object: display name (the id when unknown)
    active: np.ndarray  # bool
    partner: np.ndarray  # bool: from a partner's catalogue
    partner_name: np.ndarray  # object (None for own products)
    replenishable: np.ndarray  # bool: flagged as a consumable that is bought again
    price: np.ndarray  # float, NaN unknown
    cost: np.ndarray  # float, NaN unknown
    category: np.ndarray  # int code, -1 unknown
    brand: np.ndarray
    creator: np.ndarray
    category_names: tuple[str, ...] = ()
    brand_names: tuple[str, ...] = ()
    creator_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.products)

    @property
    def margin_rate(self) -> np.ndarray:
        """(price - cost) / price, NaN where either is unknown."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.price > 0, (self.price - self.cost) / self.price, np.nan)


def plain(products: Sequence[object], prices: np.ndarray | None = None) -> Catalogue:
    """A catalogue that knows only ids (and perhaps prices): every product active and own."""
    n = len(products)
    ids = np.asarray(list(products), dtype=object)
    unknown = np.full(n, -1, dtype=np.int64)
    return Catalogue(
        products=ids,
        names=ids.copy(),
        active=np.ones(n, dtype=bool),
        partner=np.zeros(n, dtype=bool),
        partner_name=np.full(n, None, dtype=object),
        replenishable=np.zeros(n, dtype=bool),
        price=np.full(n, np.nan) if prices is None else np.asarray(prices, dtype=np.float64),
        cost=np.full(n, np.nan),
        category=unknown,
        brand=unknown.copy(),
        creator=unknown.copy(),
    )


def codes(values: Sequence[str | None]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes of text values (None → -1) and the names behind the codes."""
    names = sorted({value for value in values if value})
    index = {name: code for code, name in enumerate(names)}
    return np.array([index.get(value or "", -1) for value in values], dtype=np.int64), tuple(names)
