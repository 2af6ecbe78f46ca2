"""Text columns in, typed and validated columns out: one Arrow batch at a time, vectorised.

Every bad value becomes a ``RowError`` naming the line, the column, the value and the reason;
the rows without errors go on. Money and quantities come out as exact integer units (money in
ten-thousandths, quantities in thousandths), instants as UTC timestamps. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from patron.customers.importer.layouts import FIELDS, FieldSpec, FieldType, Layout
from patron.customers.importer.sources import RawBatch
from patron.units import MONEY_SCALE, QUANTITY_SCALE

SCALES = {FieldType.money: MONEY_SCALE, FieldType.quantity: QUANTITY_SCALE}
LIMITS = {FieldType.money: Decimal(10) ** 14, FieldType.quantity: Decimal(10) ** 11}
PLAIN_NUMBER = r"^[-+]?(\d{1,20}(\.\d{0,10})?|\.\d{1,10})$"
INSTANT_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y%m%d",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
)
TRUE_WORDS = ("true", "yes", "y", "1", "ja", "j", "x", "t")
FALSE_WORDS = ("false", "no", "n", "0", "nein", "f", "")


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    value: str | None
    reason: str


@dataclass
class Converted:
    columns: dict[str, pa.Array]
    lines: np.ndarray
    errors: list[RowError] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return len(self.lines)


@dataclass
class _Field:
    spec: FieldSpec
    source: str
    raw: pa.Array


class Converter:
    """Converts the batches of one file; remembers per column the date format and decimal mark."""

    def __init__(self, layout: Layout, *, timezone: str, date_format: str | None = None) -> None:
        self.layout = layout
        self.timezone = timezone
        self.date_formats: dict[str, str] = {}
        self.decimal_comma: dict[str, bool] = {}
        self._fixed_format = date_format

    def convert(self, batch: RawBatch) -> Converted:
        n = len(batch.lines)
        bad = np.zeros(n, dtype=bool)
        errors: list[RowError] = []
        columns: dict[str, pa.Array] = {}
        for spec in FIELDS[self.layout.kind]:
            source = self.layout.columns.get(spec.name)
            if source is None:
                continue
            item = _Field(spec, source, _clean_text(batch.columns[source]))
            typed, problems = self._parse(item)
            if spec.required:
                problems = _merge(problems, pc.is_null(item.raw), "missing value")
            for mask, reason in problems:
                rows = np.flatnonzero(mask)
                bad[rows] = True
                errors.extend(
                    RowError(int(batch.lines[i]), source, item.raw[int(i)].as_py(), reason)
                    for i in rows
                )
            columns[spec.name] = typed
        return keep_rows(Converted(columns, batch.lines, errors), ~bad)

    def _parse(self, item: _Field) -> tuple[pa.Array, list[tuple[np.ndarray, str]]]:
        kind = item.spec.type
        if kind is FieldType.text:
            return _parse_text(item.raw, item.spec)
        if kind in SCALES:
            if item.spec.name not in self.decimal_comma:
                self.decimal_comma[item.spec.name] = _uses_decimal_comma(item.raw)
            return parse_units(item.raw, kind, decimal_comma=self.decimal_comma[item.spec.name])
        if kind is FieldType.flag:
            return _parse_flag(item.raw)
        if item.spec.name not in self.date_formats:
            self.date_formats[item.spec.name] = self._fixed_format or choose_format(item.raw)
        fmt = self.date_formats[item.spec.name]
        instants, problems = parse_instants(item.raw, fmt, self.timezone)
        if kind is FieldType.day:
            return pc.cast(pc.cast(instants, pa.timestamp("us")), pa.date32()), problems
        return instants, problems


def _clean_text(array: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _valid(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _merge(
    problems: list[tuple[np.ndarray, str]], mask: pa.Array | np.ndarray, reason: str
) -> list[tuple[np.ndarray, str]]:
    as_np = mask if isinstance(mask, np.ndarray) else _mask(mask)
    if as_np.any():
        return [*problems, (as_np, reason)]
    return problems


def _parse_text(raw: pa.Array, spec: FieldSpec) -> tuple[pa.Array, list[tuple[np.ndarray, str]]]:
    problems: list[tuple[np.ndarray, str]] = []
    problems = _merge(
        problems,
        pc.greater(pc.utf8_length(raw), spec.max_length),
        f"longer than {spec.max_length} characters",
    )
    problems = _merge(problems, pc.match_substring(raw, "\x00"), "contains a NUL character")
    if spec.choices:
        lowered = pc.utf8_lower(raw)
        outside = pc.and_(pc.is_valid(raw), pc.invert(pc.is_in(lowered, pa.array(spec.choices))))
        problems = _merge(problems, outside, f"must be one of {', '.join(spec.choices)}")
        return lowered, problems
    return raw, problems


def _parse_flag(raw: pa.Array) -> tuple[pa.Array, list[tuple[np.ndarray, str]]]:
    lowered = pc.utf8_lower(raw)
    is_true = pc.is_in(lowered, pa.array(TRUE_WORDS))
    is_false = pc.is_in(lowered, pa.array(FALSE_WORDS))
    unknown = pc.and_(pc.is_valid(raw), pc.invert(pc.or_(is_true, is_false)))
    values = pc.if_else(pc.is_null(raw), pa.scalar(None, pa.bool_()), is_true)
    return values, _merge([], unknown, "not a yes/no value (use true/false, yes/no, 1/0)")


def _uses_decimal_comma(raw: pa.Array) -> bool:
    """A column whose numbers all look like ``12,50`` and never like ``12.50`` uses a decimal comma."""
    comma = _mask(pc.match_substring_regex(raw, r"^[-+]?\d{1,3}(\.\d{3})*,\d+$|^[-+]?\d+,\d+$"))
    dot = _mask(pc.match_substring_regex(raw, r"^[-+]?\d*\.\d+$"))
    return bool(comma.any() and not dot.any())


def parse_units(
    raw: pa.Array, kind: FieldType, *, decimal_comma: bool = False
) -> tuple[pa.Array, list[tuple[np.ndarray, str]]]:
    """Exact decimal text to integer units of 10^-scale (half-even rounding beyond the scale)."""
    scale = SCALES[kind]
    text = raw
    if decimal_comma:
        text = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    plain = _mask(pc.match_substring_regex(text, PLAIN_NUMBER))
    units = np.zeros(len(raw), dtype=np.int64)
    if plain.any():
        decimals = pc.cast(
            pc.if_else(pa.array(plain), text, pa.scalar(None, pa.string())), pa.decimal128(38, 10)
        )
        rounded = pc.cast(
            pc.round(decimals, ndigits=scale, round_mode="half_to_even"), pa.decimal128(31, scale)
        )
        too_big = _mask(
            pc.greater_equal(pc.abs(rounded), pa.scalar(LIMITS[kind], pa.decimal128(31, 0)))
        )
        plain &= ~too_big
        scaled = pc.multiply(rounded, pa.scalar(10**scale, pa.decimal128(5, 0)))
        values = pc.cast(pc.if_else(pa.array(too_big), None, scaled), pa.int64())
        units[plain] = values.to_numpy(zero_copy_only=False)[plain]
    valid = _valid(raw)
    problems: list[tuple[np.ndarray, str]] = []
    other = np.flatnonzero(valid & ~plain)
    if len(other):
        bad = np.zeros(len(raw), dtype=bool)
        for i in other:
            value = _slow_units(text[int(i)].as_py(), scale, LIMITS[kind])
            if value is None:
                bad[i] = True
            else:
                units[i] = value
        problems = _merge(problems, bad, f"not a number (or too large for a {kind.value})")
    return pa.array(units, pa.int64(), mask=~valid), problems


def _slow_units(text: str | None, scale: int, limit: Decimal) -> int | None:
    if text is None or not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= limit:
        return None
    return int(value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN).scaleb(scale))


def choose_format(raw: pa.Array) -> str:
    """The first known date format that reads every value of a sample (else the one reading most)."""
    sample = raw.drop_null()[:2000]
    if len(sample) == 0:
        return INSTANT_FORMATS[0]
    best, best_count = INSTANT_FORMATS[0], -1
    for fmt in INSTANT_FORMATS:
        parsed = pc.strptime(sample, format=fmt, unit="us", error_is_null=True)
        count = len(sample) - parsed.null_count
        if count == len(sample):
            return fmt
        if count > best_count:
            best, best_count = fmt, count
    return best


def parse_instants(
    raw: pa.Array, fmt: str, timezone: str
) -> tuple[pa.Array, list[tuple[np.ndarray, str]]]:
    """Text to UTC timestamps; values without an offset are local time of ``timezone``."""
    parsed = pc.strptime(raw, format=fmt, unit="us", error_is_null=True)
    unreadable = _valid(raw) & ~_valid(parsed)
    impossible = _rolled_over(raw, parsed, fmt)
    if impossible.any():
        parsed = pc.if_else(pa.array(impossible), pa.scalar(None, parsed.type), parsed)
    if parsed.type.tz is None:
        parsed = pc.assume_timezone(
            parsed, timezone=timezone, ambiguous="earliest", nonexistent="earliest"
        )
    parsed = parsed.cast(pa.timestamp("us", "UTC"))
    example = fmt.replace("%Y", "2024").replace("%m", "05").replace("%d", "31")
    example = (
        example.replace("%H", "14").replace("%M", "30").replace("%S", "00").replace("%z", "+0200")
    )
    problems = _merge([], unreadable, f"not a valid date/time in the file's format {example!r}")
    problems = _merge(problems, impossible, "no such date or time (like 30 February)")
    year = pc.year(parsed)
    implausible = pc.or_(pc.less(year, 1900), pc.greater(year, 2200))
    problems = _merge(problems, implausible, "date outside 1900-2200")
    return parsed, problems


def _rolled_over(raw: pa.Array, parsed: pa.Array, fmt: str) -> np.ndarray:
    """Rows Arrow read only by rolling an impossible value over (2011-02-30 -> 2011-03-02).

    A roll-over lands on day 1-3 or second 0-1. Where such a value, printed back, is not the
    text it came from (other padding, an offset), Python's strict ``strptime`` decides.
    """
    suspect = _valid(parsed)
    if parsed.type.tz is None:
        near = pc.less_equal(pc.day(parsed), 3)
        if "%S" in fmt:
            near = pc.or_(near, pc.less_equal(pc.second(parsed), 1))
        suspect &= _mask(near)
    rows = np.flatnonzero(suspect)
    impossible = np.zeros(len(raw), dtype=bool)
    if not len(rows):
        return impossible
    taken = pa.array(rows)
    try:
        seconds = parsed.take(taken).cast(pa.timestamp("s", parsed.type.tz), safe=False)
        differs = _mask(pc.not_equal(pc.strftime(seconds, format=fmt), raw.take(taken)))
    except pa.ArrowException:
        differs = np.ones(len(rows), dtype=bool)
    for i in rows[differs]:
        try:
            datetime.strptime(raw[int(i)].as_py(), fmt)
        except ValueError:
            impossible[i] = True
    return impossible


def keep_rows(converted: Converted, keep: np.ndarray) -> Converted:
    """Only the rows where ``keep`` is true (the same object when all are kept)."""
    if keep.all():
        return converted
    mask = pa.array(keep)
    converted.columns = {name: array.filter(mask) for name, array in converted.columns.items()}
    converted.lines = converted.lines[keep]
    return converted
