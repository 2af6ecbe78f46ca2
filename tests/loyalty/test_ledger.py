"""The pure points ledger: hand-worked examples per operation, and Hypothesis invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from patron.loyalty.ledger import (
    Allocation,
    Entry,
    EntryKind,
    InsufficientPoints,
    Ledger,
    LedgerError,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def remaining(ledger: Ledger, at: datetime) -> dict[int, int]:
    return {lb.lot.id: lb.remaining for lb in ledger.lots(at)}


def drawn_by_last_entry(ledger: Ledger) -> list[tuple[int, int]]:
    last = len(ledger.entries) - 1
    return [(a.lot_id, a.amount) for a in ledger.allocations if a.entry == last]


# --- earn ----------------------------------------------------------------------------------


def test_earn_makes_a_lot_and_an_entry_pending_until_it_vests() -> None:
    ledger = Ledger().earn(100, at=day(0), available_from=day(14), reference="order-1")

    assert [(e.kind, e.amount, e.reference, e.lot_id) for e in ledger.entries] == [
        (EntryKind.EARN, 100, "order-1", 1)
    ]
    assert (ledger.balance(day(1)), ledger.pending(day(1)), ledger.available(day(1))) == (
        100,
        100,
        0,
    )
    assert (ledger.pending(day(14)), ledger.available(day(14))) == (0, 100)
    assert ledger.balance(day(-1)) == 0
    assert ledger.lots(day(-1)) == ()
    assert ledger.check() == []


def test_earn_refuses_bad_amounts_times_and_an_unordered_history() -> None:
    ledger = Ledger().earn(10, at=day(5), reference="a")
    with pytest.raises(LedgerError, match="positive whole number"):
        ledger.earn(0, at=day(5), reference="b")
    with pytest.raises(LedgerError, match="positive whole number"):
        ledger.earn(1.5, at=day(5), reference="b")  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="timezone-aware") as naive:
        ledger.earn(1, at=datetime(2025, 2, 1), reference="b")
    assert naive.value.code == "points.naive_time"
    with pytest.raises(LedgerError, match="vest before"):
        ledger.earn(1, at=day(6), available_from=day(5), reference="b")
    with pytest.raises(LedgerError, match="expire before"):
        ledger.earn(1, at=day(6), available_from=day(8), expires_at=day(8), reference="b")
    with pytest.raises(LedgerError) as late:
        ledger.earn(1, at=day(4), reference="b")
    assert late.value.code == "points.out_of_order"


def test_queries_refuse_naive_instants() -> None:
    with pytest.raises(LedgerError, match="timezone-aware"):
        Ledger().balance(datetime(2025, 1, 1))


# --- redeem --------------------------------------------------------------------------------


def test_redeem_takes_soonest_expiring_then_older_then_never_expiring() -> None:
    ledger = (
        Ledger()
        .adjust(50, at=day(0), reason="welcome")  # lot 1, never expires
        .earn(30, at=day(1), expires_at=day(100), reference="late")  # lot 2
        .earn(20, at=day(2), expires_at=day(40), reference="soon-old")  # lot 3
        .earn(20, at=day(3), expires_at=day(40), reference="soon-new")  # lot 4
    )
    ledger = ledger.redeem(100, at=day(4), reference="reward-1")

    assert drawn_by_last_entry(ledger) == [(3, 20), (4, 20), (2, 30), (1, 30)]
    assert remaining(ledger, day(4)) == {1: 20, 2: 0, 3: 0, 4: 0}
    assert ledger.balance(day(4)) == ledger.available(day(4)) == 20
    assert ledger.entries[-1].amount == -100
    assert ledger.check() == []


def test_redeem_skips_pending_and_expired_lots_and_refuses_a_short_balance() -> None:
    ledger = (
        Ledger()
        .earn(40, at=day(0), expires_at=day(10), reference="expired")
        .earn(25, at=day(0), reference="vested")
        .earn(60, at=day(11), available_from=day(30), reference="pending")
    )
    assert ledger.available(day(12)) == 25

    with pytest.raises(InsufficientPoints, match="26 points asked, only 25 available") as short:
        ledger.redeem(26, at=day(12), reference="r")
    assert short.value.code == "points.insufficient"
    assert short.value.details == {"available": 25, "asked": 26}

    after = ledger.redeem(25, at=day(12), reference="r")
    assert drawn_by_last_entry(after) == [(2, 25)]
    assert after.available(day(12)) == 0


# --- reverse -------------------------------------------------------------------------------


def test_full_return_of_an_unspent_purchase_removes_its_points() -> None:
    before = Ledger().earn(70, at=day(0), reference="keep")
    ledger = before.earn(30, at=day(1), reference="order").reverse("order", 1, at=day(2))

    assert ledger.entries[-1].amount == -30
    assert drawn_by_last_entry(ledger) == [(2, 30)]
    assert ledger.balance(day(2)) == before.balance(day(2)) == 70
    assert remaining(ledger, day(2)) == {1: 70, 2: 0}


def test_partial_returns_take_the_floor_of_the_cumulative_share() -> None:
    ledger = Ledger().earn(10, at=day(0), reference="order")
    amounts = []
    for n in range(3):
        ledger = ledger.reverse("order", Fraction(1, 3), at=day(n + 1))
        amounts.append(ledger.entries[-1].amount)

    assert amounts == [-3, -3, -4]  # floor(10/3)=3, floor(20/3)=6, floor(30/3)=10
    assert ledger.balance(day(5)) == 0
    with pytest.raises(LedgerError, match="more than all of it") as over:
        ledger.reverse("order", Fraction(1, 100), at=day(5))
    assert over.value.code == "points.over_returned"


def test_returns_accept_decimal_shares_and_refuse_floats_and_unknown_purchases() -> None:
    ledger = Ledger().earn(99, at=day(0), reference="order")
    assert ledger.reverse("order", Decimal("0.5"), at=day(1)).entries[-1].amount == -49
    with pytest.raises(LedgerError, match=r"not 0\.5"):
        ledger.reverse("order", 0.5, at=day(1))  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="at most 1"):
        ledger.reverse("order", Fraction(3, 2), at=day(1))
    with pytest.raises(LedgerError) as unknown:
        ledger.reverse("other", 1, at=day(1))
    assert unknown.value.code == "points.unknown"


def test_return_of_spent_points_becomes_exactly_that_much_visible_debt() -> None:
    ledger = (
        Ledger()
        .earn(100, at=day(0), reference="order")
        .redeem(80, at=day(1), reference="reward")
        .reverse("order", 1, at=day(2))
    )
    assert ledger.balance(day(2)) == -80
    assert ledger.return_debt(day(2)) == 80
    assert ledger.available(day(2)) == -80
    assert ledger.check() == []
    with pytest.raises(InsufficientPoints):
        ledger.redeem(1, at=day(2), reference="r2")

    # The next lot pays the debt first; the balance is still the sum of the entries.
    paid = ledger.earn(50, at=day(3), reference="next").earn(50, at=day(3), reference="more")
    assert paid.return_debt(day(3)) == 0
    assert remaining(paid, day(3)) == {1: 0, 2: 0, 3: 20}
    assert paid.balance(day(3)) == paid.available(day(3)) == 20
    assert paid.check() == []


def test_return_of_spent_points_is_taken_from_other_lots_before_becoming_debt() -> None:
    ledger = (
        Ledger()
        .earn(100, at=day(0), reference="order")
        .earn(30, at=day(0), available_from=day(20), reference="pending")
        .redeem(60, at=day(1), reference="reward")
        .reverse("order", Fraction(1, 2), at=day(2))  # 50 back: 40 unspent in lot 1, 10 from lot 2
    )
    assert drawn_by_last_entry(ledger) == [(1, 40), (2, 10)]
    assert (ledger.balance(day(2)), ledger.return_debt(day(2))) == (20, 0)


def test_return_debt_is_not_paid_with_points_already_past_their_expiry() -> None:
    ledger = (
        Ledger()
        .earn(100, at=day(0), reference="order")
        .redeem(100, at=day(1), reference="reward")
        .earn(50, at=day(2), expires_at=day(10), reference="old")
        .reverse("order", 1, at=day(12))
    )
    assert drawn_by_last_entry(ledger) == []
    assert (ledger.balance(day(12)), ledger.return_debt(day(12))) == (-50, 100)
    expired = ledger.expire(at=day(12))
    assert (expired.balance(day(12)), expired.return_debt(day(12))) == (-100, 100)
    assert expired.check() == []


def test_queries_about_a_past_instant_ignore_later_bookings() -> None:
    ledger = (
        Ledger()
        .earn(100, at=day(0), reference="order")
        .redeem(30, at=day(1), reference="reward")
        .reverse("order", 1, at=day(2))
    )
    assert (remaining(ledger, day(0)), ledger.balance(day(0))) == ({1: 100}, 100)
    assert (remaining(ledger, day(1)), ledger.return_debt(day(1))) == ({1: 70}, 0)
    assert (remaining(ledger, day(2)), ledger.return_debt(day(2))) == ({1: 0}, 30)
    assert ledger.available(day(2)) == ledger.balance(day(2)) == -30


# --- expire --------------------------------------------------------------------------------


def test_expire_books_what_is_left_of_each_due_lot_once() -> None:
    ledger = (
        Ledger()
        .earn(40, at=day(0), expires_at=day(10), reference="a")
        .earn(30, at=day(0), expires_at=day(20), reference="b")
        .earn(5, at=day(0), reference="forever")
        .redeem(15, at=day(1), reference="r")  # 15 from lot a
    )
    expired = ledger.expire(at=day(10))  # expires_at == at counts as expired

    assert [(e.kind, e.amount, e.lot_id) for e in expired.entries[len(ledger.entries) :]] == [
        (EntryKind.EXPIRE, -25, 1)
    ]
    assert expired.balance(day(10)) == 35
    assert expired.expire(at=day(10)) == expired
    assert expired.expire(at=day(15)) == expired
    both = expired.expire(at=day(25))
    assert both.balance(day(25)) == 5
    assert both.expire(at=day(30)) == both
    assert both.check() == []


# --- adjust --------------------------------------------------------------------------------


def test_adjust_adds_a_never_expiring_lot_or_takes_like_a_redemption() -> None:
    ledger = Ledger().earn(10, at=day(0), expires_at=day(5), reference="a")
    ledger = ledger.adjust(20, at=day(1), reason="goodwill")
    assert ledger.grants[-1].expires_at is None
    assert ledger.entries[-1].reason == "goodwill"

    taken = ledger.adjust(-15, at=day(2), reason="error")
    assert drawn_by_last_entry(taken) == [(1, 10), (2, 5)]
    assert taken.balance(day(2)) == 15

    with pytest.raises(InsufficientPoints, match="31 points to take off, only 30 held"):
        ledger.adjust(-31, at=day(2), reason="error")
    negative = ledger.adjust(-31, at=day(2), reason="fraud", allow_negative=True)
    assert (negative.balance(day(2)), negative.return_debt(day(2))) == (-1, 1)
    assert negative.check() == []


def test_adjust_needs_a_reason_and_a_non_zero_amount() -> None:
    with pytest.raises(LedgerError, match="reason"):
        Ledger().adjust(5, at=day(0), reason=" ")
    with pytest.raises(LedgerError, match="non-zero"):
        Ledger().adjust(0, at=day(0), reason="x")


# --- check ---------------------------------------------------------------------------------


@pytest.fixture
def sound() -> Ledger:
    return Ledger().earn(10, at=day(0), reference="a").redeem(4, at=day(1), reference="r")


def test_check_finds_a_cached_balance_that_is_not_the_sum(sound: Ledger) -> None:
    assert sound.check() == []
    assert "≠ sum of entries" in " ".join(replace(sound, cached_balance=7).check())


def test_check_finds_an_overdrawn_lot_and_unexplained_negative_balance(sound: Ledger) -> None:
    extra = Entry(EntryKind.ADJUST, -16, day(2), reason="x")
    broken = replace(
        sound,
        entries=(*sound.entries, extra),
        allocations=(*sound.allocations, Allocation(2, 1, 16, day(2))),
        cached_balance=-10,
    )
    problems = " ".join(broken.check())
    assert "overdrawn" in problems
    assert "negative beyond the return debt" in problems


def test_check_finds_allocations_that_do_not_match_their_entries(sound: Ledger) -> None:
    more = replace(sound, allocations=(*sound.allocations, Allocation(1, 1, 1, day(1))))
    assert "covered by 5 points" in " ".join(more.check())
    on_earn = replace(sound, allocations=(*sound.allocations, Allocation(0, 1, 1, day(1))))
    assert "positive but draws" in " ".join(on_earn.check())
    nowhere = replace(sound, allocations=(Allocation(1, 9, 4, day(1)),))
    assert "points at no lot" in " ".join(nowhere.check())


def test_check_finds_lots_and_entries_that_disagree(sound: Ledger) -> None:
    bigger_lot = replace(sound, grants=(replace(sound.grants[0], amount=12),))
    problems = " ".join(bigger_lot.check())
    assert "no lot of the same amount" in problems
    assert "lots hold 8 less debt 0" in problems


def test_check_finds_entries_booked_out_of_order(sound: Ledger) -> None:
    swapped = replace(sound, entries=(sound.entries[0], replace(sound.entries[1], at=day(-1))))
    assert "is booked after one at" in " ".join(swapped.check())


# --- properties ----------------------------------------------------------------------------

earns = st.tuples(
    st.just("earn"),
    st.integers(1, 500),
    st.sampled_from([0, 0, 3, 14]),  # days until the points vest
    st.none() | st.integers(1, 60),  # days from vesting to expiry
)
redeems = st.tuples(st.just("redeem"), st.integers(1, 300))
returns = st.tuples(
    st.just("reverse"),
    st.integers(0, 30),  # which purchase (index into the purchases so far)
    st.fractions(min_value=Fraction(1, 12), max_value=1, max_denominator=12),
)
expires = st.tuples(st.just("expire"))
adjusts = st.tuples(st.just("adjust"), st.integers(-400, -1) | st.integers(1, 400), st.booleans())
operations = st.lists(
    st.tuples(st.integers(0, 10), st.one_of(earns, redeems, returns, expires, adjusts)),
    max_size=40,
)


class Model:
    """Applies operations and checks every step against figures worked out independently."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.now = T0
        self.purchases: list[tuple[str, int]] = []
        self.returned: dict[str, Fraction] = {}

    def apply(self, gap: int, op: tuple) -> None:  # type: ignore[type-arg]
        self.now += timedelta(days=gap, hours=1)
        before, at = self.ledger, self.now
        expected = getattr(self, f"_{op[0]}")(at, *op[1:])
        event(f"{op[0]} {'refused' if expected is None else 'booked'}")
        if expected is None:
            assert self.ledger is before
        else:
            assert self.ledger.balance(at) == before.balance(at) + expected
        self._invariants(at)

    def _earn(self, at: datetime, amount: int, vest: int, life: int | None) -> int:
        reference = f"order-{len(self.purchases)}"
        vests = at + timedelta(days=vest)
        expires = None if life is None else vests + timedelta(days=life)
        self.ledger = self.ledger.earn(
            amount, at=at, available_from=vests, expires_at=expires, reference=reference
        )
        self.purchases.append((reference, amount))
        return amount

    def _redeem(self, at: datetime, amount: int) -> int | None:
        available = self.ledger.available(at)
        if amount > available:
            with pytest.raises(InsufficientPoints):
                self.ledger.redeem(amount, at=at, reference="r")
            return None
        self.ledger = self.ledger.redeem(amount, at=at, reference="r")
        usable = {lb.lot.id for lb in self.ledger.lots(at) if lb.lot.usable(at)}
        assert {lot for lot, _ in drawn_by_last_entry(self.ledger)} <= usable
        assert self.ledger.available(at) == available - amount >= 0
        return -amount

    def _reverse(self, at: datetime, which: int, share: Fraction) -> int | None:
        if not self.purchases:
            with pytest.raises(LedgerError, match="no points were earned"):
                self.ledger.reverse("order-0", share, at=at)
            return None
        reference, earned = self.purchases[which % len(self.purchases)]
        done = self.returned.get(reference, Fraction(0))
        if done + share > 1:
            with pytest.raises(LedgerError, match="more than all of it"):
                self.ledger.reverse(reference, share, at=at)
            return None
        self.ledger = self.ledger.reverse(reference, share, at=at)
        self.returned[reference] = done + share
        return floor(earned * done) - floor(earned * (done + share))

    def _expire(self, at: datetime) -> int:
        due = sum(lb.remaining for lb in self.ledger.lots(at) if lb.lot.expired(at))
        self.ledger = self.ledger.expire(at=at)
        assert all(lb.remaining == 0 for lb in self.ledger.lots(at) if lb.lot.expired(at))
        assert self.ledger.expire(at=at) == self.ledger
        return -due

    def _adjust(self, at: datetime, amount: int, allow_negative: bool) -> int | None:
        held = sum(lb.remaining for lb in self.ledger.lots(at) if not lb.lot.expired(at))
        if amount < 0 and -amount > held and not allow_negative:
            with pytest.raises(InsufficientPoints):
                self.ledger.adjust(amount, at=at, reason="manual")
            return None
        self.ledger = self.ledger.adjust(
            amount, at=at, reason="manual", allow_negative=allow_negative
        )
        return amount

    def _invariants(self, at: datetime) -> None:
        ledger = self.ledger
        assert ledger.check() == []
        assert ledger.balance(at) == ledger.cached_balance == sum(e.amount for e in ledger.entries)
        lots = ledger.lots(at)
        assert ledger.balance(at) == sum(lb.remaining for lb in lots) - ledger.return_debt(at)
        for lb in lots:  # no lot is ever spent twice: its allocations never exceed it
            spent = sum(a.amount for a in ledger.allocations if a.lot_id == lb.lot.id)
            assert 0 <= spent <= lb.lot.amount
        if ledger.return_debt(at) == 0:
            assert ledger.available(at) >= 0
        else:
            event("in return debt")


