"""Goods that come back: a few per cent of lines, more for clothes and shoes, never more than sold.

All returned lines of one order share one return document and date; about one in ten documents
is a cancellation within a day of the order. Returns that would fall after "today" are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.demo.baskets import Lines
from patron.demo.catalogue import Catalogue
from patron.demo.simulate import OBSERVATION_END, Orders

KINDS = ("return", "cancellation")
REASONS = (
    "wrong size",
    "not as described",
    "damaged in transit",
    "changed mind",
    "defective",
    "cancelled by customer",
)
SIZED = ("Jeans", "T-Shirts", "Shoes", "Socks")
CANCELLATION_SHARE = 0.1
END_SECONDS = int(OBSERVATION_END.astype(np.int64))


@dataclass(frozen=True)
class Returns:
    """Returned lines, sorted by document and line number. Money in cents."""

    line: np.ndarray  # index into the order lines
    document: np.ndarray  # 1-based, in the order the documents were issued
    line_no: np.ndarray
    quantity: np.ndarray
    amount: np.ndarray
    returned: np.ndarray  # epoch seconds
    kind: np.ndarray  # index into KINDS
    reason: np.ndarray  # index into REASONS


def _reasons(rng: np.random.Generator, sized: np.ndarray, cancelled: np.ndarray) -> np.ndarray:
    n = len(sized)
    general = rng.choice(5, n, p=[0.05, 0.3, 0.2, 0.3, 0.15])
    fashion = rng.choice(5, n, p=[0.55, 0.15, 0.05, 0.2, 0.05])
    return np.where(cancelled, 5, np.where(sized, fashion, general))


def _returned_quantity(rng: np.random.Generator, quantity: np.ndarray) -> np.ndarray:
    part = 1 + (rng.random(len(quantity)) * np.maximum(quantity - 1, 1)).astype(np.int64)
    return np.where((quantity == 1) | (rng.random(len(quantity)) < 0.7), quantity, part)


def draw_returns(
    rng: np.random.Generator, catalogue: Catalogue, lines: Lines, orders: Orders
) -> Returns:
    n_orders = len(orders.placed)
    cancelled_order = rng.random(n_orders) < CANCELLATION_SHARE
    delay = np.where(
        cancelled_order,
        rng.integers(600, 72_000, n_orders),
        rng.integers(2 * 86_400, 28 * 86_400, n_orders),
    )
    when = orders.placed + delay
    chance = catalogue.return_rate[lines.product]
    chosen = np.flatnonzero((rng.random(len(chance)) < chance) & (when[lines.order] < END_SECONDS))
    order = lines.order[chosen]
    quantity = _returned_quantity(rng, lines.quantity[chosen])
    quantity = np.where(cancelled_order[order], lines.quantity[chosen], quantity)
    amount = np.rint(lines.amount[chosen] * quantity / lines.quantity[chosen]).astype(np.int64)
    sort = np.lexsort((lines.line_no[chosen], order, when[order]))
    chosen, order, quantity, amount = chosen[sort], order[sort], quantity[sort], amount[sort]
    new_document = (
        np.concatenate([[True], order[1:] != order[:-1]]) if len(order) else np.zeros(0, bool)
    )
    document = np.cumsum(new_document)
    starts = np.flatnonzero(new_document)
    line_no = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order)))) + 1
    sized_ids = [i for i, c in enumerate(catalogue.categories) if c.name in SIZED]
    sized = np.isin(catalogue.category[lines.product[chosen]], sized_ids)
    return Returns(
        line=chosen,
        document=document,
        line_no=line_no,
        quantity=quantity,
        amount=amount,
        returned=when[order],
        kind=cancelled_order[order].astype(np.int64),
        reason=_reasons(rng, sized, cancelled_order[order]),
    )
