"""Vectorised look-ups in the demo catalogue: by category and budget, by price, by author."""

from __future__ import annotations

import numpy as np

from patron.demo.catalogue import Catalogue


class Shelf:
    """Vectorised look-ups in the catalogue by category and budget."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.start, self.end = catalogue.category_bounds
        self.scale = int(catalogue.price.max()) + 1
        self.keys = catalogue.category * self.scale + catalogue.price
        self.by_price = np.argsort(catalogue.price, kind="stable")
        self.min_price = catalogue.price[self.start]
        self.max_price = catalogue.price[self.end - 1]
        popularity = np.array([c.popularity for c in catalogue.categories])
        self.popularity = popularity / popularity.sum()
        self.successor = self._successors()

    def _successors(self) -> np.ndarray:
        """For each product, itself if active, else the active product of its category closest in price."""
        c = self.catalogue
        successor = np.arange(len(c))
        for i in np.flatnonzero(~c.active).tolist():
            peers = np.flatnonzero((c.category == c.category[i]) & c.active)
            successor[i] = peers[np.argmin(np.abs(c.price[peers] - c.price[i]))]
        return successor

    def below(
        self, rng: np.random.Generator, category: np.ndarray, budget: np.ndarray
    ) -> np.ndarray:
        """A product of the category priced at most ``budget`` (its cheapest if none), varied.

        When the budget exceeds the whole category, any of its products (quantity covers the rest).
        """
        target = category * self.scale + np.minimum(budget, self.scale - 1)
        pos = np.searchsorted(self.keys, target, "right") - 1
        pos = pos - (rng.geometric(0.55, len(pos)) - 1)  # sometimes a slightly cheaper neighbour
        count = self.end[category] - self.start[category]
        anywhere = self.start[category] + (rng.random(len(pos)) * count).astype(np.int64)
        pos = np.where(budget >= self.max_price[category], anywhere, pos)
        return np.clip(pos, self.start[category], self.end[category] - 1)

    def nearest(self, budget: np.ndarray) -> np.ndarray:
        """The product of any category whose price is closest to ``budget`` in ratio."""
        prices = self.catalogue.price[self.by_price]
        pos = np.clip(np.searchsorted(prices, budget), 1, len(prices) - 1)
        lower, upper = prices[pos - 1], prices[pos]
        take_upper = upper / budget < budget / lower
        return self.by_price[np.where(take_upper, pos, pos - 1)]

    def work_by(self, rng: np.random.Generator, category: int, creator: np.ndarray) -> np.ndarray:
        """A random work of the given author or artist."""
        c = self.catalogue
        works = np.flatnonzero(c.category == category)
        order = works[np.argsort(c.creator_id[works], kind="stable")]
        first = np.searchsorted(c.creator_id[order], creator, "left")
        count = np.searchsorted(c.creator_id[order], creator, "right") - first
        return order[first + (rng.random(len(creator)) * count).astype(np.int64)]
