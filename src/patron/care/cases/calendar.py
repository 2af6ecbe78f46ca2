"""The service calendar: the working hours in which case deadlines run.

A deadline of "8 hours" means 8 hours of customer service being open, not 8 hours on the clock:
evenings, weekends, public holidays and closed days do not count. The calendar knows the weekly
opening hours (one or more wall-clock intervals per weekday), the service's time zone, extra
closed days and, through the ``holidays`` library, a country's (or region's) public holidays.

Each local day becomes a few UTC windows (its wall-clock intervals converted one by one), and
all arithmetic walks those windows day by day, so a day of 23 or 25 hours at a DST change
counts the hours that really pass. A wall time the clock skips is read as Python reads it
(PEP 495, ``fold=0``): moved forward by the gap, so 02:30 on a spring-forward night is 03:30;
a wall time the clock shows twice means its first occurrence. Pure: no database, no web.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as public_holidays

from patron.errors import ConfigError

HOURS_SETTING = "PATRON_CARE_HOURS"
HOLIDAYS_SETTING = "PATRON_CARE_HOLIDAYS"
CLOSED_DAYS_SETTING = "PATRON_CARE_CLOSED_DAYS"
TIMEZONE_SETTING = "PATRON_TIMEZONE"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MINUTES_PER_DAY = 24 * 60
_ONE_DAY = timedelta(days=1)
# Walking this many days in a row without any working time means the calendar has none left.
MAX_IDLE_DAYS = 3 * 366
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_RANGE = re.compile(r"(\S+?)\s*-\s*(\S+)")

Window = tuple[datetime, datetime]


@dataclass(frozen=True, order=True)
class Opening:
    """One wall-clock interval of a weekday, in minutes after local midnight (end ≤ 24:00)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= _MINUTES_PER_DAY:
            raise ValueError(f"an opening runs from 00:00 to 24:00 at most, not {self}")

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


WeeklyHours = tuple[tuple[Opening, ...], ...]
"""Seven tuples of openings, Monday first, each sorted and without overlaps."""


