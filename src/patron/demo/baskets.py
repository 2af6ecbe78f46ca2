"""Turn each purchase's drawn value into 1-5 order lines of products that belong together.

A basket starts with an anchor product from one of the customer's favourite categories (or the
product a regular buyer reorders), often takes the anchor's complement along (pasta → sauce,
dishwasher → the partner's tabs), fills the rest of the budget from the customer's tastes and
closes with the product whose price best fits what is left. Books and music favour the
customer's author or artist. Unit prices then deviate from the list price by the order's price
factor (price changes and promotions over three years, typically within a few per cent) so that
the order's net amount equals the drawn value to the cent: the anchor line (quantity 1, no
discount) absorbs the rounding. Discounts are a line's percentage, so ``amount = quantity *
unit_price - discount`` holds exactly on every line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.demo.catalogue import Catalogue
from patron.demo.shelf import Shelf
from patron.demo.simulate import WINDOW_WEEKS

MAX_LINES = 5
COMPLEMENT_CHANCE = 0.6
FAVOURITE_CREATOR_CHANCE = 0.75
DISCOUNT_CHANCE = 0.08
MAX_OVERSHOOT = 1.15  # a pick may cost this much more than its budget
DISCOUNT_RATES = np.array([0.10, 0.15, 0.20, 0.25])
INACTIVE_UNTIL_WEEK = WINDOW_WEEKS / 2  # discontinued products sold only in the first half


@dataclass(frozen=True)
class Tastes:
    """What each customer likes: three favourite categories, an author, an artist, a price tier."""

    categories: np.ndarray  # (n, 3) category indices, most liked first
    cumulative: np.ndarray  # (n, 3) cumulative choice probabilities
    author: np.ndarray  # creator id among the books
    artist: np.ndarray  # creator id among the music
    premium: np.ndarray  # prefers the higher price tier
    regular_product: np.ndarray  # product reordered at a rhythm, -1 for none


@dataclass(frozen=True)
class Lines:
    """Order lines, sorted by order and line number. Money in cents."""

    order: np.ndarray
    line_no: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    discount: np.ndarray
    amount: np.ndarray
    unit_cost: np.ndarray


@dataclass
class _Draft:
    """Lines drafted round by round, before pricing."""

    order: list[np.ndarray]
    product: list[np.ndarray]
    quantity: list[np.ndarray]
    rate: list[np.ndarray]
    round: list[np.ndarray]

    def add(
        self, who: np.ndarray, product: np.ndarray, quantity: np.ndarray, rate: np.ndarray, r: int
    ) -> None:
        self.order.append(who)
        self.product.append(product)
        self.quantity.append(quantity)
        self.rate.append(rate)
        self.round.append(np.full(len(who), r))


def draw_tastes(rng: np.random.Generator, catalogue: Catalogue, is_org: np.ndarray) -> Tastes:
    n = len(is_org)
    popularity = np.array([c.popularity for c in catalogue.categories])
    b2b = np.array([c.b2b_weight for c in catalogue.categories])
    weights = np.where(is_org[:, None], b2b[None, :], popularity[None, :])
    with np.errstate(divide="ignore"):
        keys = np.log(weights) + rng.gumbel(size=weights.shape)  # Gumbel top-k: no replacement
    favourites = np.argsort(-keys, axis=1)[:, :3]
    share = np.sort(rng.dirichlet([3.0, 2.0, 1.0], n), axis=1)[:, ::-1]
    authors = (
        catalogue.creator_id[catalogue.category == catalogue.category_named("Books")].max() + 1
    )
    artists = (
        catalogue.creator_id[catalogue.category == catalogue.category_named("Music")].max() + 1
    )
    return Tastes(
        categories=favourites,
        cumulative=np.cumsum(share, axis=1),
        author=rng.integers(0, authors, n),
        artist=rng.integers(0, artists, n),
        premium=rng.random(n) < 0.15,
        regular_product=np.full(n, -1),
    )


@dataclass(frozen=True)
class _Picker:
    """Chooses products the way each customer would: favourite categories, authors, budgets."""

    rng: np.random.Generator
    shelf: Shelf
    tastes: Tastes

    def category(self, owner: np.ndarray, explore: float) -> np.ndarray:
        """A category per line from the owner's favourites; with chance ``explore``, a popular one."""
        rng, shelf = self.rng, self.shelf
        slot = (rng.random(len(owner))[:, None] > self.tastes.cumulative[owner]).sum(axis=1)
        chosen = self.tastes.categories[owner, slot.clip(0, 2)]
        wander = rng.random(len(owner)) < explore
        popular = rng.choice(len(shelf.popularity), len(owner), p=shelf.popularity)
        return np.where(wander, popular, chosen)

    def creators(self, owner: np.ndarray, product: np.ndarray, budget: np.ndarray) -> np.ndarray:
        """Replace some book and music picks by an affordable work of the owner's author or artist."""
        catalogue = self.shelf.catalogue
        for name, creator in (("Books", self.tastes.author), ("Music", self.tastes.artist)):
            category = catalogue.category_named(name)
            hit = np.flatnonzero(
                (catalogue.category[product] == category)
                & (self.rng.random(len(product)) < FAVOURITE_CREATOR_CHANCE)
            )
            work = self.shelf.work_by(self.rng, category, creator[owner[hit]])
            fits = catalogue.price[work] <= MAX_OVERSHOOT * budget[hit]
            product[hit[fits]] = work[fits]
        return product

    def pick(self, owner: np.ndarray, budget: np.ndarray, explore: float) -> np.ndarray:
        """A product the owner likes within the budget; the best-priced fit if none is."""
        premium = np.where(self.tastes.premium[owner], 1.5, 1.0)
        boosted = budget * premium * self.rng.uniform(0.75, 1.0, len(owner))
        category = self.category(owner, explore)
        liked = self.creators(owner, self.shelf.below(self.rng, category, boosted), boosted)
        too_dear = self.shelf.catalogue.price[liked] > MAX_OVERSHOOT * budget
        fallback = self.creators(owner, self.shelf.nearest(np.maximum(budget, 1.0)), budget)
        return np.where(too_dear, fallback, liked)


