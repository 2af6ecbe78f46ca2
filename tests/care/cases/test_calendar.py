"""The service calendar: working hours across evenings, weekends, holidays, closed days and DST
changes; parsing its settings; and properties checked against a minute-by-minute clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.care.cases.calendar import (
    Opening,
    ServiceCalendar,
    parse_closed_days,
    parse_holidays,
    parse_hours,
)
from patron.errors import ConfigError

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def office(hours: str = "mon-fri 08:00-17:00", **kwargs: str) -> ServiceCalendar:
    """A calendar from settings; UTC unless told, so that most expectations read plainly."""
    return ServiceCalendar.from_settings(
        hours,
        kwargs.get("holidays", ""),
        kwargs.get("closed_days", ""),
        kwargs.get("timezone", "UTC"),
    )


# -- within a day, evenings, weekends -----------------------------------------------------------
# 2026-06-16 is a Tuesday, 2026-06-19 a Friday.


def test_hours_within_a_day() -> None:
    assert office().add_working_time(utc(2026, 6, 16, 9), 3) == utc(2026, 6, 16, 12)
    assert office().add_working_time(utc(2026, 6, 16, 9, 15), 0.25) == utc(2026, 6, 16, 9, 30)


def test_a_deadline_that_fills_the_day_ends_at_closing_time() -> None:
    assert office().add_working_time(utc(2026, 6, 16, 9), 8) == utc(2026, 6, 16, 17)


def test_the_evening_does_not_count() -> None:
    # 1 h on Tuesday (16–17), the second from 08:00 on Wednesday
    assert office().add_working_time(utc(2026, 6, 16, 16), 2) == utc(2026, 6, 17, 9)


def test_the_weekend_does_not_count() -> None:
    assert office().add_working_time(utc(2026, 6, 19, 16), 2) == utc(2026, 6, 22, 9)
    # a whole week of 9-hour days from Monday 08:00 ends on Friday 17:00
    assert office().add_working_time(utc(2026, 6, 15, 8), 45) == utc(2026, 6, 19, 17)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (utc(2026, 6, 16, 6), utc(2026, 6, 16, 9)),  # before opening
        (utc(2026, 6, 16, 20), utc(2026, 6, 17, 9)),  # after closing
        (utc(2026, 6, 20, 12), utc(2026, 6, 22, 9)),  # on Saturday
    ],
)
def test_a_start_outside_hours_counts_from_the_next_opening(
    start: datetime, expected: datetime
) -> None:
    assert office().add_working_time(start, 1) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (utc(2026, 6, 16, 10), utc(2026, 6, 16, 10)),  # open: now
        (utc(2026, 6, 16, 17), utc(2026, 6, 17, 8)),  # closing time is closed
        (utc(2026, 6, 20, 12), utc(2026, 6, 22, 8)),  # Saturday: Monday's opening
    ],
)
def test_zero_hours_is_the_next_opening_moment(start: datetime, expected: datetime) -> None:
    assert office().add_working_time(start, 0) == expected


def test_hours_split_by_lunch() -> None:
    calendar = office("mon-fri 08:00-12:00, 13:00-17:00")
    assert calendar.add_working_time(utc(2026, 6, 16, 11, 30), 1) == utc(2026, 6, 16, 13, 30)
    assert calendar.add_working_time(utc(2026, 6, 16, 12, 15), 0.5) == utc(2026, 6, 16, 13, 30)
    assert calendar.add_working_time(utc(2026, 6, 16, 8), 4) == utc(2026, 6, 16, 12)
    assert calendar.working_time_between(utc(2026, 6, 16, 8), utc(2026, 6, 16, 17)) == 8 * HOUR
    assert calendar.working_time_between(utc(2026, 6, 16, 11), utc(2026, 6, 16, 14)) == 2 * HOUR


def test_saturday_mornings() -> None:
    calendar = office("mon-fri 08:00-17:00; sat 09:00-13:00")
    # Friday 1 h, Saturday 4 h, Monday 1 h
    assert calendar.add_working_time(utc(2026, 6, 19, 16), 6) == utc(2026, 6, 22, 9)


def test_the_result_is_utc_whatever_zone_the_start_has() -> None:
    calendar = office(timezone="Europe/Berlin")
    result = calendar.add_working_time(berlin(2026, 6, 16, 9), 1)
    assert result.tzinfo is UTC
    assert result == utc(2026, 6, 16, 8)  # 10:00 CEST


# -- holidays and closed days -------------------------------------------------------------------


def test_christmas_day_is_no_working_day_in_germany() -> None:
    # 2026-12-25 is a Friday, the 26th a Saturday: 1 h on Thursday, 2 h on Monday the 28th
    calendar = office(holidays="DE", timezone="Europe/Berlin")
    assert calendar.add_working_time(berlin(2026, 12, 24, 16), 3) == berlin(2026, 12, 28, 10)


def test_labour_day() -> None:
    # 2026-05-01 is a Friday: Thursday 16–17, then Monday the 4th 08–09 (CEST)
    calendar = office(holidays="DE", timezone="Europe/Berlin")
    assert calendar.add_working_time(berlin(2026, 4, 30, 16), 2) == berlin(2026, 5, 4, 9)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("DE", berlin(2026, 1, 6, 9)),  # Epiphany is no holiday in Germany as a whole …
        ("DE-BY", berlin(2026, 1, 7, 9)),  # … but it is in Bavaria (a Tuesday in 2026)
        ("", berlin(2026, 1, 6, 9)),
    ],
)
def test_regional_holidays(region: str, expected: datetime) -> None:
    calendar = office(holidays=region, timezone="Europe/Berlin")
    assert calendar.add_working_time(berlin(2026, 1, 5, 16), 2) == expected


def test_closed_days() -> None:
    # 2026-06-15 is a Monday
    calendar = office(closed_days="2026-06-15, 2026-06-17")
    assert calendar.add_working_time(utc(2026, 6, 12, 16), 2) == utc(2026, 6, 16, 9)
    # Tuesday 9 h, Wednesday closed, Thursday 1 h
    assert calendar.add_working_time(utc(2026, 6, 16, 8), 10) == utc(2026, 6, 18, 9)
    assert calendar.is_closed(date(2026, 6, 17))
    assert not calendar.is_closed(date(2026, 6, 16))


def test_holidays_of_any_year_are_loaded() -> None:
    calendar = office(holidays="NO", timezone="Europe/Oslo")
    # Norway's Constitution Day: 2030-05-17 is a Friday
    assert calendar.is_closed(date(2030, 5, 17))
    assert calendar.is_closed(date(1999, 5, 17))
    assert not calendar.is_closed(date(2030, 5, 16))


# -- daylight saving time (Europe/Berlin: 2026-03-29 and 2026-10-25, both Sundays) ---------------


def test_a_weekend_with_the_spring_change() -> None:
    calendar = office(timezone="Europe/Berlin")
    # Friday 16:30 CET is 15:30 UTC; half an hour on Friday, then Monday 08:00 CEST = 06:00 UTC
    assert calendar.add_working_time(utc(2026, 3, 27, 15, 30), 1) == utc(2026, 3, 30, 6, 30)


def test_a_weekend_with_the_autumn_change() -> None:
    calendar = office(timezone="Europe/Berlin")
    # Friday 16:30 CEST is 14:30 UTC; then Monday 08:00 CET = 07:00 UTC
    assert calendar.add_working_time(utc(2026, 10, 23, 14, 30), 1) == utc(2026, 10, 26, 7, 30)


def test_days_of_23_and_25_hours() -> None:
    calendar = office("mon-sun 00:00-24:00", timezone="Europe/Berlin")
    spring, autumn = berlin(2026, 3, 29), berlin(2026, 10, 25)
    assert calendar.working_time_between(spring, berlin(2026, 3, 30)) == 23 * HOUR
    assert calendar.working_time_between(autumn, berlin(2026, 10, 26)) == 25 * HOUR
    # midnight CET is 23:00 UTC the day before; three real hours later it is 04:00 CEST
    assert calendar.add_working_time(spring, 3) == utc(2026, 3, 29, 2)


def test_night_hours_over_the_change() -> None:
    calendar = office("sun 01:00-04:00", timezone="Europe/Berlin")
    # 01:00 CET (00:00 UTC) to 04:00 CEST (02:00 UTC)
    assert calendar.working_windows(date(2026, 3, 29)) == (
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 2)),
    )
    # 01:00 CEST (23:00 UTC on Saturday) to 04:00 CET (03:00 UTC)
    assert calendar.working_windows(date(2026, 10, 25)) == (
        (utc(2026, 10, 24, 23), utc(2026, 10, 25, 3)),
    )


def test_office_hours_keep_their_wall_clock_times_over_the_change() -> None:
    calendar = office(timezone="Europe/Berlin")
    assert calendar.working_windows(date(2026, 3, 27)) == (
        (utc(2026, 3, 27, 7), utc(2026, 3, 27, 16)),
    )
    assert calendar.working_windows(date(2026, 3, 30)) == (
        (utc(2026, 3, 30, 6), utc(2026, 3, 30, 15)),
    )
    week = calendar.working_time_between(berlin(2026, 3, 23), berlin(2026, 3, 30))
    assert week == 45 * HOUR


# -- between, subtract, is_working_time ---------------------------------------------------------


def test_working_time_between() -> None:
    calendar = office()
    assert calendar.working_time_between(utc(2026, 6, 19, 16), utc(2026, 6, 22, 9)) == 2 * HOUR
    assert calendar.working_time_between(utc(2026, 6, 20, 9), utc(2026, 6, 21, 9)) == timedelta(0)
    assert calendar.working_time_between(utc(2026, 6, 15), utc(2026, 6, 29)) == 90 * HOUR


def test_nothing_passes_backwards() -> None:
    calendar = office()
    assert calendar.working_time_between(utc(2026, 6, 16, 12), utc(2026, 6, 16, 10)) == timedelta(0)
    assert calendar.working_time_between(utc(2026, 6, 16, 12), utc(2026, 6, 16, 12)) == timedelta(0)


def test_subtract_working_time() -> None:
    calendar = office()
    assert calendar.subtract_working_time(utc(2026, 6, 22, 9), 2) == utc(2026, 6, 19, 16)
    assert calendar.subtract_working_time(utc(2026, 6, 16, 12), 3) == utc(2026, 6, 16, 9)
    # two hours before Monday 10:00 is Monday's opening, not Friday's closing
    assert calendar.subtract_working_time(utc(2026, 6, 22, 10), 2) == utc(2026, 6, 22, 8)
    assert calendar.subtract_working_time(utc(2026, 6, 16, 12), 0) == utc(2026, 6, 16, 12)
    assert calendar.subtract_working_time(utc(2026, 6, 22, 8), 0) == utc(2026, 6, 19, 17)


def test_is_working_time() -> None:
    calendar = office("mon-fri 08:00-12:00, 13:00-17:00")
    assert calendar.is_working_time(utc(2026, 6, 16, 8))
    assert not calendar.is_working_time(utc(2026, 6, 16, 12, 30))
    assert not calendar.is_working_time(utc(2026, 6, 16, 17))
    assert not calendar.is_working_time(utc(2026, 6, 20, 10))


def test_a_calendar_without_hours_refuses_to_count() -> None:
    calendar = ServiceCalendar(hours=((),) * 7)
    with pytest.raises(ConfigError, match="no opening hours"):
        calendar.add_working_time(utc(2026, 6, 16), 1)
    with pytest.raises(ConfigError, match="no opening hours"):
        calendar.subtract_working_time(utc(2026, 6, 16), 1)


def test_a_calendar_closed_for_years_refuses_to_count() -> None:
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(5 * 53))
    calendar = ServiceCalendar(hours=parse_hours("mon 08:00-09:00"), closed_days=mondays)
    with pytest.raises(ConfigError, match="no working time"):
        calendar.add_working_time(utc(2026, 1, 1), 1)
    assert calendar.working_time_between(utc(2026, 1, 1), utc(2031, 1, 1)) == timedelta(0)


def test_naive_times_and_negative_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        office().add_working_time(datetime(2026, 6, 16, 9), 1)
    with pytest.raises(ValueError, match=">= 0"):
        office().add_working_time(utc(2026, 6, 16, 9), -1)
    with pytest.raises(ValueError, match=">= 0"):
        office().subtract_working_time(utc(2026, 6, 16, 9), float("nan"))


# -- parsing ------------------------------------------------------------------------------------


def test_parse_hours() -> None:
    week = parse_hours("mon-fri 08:00-12:00, 13:00-17:00; sat 09:00-13:00")
    weekday = (Opening(8 * 60, 12 * 60), Opening(13 * 60, 17 * 60))
    assert week == (weekday,) * 5 + ((Opening(9 * 60, 13 * 60),), ())


def test_parse_hours_forms() -> None:
    week = parse_hours("Friday-Mon 22:00-24:00; tue, thu 7:30-9:00; mon 00:00-06:00;")
    assert week[0] == (Opening(0, 6 * 60), Opening(22 * 60, 24 * 60))
    assert week[1] == week[3] == (Opening(7 * 60 + 30, 9 * 60),)
    assert week[2] == ()
    assert week[4] == week[5] == week[6] == (Opening(22 * 60, 24 * 60),)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mn-fri 08:00-17:00", "unknown weekday 'mn'"),
        ("mon-fri 17:00-08:00", "17:00-08:00 ends before it starts"),
        ("mon-fri 08:00-08:00", "is empty"),
        ("mon-fri 25:00-26:00", "'25:00' is not a time of day"),
        ("mon-fri 08:61-17:00", "'08:61' is not a time of day"),
        ("mon-fri 0800-1700", "'0800' is not a time of day"),
        ("mon-fri 08:00", "not a time range"),
        ("mon-fri", "names no hours"),
        ("08:00-17:00", "names no weekdays"),
        ("mon 08:00-12:00, 11:00-13:00", "mon: 08:00-12:00 overlaps 11:00-13:00"),
        ("mon-fri 08:00-17:00; wed 16:00-18:00", "wed: 08:00-17:00 overlaps 16:00-18:00"),
        ("", "no opening hours"),
        (" ; ", "no opening hours"),
    ],
)
def test_bad_hours_name_the_setting_and_the_fault(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_hours(text)
    assert caught.value.message.startswith("PATRON_CARE_HOURS: ")
    assert problem in caught.value.message
    assert caught.value.details["setting"] == "PATRON_CARE_HOURS"


def test_parse_holidays() -> None:
    assert parse_holidays("") == (None, None)
    assert parse_holidays("NO") == ("NO", None)
    assert parse_holidays("de-by") == ("DE", "BY")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("XX", "unknown country 'XX'"), ("DE-ZZ", "unknown subdivision 'ZZ' of DE")],
)
def test_bad_holidays_name_the_setting(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^PATRON_CARE_HOLIDAYS: .*{problem}"):
        parse_holidays(text)


def test_parse_closed_days() -> None:
    assert parse_closed_days("") == frozenset()
    assert parse_closed_days("2026-12-24, 2026-12-31,") == {date(2026, 12, 24), date(2026, 12, 31)}
    with pytest.raises(ConfigError, match=r"^PATRON_CARE_CLOSED_DAYS: '2026-13-01' is not a date"):
        parse_closed_days("2026-12-24, 2026-13-01")


def test_from_settings_checks_the_time_zone() -> None:
    with pytest.raises(ConfigError, match=r"^PATRON_TIMEZONE: unknown time zone 'Europe/Bonn'"):
        office(timezone="Europe/Bonn")


def test_from_settings() -> None:
    calendar = ServiceCalendar.from_settings(
        "mon-fri 08:00-17:00", "DE-BY", "2026-12-24", "Europe/Berlin"
    )
    assert calendar.timezone == BERLIN
    assert (calendar.holiday_country, calendar.holiday_subdivision) == ("DE", "BY")
    assert calendar.closed_days == {date(2026, 12, 24)}


# -- properties ---------------------------------------------------------------------------------
# A Bavarian office with lunch, Saturday mornings and one closed day, checked against a clock that
# looks at every single minute (written here independently of the calendar's window walking).

HOURS = "mon-fri 08:00-12:00, 13:00-17:00; sat 09:00-13:00"
BAVARIA = ServiceCalendar.from_settings(HOURS, "DE-BY", "2026-06-15", "Europe/Berlin")
CLOCK = {day: [(8, 12), (13, 17)] for day in range(5)} | {5: [(9, 13)], 6: []}
CLOSED = set(holidays.country_holidays("DE", subdiv="BY", years=range(2025, 2029))) | {
    date(2026, 6, 15)
}


def open_by_the_clock(moment: datetime) -> bool:
    local = moment.astimezone(BERLIN)
    if local.date() in CLOSED:
        return False
    return any(start <= local.hour < end for start, end in CLOCK[local.weekday()])


def minutes_by_the_clock(a: datetime, b: datetime) -> int:
    steps = int((b - a) / timedelta(minutes=1))
    return sum(open_by_the_clock(a + timedelta(minutes=n)) for n in range(steps))


# Moments near the DST changes, holidays (Epiphany, Good Friday, 1 May, Christmas) and the
# closed day, or anywhere in three years; all on whole minutes.
ANCHORS = [
    utc(2026, 3, 27, 12),
    utc(2026, 10, 23, 12),
    utc(2026, 1, 5, 12),
    utc(2026, 4, 2, 12),
    utc(2026, 4, 30, 12),
    utc(2026, 12, 23, 12),
    utc(2026, 6, 12, 12),
]
near_anchor = st.builds(
    lambda anchor, minutes: anchor + timedelta(minutes=minutes),
    st.sampled_from(ANCHORS),
    st.integers(-4 * 24 * 60, 4 * 24 * 60),
)
anywhere = st.integers(0, 3 * 365 * 24 * 60).map(lambda m: utc(2025, 1, 1) + timedelta(minutes=m))
moments = st.one_of(near_anchor, anywhere)
working_minutes = st.integers(0, 120 * 60)


@settings(max_examples=60, deadline=None)
@given(start=near_anchor, span=st.integers(0, 4 * 24 * 60))
def test_working_time_between_agrees_with_the_clock(start: datetime, span: int) -> None:
    end = start + timedelta(minutes=span)
    expected = timedelta(minutes=minutes_by_the_clock(start, end))
    assert BAVARIA.working_time_between(start, end) == expected


@settings(max_examples=300, deadline=None)
@given(start=moments, minutes=working_minutes)
def test_adding_hours_adds_exactly_that_working_time(start: datetime, minutes: int) -> None:
    due = BAVARIA.add_working_time(start, minutes / 60)
    assert due >= start
    assert BAVARIA.working_time_between(start, due) == timedelta(minutes=minutes)
    if minutes > 0:  # a deadline falls in working hours (or on a closing time)
        assert open_by_the_clock(due - timedelta(minutes=1))


@settings(max_examples=300, deadline=None)
@given(start=moments, first=working_minutes, second=working_minutes)
def test_later_for_more_hours(start: datetime, first: int, second: int) -> None:
    less, more = sorted((first, second))
    assert BAVARIA.add_working_time(start, less / 60) <= BAVARIA.add_working_time(start, more / 60)


@settings(max_examples=300, deadline=None)
@given(start=moments, first=working_minutes, second=st.integers(1, 120 * 60))
def test_adding_in_two_steps_is_adding_once(start: datetime, first: int, second: int) -> None:
    halfway = BAVARIA.add_working_time(start, first / 60)
    once = BAVARIA.add_working_time(start, (first + second) / 60)
    assert BAVARIA.add_working_time(halfway, second / 60) == once


@settings(max_examples=300, deadline=None)
@given(start=moments, minutes=st.integers(1, 120 * 60))
def test_subtracting_undoes_adding(start: datetime, minutes: int) -> None:
    due = BAVARIA.add_working_time(start, minutes / 60)
    back = BAVARIA.subtract_working_time(due, minutes / 60)
    assert start <= back <= due
    assert BAVARIA.working_time_between(back, due) == timedelta(minutes=minutes)
    assert BAVARIA.working_time_between(start, back) == timedelta(0)
    if BAVARIA.is_working_time(start):  # from inside working hours it is the very start
        assert back == start


@settings(max_examples=200, deadline=None)
@given(a=moments, b=moments, c=moments)
def test_working_time_adds_up(a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    whole = BAVARIA.working_time_between(a, c)
    assert whole == BAVARIA.working_time_between(a, b) + BAVARIA.working_time_between(b, c)
