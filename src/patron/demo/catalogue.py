"""The demo shop's catalogue: the same few hundred products for every seed.

The catalogue is built from its own fixed random stream, so product SKUs, prices and the
complementary pairs are stable across runs and only customer behaviour depends on the seed.
It carries what the recommenders need to find: complementary pairs (pasta → sauce, jeans →
T-shirt, dishwasher → partner's detergent tabs), premium variants (same category, higher price,
better margin), authors and artists with several works, and replenishable consumables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.demo.catalogue_data import CATEGORIES, COMPLEMENTS, CategorySpec

CATALOGUE_SEED = 20_261_031
PREMIUM_SHARE = 0.3
INACTIVE_SHARE = 0.03


@dataclass(frozen=True)
class Catalogue:
    """Products as parallel arrays, sorted by category and then by price (for budget look-ups)."""

    sku: list[str]
    name: list[str]
    brand: list[str]
    creator: list[str | None]
    partner_name: list[str | None]
    category: np.ndarray  # index into ``categories``
    price: np.ndarray  # list price in cents
    cost: np.ndarray  # unit cost in cents, always below the price
    active: np.ndarray
    replenishable: np.ndarray
    premium: np.ndarray
    complement: np.ndarray  # product index of the complementary product, -1 if none
    creator_id: np.ndarray  # index of the author/artist, -1 if none
    categories: tuple[CategorySpec, ...]

    def __len__(self) -> int:
        return len(self.sku)

    @property
    def category_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last product index of each category."""
        ids = np.arange(len(self.categories))
        return (
            np.searchsorted(self.category, ids, "left"),
            np.searchsorted(self.category, ids, "right"),
        )

    @property
    def return_rate(self) -> np.ndarray:
        rates = np.array([spec.return_rate for spec in self.categories])
        return rates[self.category]

    def category_named(self, name: str) -> int:
        return next(i for i, spec in enumerate(self.categories) if spec.name == name)

    def complementary_pairs(self) -> list[tuple[str, str]]:
        return [
            (self.sku[i], self.sku[j]) for i, j in enumerate(self.complement.tolist()) if j >= 0
        ]


@dataclass
class _Draft:
    name: str
    brand: str
    category: int
    price: int
    cost: int
    creator: str | None = None
    creator_id: int = -1
    premium: bool = False
    replenishable: bool = False
    partner_name: str | None = None


def _shop_price(euros: float) -> int:
    """A price with a shop-like ending (x.49, x.99, or round hundreds less one euro), in cents."""
    if euros < 10:
        return max(99, round(euros * 2) * 50 - 1)
    if euros < 200:
        return int(euros) * 100 + 99
    return round(euros / 10) * 1000 - 100


def _cost(rng: np.random.Generator, price: int, ratio: float) -> int:
    return int(min(price - 1, round(price * ratio * rng.uniform(0.9, 1.1))))


def _category_drafts(rng: np.random.Generator, index: int, spec: CategorySpec) -> list[_Draft]:
    drafts: list[_Draft] = []
    if spec.creators:
        for creator_id, (creator, works) in enumerate(spec.creators):
            for work in works:
                low, high = spec.price_range
                price = _shop_price(float(np.exp(rng.uniform(np.log(low), np.log(high)))))
                drafts.append(
                    _Draft(
                        name=f"{creator}: {work}",
                        brand=spec.brands[len(drafts) % len(spec.brands)],
                        category=index,
                        price=price,
                        cost=_cost(rng, price, spec.cost_ratio),
                        creator=creator,
                        creator_id=creator_id,
                    )
                )
        return drafts
    for item, typical in spec.items:
        for brand in rng.permutation(len(spec.brands))[: 1 + int(rng.integers(1, 3))]:
            price = _shop_price(typical * float(rng.uniform(0.8, 1.3)))
            drafts.append(
                _Draft(
                    name=f"{spec.brands[brand]} {item}",
                    brand=spec.brands[brand],
                    category=index,
                    price=price,
                    cost=_cost(rng, price, spec.cost_ratio),
                    replenishable=spec.replenishable and item not in spec.durable_items,
                    partner_name=spec.partner_name,
                )
            )
    return drafts


def _premium_variant(rng: np.random.Generator, draft: _Draft, spec: CategorySpec) -> _Draft:
    """Same category and kind, a higher price tier and a better margin (the upsell target)."""
    price = _shop_price(draft.price / 100 * float(rng.uniform(1.6, 2.4)))
    return _Draft(
        name=f"{draft.name} {spec.premium_label}",
        brand=draft.brand,
        category=draft.category,
        price=price,
        cost=_cost(rng, price, spec.cost_ratio * 0.75),
        premium=True,
        replenishable=draft.replenishable,
        partner_name=draft.partner_name,
    )


def build_catalogue() -> Catalogue:
    """The catalogue; deterministic and independent of the simulation seed."""
    rng = np.random.default_rng(CATALOGUE_SEED)
    drafts: list[_Draft] = []
    for index, spec in enumerate(CATEGORIES):
        base = _category_drafts(rng, index, spec)
        premium = [
            _premium_variant(rng, d, spec)
            for d in base
            if spec.premium_label and rng.random() < PREMIUM_SHARE
        ]
        drafts.extend(base + premium)
    order = sorted(range(len(drafts)), key=lambda i: (drafts[i].category, drafts[i].price, i))
    drafts = [drafts[i] for i in order]
    category = np.array([d.category for d in drafts], dtype=np.int64)
    starts = np.searchsorted(category, category, "left")
    skus = [
        f"{CATEGORIES[c].sku_prefix}-{n + 1 - s:04d}"
        for n, (c, s) in enumerate(zip(category.tolist(), starts.tolist(), strict=True))
    ]
    active = rng.random(len(drafts)) >= INACTIVE_SHARE
    return Catalogue(
        sku=skus,
        name=[d.name for d in drafts],
        brand=[d.brand for d in drafts],
        creator=[d.creator for d in drafts],
        partner_name=[d.partner_name for d in drafts],
        category=category,
        price=np.array([d.price for d in drafts], dtype=np.int64),
        cost=np.array([d.cost for d in drafts], dtype=np.int64),
        active=active,
        replenishable=np.array([d.replenishable for d in drafts]),
        premium=np.array([d.premium for d in drafts]),
        complement=_complements(rng, category, active),
        creator_id=np.array([d.creator_id for d in drafts], dtype=np.int64),
        categories=CATEGORIES,
    )


def _complements(rng: np.random.Generator, category: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Give each product of a source category one complementary product of the target category."""
    names = [spec.name for spec in CATEGORIES]
    complement = np.full(len(category), -1, dtype=np.int64)
    for source, target in COMPLEMENTS:
        sources = np.flatnonzero(category == names.index(source))
        targets = np.flatnonzero((category == names.index(target)) & active)
        complement[sources] = rng.choice(targets, size=len(sources))
    return complement
