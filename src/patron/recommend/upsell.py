"""Upselling: the premium alternative in a category the customer already buys from.

For each category a customer bought in, the anchor is the dearest product they bought there;
the offers are active products of that category priced above it (at least ``STEP`` more, at
most ``stretch`` times it), ranked first by how alike their names are (the same product in a
better version: "Cat Snacks 60 g" → "Cat Snacks 60 g Premium"), then by their margin and how
many customers buy them. Works of authors and artists are not upgraded (a dearer novel is not
a better one). Only customers whose purchases sit at least ``MIN_POSITION`` up their
categories' price ladders are offered an upgrade: someone who always buys the cheapest is not
upsold.
"""

from __future__ import annotations

import re

import numpy as np

from patron.recommend import reasons as why
from patron.recommend.associations import ProductStats
from patron.recommend.baskets import Baskets
from patron.recommend.catalogue import Catalogue
from patron.recommend.model import Recommendation
from patron.recommend.rules import Rules, families

STEP = 1.15  # an upgrade costs at least 15 % more than the anchor
MIN_POSITION = 0.35  # mean price percentile within categories, below which nobody is upsold
MARGIN_WEIGHT = 2.0
LIKENESS_WEIGHT = 6.0
WORD = re.compile(r"\w+")


def upsell(
    history: Baskets,
    catalogue: Catalogue,
    stats: ProductStats,
    customers: np.ndarray,
    *,
    k: int = 10,
    rules: Rules | None = None,
) -> dict[int, list[Recommendation]]:
    rules = rules or Rules()
    percentile = price_percentiles(catalogue)
    family = families(catalogue.products)
    result: dict[int, list[Recommendation]] = {}
    for customer in customers.tolist():
        own = np.unique(history.product[history.customer == customer])
        result[int(customer)] = _offers(
            own, catalogue, stats, percentile, family, rules, k, rules.blocked.get(customer)
        )
    return result


def price_percentiles(catalogue: Catalogue) -> np.ndarray:
    """Each product's price rank within its category's active products, 0 (cheapest) to 1."""
    out = np.full(len(catalogue), np.nan)
    priced = ~np.isnan(catalogue.price) & (catalogue.category >= 0)
    for category in np.unique(catalogue.category[priced]).tolist():
        members = np.flatnonzero(priced & (catalogue.category == category))
        if len(members) == 1:
            out[members] = 0.5
            continue
        order = np.argsort(catalogue.price[members], kind="stable")
        out[members[order]] = np.arange(len(members)) / (len(members) - 1)
    return out


def _offers(
    own: np.ndarray,
    catalogue: Catalogue,
    stats: ProductStats,
    percentile: np.ndarray,
    family: np.ndarray,
    rules: Rules,
    k: int,
    blocked: frozenset[int] | None,
) -> list[Recommendation]:
    priced = own[
        ~np.isnan(catalogue.price[own])
        & (catalogue.category[own] >= 0)
        & (catalogue.creator[own] < 0)
    ]
    if len(priced) == 0:
        return []
    position = float(np.nanmean(percentile[priced]))
    if position < MIN_POSITION:
        return []
    stretch = 1.5 + position
    margin = catalogue.margin_rate
    offers: list[tuple[float, int, int]] = []
    for category in np.unique(catalogue.category[priced]).tolist():
        mine = priced[catalogue.category[priced] == category]
        anchor = int(mine[np.argmax(catalogue.price[mine])])
        low, high = catalogue.price[anchor] * STEP, catalogue.price[anchor] * stretch
        pool = np.flatnonzero(
            (catalogue.category == category)
            & catalogue.active
            & (catalogue.price >= low)
            & (catalogue.price <= high)
            & (catalogue.creator < 0)
        )
        pool = pool[~np.isin(pool, own)]
        if rules.margin_floor is not None:
            pool = pool[np.isnan(margin[pool]) | (margin[pool] >= rules.margin_floor)]
        if blocked:
            pool = pool[~np.isin(pool, list(blocked))]
        likeness = np.array([_likeness(catalogue.names[anchor], catalogue.names[p]) for p in pool])
        score = (
            LIKENESS_WEIGHT * likeness
            + MARGIN_WEIGHT * np.nan_to_num(margin[pool])
            + 0.1 * np.log1p(stats.buyers[pool])
        )
        offers.extend(zip(score.tolist(), pool.tolist(), [anchor] * len(pool), strict=True))
    offers.sort(key=lambda offer: (-offer[0], offer[1]))
    chosen: list[Recommendation] = []
    seen: set[int] = set()
    per_category: dict[int, int] = {}
    for score, product, anchor in offers:
        group = int(catalogue.category[product])
        if int(family[product]) in seen or per_category.get(group, 0) >= rules.per_category:
            continue
        seen.add(int(family[product]))
        per_category[group] = per_category.get(group, 0) + 1
        reason = why.premium_alternative(
            str(catalogue.names[anchor]),
            str(catalogue.products[anchor]),
            float(catalogue.price[product]),
            float(catalogue.price[anchor]),
        )
        chosen.append(Recommendation(product, float(score), reason))
        if len(chosen) == k:
            break
    return chosen


def _likeness(one: object, other: object) -> float:
    """Share of words two product names have in common (Jaccard)."""
    a = set(WORD.findall(str(one).lower()))
    b = set(WORD.findall(str(other).lower()))
    return len(a & b) / len(a | b) if a or b else 0.0
