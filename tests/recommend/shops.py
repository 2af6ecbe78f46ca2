"""Small hand-made shops for the recommender's tests, and the demo shop's purchases as baskets."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from patron.demo.catalogue import Catalogue as DemoCatalogue
from patron.demo.shop import Shop
from patron.recommend.baskets import Baskets, from_arrays, with_products
from patron.recommend.catalogue import Catalogue, codes


def baskets(*orders: tuple[str, int, float, str]) -> Baskets:
    """Baskets of (customer, order number, day, "PRODUCT PRODUCT …") rows, one row per order."""
    rows = [(c, o, d, p) for c, o, d, products in orders for p in products.split()]
    customer, order, day, product = zip(*rows, strict=True)
    return from_arrays(
        np.array(customer, dtype=object),
        np.array(order),
        np.array(day, dtype=np.float64),
        np.array(product, dtype=object),
    )


def code(baskets: Baskets, product: str) -> int:
    return int(np.flatnonzero(baskets.products == product)[0])


def customer_code(baskets: Baskets, customer: str) -> int:
    return int(np.flatnonzero(baskets.customers == customer)[0])


def catalogue(
    products: np.ndarray,
    *,
    names: Mapping[str, str] | None = None,
    inactive: Collection[str] = (),
    partner: Mapping[str, str] | None = None,
    replenishable: Collection[str] = (),
    price: Mapping[str, float] | None = None,
    cost: Mapping[str, float] | None = None,
    category: Mapping[str, str] | None = None,
    creator: Mapping[str, str] | None = None,
) -> Catalogue:
    """A catalogue in the code order of ``products``; unnamed attributes are unknown."""
    ids = [str(p) for p in products.tolist()]
    names, partner = names or {}, partner or {}
    price, cost = price or {}, cost or {}
    category_code, category_names = codes([(category or {}).get(p) for p in ids])
    creator_code, creator_names = codes([(creator or {}).get(p) for p in ids])
    return Catalogue(
        products=np.asarray(products, dtype=object),
        names=np.array([names.get(p, p) for p in ids], dtype=object),
        active=np.array([p not in inactive for p in ids]),
        partner=np.array([p in partner for p in ids]),
        partner_name=np.array([partner.get(p) for p in ids], dtype=object),
        replenishable=np.array([p in replenishable for p in ids]),
        price=np.array([price.get(p, np.nan) for p in ids], dtype=np.float64),
        cost=np.array([cost.get(p, np.nan) for p in ids], dtype=np.float64),
        category=category_code,
        brand=np.full(len(ids), -1, dtype=np.int64),
        creator=creator_code,
        category_names=category_names,
        creator_names=creator_names,
    )


# A corner shop with a story for each reason. Everyone who bought pasta before the last
# customer (x) took sauce along; nobody read both of Ann Author's books; c1, c2 and z drink
# coffee at a rhythm; the partner's dishwasher tabs (TABS) were never bought, its rinse aid
# once. x, y and z are the customers the tests ask about.
PANTRY_ORDERS = (
    ("p1", 1, 10.0, "PASTA SAUCE"),
    ("p1", 2, 40.0, "PASTA SAUCE CANDLE"),
    ("p2", 3, 12.0, "PASTA SAUCE"),
    ("p2", 4, 50.0, "MUG"),
    ("p3", 5, 20.0, "PASTA SAUCE RINSE"),
    ("p3", 6, 45.0, "CANDLE"),
    ("x", 7, 30.0, "PASTA"),
    ("r1", 8, 5.0, "A-BOOK-2 MUG"),
    ("r1", 9, 25.0, "MUG"),
    ("r2", 10, 8.0, "A-BOOK-2"),
    ("r2", 11, 33.0, "CANDLE"),
    ("y", 12, 15.0, "A-BOOK-1"),
    ("c1", 13, 0.0, "COFFEE"),
    ("c1", 14, 14.0, "COFFEE"),
    ("c1", 15, 28.0, "COFFEE"),
    ("c1", 16, 42.0, "COFFEE"),
    ("c1", 17, 56.0, "COFFEE"),
    ("c2", 18, 3.0, "COFFEE"),
    ("c2", 19, 24.0, "COFFEE"),
    ("c2", 20, 45.0, "COFFEE"),
    ("z", 21, 20.0, "COFFEE"),
    ("z", 22, 41.0, "COFFEE MUG"),
)
PANTRY_PRODUCTS = np.array(
    sorted(["A-BOOK-1", "A-BOOK-2", "CANDLE", "COFFEE", "MUG", "PASTA", "RINSE", "SAUCE", "TABS"]),
    dtype=object,
)


def pantry() -> tuple[Baskets, Catalogue]:
    bought = with_products(baskets(*PANTRY_ORDERS), PANTRY_PRODUCTS)
    shelf = catalogue(
        bought.products,
        names={"PASTA": "Spaghetti 500 g", "A-BOOK-1": "First Novel", "SAUCE": "Tomato Sauce"},
        partner={"TABS": "Glanzwerk GmbH", "RINSE": "Glanzwerk GmbH"},
        replenishable={"COFFEE"},
        creator={"A-BOOK-1": "Ann Author", "A-BOOK-2": "Ann Author"},
    )
    return bought, shelf


def demo_baskets(shop: Shop) -> Baskets:
    """The simulated shop's order lines as baskets (times in days, products by SKU)."""
    lines = shop.lines
    return from_arrays(
        shop.orders.owner[lines.order],
        lines.order,
        shop.orders.placed[lines.order] / 86_400.0,
        np.array(shop.catalogue.sku, dtype=object)[lines.product],
    )


def demo_catalogue(demo: DemoCatalogue, products: np.ndarray) -> Catalogue:
    """The demo catalogue in the baskets' code order, with everything the rules read."""
    index = {sku: i for i, sku in enumerate(demo.sku)}
    at = [index[str(p)] for p in products.tolist()]
    category, category_names = codes([demo.categories[demo.category[i]].name for i in at])
    brand, brand_names = codes([demo.brand[i] for i in at])
    creator, creator_names = codes([demo.creator[i] for i in at])
    partner_name = np.array([demo.partner_name[i] for i in at], dtype=object)
    return Catalogue(
        products=np.asarray(products, dtype=object),
        names=np.array([demo.name[i] for i in at], dtype=object),
        active=demo.active[at],
        partner=np.array([name is not None for name in partner_name]),
        partner_name=partner_name,
        replenishable=demo.replenishable[at],
        price=demo.price[at] / 100.0,
        cost=demo.cost[at] / 100.0,
        category=category,
        brand=brand,
        creator=creator,
        category_names=category_names,
        brand_names=brand_names,
        creator_names=creator_names,
    )
