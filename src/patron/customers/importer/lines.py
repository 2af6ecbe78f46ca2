"""Rules that turn validated order rows into sale, adjustment and return lines. Pure.

- A line's ``amount`` (net revenue) is ``quantity × unit_price − discount``, exact; a file that
  gives only the amount (CDNOW) gets ``unit_price = amount / quantity``, rounded.
- Return: a line of a cancellation document (UCI: invoice ``C…``), a ``line_type`` of
  ``return``, or, in Patron's layout, a negative quantity. Stored as positive quantity/amount.
- Adjustment: bookkeeping, not revenue: a negative price (bad-debt write-off), an adjustment
  document (UCI: invoice ``A…``), or, in UCI files, a negative quantity outside a ``C`` document
  (stock correction).
- Sale: everything else, free items (price 0) included.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from patron.customers.importer.convert import Converted, RowError, keep_rows
from patron.customers.importer.layouts import Layout
from patron.units import QUANTITY_SCALE

QTY_UNIT = 10**QUANTITY_SCALE
MAX_UNITS = 10**18


def _ints(array: pa.Array | None, n: int) -> np.ndarray:
    if array is None:
        return np.zeros(n, dtype=np.int64)
    return np.asarray(pc.fill_null(array, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _starts(array: pa.Array, prefix: str | None) -> np.ndarray:
    if prefix is None:
        return np.zeros(len(array), dtype=bool)
    return np.asarray(
        pc.fill_null(pc.starts_with(array, prefix), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )


def derive_lines(
    rows: Converted, layout: Layout, *, currency: str
) -> tuple[Converted, dict[str, int]]:
    """Add ``line_kind`` and ``amount``, make returns positive, fill defaults; count the kinds."""
    cols = rows.columns
    n = rows.num_rows
    quantity = _ints(cols["quantity"], n)
    price = _ints(cols.get("unit_price"), n)
    discount = _ints(cols.get("discount"), n)
    order_ids = cols.get("order_id", pa.nulls(n, pa.string()))
    errors: list[RowError] = []
    bad = np.zeros(n, dtype=bool)

    amount_col = cols.get("amount")
    amount_given = _valid(amount_col, n)
    price_given_rows = _valid(cols.get("unit_price"), n)
    both_missing = ~price_given_rows & ~amount_given
    _flag(
        errors,
        bad,
        both_missing,
        rows,
        layout.columns.get("unit_price", "unit_price"),
        "no unit price and no amount",
    )

    too_big = (
        np.abs(quantity.astype(np.float64) * price.astype(np.float64)) / QTY_UNIT >= MAX_UNITS / 10
    )
    _flag(
        errors, bad, too_big, rows, layout.columns["quantity"], "quantity × unit price is too large"
    )
    computed = _times_over(quantity, price, QTY_UNIT)[0] - discount
    amount = np.where(amount_given, _ints(amount_col, n), computed)
    # CDNOW-style files give the line total only: the unit price follows from it.
    derived, price_too_big = _times_over(amount, QTY_UNIT, np.where(quantity == 0, 1, quantity))
    derived_price = np.where(quantity != 0, derived, amount)
    _flag(
        errors,
        bad,
        price_too_big & ~price_given_rows & (quantity != 0),
        rows,
        layout.columns.get("amount", "amount"),
        "the unit price (amount ÷ quantity) is too large",
    )
    price = np.where(price_given_rows, price, derived_price)

    cancel_doc = _starts(order_ids, layout.cancellation_prefix)
    adjust_doc = _starts(order_ids, layout.adjustment_prefix)
    line_type = cols.get("line_type")
    given_type = (
        np.asarray(line_type.to_numpy(zero_copy_only=False), dtype=object)
        if line_type is not None
        else np.full(n, None, dtype=object)
    )
    negative = quantity < 0
    is_return = cancel_doc | (given_type == "return")
    if layout.cancellation_prefix is None:
        is_return |= negative & (given_type == None)  # noqa: E711 - elementwise on an object array
    positive_cancel = cancel_doc & (quantity > 0)
    _flag(
        errors,
        bad,
        positive_cancel,
        rows,
        layout.columns["quantity"],
        "a line of a cancellation document must have a negative quantity",
    )
    stock_adjustment = negative & ~is_return & (given_type != "sale")
    is_adjustment = ~is_return & (
        (given_type == "adjustment") | adjust_doc | (price < 0) | stock_adjustment
    )
    kind = np.where(is_return, "return", np.where(is_adjustment, "adjustment", "sale"))

    quantity = np.where(is_return, np.abs(quantity), quantity)
    amount = np.where(is_return, np.abs(amount), amount)

    cols["quantity"] = pa.array(quantity, pa.int64())
    cols["unit_price"] = pa.array(price, pa.int64())
    cols["discount"] = pa.array(discount, pa.int64())
    cols["amount"] = pa.array(amount, pa.int64())
    cols["line_kind"] = pa.array(kind.astype(str), pa.string())
    cols["currency"] = _currency(cols.get("currency"), n, layout.currency or currency)
    cols.pop("line_type", None)
    rows.errors.extend(errors)

    keep = ~bad
    counts = {
        "anonymous_lines": int((~_valid(cols.get("customer_id"), n) & keep).sum()),
        "stock_adjustment_lines": int((stock_adjustment & keep).sum()),
        "nonpositive_price_lines": int(
            ((price <= 0) & price_given_rows & keep).sum()
            + ((amount <= 0) & ~price_given_rows & keep).sum()
        ),
        "adjustment_lines": int((is_adjustment & keep).sum()),
        "return_lines": int((is_return & keep).sum()),
    }
    return keep_rows(rows, keep), counts


def _valid(array: pa.Array | None, n: int) -> np.ndarray:
    if array is None:
        return np.zeros(n, dtype=bool)
    return np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)


def _times_over(
    a: np.ndarray, b: np.ndarray | int, d: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray]:
    """``a × b / d`` rounded half to even, exact; and where the result reaches ``MAX_UNITS``.

    numpy wraps int64 around silently, so rows whose product may not fit are done in Python.
    """
    a, b, d = np.broadcast_arrays(*(np.asarray(x, dtype=np.int64) for x in (a, b, d)))
    wide = np.abs(a.astype(np.float64) * b.astype(np.float64)) >= 2.0**62
    with np.errstate(over="ignore"):
        result = _div_round(a * b, d)
    too_big = np.zeros(len(result), dtype=bool)
    for i in np.flatnonzero(wide):
        value = _round_half_even(int(a[i]) * int(b[i]), int(d[i]))
        too_big[i] = abs(value) >= MAX_UNITS
        result[i] = 0 if too_big[i] else value
    return result, too_big | (np.abs(result) >= MAX_UNITS)


def _round_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * abs(remainder)
    if twice > abs(denominator) or (twice == abs(denominator) and quotient % 2 == 1):
        quotient += 1
    return quotient


def _div_round(numerator: np.ndarray, denominator: np.ndarray | int) -> np.ndarray:
    """Integer division rounding half to even, elementwise, for exact unit arithmetic."""
    # The rounding below assumes a positive denominator: move the sign to the numerator.
    sign = np.where(np.asarray(denominator) < 0, -1, 1)
    numerator, denominator = numerator * sign, np.asarray(denominator) * sign
    quotient, remainder = np.divmod(numerator, denominator)
    twice = 2 * remainder
    denominator = np.broadcast_to(np.asarray(denominator), quotient.shape)
    round_up = (twice > denominator) | ((twice == denominator) & (quotient % 2 == 1))
    return quotient + round_up.astype(np.int64)


def _currency(array: pa.Array | None, n: int, default: str) -> pa.Array:
    if array is None:
        return pa.array([default] * n, pa.string())
    return pc.fill_null(pc.utf8_upper(array), default)


def _flag(
    errors: list[RowError],
    bad: np.ndarray,
    mask: np.ndarray,
    rows: Converted,
    column: str,
    reason: str,
) -> None:
    for i in np.flatnonzero(mask & ~bad):
        errors.append(RowError(int(rows.lines[i]), column, None, reason))
    bad |= mask
