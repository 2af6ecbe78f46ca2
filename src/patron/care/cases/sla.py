"""SLA policies: how many working hours a case may wait for its first response and resolution.

A policy is chosen by the case's priority and the customer's ABC class (``None`` when the
customer has not been analysed). Policies may name a priority, a class, both or neither; of
those that match a case, the most specific wins: class and priority > priority only > class
only > catch-all. Deadlines count working hours of the service calendar, so a case opened on
Friday evening with 8 hours is due on Monday afternoon, not on Saturday morning.

Built-in policies (working hours, first response / resolution) — A-customers get half::

    priority   class A      classes B, C and unknown
    low        8 / 40       16 / 80
    normal     4 / 20        8 / 40
    high       2 / 8         4 / 16
    urgent     0.5 / 4       1 / 8

PATRON_CARE_SLA_FILE may name a YAML file that replaces them::

    policies:
      - name: key-account urgent   # recorded on the case; at most 64 characters, unique
        priority: urgent           # low, normal, high or urgent; omitted: any priority
        class: A                   # A, B or C; omitted: any class (and customers without one)
        first_response: 0.5        # working hours, >= 0
        resolution: 4              # working hours, >= first_response
      - name: default
        first_response: 8
        resolution: 40

The file must give every priority, for every class and for customers without one, a policy.
Pure: no database, no web.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from patron.care.cases.calendar import ServiceCalendar
from patron.errors import ConfigError

SLA_FILE_SETTING = "PATRON_CARE_SLA_FILE"
PRIORITIES = ("low", "normal", "high", "urgent")  # as patron.care.models.PRIORITIES
CUSTOMER_CLASSES = ("A", "B", "C")
NAME_LENGTH = 64  # cases.sla_policy
_FIELDS = ("name", "priority", "class", "first_response", "resolution")


@dataclass(frozen=True)
class Policy:
    """First response and resolution targets in working hours, for the cases it matches.

    ``priority`` or ``customer_class`` of ``None`` match any.
    """

    name: str
    first_response: float
    resolution: float
    priority: str | None = None
    customer_class: str | None = None

    @property
    def specificity(self) -> int:
        """3 for class and priority, 2 for priority only, 1 for class only, 0 for catch-all."""
        return (2 if self.priority is not None else 0) + (self.customer_class is not None)

    def matches(self, priority: str, customer_class: str | None) -> bool:
        return self.priority in (None, priority) and self.customer_class in (None, customer_class)


Policies = tuple[Policy, ...]


class Deadlines(NamedTuple):
    first_response: datetime
    resolution: datetime


def _defaults() -> Policies:
    hours = {"low": (16.0, 80.0), "normal": (8.0, 40.0), "high": (4.0, 16.0), "urgent": (1.0, 8.0)}
    policies = []
    for priority, (first, resolution) in hours.items():
        policies.append(Policy(priority, first, resolution, priority))
        policies.append(Policy(f"{priority} (A)", first / 2, resolution / 2, priority, "A"))
    return tuple(policies)


DEFAULT_POLICIES = _defaults()


# -- choosing and applying -------------------------------------------------------------------


def policy_for(policies: Iterable[Policy], priority: str, customer_class: str | None) -> Policy:
    """The most specific policy matching a case of ``priority`` for a customer of that class."""
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r} (one of {', '.join(PRIORITIES)})")
    if customer_class is not None and customer_class not in CUSTOMER_CLASSES:
        raise ValueError(f"unknown customer class {customer_class!r} (A, B, C or None)")
    matching = [p for p in policies if p.matches(priority, customer_class)]
    if not matching:
        raise ConfigError(
            f"no SLA policy for priority {priority!r} and class {customer_class or 'none'}",
            details={"setting": SLA_FILE_SETTING},
        )
    return max(matching, key=lambda policy: policy.specificity)


def deadlines(calendar: ServiceCalendar, policy: Policy, opened_at: datetime) -> Deadlines:
    """When a case opened at ``opened_at`` must have its first response and its resolution."""
    return Deadlines(
        first_response=calendar.add_working_time(opened_at, policy.first_response),
        resolution=calendar.add_working_time(opened_at, policy.resolution),
    )


def warning_due(calendar: ServiceCalendar, due: datetime, warn_hours: float) -> datetime:
    """The moment to warn: ``warn_hours`` working hours before ``due``.

    It may lie before the case opened (a warning longer than the whole target); callers warn
    at once then.
    """
    return calendar.subtract_working_time(due, warn_hours)


# -- reading a file --------------------------------------------------------------------------


def load_policies(path: str | Path | None) -> Policies:
    """The policies of the file PATRON_CARE_SLA_FILE names, or the built-in ones when unset."""
    if path is None or str(path) == "":
        return DEFAULT_POLICIES
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{SLA_FILE_SETTING}: cannot read {path}: {error}",
            details={"setting": SLA_FILE_SETTING, "file": str(path)},
        ) from None
    return read_policies(text, source=str(path))


def read_policies(text: str, *, source: str = "SLA policies") -> Policies:
    """Policies from YAML text; anything wrong is a ConfigError naming ``source``, the entry
    (counted from 1) and the field."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise _invalid(source, f"not valid YAML{where}") from None
    entries = _entries(document, source)
    policies = tuple(_policy(entry, number, source) for number, entry in enumerate(entries, 1))
    check_policies(policies, source=source)
    return policies


