"""A transaction file as analytics facts, without importing it into the store.

The file is read by the importer's own pure steps (``patron.customers.importer``: formats,
recognised layouts such as UCI Online Retail and CDNOW, typed conversion, the rules that make
sale, return and adjustment lines), so ``patron analyze FILE`` understands exactly the files
``patron import orders FILE`` does, and says which row and field is wrong in the same way.
Adjustment lines (stock corrections, write-offs) are not revenue and are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from patron.analytics.facts import LINES, RETURNS
from patron.customers.importer.convert import Converter, RowError
from patron.customers.importer.layouts import Kind, canonical, recognise
from patron.customers.importer.lines import derive_lines
from patron.customers.importer.sources import open_source
from patron.errors import PatronError
from patron.units import MONEY_SCALE, QUANTITY_SCALE

MONEY = 10.0**MONEY_SCALE
QUANTITY = 10.0**QUANTITY_SCALE
Progress = Callable[[int, int, int], None]  # rows so far, bytes read, bytes in all


class BadTransactionFile(PatronError):
    code = "analytics.bad_file"
    status = 422


@dataclass
class TransactionFile:
    lines: pa.Table
    returns: pa.Table
    layout: str
    rows_read: int = 0
    adjustments: int = 0
    errors: list[RowError] = field(default_factory=list)


def read_transactions(
    path: Path,
    *,
    timezone: str = "UTC",
    mapping: dict[str, str] | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> TransactionFile:
    """Sale lines and returns of an order file (CSV, Parquet, Excel, whitespace-separated).

    Raises ``BadTransactionFile`` naming the first bad rows unless ``skip_invalid``, in which
    case they are left out and listed in ``errors``.
    """
    source = open_source(path)
    layout = (
        canonical(Kind.orders, source.header, mapping)
        if mapping
        else recognise(Kind.orders, source.header)
    )
    converter = Converter(layout, timezone=timezone)
    parts: list[pa.Table] = []
    result = TransactionFile(LINES.empty_table(), RETURNS.empty_table(), layout.name)
    for batch in source.batches():
        result.rows_read += len(batch.lines)
        rows, kinds = derive_lines(converter.convert(batch), layout, currency="EUR")
        result.errors.extend(rows.errors)
        result.adjustments += kinds["adjustment_lines"]
        parts.append(_batch_table(rows.columns, rows.num_rows, layout.synthesize_order_id))
        if progress:
            progress(result.rows_read, source.bytes_read, source.bytes_total)
    result.errors.extend(RowError(line, "(row)", None, reason) for line, reason in source.malformed)
    if result.errors and not skip_invalid:
        shown = sorted(result.errors, key=lambda error: error.line)[:5]
        raise BadTransactionFile(
            f"{path.name}: {len(result.errors)} rows are invalid, e.g. "
            + "; ".join(f"row {e.line}, {e.column}: {e.reason}" for e in shown)
            + ". Fix them, or pass --skip-invalid to analyse the valid rows.",
            details={
                "file": str(path),
                "errors": [
                    {"row": e.line, "field": e.column, "value": e.value, "reason": e.reason}
                    for e in shown
                ],
                "invalid_rows": len(result.errors),
            },
        )
    if not parts:
        return result
    everything = pa.concat_tables(parts)
    kind = everything["kind"]
    result.lines = everything.filter(pc.equal(kind, "sale")).select(LINES.names).cast(LINES)
    returns = everything.filter(pc.equal(kind, "return"))
    result.returns = pa.table(
        {
            "customer_id": returns["customer_id"],
            "returned_at": returns["placed_at"],
            "product": returns["product"],
            "quantity": returns["quantity"],
            "amount": returns["amount"],
        }
    ).cast(RETURNS)
    return result


def _batch_table(columns: dict[str, pa.Array], n: int, synthesize_order_id: bool) -> pa.Table:
    def floats(name: str, scale: float) -> pa.Array:
        values = columns.get(name)
        if values is None:
            return pa.nulls(n, pa.float64())
        return pc.divide(pc.cast(values, pa.float64()), scale)

    placed = pc.cast(
        pc.cast(columns["placed_at"], pa.timestamp("us", tz="UTC")), pa.timestamp("us")
    )
    customer = columns.get("customer_id", pa.nulls(n, pa.string()))
    if synthesize_order_id or "order_id" not in columns:
        day = pc.strftime(placed, format="%Y%m%d")
        order = pc.binary_join_element_wise(pc.fill_null(customer, ""), day, "-")
    else:
        order = columns["order_id"]
    quantity = floats("quantity", QUANTITY)
    unit_cost = columns.get("unit_cost")
    cost = (
        pc.multiply(pc.divide(pc.cast(unit_cost, pa.float64()), MONEY), quantity)
        if unit_cost is not None
        else pa.nulls(n, pa.float64())
    )
    return pa.table(
        {
            "kind": columns["line_kind"],
            "customer_id": customer,
            "order_id": order,
            "placed_at": placed,
            "product": columns.get("sku", pa.nulls(n, pa.string())),
            "quantity": quantity,
            "amount": floats("amount", MONEY),
            "discount": pc.fill_null(floats("discount", MONEY), 0.0),
            "cost": cost,
        }
    )
