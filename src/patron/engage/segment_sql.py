"""Segments as SQLAlchemy expressions: every value a bound parameter, never SQL text.

``where(segment, columns)`` turns a checked ``segments.Segment`` into a boolean column
expression over ``columns`` (field name → column expression of the query the caller builds),
with the same three-valued logic as ``segments.matches``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, true

from patron.engage.segments import And, Compare, Expr, In, IsNull, Not, Or, Segment, Truthy


def where(
    segment: Segment | Expr, columns: Mapping[str, ColumnElement[Any]]
) -> ColumnElement[bool]:
    expr = segment.expr if isinstance(segment, Segment) else segment
    return _sql(expr, columns)


def _sql(expr: Expr, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool]:
    if isinstance(expr, And):
        return and_(*(_sql(item, columns) for item in expr.items))
    if isinstance(expr, Or):
        return or_(*(_sql(item, columns) for item in expr.items))
    if isinstance(expr, Not):
        return not_(_sql(expr.item, columns))
    column = columns[expr.field]
    if isinstance(expr, IsNull):
        return column.is_not(None) if expr.negated else column.is_(None)
    if isinstance(expr, Truthy):
        return column == true()
    if isinstance(expr, In):
        found = column.in_(list(expr.values))
        return not_(found) if expr.negated else found
    return _compare(column, expr)


def _compare(column: ColumnElement[Any], expr: Compare) -> ColumnElement[bool]:
    value = expr.value
    operations = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    result: ColumnElement[bool] = operations[expr.op](value)
    return result