def _quantity_cap(catalogue: Catalogue, product: np.ndarray, is_org: np.ndarray) -> np.ndarray:
    """Persons take one of a book, a record or anything over 50 euros; organisations stock up."""
    single = (catalogue.creator_id[product] >= 0) | (catalogue.price[product] >= 5000)
    person = np.where(single, 1, np.where(catalogue.replenishable[product], 6, 3))
    return np.where(is_org, 24, person)


def _quantity(
    rng: np.random.Generator,
    catalogue: Catalogue,
    product: np.ndarray,
    budget: np.ndarray,
    is_org: np.ndarray,
) -> np.ndarray:
    wanted = np.floor(budget / catalogue.price[product] * rng.uniform(0.6, 1.0, len(product)))
    return np.clip(wanted, 1, _quantity_cap(catalogue, product, is_org)).astype(np.int64)


def _discount_rate(
    rng: np.random.Generator, quantity: np.ndarray, is_org: np.ndarray
) -> np.ndarray:
    promo = np.where(
        rng.random(len(quantity)) < DISCOUNT_CHANCE, rng.choice(DISCOUNT_RATES, len(quantity)), 0.0
    )
    volume = np.where(is_org & (quantity >= 10), 0.05, 0.0)
    return np.maximum(promo, volume)


def _draft_lines(
    picker: _Picker, owner: np.ndarray, value: np.ndarray, week: np.ndarray, is_org: np.ndarray
) -> _Draft:
    """Round 0 is the anchor; later rounds fill the budget until it is (nearly) spent."""
    rng, catalogue, n = picker.rng, picker.shelf.catalogue, len(owner)
    chance = np.clip(0.08 + 0.08 * np.log(value / 1000.0), 0.02, 0.6) + np.where(is_org, 0.2, 0.0)
    planned = 1 + rng.binomial(MAX_LINES - 1, chance)
    share = np.where(planned == 1, 1.0, rng.uniform(0.45, 0.8, n))
    anchor = picker.pick(owner, value * share, explore=0.0)
    regular = picker.tastes.regular_product[owner]
    anchor = np.where(regular >= 0, regular, anchor)
    late = week > INACTIVE_UNTIL_WEEK  # discontinued products give way to their successors
    anchor = np.where(late, picker.shelf.successor[anchor], anchor)
    draft = _Draft([], [], [], [], [])
    everyone = np.arange(n)
    draft.add(everyone, anchor, np.ones(n, dtype=np.int64), np.zeros(n), 0)
    used = np.full((n, MAX_LINES), -1)
    used[:, 0] = anchor
    remaining = value - catalogue.price[anchor].astype(float)
    for r in range(1, MAX_LINES):
        go = everyone[(remaining >= 100) & ((r < planned) | (remaining > 0.1 * value))]
        if len(go) == 0:
            break
        closing = (r >= planned[go] - 1) | (r == MAX_LINES - 1)
        product, quantity = _next_lines(picker, owner[go], remaining[go], is_org[go], closing)
        if r == 1:
            product, quantity = _complements(rng, catalogue, anchor[go], product, quantity)
        product = np.where(late[go], picker.shelf.successor[product], product)
        product = _unused(picker.shelf, product, used[go, :r], late[go])
        used[go, r] = product
        rate = _discount_rate(rng, quantity, is_org[go])
        draft.add(go, product, quantity, rate, r)
        remaining[go] -= quantity * catalogue.price[product] * (1 - rate)
    return draft


