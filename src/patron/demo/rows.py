"""The simulated shop as the store's tables: one frame of typed columns per table.

Columns stay numpy arrays (money in integer cents, instants in epoch seconds) until
``patron.demo.bulk`` encodes a batch for the database, so a 100,000-customer shop never holds
a million Python row dictionaries at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from patron.demo import consents, contacts, returns
from patron.demo.bulk import Constant, Day, Frame, Ids, Instant, Json, Money, Plain, Quantity
from patron.demo.people import CHANNELS
from patron.demo.shop import START_SECONDS, Shop

CATALOGUE_SINCE = START_SECONDS - 60 * 86_400  # products were listed before the first order
ONLINE_STORE, PHONE_STORE, B2B_STORE = "webshop", "customer service", "b2b portal"
PLAIN, MONEY, QUANTITY, INSTANT = Plain(), Money(), Quantity(), Instant()


@dataclass(frozen=True)
class Bases:
    """Primary keys already taken per table: new rows get ``base + index + 1``."""

    customers: int = 0
    products: int = 0
    orders: int = 0
    order_lines: int = 0


def product_rows(shop: Shop, bases: Bases) -> Frame:
    c = shop.catalogue
    n = len(c)
    listed = np.full(n, CATALOGUE_SINCE)
    categories = [c.categories[i].name for i in c.category.tolist()]
    return Frame(
        n,
        {
            "id": (np.arange(n), Ids(bases.products)),
            "sku": (c.sku, PLAIN),
            "name": (c.name, PLAIN),
            "category": (categories, PLAIN),
            "brand": (c.brand, PLAIN),
            "creator": (c.creator, PLAIN),
            "price": (c.price, MONEY),
            "unit_cost": (c.cost, MONEY),
            "active": (c.active, PLAIN),
            "is_partner": (np.array([p is not None for p in c.partner_name]), PLAIN),
            "partner_name": (c.partner_name, PLAIN),
            "replenishable": (c.replenishable, PLAIN),
            "created_at": (listed, INSTANT),
            "updated_at": (listed, INSTANT),
        },
    )


def customer_rows(shop: Shop, bases: Bases) -> Frame:
    p = shop.people
    n = len(p)
    countries = p.countries()
    return Frame(
        n,
        {
            "id": (np.arange(n), Ids(bases.customers)),
            "external_id": (p.external_id, PLAIN),
            "kind": (np.where(p.is_org, "organisation", "person"), PLAIN),
            "name": (p.name, PLAIN),
            "email": (p.email, PLAIN),
            "phone": (p.phone, PLAIN),
            "birthday": (p.birthday, Day()),
            "language": ([c.language for c in countries], PLAIN),
            "country": ([c.name for c in countries], PLAIN),
            "city": (p.city, PLAIN),
            "time_zone": ([c.time_zone for c in countries], PLAIN),
            "first_contact_at": (shop.first_contact, INSTANT),
            "acquisition_channel": (p.acquisition_channel, PLAIN),
            "created_at": (shop.first_contact, INSTANT),
            "updated_at": (shop.first_contact, INSTANT),
        },
    )


def truth_rows(shop: Shop, bases: Bases) -> Frame:
    t = shop.traits
    n = len(shop.people)
    return Frame(
        n,
        {
            "customer_id": (np.arange(n), Ids(bases.customers)),
            "purchase_rate": (t.rate, PLAIN),
            "dropout_probability": (t.dropout, PLAIN),
            "mean_spend": (t.mean_spend, PLAIN),
            "dropped_out_at": (shop.dropped_out, INSTANT),
        },
    )


def _stores(shop: Shop) -> list[str]:
    home = shop.people.home_store
    named = {1: None, 0: ONLINE_STORE, 2: PHONE_STORE, 3: B2B_STORE}
    return [
        named[channel] or home[owner]
        for channel, owner in zip(
            shop.orders.channel.tolist(), shop.orders.owner.tolist(), strict=True
        )
    ]


def order_rows(shop: Shop, bases: Bases) -> Frame:
    o = shop.orders
    n = len(o.placed)
    return Frame(
        n,
        {
            "id": (np.arange(n), Ids(bases.orders)),
            "external_id": ([f"DO{i + 1:07d}" for i in range(n)], PLAIN),
            "customer_id": (o.owner, Ids(bases.customers)),
            "placed_at": (o.placed, INSTANT),
            "channel": ([CHANNELS[c] for c in o.channel.tolist()], PLAIN),
            "store": (_stores(shop), PLAIN),
            "currency": (np.arange(n), Constant("EUR")),
            "status": (np.arange(n), Constant("completed")),
        },
    )


def line_rows(shop: Shop, bases: Bases) -> Frame:
    li = shop.lines
    n = len(li.order)
    return Frame(
        n,
        {
            "id": (np.arange(n), Ids(bases.order_lines)),
            "order_id": (li.order, Ids(bases.orders)),
            "line_no": (li.line_no, PLAIN),
            "product_id": (li.product, Ids(bases.products)),
            "quantity": (li.quantity, QUANTITY),
            "unit_price": (li.unit_price, MONEY),
            "discount": (li.discount, MONEY),
            "unit_cost": (li.unit_cost, MONEY),
            "amount": (li.amount, MONEY),
            "kind": (np.arange(n), Constant("sale")),
        },
    )


def return_rows(shop: Shop, bases: Bases) -> Frame:
    r = shop.returns
    n = len(r.line)
    return Frame(
        n,
        {
            "document": ([f"DR{d:06d}" for d in r.document.tolist()], PLAIN),
            "line_no": (r.line_no, PLAIN),
            "customer_id": (shop.orders.owner[shop.lines.order[r.line]], Ids(bases.customers)),
            "order_line_id": (r.line, Ids(bases.order_lines)),
            "product_id": (shop.lines.product[r.line], Ids(bases.products)),
            "quantity": (r.quantity, QUANTITY),
            "amount": (r.amount, MONEY),
            "returned_at": (r.returned, INSTANT),
            "kind": ([returns.KINDS[k] for k in r.kind.tolist()], PLAIN),
            "reason": ([returns.REASONS[k] for k in r.reason.tolist()], PLAIN),
        },
    )


def consent_rows(shop: Shop, bases: Bases) -> Frame:
    c = shop.consents
    rules = consents.CONSENT_RULES
    return Frame(
        len(c.customer),
        {
            "customer_id": (c.customer, Ids(bases.customers)),
            "channel": ([rules[i][0] for i in c.rule.tolist()], PLAIN),
            "purpose": ([rules[i][1] for i in c.rule.tolist()], PLAIN),
            "granted": (c.granted, PLAIN),
            "source": (c.customer, Constant("demo")),
            "recorded_at": (c.recorded, INSTANT),
        },
    )


def _payload_keys(shop: Shop) -> Callable[[np.ndarray], list[Hashable]]:
    i = shop.interactions

    def keys(index: np.ndarray) -> list[Hashable]:
        kinds = i.kind[index].tolist()
        values, details = i.value[index].tolist(), i.detail[index].tolist()
        return list(zip(kinds, values, details, strict=True))

    return keys


def _payload(key: tuple[int, int, int]) -> dict[str, Any]:
    """The small JSON document of an interaction, from its (kind, value, detail)."""
    code, value, detail = key
    kind = contacts.KINDS[code]
    if kind == "visit":
        return {"pages": value, "device": contacts.DEVICES[detail]}
    if kind == "product_view":
        return {"seconds": value, "source": contacts.SOURCES[detail]}
    if kind == "price_watch":
        return {"price_at_watch": str(Decimal(value).scaleb(-2))}
    if kind in ("email_open", "email_click"):
        return {"campaign": f"newsletter-{value:03d}"}
    if kind in ("call", "meeting"):
        return {"duration_minutes": value}
    if kind == "event_attendance":
        return {"event": contacts.EVENTS[detail][0], "date": contacts.EVENTS[detail][1][:10]}
    return {"list": "wishlist"}


def _notes(shop: Shop) -> Callable[[np.ndarray], list[str | None]]:
    i = shop.interactions
    spoken = (contacts.KINDS.index("call"), contacts.KINDS.index("meeting"))

    def note(index: np.ndarray) -> list[str | None]:
        kinds, details = i.kind[index].tolist(), i.detail[index].tolist()
        return [
            contacts.TOPICS[d].capitalize() if k in spoken else None
            for k, d in zip(kinds, details, strict=True)
        ]

    return note


def interaction_rows(shop: Shop, bases: Bases) -> Frame:
    i = shop.interactions
    n = len(i.customer)
    return Frame(
        n,
        {
            "customer_id": (i.customer, Ids(bases.customers)),
            "kind": ([contacts.KINDS[k] for k in i.kind.tolist()], PLAIN),
            "occurred_at": (i.occurred, INSTANT),
            "product_id": (i.product, Ids(bases.products)),
            "note": (np.arange(n), Plain(_notes(shop))),
            "payload": (np.arange(n), Json(_payload_keys(shop), _payload)),
        },
    )


TABLES: Sequence[tuple[str, Callable[[Shop, Bases], Frame]]] = (
    ("products", product_rows),
    ("customers", customer_rows),
    ("demo_customer_truth", truth_rows),
    ("orders", order_rows),
    ("order_lines", line_rows),
    ("returns", return_rows),
    ("consents", consent_rows),
    ("interactions", interaction_rows),
)
