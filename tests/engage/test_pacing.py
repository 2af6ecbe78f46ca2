"""Frequency caps and quiet hours, across midnight, time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.engage.pacing import BadPacing, Cap, QuietHours, send_at

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_a_free_customer_can_be_written_to_now() -> None:
    assert Cap(limit=2, days=7).next_free([], NOW) == NOW
    assert Cap(limit=2, days=7).next_free([NOW - timedelta(days=3)], NOW) == NOW
    # a message older than the window does not count
    assert Cap(2, 7).next_free([NOW - timedelta(days=8), NOW - timedelta(days=9)], NOW) == NOW


def test_a_full_window_waits_for_the_oldest_message_to_leave_it() -> None:
    sent = [NOW - timedelta(days=6), NOW - timedelta(days=1)]
    # two in seven days: the next fits when the one of six days ago is seven days old
    assert Cap(2, 7).next_free(sent, NOW) == NOW + timedelta(days=1)
    three = [NOW - timedelta(days=5), NOW - timedelta(days=2), NOW - timedelta(hours=1)]
    assert Cap(3, 7).next_free(three, NOW) == NOW + timedelta(days=2)


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=20 * 24), min_size=0, max_size=8),
    limit=st.integers(min_value=1, max_value=4),
    days=st.integers(min_value=1, max_value=10),
)
def test_the_cap_is_never_broken_and_never_waits_longer_than_needed(
    gaps: list[int], limit: int, days: int
) -> None:
    cap = Cap(limit, days)
    sent = [NOW - timedelta(hours=h) for h in gaps]
    free = cap.next_free(sent, NOW)
    window = timedelta(days=days)

    def count(at: datetime) -> int:
        return sum(1 for s in sent if at - window < s <= at)

    assert free >= NOW
    assert count(free) < limit  # one more fits at that moment
    if free > NOW:
        assert count(free - timedelta(seconds=1)) >= limit  # and not a second earlier


def test_quiet_hours_wrap_past_midnight_in_the_customers_zone() -> None:
    quiet = QuietHours(time(21, 0), time(8, 0))
    # 22:30 in Oslo (UTC+1 in January) → 08:00 Oslo the next morning = 07:00 UTC
    evening = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)
    assert quiet.next_waking(evening, "Europe/Oslo") == datetime(2026, 1, 16, 7, 0, tzinfo=UTC)
    # 06:00 in Oslo → 08:00 the same day
    early = datetime(2026, 1, 15, 5, 0, tzinfo=UTC)
    assert quiet.next_waking(early, "Europe/Oslo") == datetime(2026, 1, 15, 7, 0, tzinfo=UTC)
    # midday: unchanged
    assert quiet.next_waking(NOW, "Europe/Oslo") == NOW
    # the same UTC moment is daytime in New York (16:30) and may go at once
    assert quiet.next_waking(evening, "America/New_York") == evening


def test_quiet_hours_across_daylight_saving_changes() -> None:
    quiet = QuietHours(time(1, 0), time(2, 30))  # ends inside the hour the clocks skip
    # Berlin, 29 March 2026: 02:00 → 03:00, so 02:30 does not exist; 01:30 CET = 00:30 UTC
    night = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    woke = quiet.next_waking(night, "Europe/Berlin")
    assert woke.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    # in autumn the 08:00 after a 25-hour day is 07:00 UTC (CET again)
    standard = QuietHours(time(21, 0), time(8, 0))
    late = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)  # 22:00 CEST on the Saturday
    assert standard.next_waking(late, "Europe/Berlin") == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)


def test_no_zone_means_the_shops_zone_and_a_wrong_zone_is_refused() -> None:
    quiet = QuietHours()
    evening = datetime(2026, 1, 15, 22, 0, tzinfo=UTC)
    assert quiet.next_waking(evening, None, default_zone="UTC") == datetime(
        2026, 1, 16, 8, 0, tzinfo=UTC
    )
    with pytest.raises(BadPacing):
        quiet.next_waking(evening, "Mars/Olympus")
    with pytest.raises(BadPacing):
        Cap(0, 7)


def test_send_at_respects_both() -> None:
    sent = [NOW - timedelta(days=6, hours=14), NOW - timedelta(days=1)]
    # the cap frees at NOW + 10 h = 22:00 UTC, quiet in Berlin (23:00) → 08:00 Berlin = 07:00 UTC
    moment = send_at(NOW, sent=sent, zone="Europe/Berlin", cap=Cap(2, 7))
    assert moment == datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
