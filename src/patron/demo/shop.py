"""The whole simulated shop in memory: customers, truth, orders, lines, returns, contacts.

``simulate_shop(customers, seed)`` is pure (numpy only, no database) and deterministic per seed;
``patron.demo.service`` writes its result into the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from patron.demo import simulate
from patron.demo.baskets import Lines, Tastes, build_lines, draw_tastes
from patron.demo.catalogue import Catalogue, build_catalogue
from patron.demo.consents import Consents, draw_consents
from patron.demo.contacts import Interactions, draw_interactions
from patron.demo.people import ORGANISATION_SHARE, People, draw_people
from patron.demo.returns import Returns, draw_returns
from patron.demo.simulate import OBSERVATION_START, BgNbd, Clock, GammaGamma, Orders, Traits

AWARENESS_SHARE = 0.08  # contact (newsletter sign-up, store visit) but no purchase
IMMEDIATE_SHARE = 0.55  # first purchase at the first contact
FIRST_PURCHASE_DELAY_WEEKS = 3.0  # mean delay of the others
REGULAR_CHANCE = 0.5  # of eligible customers, how many reorder a consumable at a rhythm
REGULAR_RATES = (1 / 12, 1 / 1.5)  # purchases per week that make a rhythm believable
START_SECONDS = int(OBSERVATION_START.astype("datetime64[s]").astype(np.int64))
# When people shop (UTC hour of day): quiet at night, peaks at lunch and in the evening.
HOUR_WEIGHTS = np.array(
    [1, 0.5, 0.3, 0.2, 0.2, 0.5, 1.5, 3, 4, 5, 6, 7, 7, 6, 5, 5, 6, 7, 8, 9, 8, 6, 4, 2],
    dtype=float,
)


@dataclass(frozen=True)
class Shop:
    """Everything one simulation produced, as arrays indexed by customer, order, line, …"""

    seed: int
    catalogue: Catalogue
    people: People
    traits: Traits
    tastes: Tastes
    first_contact: np.ndarray  # epoch seconds
    dropped_out: np.ndarray  # epoch seconds of the last purchase if dropped out, else -1
    orders: Orders
    lines: Lines
    returns: Returns
    interactions: Interactions
    consents: Consents
    parameters: dict[str, Any] = field(default_factory=dict)


def to_seconds(rng: np.random.Generator, weeks: np.ndarray) -> np.ndarray:
    """Epoch seconds of the same UTC day as ``weeks``, at a believable time of day."""
    day = np.floor(weeks * 7).astype(np.int64)
    hour = rng.choice(24, len(weeks), p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    second = hour * 3600 + rng.integers(0, 3600, len(weeks))
    return START_SECONDS + day * 86_400 + second


def _first_purchases(
    rng: np.random.Generator, clock: Clock, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weeks of the first contact and of the first purchase (NaN: none inside the window)."""
    contact = clock.seasonal_instants(rng, n)
    u = rng.random(n)
    never = u < AWARENESS_SHARE
    immediate = u < AWARENESS_SHARE + IMMEDIATE_SHARE
    delay = np.where(immediate, 0.0, rng.exponential(FIRST_PURCHASE_DELAY_WEEKS, n))
    first = contact + delay
    first[never | (first >= simulate.WINDOW_WEEKS)] = np.nan
    return contact, first


def _regular_products(
    rng: np.random.Generator, catalogue: Catalogue, tastes: Tastes, traits: Traits
) -> np.ndarray:
    """The consumable each regular buyer reorders, -1 for everybody else.

    Eligible are customers with a believable rhythm (every 1.5 to 12 weeks) and a replenishable
    favourite category; the product is cheap enough to fit almost every one of their purchases.
    """
    n = len(traits.rate)
    product = np.full(n, -1)
    replenishing = np.array([c.replenishable for c in catalogue.categories])
    favourite = tastes.categories[:, 0]
    low, high = REGULAR_RATES
    chosen = (traits.rate >= low) & (traits.rate <= high) & replenishing[favourite]
    chosen &= rng.random(n) < REGULAR_CHANCE
    limit = 0.35 * traits.mean_spend * 100
    u = rng.random(n)
    for category in np.flatnonzero(replenishing).tolist():
        offer = np.flatnonzero(
            (catalogue.category == category) & catalogue.replenishable & catalogue.active
        )
        who = np.flatnonzero(chosen & (favourite == category))
        affordable = np.searchsorted(catalogue.price[offer], limit[who], "right")
        ok = affordable > 0
        product[who[ok]] = offer[(u[who[ok]] * affordable[ok]).astype(np.int64)]
    return product