def check_policies(policies: Sequence[Policy], *, source: str = "SLA policies") -> None:
    """Refuse two policies for the same priority and class, and any case left without one."""
    scopes: dict[tuple[str | None, str | None], int] = {}
    names: dict[str, int] = {}
    for number, policy in enumerate(policies, 1):
        scope = (policy.priority, policy.customer_class)
        if scope in scopes:
            raise _invalid(source, f"matches the same cases as policy {scopes[scope]}", number)
        if policy.name in names:
            problem = f"{policy.name!r} is already the name of policy {names[policy.name]}"
            raise _invalid(source, problem, number, "name")
        scopes[scope], names[policy.name] = number, number
    for priority in PRIORITIES:
        for customer_class in (*CUSTOMER_CLASSES, None):
            if not any(policy.matches(priority, customer_class) for policy in policies):
                whom = f"class {customer_class}" if customer_class else "customers without a class"
                raise _invalid(source, f"no policy for priority {priority!r} and {whom}")


def _entries(document: Any, source: str) -> list[Any]:
    if not isinstance(document, dict) or set(document) != {"policies"}:
        raise _invalid(source, "the file holds one key, 'policies', with a list of policies")
    entries = document["policies"]
    if not isinstance(entries, list) or not entries:
        raise _invalid(source, "'policies' must be a non-empty list")
    return entries


def _policy(entry: Any, number: int, source: str) -> Policy:
    if not isinstance(entry, dict):
        raise _invalid(source, "must be a mapping of name, priority, class, hours", number)
    unknown = [str(key) for key in entry if key not in _FIELDS]
    if unknown:
        known = ", ".join(_FIELDS)
        raise _invalid(source, f"unknown key (known: {known})", number, unknown[0])
    first = _hours(entry, "first_response", number, source)
    resolution = _hours(entry, "resolution", number, source)
    if first > resolution:
        problem = f"{resolution:g} is less than first_response {first:g}"
        raise _invalid(source, problem, number, "resolution")
    return Policy(
        name=_name(entry, number, source),
        first_response=first,
        resolution=resolution,
        priority=_choice(entry, "priority", PRIORITIES, str.lower, number, source),
        customer_class=_choice(entry, "class", CUSTOMER_CLASSES, str.upper, number, source),
    )


def _name(entry: dict[str, Any], number: int, source: str) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_LENGTH:
        problem = f"required: a text of 1 to {NAME_LENGTH} characters"
        raise _invalid(source, problem, number, "name")
    return name.strip()


def _choice(
    entry: dict[str, Any],
    field: str,
    allowed: tuple[str, ...],
    normal: Callable[[str], str],
    number: int,
    source: str,
) -> str | None:
    value = entry.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or normal(value) not in allowed:
        problem = f"unknown {field} {value!r} (one of {', '.join(allowed)}, or omitted for any)"
        raise _invalid(source, problem, number, field)
    return normal(value)


def _hours(entry: dict[str, Any], field: str, number: int, source: str) -> float:
    value = entry.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problem = (
            "required: a number of working hours" if value is None else f"{value!r} is no number"
        )
        raise _invalid(source, problem, number, field)
    if value < 0:
        raise _invalid(source, f"{value} is negative", number, field)
    return float(value)


def _invalid(
    source: str, problem: str, entry: int | None = None, field: str | None = None
) -> ConfigError:
    where = "" if entry is None else f" policy {entry}"
    where += "" if field is None else f", field {field!r}"
    return ConfigError(
        f"{SLA_FILE_SETTING} {source}:{where}{':' if where else ''} {problem}",
        details={"setting": SLA_FILE_SETTING, "file": source, "entry": entry, "field": field},
    )
