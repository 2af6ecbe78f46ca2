"""Contract arithmetic after BGB §188: term ends, notice deadlines, renewals, the earliest end."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.subscriptions import terms
from patron.subscriptions.terms import Contract, InvalidContract


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2025, 3, 15), 12, date(2026, 3, 14)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 3, 1), 1, date(2025, 3, 31)),
        (date(2025, 1, 1), 12, date(2025, 12, 31)),
        (date(2025, 1, 30), 1, date(2025, 2, 28)),  # 30 Feb does not exist: the month's end
        (date(2025, 1, 29), 1, date(2025, 2, 28)),  # 29 Feb does not exist in 2025
        (date(2024, 1, 29), 1, date(2024, 2, 28)),  # …but does in 2024: the day before
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # from a leap day, a year on
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 11, 15), 3, date(2026, 2, 14)),  # across the year end
    ],
)
def test_term_end(start: date, months: int, end: date) -> None:
    assert terms.term_end(start, months) == end


def test_add_months_clamps_to_the_month_end() -> None:
    assert terms.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert terms.add_months(date(2025, 12, 31), 2) == date(2026, 2, 28)
    assert terms.add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)


def test_first_term_end_and_none_without_a_minimum_term() -> None:
    assert terms.first_term_end(Contract(date(2025, 3, 15), 12, 30, 3)) == date(2026, 3, 14)
    assert terms.first_term_end(Contract(date(2025, 3, 15), 0, 14, 0)) is None


def test_notice_deadline_and_renewal() -> None:
    assert terms.notice_deadline(date(2026, 3, 14), 30) == date(2026, 2, 12)
    assert terms.notice_deadline(date(2026, 3, 14), 0) == date(2026, 3, 14)
    assert terms.next_term_end(date(2026, 3, 14), 3) == date(2026, 6, 14)
    assert terms.next_term_end(date(2026, 2, 28), 1) == date(2026, 3, 31)  # from 1 March
    assert terms.next_term_end(date(2026, 3, 14), 0) is None


YEARLY = Contract(date(2025, 3, 15), 12, 30, 12)  # first term ends 14 Mar 2026, deadline 12 Feb


def test_asked_on_the_deadline_ends_at_the_term_end() -> None:
    assert terms.earliest_end(YEARLY, date(2026, 3, 14), date(2026, 2, 12)) == date(2026, 3, 14)


def test_asked_the_day_after_the_deadline_runs_another_term() -> None:
    assert terms.earliest_end(YEARLY, date(2026, 3, 14), date(2026, 2, 13)) == date(2027, 3, 14)


def test_asked_early_in_the_term_ends_at_the_term_end() -> None:
    assert terms.earliest_end(YEARLY, date(2026, 3, 14), date(2025, 3, 16)) == date(2026, 3, 14)


def test_a_stale_term_end_rolls_forward_through_renewals() -> None:
    # the worker has not renewed yet: asked in 2027 of a term that ended in 2026
    assert terms.earliest_end(YEARLY, date(2026, 3, 14), date(2027, 1, 5)) == date(2027, 3, 14)
    assert terms.earliest_end(YEARLY, date(2026, 3, 14), date(2027, 2, 13)) == date(2028, 3, 14)


def test_open_ended_after_the_minimum_term_ends_at_notice_but_not_before_the_term() -> None:
    contract = Contract(date(2025, 3, 15), 12, 30, 0)
    term = date(2026, 3, 14)
    assert terms.earliest_end(contract, term, date(2026, 2, 12)) == term  # on the deadline
    assert terms.earliest_end(contract, term, date(2026, 2, 13)) == date(2026, 3, 15)
    assert terms.earliest_end(contract, None, date(2026, 6, 1)) == date(2026, 7, 1)


def test_without_any_term_asked_on_plus_notice() -> None:
    contract = Contract(date(2025, 3, 15), 0, 14, 0)
    assert terms.earliest_end(contract, None, date(2025, 4, 1)) == date(2025, 4, 15)


def test_zero_notice_ends_on_the_term_end_even_when_asked_that_day() -> None:
    contract = Contract(date(2025, 1, 1), 3, 0, 3)
    assert terms.earliest_end(contract, date(2025, 3, 31), date(2025, 3, 31)) == date(2025, 3, 31)
    assert terms.earliest_end(contract, date(2025, 3, 31), date(2025, 4, 1)) == date(2025, 6, 30)
    assert terms.earliest_end(Contract(date(2025, 1, 1)), None, date(2025, 2, 3)) == date(
        2025, 2, 3
    )


def test_term_in_force() -> None:
    contract = Contract(date(2025, 1, 31), 1, 7, 1)
    assert terms.term_in_force(contract, date(2025, 2, 10)) == date(2025, 2, 28)
    assert terms.term_in_force(contract, date(2025, 3, 1)) == date(2025, 3, 31)
    assert terms.term_in_force(Contract(date(2025, 1, 31), 1, 7, 0), date(2025, 3, 1)) is None


@pytest.mark.parametrize(
    "fields", [{"minimum_term_months": -1}, {"notice_days": 731}, {"renewal_months": 121}]
)
def test_a_contract_out_of_bounds_is_refused(fields: dict[str, int]) -> None:
    with pytest.raises(InvalidContract) as refused:
        Contract(date(2025, 1, 1), **fields)
    assert refused.value.details["field"] == next(iter(fields))


starts = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
contracts = st.builds(Contract, starts, st.integers(0, 36), st.integers(0, 120), st.integers(0, 24))


@given(starts, st.integers(1, 60))
def test_a_term_lasts_about_its_months(start: date, months: int) -> None:
    end = terms.term_end(start, months)
    assert end >= start
    # the next term starts the day after, on the same day of the month unless clamped
    following = end + timedelta(days=1)
    assert following.day == start.day or following.day == 1


@given(contracts, st.integers(0, 2000))
def test_earliest_end_never_lies_before_the_asking_day(contract: Contract, later: int) -> None:
    asked = contract.started_on + timedelta(days=later)
    term = terms.first_term_end(contract)
    assert terms.earliest_end(contract, term, asked) >= asked


@given(contracts)
def test_asking_on_the_deadline_ends_at_the_current_term(contract: Contract) -> None:
    term = terms.first_term_end(contract)
    if term is None:
        return
    deadline = terms.notice_deadline(term, contract.notice_days)
    assert terms.earliest_end(contract, term, deadline) == term
    later = terms.earliest_end(contract, term, deadline + timedelta(days=1))
    assert later > term
    assert later - (deadline + timedelta(days=1)) >= timedelta(days=contract.notice_days)