def _orders(
    rng: np.random.Generator, people: People, purchases: simulate.Purchases, values: np.ndarray
) -> tuple[Orders, np.ndarray]:
    """Orders sorted by time, and each customer's instant of dropping out (-1 if alive)."""
    placed = to_seconds(rng, purchases.week)
    home = people.home_channel[purchases.owner]
    elsewhere = rng.choice(3, len(placed), p=[0.7, 0.25, 0.05])
    channel = np.where(rng.random(len(placed)) < 0.85, home, np.where(home == 3, home, elsewhere))
    order = np.lexsort((purchases.owner, placed))
    orders = Orders(purchases.owner[order], placed[order], values[order], channel[order])
    last = np.full(len(people), -1, dtype=np.int64)
    np.maximum.at(last, orders.owner, orders.placed)
    return orders, np.where(purchases.dropped, last, -1)


def _first_contact(
    rng: np.random.Generator, contact_weeks: np.ndarray, orders: Orders, n: int
) -> np.ndarray:
    """The first contact: its own instant, but never after (and often just before) the first order."""
    contact = to_seconds(rng, contact_weeks)
    first_order = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_order, orders.owner, orders.placed)
    just_before = first_order - rng.integers(120, 2400, n)
    contact = np.where(contact >= first_order, just_before, contact)
    return np.maximum(contact, START_SECONDS)


def _parameters(
    bgnbd: BgNbd, gg: GammaGamma, people: People, catalogue: Catalogue, regular: np.ndarray
) -> dict[str, Any]:
    """The run's ground truth beyond the per-customer table, as JSON."""
    parameters = simulate.parameters(bgnbd, gg)
    parameters["shop"] = {
        "organisation_share": ORGANISATION_SHARE,
        "awareness_share": AWARENESS_SHARE,
        "immediate_first_purchase_share": IMMEDIATE_SHARE,
        "first_purchase_delay_weeks_mean": FIRST_PURCHASE_DELAY_WEEKS,
        "regular_buyer_rates_per_week": list(REGULAR_RATES),
    }
    parameters["regular_buyers"] = [  # (customer, the product they reorder at a rhythm)
        [people.external_id[i], catalogue.sku[regular[i]]]
        for i in np.flatnonzero(regular >= 0).tolist()
    ]
    parameters["complementary_pairs"] = [list(pair) for pair in catalogue.complementary_pairs()]
    return parameters


def simulate_shop(
    customers: int,
    seed: int,
    *,
    bgnbd: BgNbd | None = None,
    gamma_gamma: GammaGamma | None = None,
) -> Shop:
    """Simulate ``customers`` customers of the demo shop with the given seed."""
    bgnbd, gamma_gamma = bgnbd or BgNbd(), gamma_gamma or GammaGamma()
    rng = np.random.default_rng(seed)
    clock = Clock()
    catalogue = build_catalogue()
    people = draw_people(rng, customers)
    traits = simulate.draw_traits(rng, people.is_org, bgnbd, gamma_gamma)
    tastes = draw_tastes(rng, catalogue, people.is_org)
    regular = _regular_products(rng, catalogue, tastes, traits)
    tastes = replace(tastes, regular_product=regular)
    contact_weeks, first_weeks = _first_purchases(rng, clock, customers)
    purchases = simulate.simulate_purchases(rng, traits, first_weeks, regular >= 0, clock)
    values = simulate.purchase_values(rng, traits, purchases.owner, gamma_gamma)
    orders, dropped_out = _orders(rng, people, purchases, values)
    order_weeks = (orders.placed - START_SECONDS) / simulate.SECONDS_PER_WEEK
    lines = build_lines(
        rng, catalogue, tastes, orders.owner, orders.value, order_weeks, people.is_org
    )
    first_contact = _first_contact(rng, contact_weeks, orders, customers)
    returns = draw_returns(rng, catalogue, lines, orders)
    consents = draw_consents(rng, people, first_contact)
    interactions = draw_interactions(
        rng, catalogue, people, tastes, first_contact, dropped_out, orders, lines, consents
    )
    return Shop(
        seed=seed,
        catalogue=catalogue,
        people=people,
        traits=traits,
        tastes=tastes,
        first_contact=first_contact,
        dropped_out=dropped_out,
        orders=orders,
        lines=lines,
        returns=returns,
        interactions=interactions,
        consents=consents,
        parameters=_parameters(bgnbd, gamma_gamma, people, catalogue, regular),
    )
