"""Tiers: the window, upgrades at once, grace then downgrade over time, and member progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.errors import PatronError
from patron.loyalty.programme import Tier, Tiers
from patron.loyalty.tiers import (
    Contribution,
    TierState,
    decide,
    progress,
    qualified_for,
    qualifying_value,
    window_start,
)

T0 = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
TIERS = Tiers(
    window_months=12,
    grace_days=90,
    levels=(
        Tier(code="bronze", name="Bronze", threshold=Decimal(0)),
        Tier(code="silver", name="Silver", threshold=Decimal(500), factor=Decimal("1.25")),
        Tier(
            code="gold",
            name="Gold",
            threshold=Decimal(2000),
            factor=Decimal("1.5"),
            benefits=("free shipping",),
        ),
    ),
)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def c(at: datetime, value: int | str) -> Contribution:
    return Contribution(at, Decimal(value))


# --- window and value ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("months", "at", "start"),
    [
        (12, datetime(2025, 6, 15, 12, 0, tzinfo=UTC), datetime(2024, 6, 15, 12, 0, tzinfo=UTC)),
        (1, datetime(2025, 3, 31, 8, 0, tzinfo=UTC), datetime(2025, 2, 28, 8, 0, tzinfo=UTC)),
        (12, datetime(2024, 2, 29, 0, 0, tzinfo=UTC), datetime(2023, 2, 28, 0, 0, tzinfo=UTC)),
        (3, datetime(2025, 1, 10, 0, 0, tzinfo=UTC), datetime(2024, 10, 10, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_window_goes_back_whole_calendar_months(
    months: int, at: datetime, start: datetime
) -> None:
    assert window_start(Tiers(window_months=months), at) == start


def test_qualifying_value_sums_the_window_excluding_its_start() -> None:
    start = window_start(TIERS, T0)
    contributions = [
        c(start, 1000),  # exactly at the start: already out
        c(start + timedelta(seconds=1), 300),
        c(T0, 200),  # at the instant: in
        c(T0 + timedelta(seconds=1), 5000),  # later: not yet
        c(day(-10), "-50.5"),  # a return
    ]
    assert qualifying_value(TIERS, contributions, T0) == Decimal("449.5")
    assert qualifying_value(TIERS, [c(day(-1), 10), c(day(0), -30)], T0) == 0


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0, "bronze"),
        (499, "bronze"),
        (500, "silver"),
        ("1999.99", "silver"),
        (2000, "gold"),
        (9000, "gold"),
    ],
)
def test_the_highest_threshold_reached_qualifies(value: int | str, code: str) -> None:
    tier = qualified_for(TIERS, Decimal(value))
    assert tier is not None
    assert tier.code == code


def test_without_levels_there_is_no_tier() -> None:
    assert qualified_for(Tiers(), Decimal(100)) is None
    assert decide(Tiers(), TierState("gold", T0, None), Decimal(100), T0) == TierState(
        None, None, None
    )


# --- decide --------------------------------------------------------------------------------


def test_a_new_member_gets_the_tier_their_value_reaches() -> None:
    assert decide(TIERS, TierState(None, None, None), Decimal(0), T0) == TierState(
        "bronze", T0, None
    )
    assert decide(TIERS, TierState(None, None, None), Decimal(600), T0) == TierState(
        "silver", T0, None
    )
    # a tier dropped from the programme: placed afresh
    assert decide(TIERS, TierState("vip", day(-99), None), Decimal(600), T0) == TierState(
        "silver", T0, None
    )


def test_upgrades_take_effect_at_once_even_during_a_review() -> None:
    silver = TierState("silver", day(-100), day(30))
    assert decide(TIERS, silver, Decimal(2000), T0) == TierState("gold", T0, None)
    assert decide(TIERS, TierState("bronze", day(-5), None), Decimal(2500), T0) == TierState(
        "gold", T0, None
    )


def test_grace_then_downgrade_over_time() -> None:
    gold = TierState("gold", day(-200), None)

    # the value falls to 600: the member keeps gold for 90 days
    reviewed = decide(TIERS, gold, Decimal(600), T0)
    assert reviewed == TierState("gold", day(-200), day(90))
    # the same state, looked at again during the grace period, does not change
    assert decide(TIERS, reviewed, Decimal(600), day(30)) == reviewed
    assert decide(TIERS, reviewed, Decimal(600), day(89.99)) == reviewed
    # at the review: down to what the value then reaches
    assert decide(TIERS, reviewed, Decimal(600), day(90)) == TierState("silver", day(90), None)
    # a value that fell further drops several levels at once, at a late evaluation too
    assert decide(TIERS, reviewed, Decimal(100), day(120)) == TierState("bronze", day(120), None)


def test_requalifying_during_grace_cancels_the_review() -> None:
    reviewed = TierState("gold", day(-200), day(90))
    kept = decide(TIERS, reviewed, Decimal(2000), day(40))
    assert kept == TierState("gold", day(-200), None)
    # falling short again later starts a fresh grace period
    assert decide(TIERS, kept, Decimal(10), day(50)) == TierState("gold", day(-200), day(140))


def test_without_grace_a_downgrade_is_immediate() -> None:
    tiers = TIERS.model_copy(update={"grace_days": 0})
    assert decide(tiers, TierState("gold", day(-9), None), Decimal(600), T0) == TierState(
        "silver", T0, None
    )


def test_decide_refuses_naive_instants() -> None:
    with pytest.raises(PatronError, match="timezone-aware"):
        decide(TIERS, TierState(None, None, None), Decimal(0), datetime(2025, 1, 1))


# --- progress ------------------------------------------------------------------------------


def test_progress_shows_what_the_next_tier_needs_and_by_when() -> None:
    contributions = [
        c(datetime(2024, 9, 1, 10, 0, tzinfo=UTC), 300),
        c(day(-30), 150),
        c(day(-1), -20),
    ]
    shown = progress(TIERS, TierState("bronze", day(-300), None), contributions, T0)

    assert shown.tier is not None
    assert shown.next_tier is not None
    assert (shown.tier.code, shown.value, shown.next_tier.code, shown.missing) == (
        "bronze",
        Decimal(430),
        "silver",
        Decimal(70),
    )
    assert shown.by == datetime(2025, 9, 1, 10, 0, tzinfo=UTC)  # the 300 drop out then
    assert (shown.keep_until, shown.needed_to_keep) == (None, None)


def test_progress_by_respects_months_without_that_day() -> None:
    tiers = Tiers(window_months=1, levels=TIERS.levels)
    at = datetime(2025, 2, 10, tzinfo=UTC)
    shown = progress(
        tiers, TierState("bronze", at, None), [c(datetime(2025, 1, 31, 10, 0, tzinfo=UTC), 100)], at
    )

    # it still counts on 28 February (window from 28 January), no longer on 1 March
    assert shown.by == datetime(2025, 3, 1, tzinfo=UTC)
    assert (
        qualifying_value(
            tiers,
            [c(datetime(2025, 1, 31, 10, 0, tzinfo=UTC), 100)],
            datetime(2025, 2, 28, 23, 59, tzinfo=UTC),
        )
        == 100
    )
    assert (
        qualifying_value(tiers, [c(datetime(2025, 1, 31, 10, 0, tzinfo=UTC), 100)], shown.by) == 0
    )


def test_progress_during_grace_shows_what_keeping_the_tier_needs() -> None:
    state = TierState("gold", day(-200), day(60))
    shown = progress(TIERS, state, [c(day(-100), 1800)], T0)

    assert shown.next_tier is None
    assert (shown.missing, shown.by) == (None, None)
    assert (shown.keep_until, shown.needed_to_keep) == (day(60), Decimal(200))


def test_progress_with_nothing_in_the_window() -> None:
    shown = progress(TIERS, TierState(None, None, None), [c(day(-400), 900)], T0)
    assert shown.tier is None
    assert shown.next_tier is not None
    assert (shown.value, shown.next_tier.code, shown.missing, shown.by) == (0, "bronze", 0, None)


def test_the_rules_state_every_threshold_benefit_window_and_grace() -> None:
    rules = progress(TIERS, TierState("bronze", T0, None), [], T0).rules
    assert rules == (
        "Bronze: open to every member",
        "Silver: 500 points earned in the last 12 months; earns 1.25× points",
        "Gold: 2,000 points earned in the last 12 months; earns 1.5× points; free shipping",
        "Points earned from purchases and bonuses, less returns, count for the last 12 months; "
        "reaching a higher tier upgrades at once.",
        "A member below their tier's threshold keeps the tier for 90 more days, then moves to "
        "the tier their value reaches.",
    )
    spend = TIERS.model_copy(update={"qualify_on": "spend", "window_months": 1, "grace_days": 0})
    spend_rules = progress(spend, TierState(None, None, None), [], T0, currency="EUR").rules
    assert spend_rules[2].startswith("Gold: 2,000 EUR of earnable spend in the last month;")
    assert spend_rules[-1] == (
        "A member below their tier's threshold moves at once to the tier their value reaches."
    )
    assert progress(Tiers(), TierState(None, None, None), [], T0).rules == ()


# --- invariants ----------------------------------------------------------------------------

codes = st.sampled_from([None, "bronze", "silver", "gold"])
values = st.decimals(min_value=0, max_value=5000, places=2)


@settings(max_examples=200, deadline=None)
@given(
    code=codes, value=values, review=st.none() | st.integers(-200, 200), at=st.integers(-100, 400)
)
def test_decide_never_keeps_more_than_the_value_earns_without_a_pending_review(
    code: str | None, value: Decimal, review: int | None, at: int
) -> None:
    state = TierState(code, day(-500) if code else None, None if review is None else day(review))
    decided = decide(TIERS, state, value, day(at))
    qualified = qualified_for(TIERS, value)
    assert qualified is not None
    assert decided.code is not None

    rank = [t.code for t in TIERS.levels]
    assert rank.index(decided.code) >= rank.index(qualified.code)
    if decided.code != qualified.code:
        assert decided.code == code
        assert decided.review_at is not None
        assert decided.review_at > day(at)
    else:
        assert decided.review_at is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-800, 0), st.integers(-500, 1000)), max_size=8))
def test_the_qualifying_value_is_never_negative(items: list[tuple[int, int]]) -> None:
    assert qualifying_value(TIERS, [c(day(d), v) for d, v in items], T0) >= 0
