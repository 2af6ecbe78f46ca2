"""When a marketing message may go out: a per-customer frequency cap and quiet hours kept in
the customer's own time zone.

- **Frequency cap**: at most ``limit`` marketing messages in any ``days`` days (default 2 in
  7). ``next_free`` says from when the next one fits, given the times of those already sent.
- **Quiet hours**: nothing between ``start`` and ``end`` local time (default 21:00–08:00,
  which wraps past midnight). ``next_waking`` moves a moment out of them, on the local clock,
  across daylight-saving changes (a 08:00 that does not exist is the first minute after it).

Transactional messages (an order confirmation, a double opt-in link) are not paced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patron.errors import PatronError


class BadPacing(PatronError):
    code = "engage.bad_pacing"
    status = 422


@dataclass(frozen=True)
class Cap:
    limit: int = 2
    days: int = 7

    def __post_init__(self) -> None:
        if self.limit < 1 or self.days < 1:
            raise BadPacing("A frequency cap needs at least one message in at least one day.")

    def next_free(self, sent: Iterable[datetime], now: datetime) -> datetime:
        """The earliest moment from ``now`` at which one more message keeps within the cap."""
        window = timedelta(days=self.days)
        recent = sorted(moment for moment in sent if moment > now - window)
        if len(recent) < self.limit:
            return now
        # the oldest message that must leave the window before another fits
        leaving = recent[len(recent) - self.limit]
        return leaving + window


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(8, 0)

    def is_quiet(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # wraps past midnight

    def next_waking(
        self, moment: datetime, zone: str | None, *, default_zone: str = "UTC"
    ) -> datetime:
        """``moment`` (aware) if it is outside the quiet hours in ``zone``, else the end of
        them; returned in UTC."""
        tz = _zone(zone or default_zone)
        local = moment.astimezone(tz)
        if not self.is_quiet(local.time().replace(tzinfo=None)):
            return moment.astimezone(UTC)
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)
        wake = datetime.combine(day, self.end, tzinfo=tz)
        # a wall-clock time skipped by a daylight-saving change does not exist: the next
        # existing minute is what the clock shows after the jump
        wake = wake.astimezone(UTC).astimezone(tz)
        return wake.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadPacing(f"Unknown time zone {name!r} (expected e.g. Europe/Berlin).") from None


def send_at(
    now: datetime,
    *,
    sent: Iterable[datetime],
    zone: str | None,
    cap: Cap | None = None,
    quiet: QuietHours | None = None,
    default_zone: str = "UTC",
) -> datetime:
    """The earliest moment a marketing message may go to this customer: within the cap and
    outside their quiet hours (moving out of quiet hours never breaks the cap, since it only
    moves later)."""
    cap = cap or Cap()
    quiet = quiet or QuietHours()
    sent = list(sent)
    moment = cap.next_free(sent, now)
    return quiet.next_waking(moment, zone, default_zone=default_zone)
