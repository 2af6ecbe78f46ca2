"""Column types that keep money, quantities and instants exact on every backend.

SQLite has no exact decimal type (NUMERIC columns silently become floating point), so there
``ExactDecimal`` stores a scaled integer (money in ten-thousandths); PostgreSQL gets NUMERIC.
Python code always sees ``Decimal``. Timestamps are stored in UTC and always come back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

from patron.units import MONEY_SCALE, QUANTITY_SCALE


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal with a fixed scale: NUMERIC(p, s) on PostgreSQL, integer units of 10^-s on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._unit = Decimal(1).scaleb(-scale)
        self._factor = 10**scale

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.precision}, {self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(self._unit)
        if dialect.name == "sqlite":
            return int(exact.scaleb(self.scale))
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(self._unit)

    def storage_units(self, dialect_name: str) -> int:
        """How many stored units make one: 10^scale on SQLite, 1 where NUMERIC is exact."""
        return self._factor if dialect_name == "sqlite" else 1


def Money() -> ExactDecimal:
    return ExactDecimal(18, MONEY_SCALE)


def Quantity() -> ExactDecimal:
    return ExactDecimal(14, QUANTITY_SCALE)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: aware datetimes in, stored as UTC, aware UTC datetimes out. Naive input is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"UTCDateTime needs a timezone-aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