@given(operations)
@settings(max_examples=300, deadline=None)
def test_any_sequence_keeps_the_ledger_sound(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    model = Model()
    history = []
    for gap, op in ops:
        model.apply(gap, op)
        history.append((model.now, model.ledger))
    # Append-only: what the final ledger says about any past instant is what was true then.
    for at, then in history:
        for query in ("balance", "available", "pending", "return_debt", "lots"):
            assert getattr(model.ledger, query)(at) == getattr(then, query)(at)


@given(operations, st.integers(1, 500), st.integers(0, 20), st.none() | st.integers(1, 60))
@settings(max_examples=200, deadline=None)
def test_a_full_return_right_after_its_purchase_restores_everything(
    ops: list[tuple],  # type: ignore[type-arg]
    amount: int,
    vest: int,
    life: int | None,
) -> None:
    model = Model()
    for gap, op in ops:
        model.apply(gap, op)
    before, at = model.ledger, model.now + timedelta(hours=1)
    expires = None if life is None else at + timedelta(days=vest + life)
    after = before.earn(
        amount, at=at, available_from=at + timedelta(days=vest), expires_at=expires, reference="x"
    ).reverse("x", 1, at=at)

    assert after.check() == []
    assert after.entries[-1].amount == -amount
    for query in (before.balance, before.available, before.pending, before.return_debt):
        assert getattr(after, query.__name__)(at) == query(at)
    assert remaining(after, at) == {**remaining(before, at), len(after.grants): 0}


@given(st.integers(1, 10_000), st.lists(st.integers(1, 9), min_size=1, max_size=8))
def test_partial_returns_never_take_back_more_than_was_earned(
    earned: int, weights: list[int]
) -> None:
    ledger = Ledger().earn(earned, at=T0, reference="order")
    total, done = sum(weights), Fraction(0)
    for w in weights:
        share = Fraction(w, total)
        ledger = ledger.reverse("order", share, at=T0)
        done += share
        assert -sum(e.amount for e in ledger.entries[1:]) == floor(earned * done) <= earned
    assert ledger.balance(T0) == 0
    assert ledger.check() == []
