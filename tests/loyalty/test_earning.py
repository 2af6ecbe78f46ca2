"""Earning rules: hand-worked purchases per rule, lot dates, return shares, and invariants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.errors import PatronError
from patron.loyalty.earning import (
    Earned,
    LinePoints,
    Member,
    PurchaseError,
    PurchaseLine,
    amount_share,
    cap_period_start,
    expires_at,
    points_for,
    return_share,
    vests_at,
)
from patron.loyalty.programme import Cap, Expiry, Lots, ProgrammeSpec, read_spec

AT = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)  # a Wednesday
TIERS = {
    "levels": [
        {"code": "bronze", "name": "Bronze", "threshold": 0},
        {"code": "gold", "name": "Gold", "threshold": 2000, "factor": "1.5"},
    ]
}


def spec(**parts: Any) -> ProgrammeSpec:
    return read_spec({"code": "club", "name": "Club", "currency": "EUR", "tiers": TIERS, **parts})


def earn(
    programme: ProgrammeSpec,
    *amounts: str | PurchaseLine,
    member: Member | None = None,
    at: datetime = AT,
    first_purchase: bool = False,
    earned_this_period: int = 0,
) -> Earned:
    lines = [a if isinstance(a, PurchaseLine) else PurchaseLine(Decimal(a)) for a in amounts]
    return points_for(
        programme,
        lines,
        member=member or Member(),
        at=at,
        first_purchase=first_purchase,
        earned_this_period=earned_this_period,
    )


# --- rounding ------------------------------------------------------------------------------


def test_floor_rounds_the_order_down_and_says_so() -> None:
    earned = earn(spec(), "12.40")

    assert (earned.spend, earned.exact, earned.points, earned.capped) == (
        Decimal("12.40"),
        Decimal("12.40"),
        12,
        0,
    )
    assert earned.reasons == (
        "12 points: 12.40 EUR earnable spend × 1 point per EUR, rounded down",
    )


@pytest.mark.parametrize(("amount", "points"), [("9.50", 10), ("9.49", 9), ("9.99", 10)])
def test_half_up_rounds_halves_up(amount: str, points: int) -> None:
    earned = earn(spec(earning={"rounding": "half_up"}), amount)
    assert earned.points == points
    assert earned.reasons[-1].endswith("rounded half up")


def test_rounding_happens_once_per_order_not_per_line() -> None:
    earned = earn(spec(), "0.60", "0.60", "0.60")  # per line: 0 + 0 + 0
    assert earned.points == 1


def test_the_rate_scales_the_spend() -> None:
    earned = earn(spec(earning={"points_per_unit": "2.5"}), "10.30")
    assert (earned.exact, earned.points) == (Decimal("25.75"), 25)
    assert earned.reasons[-1] == (
        "25 points: 10.30 EUR earnable spend × 2.5 points per EUR = 25.75, rounded down"
    )


# --- lines ---------------------------------------------------------------------------------


def test_the_highest_matching_multiplier_wins_per_line() -> None:
    programme = spec(
        earning={
            "multipliers": [
                {"category": "books", "factor": "2"},
                {"sku": "B-1", "factor": "3"},
                {"category": "toys", "factor": "0.5"},
            ]
        }
    )
    earned = earn(
        programme,
        PurchaseLine(Decimal("10"), sku="B-1", category="books"),  # 3, not 2 and not 6
        PurchaseLine(Decimal("10"), sku="B-2", category="books"),  # 2
        PurchaseLine(Decimal("10"), category="toys"),  # 0.5: a multiplier may lower
        PurchaseLine(Decimal("10"), category="food"),  # 1
    )

    assert [(lp.factor, lp.exact) for lp in earned.lines] == [
        (Decimal(3), Decimal(30)),
        (Decimal(2), Decimal(20)),
        (Decimal("0.5"), Decimal(5)),
        (Decimal(1), Decimal(10)),
    ]
    assert (earned.spend, earned.points) == (Decimal(40), 65)
    assert "line 1 earns 3× points (sku B-1)" in earned.reasons
    assert "line 3 earns 0.5× points (category toys)" in earned.reasons
    assert earned.reasons[-1] == (
        "65 points: 40 EUR earnable spend × 1 point per EUR, 65 with line multipliers = 65"
    )


def test_only_earnable_kinds_earn_and_other_lines_may_be_negative() -> None:
    earned = earn(
        spec(),
        PurchaseLine(Decimal("20.00")),
        PurchaseLine(Decimal("4.90"), kind="shipping"),
        PurchaseLine(Decimal("-5.00"), kind="voucher"),
        PurchaseLine(Decimal("7.50"), kind="service"),
    )

    assert [lp.earnable for lp in earned.lines] == [True, False, False, True]
    assert [lp.exact for lp in earned.lines][1:3] == [Decimal(0), Decimal(0)]
    assert (earned.spend, earned.points) == (Decimal("27.50"), 27)
    assert "line 2 (shipping) earns no points" in earned.reasons

    shipping_earns = spec(earning={"earnable_kinds": ["product", "shipping"]})
    assert earn(shipping_earns, PurchaseLine(Decimal("4.90"), kind="shipping")).points == 4


def test_bad_lines_are_refused_naming_the_line() -> None:
    with pytest.raises(PurchaseError, match=r"lines\[1\].*negative"):
        earn(spec(), "5", "-1")
    with pytest.raises(PurchaseError, match=r"lines\[0\]: unknown kind 'tip'"):
        earn(spec(), PurchaseLine(Decimal(1), kind="tip"))
    with pytest.raises(PurchaseError, match=r"lines\[0\] amount is a Decimal"):
        earn(spec(), PurchaseLine(9.99))  # type: ignore[arg-type]
    with pytest.raises(PurchaseError, match="finite"):
        earn(spec(), "NaN")


def test_minimum_order_counts_only_earnable_spend() -> None:
    programme = spec(earning={"minimum_order": "10.00"})
    short = earn(programme, "9.99", PurchaseLine(Decimal("5"), kind="shipping"))

    assert (short.points, short.exact) == (0, Decimal("9.99"))
    assert short.reasons[-1] == (
        "0 points: 9.99 EUR earnable spend is below the minimum order of 10.00 EUR"
    )
    assert earn(programme, "10.00").points == 10


def test_a_purchase_without_earnable_spend_earns_nothing() -> None:
    earned = earn(spec(), PurchaseLine(Decimal("4.90"), kind="shipping"))
    assert (earned.spend, earned.points) == (Decimal(0), 0)
    assert earned.reasons[-1] == "0 points: nothing in this purchase earns points"


# --- order factors -------------------------------------------------------------------------


def test_tier_birthday_and_promotion_factors_multiply() -> None:
    programme = spec(
        bonuses={"birthday_month_factor": "2"},
        promotions=[
            {
                "code": "spring",
                "name": "Spring",
                "starts": "2025-03-01",
                "ends": "2025-03-31",
                "factor": "2",
            }
        ],
    )
    member = Member(tier="gold", birthday=date(1990, 3, 30))
    earned = earn(programme, "10.10", member=member)

    assert earned.factors == (
        ("tier gold", Decimal("1.5")),
        ("birthday month", Decimal(2)),
        ("promotion spring", Decimal(2)),
    )
    assert (earned.exact, earned.points) == (Decimal("60.6"), 60)
    assert earned.reasons[-1] == (
        "60 points: 10.10 EUR earnable spend × 1 point per EUR × 1.5 (tier gold) "
        "× 2 (birthday month) × 2 (promotion spring) = 60.6, rounded down"
    )


def test_factors_of_one_and_unknown_tiers_are_not_listed() -> None:
    earned = earn(spec(), "10", member=Member(tier="bronze", birthday=date(2000, 3, 1)))
    assert earned.factors == ()
    assert earn(spec(), "10", member=Member(tier="platinum")).factors == ()


def test_the_birthday_month_is_read_in_utc() -> None:
    programme = spec(bonuses={"birthday_month_factor": "2"})
    member = Member(birthday=date(1990, 3, 15))
    berlin = timezone(timedelta(hours=2))

    assert (
        earn(programme, "10", member=member, at=datetime(2025, 3, 31, 23, 30, tzinfo=UTC)).points
        == 20
    )
    # 1 April 00:30 in Berlin is still 31 March in UTC
    assert (
        earn(programme, "10", member=member, at=datetime(2025, 4, 1, 0, 30, tzinfo=berlin)).points
        == 20
    )
    assert (
        earn(programme, "10", member=member, at=datetime(2025, 4, 1, 0, 30, tzinfo=UTC)).points
        == 10
    )
    assert earn(programme, "10", member=Member(), at=AT).points == 10


def promotion(code: str, factor: str, **filters: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": code.title(),
        "starts": "2025-03-10",
        "ends": "2025-03-12",
        "factor": factor,
        **filters,
    }


@pytest.mark.parametrize(
    ("at", "factor"),
    [
        (datetime(2025, 3, 9, 23, 59, tzinfo=UTC), None),
        (datetime(2025, 3, 10, 0, 0, tzinfo=UTC), Decimal(2)),
        (datetime(2025, 3, 12, 23, 59, tzinfo=UTC), Decimal(2)),
        (datetime(2025, 3, 13, 0, 0, tzinfo=UTC), None),
    ],
)
def test_promotions_run_from_their_first_to_their_last_day(
    at: datetime, factor: Decimal | None
) -> None:
    earned = earn(spec(promotions=[promotion("p", "2")]), "10", at=at)
    assert dict(earned.factors).get("promotion p") == factor


def test_promotion_filters_must_all_match_and_the_highest_applies() -> None:
    programme = spec(
        promotions=[
            promotion("gold-a", "3", tiers=["gold"], abc_classes=["A"]),
            promotion("gold", "2", tiers=["gold"]),
            promotion("winback", "4", rfm_segments=["at_risk"], lifecycle_phases=["lapsing"]),
        ]
    )

    def factors(member: Member) -> dict[str, Decimal]:
        return dict(earn(programme, "10", member=member).factors)

    assert factors(Member(tier="gold", abc_class="A")) == {
        "tier gold": Decimal("1.5"),
        "promotion gold-a": Decimal(3),
    }
    assert factors(Member(tier="gold", abc_class="B"))["promotion gold"] == Decimal(2)
    assert factors(Member(abc_class="A")) == {}  # no tier: a tier filter does not match
    assert factors(Member(rfm_segment="at_risk")) == {}  # one filter of two
    assert factors(Member(rfm_segment="at_risk", lifecycle_phase="lapsing")) == {
        "promotion winback": Decimal(4)
    }


# --- cap and bonus -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earned_before", "points", "capped"), [(0, 25, 0), (75, 25, 0), (90, 10, 15), (120, 0, 25)]
)
def test_the_cap_limits_points_within_its_period(
    earned_before: int, points: int, capped: int
) -> None:
    programme = spec(earning={"cap": {"points": 100, "period": "month"}})
    earned = earn(programme, "25", earned_this_period=earned_before)
    assert (earned.points, earned.capped) == (points, capped)
    if capped:
        assert earned.reasons[-1].startswith(
            f"capped at 100 points per month: {earned_before} already"
        )


def test_the_cap_refuses_a_negative_history() -> None:
    with pytest.raises(PurchaseError, match="earned_this_period"):
        earn(spec(), "1", earned_this_period=-1)


@pytest.mark.parametrize(
    ("period", "at", "start"),
    [
        ("day", datetime(2025, 3, 12, 15, 30, tzinfo=UTC), datetime(2025, 3, 12, tzinfo=UTC)),
        ("week", datetime(2025, 3, 12, 15, 30, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC)),
        ("week", datetime(2025, 3, 10, 0, 0, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC)),
        ("week", datetime(2025, 3, 16, 23, 59, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC)),
        # ISO week 1 of 2026 starts on Monday 29 December 2025
        ("week", datetime(2026, 1, 1, 9, 0, tzinfo=UTC), datetime(2025, 12, 29, tzinfo=UTC)),
        ("month", datetime(2025, 3, 31, 23, 59, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)),
        ("year", datetime(2025, 12, 31, 23, 59, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
        # 1 March 00:30 at UTC+2 is still February in UTC
        (
            "month",
            datetime(2025, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 2, 1, tzinfo=UTC),
        ),
    ],
)
def test_cap_periods_are_utc_calendar_periods(period: str, at: datetime, start: datetime) -> None:
    found = cap_period_start(Cap(points=1, period=period), at)
    assert found == start
    assert found.tzinfo is UTC


def test_the_first_purchase_bonus_ignores_the_minimum_and_the_cap() -> None:
    programme = spec(
        earning={"minimum_order": "50", "cap": {"points": 10, "period": "day"}},
        bonuses={"first_purchase": 100},
    )
    small = earn(programme, "20", first_purchase=True)
    assert (small.points, small.first_purchase_bonus) == (0, 100)
    assert small.reasons[-1] == "100 bonus points for the first purchase"

    big = earn(programme, "80", first_purchase=True, earned_this_period=10)
    assert (big.points, big.capped, big.first_purchase_bonus) == (0, 80, 100)
    assert earn(programme, "80", first_purchase=False).first_purchase_bonus == 0


def test_naive_instants_are_refused() -> None:
    with pytest.raises(PatronError, match="timezone-aware") as error:
        earn(spec(), "1", at=datetime(2025, 3, 1))
    assert error.value.code == "loyalty.naive_time"


# --- lots: vesting and expiry --------------------------------------------------------------


def test_points_vest_after_the_return_window() -> None:
    assert vests_at(Lots(vesting_days=14), AT) == AT + timedelta(days=14)
    assert vests_at(Lots(vesting_days=0), AT) == AT


@pytest.mark.parametrize(
    ("months", "earned", "expires"),
    [
        (24, datetime(2025, 3, 15, 10, 0, tzinfo=UTC), datetime(2027, 3, 15, 10, 0, tzinfo=UTC)),
        (1, datetime(2025, 1, 31, 10, 0, tzinfo=UTC), datetime(2025, 2, 28, 10, 0, tzinfo=UTC)),
        (1, datetime(2024, 1, 31, 10, 0, tzinfo=UTC), datetime(2024, 2, 29, 10, 0, tzinfo=UTC)),
        (12, datetime(2024, 2, 29, 8, 0, tzinfo=UTC), datetime(2025, 2, 28, 8, 0, tzinfo=UTC)),
        (3, datetime(2025, 11, 30, 0, 0, tzinfo=UTC), datetime(2026, 2, 28, 0, 0, tzinfo=UTC)),
    ],
)
def test_rolling_expiry_keeps_the_day_of_month_or_the_months_end(
    months: int, earned: datetime, expires: datetime
) -> None:
    lots = Lots(expiry=Expiry(policy="rolling_months", months=months))
    assert expires_at(lots, earned) == expires


@pytest.mark.parametrize(
    ("years", "expires"),
    [(0, datetime(2026, 1, 1, tzinfo=UTC)), (1, datetime(2027, 1, 1, tzinfo=UTC))],
)
def test_end_of_year_expiry_ends_with_the_year_n_years_later(years: int, expires: datetime) -> None:
    lots = Lots(expiry=Expiry(policy="end_of_year", years=years))
    assert expires_at(lots, datetime(2025, 6, 1, 12, 0, tzinfo=UTC)) == expires
    assert expires_at(lots, datetime(2025, 12, 31, 23, 59, tzinfo=UTC)) == expires


def test_points_may_never_expire() -> None:
    assert expires_at(Lots(expiry=Expiry(policy="never")), AT) is None


# --- return shares -------------------------------------------------------------------------


def lines_of(*exacts: str) -> list[LinePoints]:
    return [
        LinePoints(
            i, Decimal(e) > 0, Decimal(e), Decimal(1) if Decimal(e) else Decimal(0), Decimal(e)
        )
        for i, e in enumerate(exacts)
    ]


def test_return_share_is_the_exact_share_of_the_lines_points() -> None:
    lines = lines_of("0.10", "0.20", "0")

    assert return_share(lines, {0: Decimal(1)}) == Fraction(1, 3)
    assert return_share(lines, {1: Decimal("0.5")}) == Fraction(1, 3)
    assert return_share(lines, {0: Decimal(1), 1: Decimal(1)}) == 1
    assert return_share(lines, {2: Decimal(1)}) == 0  # the shipping line carried no points


def test_return_share_uses_the_priced_lines_of_a_purchase() -> None:
    programme = spec(earning={"multipliers": [{"sku": "X", "factor": "3"}]})
    earned = earn(programme, PurchaseLine(Decimal(10), sku="X"), "10")
    assert return_share(earned.lines, {0: Decimal(1)}) == Fraction(3, 4)


def test_return_share_refuses_what_it_cannot_price() -> None:
    lines = lines_of("10", "30")
    with pytest.raises(PurchaseError, match=r"lines\[2\] is not a line") as unknown:
        return_share(lines, {2: Decimal(1)})
    assert unknown.value.code == "loyalty.invalid_return"
    for bad in (Decimal(0), Decimal("1.01"), Decimal(-1)):
        with pytest.raises(PurchaseError, match=r"lines\[0\]: a returned share"):
            return_share(lines, {0: bad})
    with pytest.raises(PurchaseError, match="Decimal, Fraction or int"):
        return_share(lines, {0: 0.5})  # type: ignore[dict-item]
    with pytest.raises(PurchaseError, match="earned no points"):
        return_share(lines_of("0"), {0: Decimal(1)})


def test_amount_share_is_exact_and_bounded() -> None:
    assert amount_share(Decimal("30.00"), Decimal("10.00")) == Fraction(1, 3)
    assert amount_share(Decimal("30.00"), Decimal("30.00")) == 1
    for bad in (Decimal(0), Decimal("-1"), Decimal("30.01")):
        with pytest.raises(PurchaseError, match="at most the earnable spend"):
            amount_share(Decimal("30.00"), bad)
    with pytest.raises(PurchaseError, match="no earnable spend"):
        amount_share(Decimal(0), Decimal(1))


# --- invariants ----------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
specs = st.builds(
    lambda rounding, minimum, cap, rate: spec(
        earning={
            "rounding": rounding,
            "minimum_order": minimum,
            "points_per_unit": rate,
            **({"cap": {"points": cap, "period": "week"}} if cap else {}),
        }
    ),
    st.sampled_from(["floor", "half_up"]),
    st.sampled_from(["0", "10", "25.50"]),
    st.sampled_from([None, 1, 100]),
    st.sampled_from(["1", "0.1", "2.5", "3.3333"]),
)


@settings(max_examples=150, deadline=None)
@given(programme=specs, amount=amounts, more=amounts, before=st.integers(0, 200))
def test_points_are_never_negative_and_grow_with_the_amount(
    programme: ProgrammeSpec, amount: Decimal, more: Decimal, before: int
) -> None:
    low = earn(programme, PurchaseLine(amount), earned_this_period=before)
    high = earn(programme, PurchaseLine(amount + more), earned_this_period=before)

    assert 0 <= low.points <= high.points
    assert low.capped >= 0
    assert low.points <= max(low.exact, Decimal(0)) + 1


@settings(max_examples=150, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=6).filter(lambda xs: any(xs)))
def test_return_shares_of_all_lines_sum_to_one(line_amounts: list[Decimal]) -> None:
    earned = earn(spec(), *(PurchaseLine(a) for a in line_amounts))

    each = [return_share(earned.lines, {lp.index: Decimal(1)}) for lp in earned.lines]
    assert sum(each) == 1
    assert return_share(earned.lines, {lp.index: Decimal(1) for lp in earned.lines}) == 1
    assert amount_share(earned.spend, earned.spend) == 1
