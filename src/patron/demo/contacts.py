"""The contacts around purchases: visits, views, watches, newsletters, calls, events.

Online orders are often preceded by a visit and a product view; interest (browsing) lasts a
little beyond dropping out. Newsletter opens and clicks only happen while e-mail marketing
consent stands and fade once a customer has dropped out, so engagement carries a signal of the
lifecycle phase. Organisations get calls and meetings (key accounts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.customers.models import INTERACTION_KINDS
from patron.demo.baskets import Lines, Tastes
from patron.demo.catalogue import Catalogue
from patron.demo.consents import Consents, email_marketing_spans
from patron.demo.people import People
from patron.demo.simulate import OBSERVATION_END, OBSERVATION_START, Orders

START = int(OBSERVATION_START.astype(np.int64))
END = int(OBSERVATION_END.astype(np.int64))
DAY, WEEK = 86_400, 7 * 86_400
NEWSLETTER_EVERY = 4 * WEEK
FIRST_NEWSLETTER = START + 6 * DAY + 8 * 3600  # Tuesdays, 08:00 UTC

KINDS = INTERACTION_KINDS
EVENTS = (
    ("Spring Tasting", "2024-04-20T14:00"),
    ("Nordic Retail Fair", "2024-09-18T09:00"),
    ("Customer Day", "2025-05-17T11:00"),
    ("Nordic Retail Fair", "2025-09-17T09:00"),
    ("Autumn Tasting", "2025-10-11T15:00"),
    ("Customer Day", "2026-05-16T11:00"),
)
DEVICES = ("desktop", "mobile", "tablet")
SOURCES = ("search", "category", "recommendation", "newsletter")
TOPICS = (
    "quarterly review",
    "delivery schedule",
    "price negotiation",
    "new catalogue",
    "complaint follow-up",
)


@dataclass(frozen=True)
class Interactions:
    """Contacts. ``value`` and ``detail`` depend on the kind (see ``patron.demo.rows``)."""

    customer: np.ndarray
    kind: np.ndarray  # index into KINDS
    occurred: np.ndarray  # epoch seconds
    product: np.ndarray  # -1 for none
    value: np.ndarray  # pages, seconds, price in cents, newsletter issue, minutes
    detail: np.ndarray  # device, source, topic or event index


@dataclass
class _Rows:
    parts: list[tuple[np.ndarray, ...]]

    def add(
        self,
        customer: np.ndarray,
        kind: str,
        occurred: np.ndarray,
        product: np.ndarray | None = None,
        value: np.ndarray | None = None,
        detail: np.ndarray | None = None,
    ) -> None:
        n = len(customer)
        product = np.full(n, -1) if product is None else product
        value = np.zeros(n, dtype=np.int64) if value is None else value
        detail = np.zeros(n, dtype=np.int64) if detail is None else detail
        kind_code = np.full(n, KINDS.index(kind))
        self.parts.append((customer, kind_code, occurred, product, value, detail))


def _devices(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(DEVICES), n, p=[0.45, 0.45, 0.1])


def _favourite_products(
    rng: np.random.Generator, catalogue: Catalogue, tastes: Tastes, owner: np.ndarray
) -> np.ndarray:
    start, end = catalogue.category_bounds
    category = tastes.categories[owner, rng.integers(0, 3, len(owner))]
    return start[category] + (rng.random(len(owner)) * (end - start)[category]).astype(np.int64)


def _around_orders(rng: np.random.Generator, rows: _Rows, orders: Orders, lines: Lines) -> None:
    """Online orders are often preceded by a visit and a look at the anchor product."""
    online = np.flatnonzero(orders.channel == 0)
    anchor = lines.product[lines.line_no == 1][online]
    visited = rng.random(len(online)) < 0.5
    who = online[visited]
    rows.add(
        orders.owner[who],
        "visit",
        orders.placed[who] - rng.integers(600, 1800, len(who)),
        value=2 + rng.poisson(4, len(who)),
        detail=_devices(rng, len(who)),
    )
    viewed = rng.random(len(online)) < 0.35
    rows.add(
        orders.owner[online[viewed]],
        "product_view",
        orders.placed[online[viewed]] - rng.integers(60, 600, int(viewed.sum())),
        anchor[viewed],
        value=rng.integers(5, 240, int(viewed.sum())),
        detail=rng.integers(0, len(SOURCES), int(viewed.sum())),
    )


def _browsing(
    rng: np.random.Generator,
    rows: _Rows,
    catalogue: Catalogue,
    tastes: Tastes,
    first_contact: np.ndarray,
    dropped_out: np.ndarray,
) -> None:
    """Visits without a purchase while the customer is interested, with some product views."""
    until = np.where(dropped_out >= 0, np.minimum(dropped_out + 12 * WEEK, END), END)
    span = np.maximum(until - first_contact, 0)
    count = rng.poisson(0.4 + 0.8 * span / (52 * WEEK))
    owner = np.repeat(np.arange(len(count)), count)
    when = first_contact[owner] + (rng.random(len(owner)) * span[owner]).astype(np.int64)
    rows.add(
        owner, "visit", when, value=1 + rng.poisson(3, len(owner)), detail=_devices(rng, len(owner))
    )
    looked = rng.random(len(owner)) < 0.4
    rows.add(
        owner[looked],
        "product_view",
        when[looked] + 120,
        _favourite_products(rng, catalogue, tastes, owner[looked]),
        value=rng.integers(5, 240, int(looked.sum())),
        detail=rng.integers(0, len(SOURCES), int(looked.sum())),
    )


def _watching(
    rng: np.random.Generator,
    rows: _Rows,
    catalogue: Catalogue,
    tastes: Tastes,
    first_contact: np.ndarray,
) -> None:
    """Price watches (at a price often above today's) and wishlists."""
    for kind, share, most in (("price_watch", 0.07, 2), ("wishlist", 0.06, 3)):
        count = np.where(
            rng.random(len(first_contact)) < share, rng.integers(1, most + 1, len(first_contact)), 0
        )
        owner = np.repeat(np.arange(len(count)), count)
        when = first_contact[owner] + (
            (END - first_contact[owner]) * rng.random(len(owner))
        ).astype(np.int64)
        product = _favourite_products(rng, catalogue, tastes, owner)
        price = np.rint(catalogue.price[product] * rng.uniform(1.0, 1.3, len(owner))).astype(
            np.int64
        )
        rows.add(owner, kind, when, product, price if kind == "price_watch" else None)


def _newsletters(
    rng: np.random.Generator,
    rows: _Rows,
    catalogue: Catalogue,
    tastes: Tastes,
    consents: Consents,
    dropped_out: np.ndarray,
) -> None:
    """Opens and clicks of the four-weekly newsletter while e-mail marketing consent stands."""
    sends = np.arange(FIRST_NEWSLETTER, END, NEWSLETTER_EVERY)
    start, end = email_marketing_spans(consents, len(dropped_out))
    first, last = np.searchsorted(sends, start), np.searchsorted(sends, end)
    count = last - first
    owner = np.repeat(np.arange(len(count)), count)
    issue = (
        np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)
    )
    sent = sends[issue]
    eager = rng.beta(1.2, 4.0, len(count))[owner]
    faded = (dropped_out[owner] >= 0) & (sent > dropped_out[owner])
    opened = rng.random(len(owner)) < np.where(faded, 0.3 * eager, eager)
    owner, issue, sent = owner[opened], issue[opened], sent[opened]
    read = np.minimum(sent + rng.exponential(8 * 3600, len(owner)).astype(np.int64), END - 1)
    rows.add(owner, "email_open", read, value=issue + 1)
    clicked = rng.random(len(owner)) < 0.25
    product = _favourite_products(rng, catalogue, tastes, owner[clicked])
    rows.add(
        owner[clicked],
        "email_click",
        np.minimum(read[clicked] + 60, END - 1),
        product,
        issue[clicked] + 1,
    )