@dataclass(frozen=True)
class ServiceCalendar:
    """Opening hours per weekday in ``timezone``, minus closed days and public holidays.

    ``holiday_country`` / ``holiday_subdivision`` are codes the ``holidays`` library knows
    (``"DE"`` / ``"BY"``); their holidays are loaded per year when first asked and cached.
    """

    hours: WeeklyHours
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    closed_days: frozenset[date] = frozenset()
    holiday_country: str | None = None
    holiday_subdivision: str | None = None

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValueError("hours need seven weekdays, Monday first")

    @classmethod
    def from_settings(
        cls, hours: str, holidays: str, closed_days: str, timezone: str
    ) -> ServiceCalendar:
        """The calendar of PATRON_CARE_HOURS, _HOLIDAYS, _CLOSED_DAYS and PATRON_TIMEZONE."""
        country, subdivision = parse_holidays(holidays)
        return cls(
            hours=parse_hours(hours),
            timezone=_zone(timezone),
            closed_days=parse_closed_days(closed_days),
            holiday_country=country,
            holiday_subdivision=subdivision,
        )

    # -- days ---------------------------------------------------------------------------

    def is_closed(self, day: date) -> bool:
        """Whether ``day`` (a local date) is a closed day or a public holiday."""
        if day in self.closed_days:
            return True
        if self.holiday_country is None:
            return False
        return day in _holidays_of(self.holiday_country, self.holiday_subdivision, day.year)

    def working_windows(self, day: date) -> tuple[Window, ...]:
        """The UTC intervals in which the service is open on the local date ``day``."""
        openings = self.hours[day.weekday()]
        if not openings or self.is_closed(day):
            return ()
        return _merged(
            (self._instant(day, opening.start), self._instant(day, opening.end))
            for opening in openings
        )

    def _instant(self, day: date, minute: int) -> datetime:
        day, minute = day + timedelta(days=minute // _MINUTES_PER_DAY), minute % _MINUTES_PER_DAY
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.timezone)
        return local.astimezone(UTC)

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.timezone).date()

    # -- arithmetic ---------------------------------------------------------------------

    def is_working_time(self, moment: datetime) -> bool:
        """Whether the service is open at ``moment`` (an opening's end is already closed)."""
        moment = _utc(moment)
        windows = self.working_windows(self._local_day(moment))
        return any(opens <= moment < closes for opens, closes in windows)

    def add_working_time(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours after ``start`` (aware; the result is UTC).

        Counting begins at the next opening when ``start`` lies outside working hours, so
        0 hours gives the first moment at or after ``start`` at which the service is open.
        A deadline that uses up an opening exactly ends at its closing time, not at the next
        opening.
        """
        remaining = _duration(hours)
        self._require_hours()
        for opens, closes in self._windows_after(_utc(start)):
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        raise AssertionError("unreachable: _windows_after never ends")  # pragma: no cover

    def subtract_working_time(self, end: datetime, hours: float) -> datetime:
        """The latest moment from which ``hours`` working hours pass until ``end``.

        The mirror of ``add_working_time``: 0 hours gives the last moment at or before ``end``
        at which the service was open, an opening's closing time when ``end`` is outside them.
        """
        remaining = _duration(hours)
        self._require_hours()
        for opens, closes in self._windows_before(_utc(end)):
            if remaining <= closes - opens:
                return closes - remaining
            remaining -= closes - opens
        raise AssertionError("unreachable: _windows_before never ends")  # pragma: no cover

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """The working time that passes from ``a`` to ``b``; zero (never negative) if b <= a."""
        a, b = _utc(a), _utc(b)
        total = timedelta(0)
        if b <= a:
            return total
        for opens, closes in self._windows_after(a, until=b):
            if opens >= b:
                break
            total += min(closes, b) - opens
        return total

    # -- walking the windows ------------------------------------------------------------

    def _windows_after(self, since: datetime, until: datetime | None = None) -> Iterator[Window]:
        """Working windows, clipped to begin at ``since`` at the earliest, in time order.

        Without ``until`` the walk goes on as long as working time keeps coming.
        """
        day = self._local_day(since) - _ONE_DAY  # a window never starts on an earlier day
        last_day = None if until is None else self._local_day(until) + _ONE_DAY
        cursor, idle = since, 0
        while last_day is None or day <= last_day:
            windows = self.working_windows(day)
            idle = 0 if windows else idle + 1
            if last_day is None and idle > MAX_IDLE_DAYS:
                raise self._exhausted(day)
            for opens, closes in windows:
                opens = max(opens, cursor)
                if closes > opens:
                    yield opens, closes
                    cursor = closes
            day += _ONE_DAY

    def _windows_before(self, before: datetime) -> Iterator[Window]:
        """Working windows, clipped to end at ``before`` at the latest, newest first."""
        day = self._local_day(before) + _ONE_DAY
        cursor, idle = before, 0
        while True:
            windows = self.working_windows(day)
            idle = 0 if windows else idle + 1
            if idle > MAX_IDLE_DAYS:
                raise self._exhausted(day)
            for opens, closes in reversed(windows):
                closes = min(closes, cursor)
                if closes > opens:
                    yield opens, closes
                    cursor = opens
            day -= _ONE_DAY

    def _require_hours(self) -> None:
        if not any(self.hours):
            raise ConfigError(
                f"{HOURS_SETTING}: the service calendar has no opening hours, so no deadline "
                "can ever pass",
                details={"setting": HOURS_SETTING},
            )

    def _exhausted(self, day: date) -> ConfigError:
        return ConfigError(
            f"the service calendar has no working time in {MAX_IDLE_DAYS} days up to {day}: "
            f"check {HOURS_SETTING}, {HOLIDAYS_SETTING} and {CLOSED_DAYS_SETTING}",
            details={"setting": CLOSED_DAYS_SETTING, "day": day.isoformat()},
        )


# -- parsing the settings -------------------------------------------------------------------


def parse_hours(text: str) -> WeeklyHours:
    """Weekly hours from text such as ``"mon-fri 08:00-12:00, 13:00-17:00; sat 09:00-13:00"``.

    Groups are separated by ``;``; each names weekdays (``mon``…``sun`` or full English names,
    ranges ``mon-fri`` that may wrap, lists ``mon,wed``) and then wall-clock intervals separated
    by ``,``. An interval ends at ``24:00`` at the latest; a night is two intervals
    (``mon 22:00-24:00; tue 00:00-06:00``). A weekday named in several groups gets them all.
    """
    week: list[list[Opening]] = [[] for _ in WEEKDAYS]
    groups = [group.strip() for group in text.split(";") if group.strip()]
    if not groups:
        raise _bad(HOURS_SETTING, "no opening hours given (e.g. 'mon-fri 08:00-17:00')")
    for group in groups:
        days, openings = _parse_group(group)
        for day in days:
            week[day].extend(openings)
    return tuple(_without_overlaps(WEEKDAYS[day], openings) for day, openings in enumerate(week))


def parse_holidays(text: str) -> tuple[str | None, str | None]:
    """``"DE-BY"`` → ``("DE", "BY")``, ``"NO"`` → ``("NO", None)``, ``""`` → no holidays."""
    text = text.strip()
    if not text:
        return None, None
    country, _, subdivision = text.partition("-")
    known = public_holidays.list_supported_countries()
    country = country.strip().upper()
    if country not in known:
        raise _bad(
            HOLIDAYS_SETTING,
            f"unknown country {country!r} (use a code the holidays library knows, e.g. DE, AT, NO)",
        )
    if not subdivision:
        return country, None
    by_case = {name.upper(): name for name in known[country]}
    if subdivision.strip().upper() not in by_case:
        listed = ", ".join(known[country]) or "none"
        raise _bad(
            HOLIDAYS_SETTING,
            f"unknown subdivision {subdivision!r} of {country} (known: {listed})",
        )
    return country, by_case[subdivision.strip().upper()]


def parse_closed_days(text: str) -> frozenset[date]:
    """ISO dates separated by commas (``"2026-12-24, 2026-12-31"``); empty for none."""
    days = set()
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        try:
            days.add(date.fromisoformat(part))
        except ValueError:
            raise _bad(
                CLOSED_DAYS_SETTING, f"{part!r} is not a date like 2026-12-24 (YYYY-MM-DD)"
            ) from None
    return frozenset(days)


def _parse_group(group: str) -> tuple[list[int], list[Opening]]:
    # The weekdays are what comes before the first digit, the hours the rest.
    split = next((at for at, char in enumerate(group) if char.isdigit()), len(group))
    head, rest = group[:split].strip(), group[split:].strip()
    if not head:
        raise _bad(HOURS_SETTING, f"{group!r} names no weekdays (e.g. 'mon-fri 08:00-17:00')")
    if not rest:
        raise _bad(HOURS_SETTING, f"{group!r} names no hours (e.g. 'mon-fri 08:00-17:00')")
    days = [day for part in head.split(",") if part.strip() for day in _parse_days(part)]
    openings = [_parse_opening(part.strip()) for part in rest.split(",") if part.strip()]
    return days, openings


def _parse_days(text: str) -> list[int]:
    first, dash, last = text.partition("-")
    start = _weekday(first)
    if not dash:
        return [start]
    stop = _weekday(last)
    return [(start + step) % 7 for step in range((stop - start) % 7 + 1)]


def _weekday(name: str) -> int:
    key = name.strip().lower()
    if key in WEEKDAYS:
        return WEEKDAYS.index(key)
    if key in _FULL_NAMES:
        return _FULL_NAMES.index(key)
    raise _bad(HOURS_SETTING, f"unknown weekday {name!r} (use mon, tue, wed, thu, fri, sat, sun)")


def _parse_opening(text: str) -> Opening:
    match = _RANGE.fullmatch(text)
    if match is None:
        raise _bad(HOURS_SETTING, f"{text!r} is not a time range like 08:00-17:00")
    start, end = _minutes(match[1]), _minutes(match[2])
    if end < start:
        raise _bad(
            HOURS_SETTING,
            f"{text} ends before it starts (split a night in two: 'mon 22:00-24:00; tue 00:00-06:00')",
        )
    if end == start:
        raise _bad(HOURS_SETTING, f"{text} is empty")
    return Opening(start, end)


def _minutes(text: str) -> int:
    match = _TIME.fullmatch(text)
    hour, minute = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59) and (hour, minute) != (24, 0):
        raise _bad(HOURS_SETTING, f"{text!r} is not a time of day like 08:00 (00:00 to 24:00)")
    return hour * 60 + minute


def _without_overlaps(day: str, openings: list[Opening]) -> tuple[Opening, ...]:
    ordered = sorted(openings)
    for earlier, later in itertools.pairwise(ordered):
        if later.start < earlier.end:
            raise _bad(HOURS_SETTING, f"{day}: {earlier} overlaps {later}")
    return tuple(ordered)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(
            TIMEZONE_SETTING, f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        ) from None


def _bad(setting: str, problem: str) -> ConfigError:
    return ConfigError(f"{setting}: {problem}", details={"setting": setting, "problem": problem})


# -- helpers --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _holidays_of(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(public_holidays.country_holidays(country, subdiv=subdivision, years=year))


def _merged(spans: Iterable[Window]) -> tuple[Window, ...]:
    """Sorted, non-empty, non-overlapping windows (a skipped wall time can make two touch)."""
    result: list[Window] = []
    for opens, closes in sorted(spans):
        if closes <= opens:
            continue
        if result and opens <= result[-1][1]:
            result[-1] = (result[-1][0], max(closes, result[-1][1]))
        else:
            result.append((opens, closes))
    return tuple(result)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


def _duration(hours: float) -> timedelta:
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"working hours must be a finite number >= 0, not {hours}")
    return timedelta(hours=hours)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
