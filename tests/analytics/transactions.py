"""Small hand-made sale lines and returns, and the CDNOW sample as Arrow facts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from patron.analytics.facts import LINES, RETURNS

DEFAULTS = (None, 1.0, 0.0, None)  # product, quantity, discount, cost


def lines(*rows: tuple[Any, ...]) -> pa.Table:
    """Rows of (customer, order, "YYYY-MM-DD[ HH:MM]", amount[, product, quantity, discount, cost])."""
    columns: dict[str, list[Any]] = {name: [] for name in LINES.names}
    for row in rows:
        customer, order, when, amount, *rest = row
        product, quantity, discount, cost = [*rest, *DEFAULTS[len(rest) :]]
        columns["customer_id"].append(customer)
        columns["order_id"].append(order)
        columns["placed_at"].append(_instant(when))
        columns["product"].append(product)
        columns["quantity"].append(quantity)
        columns["amount"].append(amount)
        columns["discount"].append(discount)
        columns["cost"].append(cost)
    return pa.table(columns, schema=LINES)


def returns(*rows: tuple[Any, ...]) -> pa.Table:
    """Rows of (customer, "YYYY-MM-DD", amount[, product])."""
    columns: dict[str, list[Any]] = {name: [] for name in RETURNS.names}
    for customer, when, amount, *rest in rows:
        columns["customer_id"].append(customer)
        columns["returned_at"].append(_instant(when))
        columns["product"].append(rest[0] if rest else None)
        columns["quantity"].append(1.0)
        columns["amount"].append(amount)
    return pa.table(columns, schema=RETURNS)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def cdnow_sample_lines(shared_data: Path) -> pa.Table:
    """The CDNOW sample's purchases as sale lines (one order per row)."""
    rows = np.loadtxt(shared_data / "cdnow" / "CDNOW_sample.txt", dtype=str)
    return pa.table(
        {
            "customer_id": rows[:, 1],
            "order_id": [f"{i}" for i in range(rows.shape[0])],
            "placed_at": pa.array(
                [datetime.strptime(day, "%Y%m%d") for day in rows[:, 2]], pa.timestamp("us")
            ),
            "quantity": rows[:, 3].astype(float),
            "amount": rows[:, 4].astype(float),
        }
    )
