"""A case's clock: its deadlines from the SLA policy, and how it stands against the next one.

The service calendar and the SLA policies come from the settings (``care_hours``,
``care_holidays``, ``care_closed_days``, ``timezone``, ``care_sla_file``) and are built once per
distinct setting. A case's *next* deadline is its first-response deadline until somebody
answered the customer, then its resolution deadline; it is *at risk* within ``care_warn_hours``
working hours of it, and *breached* once it has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from patron.care.cases import sla
from patron.care.cases.calendar import ServiceCalendar
from patron.care.models import OPEN_STATUSES, Case
from patron.config import Settings

AT_RISK = "at_risk"
BREACHED = "breached"
OK = "ok"
NONE = "none"
CLASSES = ("A", "B", "C")


@dataclass(frozen=True)
class Deadlines:
    policy: str | None
    first_response_due: datetime | None
    resolution_due: datetime | None


@dataclass(frozen=True)
class Standing:
    """Where a case stands: its next deadline, at risk / breached / ok, working hours left."""

    due_at: datetime | None
    state: str
    hours_left: float | None


def calendar(settings: Settings) -> ServiceCalendar:
    return _calendar(
        settings.care_hours, settings.care_holidays, settings.care_closed_days, settings.timezone
    )


@lru_cache(maxsize=8)
def _calendar(hours: str, holidays: str, closed_days: str, timezone: str) -> ServiceCalendar:
    return ServiceCalendar.from_settings(hours, holidays, closed_days, timezone)


@lru_cache(maxsize=8)
def _policies(path: str | None) -> tuple[sla.Policy, ...]:
    return tuple(sla.load_policies(path))


def policy(settings: Settings, *, priority: str, customer_class: str | None) -> sla.Policy:
    """The SLA policy of the shop's settings for a priority and an ABC class (an unknown class
    counts as none)."""
    known = customer_class if customer_class in CLASSES else None
    return sla.policy_for(_policies(settings.care_sla_file), priority, known)


def deadlines(
    settings: Settings, *, priority: str, customer_class: str | None, opened_at: datetime
) -> Deadlines:
    """The policy a new case gets (by priority and the customer's ABC class) and its deadlines,
    counted in the calendar's working hours from ``opened_at``."""
    chosen = policy(settings, priority=priority, customer_class=customer_class)
    due = sla.deadlines(calendar(settings), chosen, opened_at)
    return Deadlines(chosen.name, due.first_response, due.resolution)


def next_due(case: Case) -> tuple[str, datetime] | None:
    """``("first_response" | "resolution", due)`` of an open case's next deadline."""
    if case.status not in OPEN_STATUSES:
        return None
    if case.first_response_at is None and case.first_response_due is not None:
        return "first_response", case.first_response_due
    if case.resolution_due is not None:
        return "resolution", case.resolution_due
    return None


def standing(case: Case, *, settings: Settings, now: datetime) -> Standing:
    found = next_due(case)
    if found is None:
        return Standing(None, NONE, None)
    due = found[1]
    cal = calendar(settings)
    if due <= now:
        late = cal.working_time_between(due, now).total_seconds() / 3600
        return Standing(due, BREACHED, -late)
    left = cal.working_time_between(now, due).total_seconds() / 3600
    return Standing(due, AT_RISK if left <= settings.care_warn_hours else OK, left)


def warning_horizon(settings: Settings, now: datetime) -> datetime:
    """Deadlines at or before this moment are within the warning time: ``care_warn_hours``
    working hours from now."""
    return calendar(settings).add_working_time(now, settings.care_warn_hours)
