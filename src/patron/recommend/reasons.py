"""Why a product is recommended, in words a customer or a sales person understands.

A reason is a code with its figures (so pages can translate it) and an English sentence:

- ``bought_together``: "Bought together with X by 38 % of its buyers" (the customer's product
  whose association with the offer is strongest);
- ``same_creator``: "By the same author or artist as X";
- ``new_from_brand`` / ``new_in_category``: "New from Brand, like X" for products with too
  little history for associations yet;
- ``reorder_due``: "Bought again about every 30 days; last bought 41 days ago";
- ``premium_alternative``: "A premium alternative to X (€49.00 instead of €29.00)";
- ``popular_now``: "Selling well now: 120 orders in the last 30 days"; where nothing sold
  lately ``bought_by`` ("Bought by 12 customers"), ``from_partner`` ("From our partner
  Glanzwerk GmbH") or ``new_product`` ("New in the range").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from patron.recommend.associations import TREND_DAYS, customer_products
from patron.recommend.baskets import Baskets
from patron.recommend.ranking import THIN, Candidates, Knowledge, lookup

MIN_LIFT = 1.5  # "bought together" only when it is well above what chance would give


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    figures: dict[str, object] = field(default_factory=dict)


NONE = Reason("none", "")


def bought_together(name: str, product: str, share: float) -> Reason:
    percent = round(100 * share)
    return Reason(
        "bought_together",
        f"Bought together with {name} by {percent} % of its buyers",
        {"product": product, "name": name, "percent": percent},
    )


def same_creator(name: str, product: str, creator: str) -> Reason:
    return Reason(
        "same_creator",
        f"By {creator}, like {name}",
        {"product": product, "name": name, "creator": creator},
    )


def new_alike(code: str, name: str, product: str, value: str) -> Reason:
    """A product with little history yet, of a brand or category the customer buys."""
    text = (
        f"New from {value}, like {name}"
        if code == "new_from_brand"
        else f"New in {value}, like {name}"
    )
    return Reason(code, text, {"product": product, "name": name, "value": value})


def reorder_due(interval: float, since: float) -> Reason:
    every, ago = round(interval), round(since)
    return Reason(
        "reorder_due",
        f"Bought again about every {every} days; last bought {ago} days ago",
        {"interval_days": every, "days_since": ago},
    )


def premium_alternative(name: str, product: str, price: float, instead: float) -> Reason:
    return Reason(
        "premium_alternative",
        f"A premium alternative to {name} ({price:.2f} instead of {instead:.2f})",
        {"product": product, "name": name, "price": price, "instead_of": instead},
    )


def popular_now(orders: int) -> Reason:
    return Reason(
        "popular_now",
        f"Selling well now: {orders} orders in the last {round(TREND_DAYS)} days",
        {"orders": orders, "days": round(TREND_DAYS)},
    )


def bought_by(customers: int) -> Reason:
    return Reason("bought_by", f"Bought by {customers} customers", {"customers": customers})


def from_partner(partner: str) -> Reason:
    return Reason("from_partner", f"From our partner {partner}", {"partner": partner})


def explain(
    found: Candidates,
    chosen: np.ndarray,
    history: Baskets,
    knowledge: Knowledge,
) -> dict[int, Reason]:
    """A reason for each chosen candidate row."""
    if len(chosen) == 0:
        return {}
    catalogue, stats = knowledge.catalogue, knowledge.stats
    customer = found.customer[chosen]
    product = found.product[chosen]
    history = history.take(np.isin(history.customer, np.unique(customer)))
    bought = customer_products(history)
    bought.data[:] = 1.0
    towards = knowledge.neighbours.similarity.T.tocsr()
    strength = sp.csr_matrix(bought[customer]).multiply(towards[product]).tocsr()
    anchor = np.asarray(strength.argmax(axis=1)).ravel()
    anchored = np.asarray(strength.max(axis=1).todense()).ravel() > 0
    share = lookup(knowledge.neighbours.co_buyers, anchor, product) / np.maximum(
        stats.buyers[anchor], 1.0
    )
    base = stats.buyers[product] / max(stats.customers, 1)
    together = anchored & (share >= MIN_LIFT * base)
    repeat = found.column("bought")[chosen] > 0
    since = np.expm1(found.column("log_days_since")[chosen])
    creator = found.column("same_creator")[chosen] > 0
    brand = found.column("same_brand")[chosen] > 0
    category = found.column("same_category")[chosen] > 0
    thin = stats.buyers[product] < THIN
    reasons: dict[int, Reason] = {}
    for at, row in enumerate(chosen.tolist()):
        item = int(product[at])
        if repeat[at]:
            reasons[row] = reorder_due(float(stats.interval[item]), float(since[at]))
        elif together[at]:
            other = int(anchor[at])
            reasons[row] = bought_together(
                str(catalogue.names[other]), str(catalogue.products[other]), float(share[at])
            )
        elif creator[at]:
            reasons[row] = _creator_reason(history, knowledge, int(customer[at]), item)
        elif thin[at] and brand[at]:
            reasons[row] = _alike(history, knowledge, int(customer[at]), item, "new_from_brand")
        elif thin[at] and category[at]:
            reasons[row] = _alike(history, knowledge, int(customer[at]), item, "new_in_category")
        else:
            reasons[row] = _fallback(knowledge, item)
    return reasons


def _fallback(knowledge: Knowledge, item: int) -> Reason:
    """What is true of a product offered for no reason of the customer's own."""
    stats, catalogue = knowledge.stats, knowledge.catalogue
    if stats.trend[item] > 0:
        return popular_now(int(stats.trend[item]))
    if stats.buyers[item] > 0:
        return bought_by(int(stats.buyers[item]))
    if catalogue.partner[item]:
        return from_partner(str(catalogue.partner_name[item] or ""))
    return Reason("new_product", "New in the range", {})


def _creator_reason(history: Baskets, knowledge: Knowledge, customer: int, item: int) -> Reason:
    catalogue = knowledge.catalogue
    creator = catalogue.creator[item]
    own = history.product[(history.customer == customer)]
    same = own[catalogue.creator[own] == creator]
    other = int(same[0]) if len(same) else item
    return same_creator(
        str(catalogue.names[other]),
        str(catalogue.products[other]),
        catalogue.creator_names[creator] if creator >= 0 else "",
    )


def _alike(history: Baskets, knowledge: Knowledge, customer: int, item: int, code: str) -> Reason:
    catalogue = knowledge.catalogue
    values, names = (
        (catalogue.brand, catalogue.brand_names)
        if code == "new_from_brand"
        else (catalogue.category, catalogue.category_names)
    )
    own = history.product[history.customer == customer]
    same = own[values[own] == values[item]]
    other = int(same[0]) if len(same) else item
    value = names[values[item]] if values[item] >= 0 else ""
    return new_alike(code, str(catalogue.names[other]), str(catalogue.products[other]), value)
