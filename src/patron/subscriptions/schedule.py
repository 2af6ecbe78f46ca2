"""When a subscription's deliveries fall due: the rhythm's calendar, pauses, skips, time zones.

Pure: dates in, dates out. A monthly rhythm keeps its anchor day across short months (31 Jan →
28 Feb → 31 Mar): the anchor, not the clamped day, drives the next step, so a rhythm never
drifts towards the 28th. Dates are local calendar dates in the subscription's time zone; the
only instant here is ``now`` when turned into that zone's today.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Literal, Protocol, get_args
from zoneinfo import ZoneInfo

from patron.errors import PatronError

Unit = Literal["day", "week", "month"]
UNITS: tuple[str, ...] = get_args(Unit)
MAX_COUNT = 366
# Mean days of the Gregorian year; used only for the monthly value of a rhythm (MRR).
_YEAR_DAYS = Fraction("365.2425")
_YEAR_WEEKS = _YEAR_DAYS / 7


class InvalidRhythm(PatronError):
    code = "subscription.bad_interval"
    status = 400


@dataclass(frozen=True)
class Rhythm:
    """Every ``count`` days, weeks or months; monthly ones on ``anchor_day`` (None: the day the
    series started on)."""

    unit: Unit
    count: int
    anchor_day: int | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise InvalidRhythm(
                f"interval unit must be one of {', '.join(UNITS)}, not {self.unit!r}",
                details={"field": "unit", "value": self.unit},
            )
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise InvalidRhythm("interval count must be a whole number", details={"field": "count"})
        if not 1 <= self.count <= MAX_COUNT:
            raise InvalidRhythm(
                f"interval count must lie between 1 and {MAX_COUNT}, not {self.count}",
                details={"field": "count", "value": self.count},
            )
        if self.anchor_day is not None and not 1 <= self.anchor_day <= 31:
            raise InvalidRhythm(
                f"anchor day must lie between 1 and 31, not {self.anchor_day}",
                details={"field": "anchor_day", "value": self.anchor_day},
            )
        if self.anchor_day is not None and self.unit != "month":
            raise InvalidRhythm(
                "only monthly rhythms have an anchor day",
                details={"field": "anchor_day", "value": self.anchor_day},
            )

    def describe(self) -> str:
        """``every 2 weeks`` – for logs and the CLI; pages translate their own."""
        unit = self.unit if self.count == 1 else f"{self.unit}s"
        return f"every {unit}" if self.count == 1 else f"every {self.count} {unit}"


class Stored(Protocol):
    """What a stored subscription says of its rhythm (the ``subscriptions`` row)."""

    @property
    def interval_unit(self) -> str: ...
    @property
    def interval_count(self) -> int: ...
    @property
    def anchor_day(self) -> int | None: ...


def rhythm_of(row: Stored) -> Rhythm:
    """The rhythm a stored subscription keeps: its unit, count and anchor day."""
    return Rhythm(row.interval_unit, row.interval_count, row.anchor_day)  # type: ignore[arg-type]


def month_anchor(rhythm: Rhythm, start: date) -> Rhythm:
    """The rhythm with its anchor day fixed from ``start`` (monthly ones only, if not set)."""
    if rhythm.unit != "month" or rhythm.anchor_day is not None:
        return rhythm
    return Rhythm("month", rhythm.count, start.day)


def add_months(day: date, months: int, anchor_day: int | None = None) -> date:
    """``day`` moved by ``months`` calendar months onto ``anchor_day`` (default: its own day),
    clamped to the last day of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor_day or day.day, last))


def next_after(rhythm: Rhythm, due: date) -> date:
    """The delivery after the one due on ``due``; also where a skipped delivery moves to."""
    if rhythm.unit == "day":
        return due + timedelta(days=rhythm.count)
    if rhythm.unit == "week":
        return due + timedelta(weeks=rhythm.count)
    return add_months(due, rhythm.count, rhythm.anchor_day)


def first_due(rhythm: Rhythm, start: date) -> date:
    """The first delivery: on the start day itself."""
    return start


def dates(rhythm: Rhythm, start: date, n: int) -> list[date]:
    """The first ``n`` due dates of a series starting on ``start``."""
    rhythm = month_anchor(rhythm, start)
    out: list[date] = []
    due = first_due(rhythm, start)
    for _ in range(n):
        out.append(due)
        due = next_after(rhythm, due)
    return out


def resume_on(rhythm: Rhythm, next_due: date, paused_until: date) -> date:
    """After a pause: the first date of the rhythm's grid (through ``next_due``) on or after
    ``paused_until``. The rhythm and its anchor day stay; the deliveries in between are not
    made up."""
    rhythm = month_anchor(rhythm, next_due)
    due = next_due
    if rhythm.unit != "month":
        step = rhythm.count * (7 if rhythm.unit == "week" else 1)
        if due < paused_until:
            behind = (paused_until - due).days
            due += timedelta(days=-(-behind // step) * step)
        return due
    while due < paused_until:
        due = next_after(rhythm, due)
    return due


def local_today(now_utc: datetime, tz: ZoneInfo) -> date:
    """The calendar date it is in ``tz`` at the instant ``now_utc``."""
    if now_utc.tzinfo is None:
        raise ValueError("now must be an aware instant")
    return now_utc.astimezone(tz).date()


def is_due(next_due: date, today_local: date, announce_days: int = 0) -> bool:
    """Whether the delivery of ``next_due`` is to be opened today (``announce_days`` early)."""
    return next_due <= today_local + timedelta(days=max(announce_days, 0))


def monthly_factor(rhythm: Rhythm) -> Fraction:
    """Deliveries per month on average: the multiplier from one delivery's value to MRR."""
    if rhythm.unit == "month":
        return Fraction(1, rhythm.count)
    if rhythm.unit == "week":
        return _YEAR_WEEKS / 12 / rhythm.count
    return _YEAR_DAYS / 12 / rhythm.count