def _next_lines(
    picker: _Picker,
    owner: np.ndarray,
    remaining: np.ndarray,
    is_org: np.ndarray,
    closing: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A liked product for part of the budget; a closing line takes what fits the rest."""
    rng, catalogue = picker.rng, picker.shelf.catalogue
    budget = np.where(closing, remaining, remaining * rng.uniform(0.3, 0.7, len(owner)))
    product = picker.pick(owner, budget, explore=0.15)
    quantity = _quantity(rng, catalogue, product, budget, is_org)
    pieces = rng.choice([1, 1, 1, 2, 3], len(owner))  # cheap things come in twos and threes
    pieces = np.where(is_org, rng.choice([1, 2, 3, 5, 10], len(owner)), pieces)
    per_piece = np.maximum(remaining / pieces, 1.0)
    fitting = picker.creators(owner, picker.shelf.nearest(per_piece), per_piece)
    fit_quantity = np.clip(
        np.rint(remaining / catalogue.price[fitting]), 1, _quantity_cap(catalogue, fitting, is_org)
    ).astype(np.int64)
    use_fit = closing & (np.abs(np.log(quantity * catalogue.price[product] / budget)) > 0.2)
    return np.where(use_fit, fitting, product), np.where(use_fit, fit_quantity, quantity)


def _unused(shelf: Shelf, product: np.ndarray, used: np.ndarray, late: np.ndarray) -> np.ndarray:
    """Move picks already in their order (or discontinued by then) to the category's next product."""
    category = shelf.catalogue.category
    for _ in range(MAX_LINES + 3):
        taken = (used == product[:, None]).any(axis=1) | (late & ~shelf.catalogue.active[product])
        if not taken.any():
            break
        p = product[taken]
        start, end = shelf.start[category[p]], shelf.end[category[p]]
        product[taken] = start + (p - start + 1) % (end - start)
    return product


def _complements(
    rng: np.random.Generator,
    catalogue: Catalogue,
    anchor: np.ndarray,
    product: np.ndarray,
    quantity: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The second line is often the anchor's complementary product."""
    complement = catalogue.complement[anchor]
    take = (complement >= 0) & (rng.random(len(anchor)) < COMPLEMENT_CHANCE)
    return np.where(take, complement, product), np.where(take, 1, quantity)


def price_lines(shelf: Shelf, draft: _Draft, value: np.ndarray) -> Lines:
    """Price the drafted lines so that each order's net amount is exactly ``value`` cents."""
    catalogue = shelf.catalogue
    order, rnd = np.concatenate(draft.order), np.concatenate(draft.round)
    sort = np.lexsort((rnd, order))
    order, rnd = order[sort], rnd[sort]
    product = np.concatenate(draft.product)[sort]
    quantity = np.concatenate(draft.quantity)[sort]
    rate = np.concatenate(draft.rate)[sort]
    price = catalogue.price[product]
    factor = value / np.bincount(order, quantity * price * (1 - rate), minlength=len(value))
    unit = np.maximum(np.rint(price * factor[order]), 1).astype(np.int64)
    discount = np.rint(quantity * unit * rate).astype(np.int64)
    amount = quantity * unit - discount
    anchor = rnd == 0  # exactly one per order, in order
    others = np.bincount(order, np.where(anchor, 0, amount), minlength=len(value))
    unit[anchor] = value - np.rint(others).astype(np.int64)
    amount[anchor] = unit[anchor]
    if anchor.sum() != len(value) or (unit < 1).any():
        raise RuntimeError(
            "basket pricing broke its invariant: every order needs a positive anchor"
        )
    return Lines(
        order=order,
        line_no=rnd + 1,
        product=product,
        quantity=quantity,
        unit_price=unit,
        discount=discount,
        amount=amount,
        unit_cost=catalogue.cost[product],
    )


def build_lines(
    rng: np.random.Generator,
    catalogue: Catalogue,
    tastes: Tastes,
    owner: np.ndarray,
    value: np.ndarray,
    week: np.ndarray,
    is_org: np.ndarray,
) -> Lines:
    """Lines of every order: ``owner``, ``value`` (cents) and ``week`` are given per order."""
    shelf = Shelf(catalogue)
    draft = _draft_lines(_Picker(rng, shelf, tastes), owner, value, week, is_org[owner])
    return price_lines(shelf, draft, value)
