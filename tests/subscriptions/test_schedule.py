"""The delivery calendar: month ends, anchors, pauses, skips, time zones, the monthly factor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.subscriptions import schedule
from patron.subscriptions.schedule import InvalidRhythm, Rhythm

MONTHLY = Rhythm("month", 1)


def test_monthly_from_the_31st_keeps_the_anchor_through_short_months() -> None:
    assert schedule.dates(MONTHLY, date(2025, 1, 31), 5) == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
        date(2025, 5, 31),
    ]


def test_leap_year_february_takes_the_29th() -> None:
    assert schedule.dates(MONTHLY, date(2024, 1, 31), 3) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
    ]


def test_the_anchor_not_the_clamped_day_drives_the_next_step() -> None:
    rhythm = Rhythm("month", 1, 31)
    assert schedule.next_after(rhythm, date(2025, 2, 28)) == date(2025, 3, 31)
    # without an anchor the day of the date given is the anchor: 28 stays 28
    assert schedule.next_after(MONTHLY, date(2025, 2, 28)) == date(2025, 3, 28)


def test_every_two_months_across_the_year_end() -> None:
    rhythm = Rhythm("month", 2, 30)
    assert schedule.next_after(rhythm, date(2025, 12, 30)) == date(2026, 2, 28)
    assert schedule.next_after(rhythm, date(2026, 2, 28)) == date(2026, 4, 30)


def test_days_and_weeks_step_by_their_length() -> None:
    assert schedule.next_after(Rhythm("day", 10), date(2025, 2, 25)) == date(2025, 3, 7)
    assert schedule.next_after(Rhythm("week", 2), date(2025, 12, 24)) == date(2026, 1, 7)


def test_the_first_delivery_is_on_the_start_day() -> None:
    assert schedule.first_due(Rhythm("week", 1), date(2025, 3, 3)) == date(2025, 3, 3)


@pytest.mark.parametrize(
    ("unit", "count", "anchor"),
    [("year", 1, None), ("day", 0, None), ("week", 367, None), ("month", 1, 32), ("week", 1, 3)],
)
def test_a_bad_rhythm_is_refused_naming_the_field(
    unit: str, count: int, anchor: int | None
) -> None:
    with pytest.raises(InvalidRhythm) as refused:
        Rhythm(unit, count, anchor)  # type: ignore[arg-type]
    assert refused.value.code == "subscription.bad_interval"
    assert refused.value.details["field"] in {"unit", "count", "anchor_day"}


def test_resuming_after_a_pause_lands_on_the_rhythm_s_grid() -> None:
    weekly = Rhythm("week", 2)
    # due Mon 6 Jan, paused until 22 Jan: the grid 6, 20 Jan, 3 Feb → 3 Feb
    assert schedule.resume_on(weekly, date(2025, 1, 6), date(2025, 1, 22)) == date(2025, 2, 3)
    # a pause ending on a grid date resumes on it
    assert schedule.resume_on(weekly, date(2025, 1, 6), date(2025, 1, 20)) == date(2025, 1, 20)
    # a pause ending before the next due date changes nothing
    assert schedule.resume_on(weekly, date(2025, 1, 6), date(2025, 1, 2)) == date(2025, 1, 6)


def test_a_monthly_pause_keeps_the_anchor_day() -> None:
    rhythm = Rhythm("month", 1, 31)
    assert schedule.resume_on(rhythm, date(2025, 1, 31), date(2025, 3, 5)) == date(2025, 3, 31)
    assert schedule.resume_on(rhythm, date(2025, 1, 31), date(2025, 2, 15)) == date(2025, 2, 28)


def test_a_skip_moves_the_delivery_to_the_next_date() -> None:
    rhythm = Rhythm("month", 1, 31)
    assert schedule.next_after(rhythm, date(2025, 1, 31)) == date(2025, 2, 28)


def test_due_on_the_first_in_berlin_is_due_at_2330_utc_the_day_before() -> None:
    now = datetime(2025, 11, 30, 23, 30, tzinfo=UTC)
    berlin = schedule.local_today(now, ZoneInfo("Europe/Berlin"))
    new_york = schedule.local_today(now, ZoneInfo("America/New_York"))
    assert (berlin, new_york) == (date(2025, 12, 1), date(2025, 11, 30))
    assert schedule.is_due(date(2025, 12, 1), berlin, 0)
    assert not schedule.is_due(date(2025, 12, 1), new_york, 0)
    assert schedule.is_due(date(2025, 12, 1), new_york, 1)  # announced a day ahead


def test_local_today_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        schedule.local_today(datetime(2025, 1, 1), ZoneInfo("UTC"))


def test_monthly_factor_for_mrr() -> None:
    assert schedule.monthly_factor(Rhythm("month", 3)) == Fraction(1, 3)
    assert float(schedule.monthly_factor(Rhythm("week", 1))) == pytest.approx(52.1775 / 12)
    assert float(schedule.monthly_factor(Rhythm("day", 30))) == pytest.approx(365.2425 / 360)


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))
rhythms = st.builds(
    Rhythm,
    st.sampled_from(["day", "week", "month"]),
    st.integers(1, 24),
)


@given(rhythms, days)
def test_next_after_is_always_later(rhythm: Rhythm, day: date) -> None:
    assert schedule.next_after(rhythm, day) > day


@given(st.integers(1, 12), st.integers(1, 31), days, st.integers(1, 60))
def test_monthly_dates_fall_on_the_anchor_or_the_month_end(
    count: int, anchor: int, start: date, n: int
) -> None:
    rhythm = Rhythm("month", count, anchor)
    due = start
    for _ in range(n):
        due = schedule.next_after(rhythm, due)
        month_end = (due.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        assert due.day == min(anchor, month_end.day)


@given(rhythms, days, st.integers(0, 400))
def test_resume_on_is_the_first_grid_date_on_or_after_the_pause(
    rhythm: Rhythm, due: date, later: int
) -> None:
    until = due + timedelta(days=later)
    resumed = schedule.resume_on(rhythm, due, until)
    anchored = schedule.month_anchor(rhythm, due)
    assert resumed >= until
    grid = due
    while grid < until:
        grid = schedule.next_after(anchored, grid)
    assert resumed == grid
