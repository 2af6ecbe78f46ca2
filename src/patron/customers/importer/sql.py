"""A thin helper for the merge statements: dialect differences in one place.

The statements are fixed text (no user values are ever spliced in; values are bound), written
in the SQL that SQLite ≥ 3.33 and PostgreSQL share: window functions, INSERT … SELECT,
UPDATE … FROM.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, bindparam, text

from patron.sqltypes import UTCDateTime
from patron.units import MONEY_SCALE, QUANTITY_SCALE


class Sql:
    def __init__(self, connection: Connection, now: datetime) -> None:
        self.connection = connection
        self.now = now
        self.postgres = connection.dialect.name == "postgresql"

    def money(self, column: str) -> str:
        return self._scaled(column, MONEY_SCALE)

    def quantity(self, column: str) -> str:
        return self._scaled(column, QUANTITY_SCALE)

    def _scaled(self, column: str, scale: int) -> str:
        if self.postgres:
            return f"(CAST({column} AS NUMERIC(30, {scale})) / {10**scale})"
        return column

    def differs(self, left: str, right: str) -> str:
        return f"({left} IS DISTINCT FROM {right})" if self.postgres else f"({left} IS NOT {right})"

    def analyze(self, table: str) -> None:
        """PostgreSQL plans temporary tables blind until they are analysed."""
        if self.postgres:
            self.connection.exec_driver_sql(f"ANALYZE {table}")

    def run(self, statement: str, **params: Any) -> int:
        result = self.connection.execute(self._text(statement, params), params)
        return max(result.rowcount, 0)

    def scalar(self, statement: str, **params: Any) -> Any:
        return self.connection.execute(self._text(statement, params), params).scalar()

    def rows(self, statement: str, **params: Any) -> list[Any]:
        return list(self.connection.execute(self._text(statement, params), params))

    def _text(self, statement: str, params: dict[str, Any]) -> Any:
        clause = text(statement)
        if "now" in params:
            clause = clause.bindparams(bindparam("now", type_=UTCDateTime()))
        for name, value in params.items():
            if isinstance(value, bool):
                clause = clause.bindparams(bindparam(name, type_=Boolean()))
        return clause