def _key_accounts(
    rng: np.random.Generator,
    rows: _Rows,
    people: People,
    first_contact: np.ndarray,
    dropped_out: np.ndarray,
) -> None:
    """Calls and meetings with organisations, and event attendance of anybody."""
    orgs = np.flatnonzero(people.is_org)
    until = np.where(dropped_out[orgs] >= 0, dropped_out[orgs], END)
    years = np.maximum(until - first_contact[orgs], 0) / (52 * WEEK)
    for kind, per_year in (("call", 2.0), ("meeting", 0.6)):
        count = rng.poisson(per_year * years)
        owner = np.repeat(orgs, count)
        span = np.repeat(until - first_contact[orgs], count)
        when = first_contact[owner] + (rng.random(len(owner)) * span).astype(np.int64)
        minutes, topic = rng.integers(10, 90, len(owner)), rng.integers(0, len(TOPICS), len(owner))
        rows.add(owner, kind, when, value=minutes, detail=topic)
    for number, (_, day) in enumerate(EVENTS):
        at = int(np.datetime64(day, "s").astype(np.int64))
        chance = np.where(people.is_org, 0.25, 0.02)
        known = (first_contact < at) & ((dropped_out < 0) | (dropped_out > at - 26 * WEEK))
        who = np.flatnonzero(known & (rng.random(len(people)) < chance))
        rows.add(
            who,
            "event_attendance",
            at + rng.integers(0, 3 * 3600, len(who)),
            detail=np.full(len(who), number),
        )


def draw_interactions(
    rng: np.random.Generator,
    catalogue: Catalogue,
    people: People,
    tastes: Tastes,
    first_contact: np.ndarray,
    dropped_out: np.ndarray,
    orders: Orders,
    lines: Lines,
    consents: Consents,
) -> Interactions:
    rows = _Rows([])
    _around_orders(rng, rows, orders, lines)
    _browsing(rng, rows, catalogue, tastes, first_contact, dropped_out)
    _watching(rng, rows, catalogue, tastes, first_contact)
    _newsletters(rng, rows, catalogue, tastes, consents, dropped_out)
    _key_accounts(rng, rows, people, first_contact, dropped_out)
    customer, kind, occurred, product, value, detail = (
        np.concatenate(c) for c in zip(*rows.parts, strict=True)
    )
    # Nothing happens before a customer's first contact or after "today".
    occurred = np.clip(occurred, first_contact[customer], END - 1)
    order = np.lexsort((kind, occurred, customer))
    return Interactions(
        customer[order], kind[order], occurred[order], product[order], value[order], detail[order]
    )
