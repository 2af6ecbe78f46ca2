"""Contract arithmetic: minimum terms, notice deadlines, renewals, the earliest possible end.

Periods of months follow the German civil code (BGB §187(2), §188(2) and (3)): a term that
starts on a day ends with the day before the corresponding day n months later; where that day
does not exist in the final month, with that month's last day. Pure: no store, no clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from patron.errors import PatronError

# the same calendar step as the delivery rhythm: clamped to the last day of a short month
from patron.subscriptions.schedule import add_months as add_months

MAX_TERM_MONTHS = 120
MAX_NOTICE_DAYS = 730


class InvalidContract(PatronError):
    code = "subscription.bad_contract"
    status = 400


@dataclass(frozen=True)
class Contract:
    """A delivery contract: its start, minimum term and notice period, and how it renews after
    the minimum term (``renewal_months`` 0: it runs on, open-ended, cancellable at notice)."""

    started_on: date
    minimum_term_months: int = 0
    notice_days: int = 0
    renewal_months: int = 0

    def __post_init__(self) -> None:
        _bounded("minimum_term_months", self.minimum_term_months, MAX_TERM_MONTHS)
        _bounded("notice_days", self.notice_days, MAX_NOTICE_DAYS)
        _bounded("renewal_months", self.renewal_months, MAX_TERM_MONTHS)


def _bounded(field: str, value: int, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise InvalidContract(
            f"{field} must be a whole number between 0 and {most}, not {value!r}",
            details={"field": field, "value": value},
        )


def term_end(start: date, months: int) -> date:
    """The last day of a term of ``months`` months starting on ``start`` (BGB §188)."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    if start.day > last:
        return date(year, month + 1, last)
    return date(year, month + 1, start.day) - timedelta(days=1)


def first_term_end(contract: Contract) -> date | None:
    """The end of the minimum term; None for a contract without one."""
    if contract.minimum_term_months == 0:
        return None
    return term_end(contract.started_on, contract.minimum_term_months)


def notice_deadline(term_ends_on: date, notice_days: int) -> date:
    """The last day a cancellation may arrive and still end the contract at ``term_ends_on``."""
    return term_ends_on - timedelta(days=notice_days)


def next_term_end(term_ends_on: date, renewal_months: int) -> date | None:
    """The end of the following term (which starts the day after); None when the contract does
    not renew but runs on open-ended."""
    if renewal_months == 0:
        return None
    return term_end(term_ends_on + timedelta(days=1), renewal_months)


def term_in_force(contract: Contract, on: date) -> date | None:
    """The end of the term running on ``on`` (None: no term, or open-ended by then)."""
    end = first_term_end(contract)
    while end is not None and end < on:
        end = next_term_end(end, contract.renewal_months)
    return end


def earliest_end(contract: Contract, term_ends_on: date | None, asked_on: date) -> date:
    """The last day of delivery when a cancellation arrives on ``asked_on``.

    Within a term, on or before its notice deadline: that term's end; later: the following
    term's end, or, once the contract runs on open-ended, ``asked_on`` plus the notice period but
    never before the term's end. Without any term: ``asked_on`` plus the notice period.
    """
    notice = timedelta(days=contract.notice_days)
    end = term_ends_on
    while end is not None and asked_on > notice_deadline(end, contract.notice_days):
        following = next_term_end(end, contract.renewal_months)
        if following is None:
            return max(asked_on + notice, end)
        end = following
    return end if end is not None else asked_on + notice
