"""Whatever a notebook holds — an Ibis table, a pandas or Polars DataFrame, an Arrow table —
as what the analyses take: Ibis tables, and ``Facts``.

Frames are handed over through Arrow (pandas with ``pyarrow.Table.from_pandas``; Polars and
anything else that speaks the Arrow PyCapsule interface through ``pyarrow.table``), then become
in-memory DuckDB tables; Ibis tables stay on their own backend.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from patron.analytics.facts import Facts, facts_from_arrow
from patron.errors import PatronError

# What the analyses accept: ``Facts`` or a frame of sale lines (Ibis, pandas, Polars, Arrow)…
FactsLike: TypeAlias = Any
# …and, for those that work on a summary, an Ibis table or a frame of it.
TableLike: TypeAlias = Any


class UnknownFrame(PatronError):
    code = "analytics.unknown_frame"
    status = 422


def to_arrow(frame: Any, what: str = "table") -> pa.Table:
    """An Arrow table from Arrow, pandas, Polars (or any Arrow PyCapsule producer)."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(frame, preserve_index=False)
    if hasattr(frame, "__arrow_c_stream__") or hasattr(frame, "to_arrow"):
        return frame.to_arrow() if hasattr(frame, "to_arrow") else pa.table(frame)
    raise UnknownFrame(
        f"the {what} is a {type(frame).__name__}: give an Ibis table or a pandas, Polars or "
        "Arrow frame",
        details={"field": what, "type": type(frame).__name__},
    )


def as_table(frame: Any, what: str = "table") -> ir.Table:
    """An Ibis table (as given), or a frame as an in-memory DuckDB table."""
    if isinstance(frame, ir.Table):
        return frame
    return ibis.memtable(to_arrow(frame, what))


def as_facts(
    lines: Any,
    returns: Any = None,
    *,
    customers: Any = None,
    attitudes: Any = None,
    cases: Any = None,
) -> Facts:
    """Facts from ``Facts`` (as given), Ibis tables (columns as in ``patron.analytics.facts``)
    or frames. A frame may leave optional columns out (product, quantity, discount, cost…)."""
    if isinstance(lines, Facts):
        return lines
    if isinstance(lines, ir.Table):
        return Facts(
            lines=_ibis_part(lines, "lines"),
            returns=_ibis_part(returns, "returns") if returns is not None else _empty("returns"),
            customers=_ibis_part(customers, "customers") if customers is not None else None,
            attitudes=_ibis_part(attitudes, "attitudes") if attitudes is not None else None,
            cases=_ibis_part(cases, "cases") if cases is not None else None,
        ).known()

    def arrow(frame: Any, what: str) -> pa.Table | None:
        return None if frame is None else to_arrow(frame, what)

    lines_table = arrow(lines, "lines")
    assert lines_table is not None
    return facts_from_arrow(
        lines_table,
        arrow(returns, "returns"),
        customers=arrow(customers, "customers"),
        attitudes=arrow(attitudes, "attitudes"),
        cases=arrow(cases, "cases"),
    )


def _ibis_part(table: Any, name: str) -> ir.Table:
    """An Ibis table with the facts' columns and types; missing optional ones as nulls."""
    from patron.analytics.facts import SCHEMAS

    if not isinstance(table, ir.Table):
        table = as_table(table, name)
    schema = SCHEMAS[name]
    columns = {}
    for field in schema:
        kind = ibis.dtype(field.type)
        if field.name in table.columns:
            columns[field.name] = table[field.name].cast(kind)
        else:
            columns[field.name] = ibis.null(kind)
    return table.select(**columns)


def _empty(name: str) -> ir.Table:
    from patron.analytics.facts import SCHEMAS

    return ibis.memtable(SCHEMAS[name].empty_table())
