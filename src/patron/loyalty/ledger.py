"""The points ledger, pure: lots, the append-only entries that move points, and allocations.

No database and no clock: every operation takes the instant it acts at (timezone-aware, never
before the last entry) and returns a *new* ``Ledger``; a ``Ledger`` is immutable, so a refused
operation leaves nothing half-done and any earlier state can be kept for comparison.

Points are ints. An entry's amount is signed; the balance is the sum of the entries. Every
negative entry draws its points from lots through allocations (which lot, how much), so a lot's
remaining amount is its amount minus what was drawn from it. Only returns (``reverse``) and
``adjust(..., allow_negative=True)`` may take more than the lots hold: the part no lot covers is
the *return debt*, shown as a negative available balance and paid off by the next lots granted.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from math import floor

from patron.errors import PatronError


class LedgerError(PatronError):
    """An operation the ledger refuses; nothing was booked."""

    code = "points.invalid"
    status = 422


class InsufficientPoints(LedgerError):
    code = "points.insufficient"
    status = 409


class EntryKind(enum.StrEnum):
    EARN = "earn"
    REDEEM = "redeem"
    REVERSE = "reverse"
    EXPIRE = "expire"
    ADJUST = "adjust"


@dataclass(frozen=True)
class Lot:
    """One grant of points; pending until ``available_from``, gone at ``expires_at``."""

    id: int
    amount: int
    earned_at: datetime
    available_from: datetime
    expires_at: datetime | None
    reference: str | None

    def expired(self, at: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def usable(self, at: datetime) -> bool:
        return self.available_from <= at and not self.expired(at)


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    amount: int
    at: datetime
    reference: str | None = None
    reason: str | None = None
    lot_id: int | None = None  # the lot an earn, a positive adjust or an expire is about
    share: Fraction | None = None  # a reverse: the share of the purchase returned


@dataclass(frozen=True)
class Allocation:
    """``amount`` points of lot ``lot_id`` taken by ``entries[entry]`` at ``at``."""

    entry: int
    lot_id: int
    amount: int
    at: datetime


@dataclass(frozen=True)
class LotBalance:
    lot: Lot
    remaining: int


_DEBTORS = (EntryKind.REVERSE, EntryKind.ADJUST)


@dataclass(frozen=True)
class Ledger:
    """One member's points. ``cached_balance`` mirrors the stored balance column; ``check`` proves it."""

    entries: tuple[Entry, ...] = ()
    grants: tuple[Lot, ...] = ()
    allocations: tuple[Allocation, ...] = ()
    cached_balance: int = 0

    # --- reading -------------------------------------------------------------------------

    def balance(self, at: datetime) -> int:
        _aware("at", at)
        return sum(e.amount for e in self.entries if e.at <= at)

    def lots(self, at: datetime) -> tuple[LotBalance, ...]:
        _aware("at", at)
        taken = self._taken(at)
        return tuple(
            LotBalance(lot, lot.amount - taken.get(lot.id, 0))
            for lot in self.grants
            if lot.earned_at <= at
        )

    def available(self, at: datetime) -> int:
        """Points that can be redeemed at ``at``, less any return debt (so it may be negative)."""
        usable = sum(lb.remaining for lb in self.lots(at) if lb.lot.usable(at))
        return usable - self.return_debt(at)

    def pending(self, at: datetime) -> int:
        return sum(lb.remaining for lb in self.lots(at) if lb.lot.available_from > at)

    def return_debt(self, at: datetime) -> int:
        _aware("at", at)
        return sum(self._debts(at).values())

    def outstanding_debt(self) -> int:
        """Return debt after every entry booked so far."""
        return sum(self._debts().values())

    def remaining(self) -> dict[int, int]:
        """Lot id → points it still holds after every entry booked so far."""
        taken = self._taken()
        return {lot.id: lot.amount - taken.get(lot.id, 0) for lot in self.grants}

    def last_at(self) -> datetime | None:
        return self.entries[-1].at if self.entries else None

    # --- operations ----------------------------------------------------------------------

    def earn(
        self,
        amount: int,
        *,
        at: datetime,
        reference: str,
        available_from: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> Ledger:
        self._step(at)
        _positive(amount)
        if not reference:
            raise LedgerError("points are earned for a purchase: give its reference")
        vests = at if available_from is None else _aware("available_from", available_from)
        if vests < at:
            raise LedgerError("points cannot vest before they are earned")
        if expires_at is not None and _aware("expires_at", expires_at) <= vests:
            raise LedgerError("points must not expire before they vest")
        lot = Lot(len(self.grants) + 1, amount, at, vests, expires_at, reference)
        return self._grant(Entry(EntryKind.EARN, amount, at, reference, lot_id=lot.id), lot)

    def redeem(self, amount: int, *, at: datetime, reference: str) -> Ledger:
        """Take points from the soonest-expiring available lots (older first, never-expiring last)."""
        self._step(at)
        _positive(amount)
        available = self.available(at)
        if amount > available:
            raise InsufficientPoints(
                f"{amount} points asked, only {available} available",
                details={"available": available, "asked": amount},
            )
        draws, short = self._draw(self._taken(), amount, at, include_pending=False)
        assert short == 0, "available points are always held in usable lots"
        return self._book(Entry(EntryKind.REDEEM, -amount, at, reference), draws)

    def reverse(self, reference: str, share: Fraction | Decimal | int, *, at: datetime) -> Ledger:
        """Take back ``share`` of what purchase ``reference`` earned (a return).

        Rounding: after returns totalling share S, exactly ``floor(earned * S)`` points have been
        taken back, so each return takes ``floor(earned * S) - already taken``; partial returns
        never take more than was earned, and the one reaching 100 % takes the exact remainder.
        Points are taken from the purchase's own lots first, then from the member's other lots
        (available, then pending); what no lot holds becomes return debt.
        """
        self._step(at)
        part = _share(share)
        earns = [e for e in self.entries if e.kind is EntryKind.EARN and e.reference == reference]
        if not earns:
            raise LedgerError(f"no points were earned for {reference!r}", code="points.unknown")
        earned = sum(e.amount for e in earns)
        returns = [
            e for e in self.entries if e.kind is EntryKind.REVERSE and e.reference == reference
        ]
        total_share = sum((e.share or Fraction(0) for e in returns), Fraction(0)) + part
        if total_share > 1:
            raise LedgerError(
                f"{reference!r} would be returned {float(total_share):.2%} in all, more than all of it",
                code="points.over_returned",
                details={"reference": reference, "share": str(total_share)},
            )
        points = floor(earned * total_share) + sum(e.amount for e in returns)
        taken = self._taken()
        own = {e.lot_id for e in earns}
        draws: list[tuple[int, int]] = []
        left = points
        for lot in self.grants:
            take = min(left, lot.amount - taken.get(lot.id, 0)) if lot.id in own else 0
            if take > 0:
                draws.append((lot.id, take))
                taken[lot.id] = taken.get(lot.id, 0) + take
                left -= take
        more, _debt = self._draw(taken, left, at, include_pending=True)
        entry = Entry(EntryKind.REVERSE, -points, at, reference, share=part)
        return self._book(entry, draws + more)

    def expire(self, *, at: datetime) -> Ledger:
        """Book an expire entry for every lot whose ``expires_at <= at`` that still holds points."""
        self._step(at)
        taken = self._taken()
        ledger = self
        for lot in self.grants:
            remaining = lot.amount - taken.get(lot.id, 0)
            if lot.expired(at) and remaining > 0:
                entry = Entry(EntryKind.EXPIRE, -remaining, at, lot.reference, lot_id=lot.id)
                ledger = ledger._book(entry, [(lot.id, remaining)])
        return ledger

    def adjust(
        self,
        amount: int,
        *,
        at: datetime,
        reason: str,
        allow_negative: bool = False,
        reference: str | None = None,
    ) -> Ledger:
        """A manual booking: a positive amount is a new never-expiring lot; a negative one takes
        from lots like a redemption (then from pending lots) and is refused if the lots fall short,
        unless ``allow_negative``, when the shortfall becomes debt."""
        self._step(at)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
            raise LedgerError("an adjustment is a non-zero whole number of points")
        if not reason or not reason.strip():
            raise LedgerError("an adjustment needs a reason")
        if amount > 0:
            lot = Lot(len(self.grants) + 1, amount, at, at, None, reference)
            entry = Entry(EntryKind.ADJUST, amount, at, reference, reason, lot_id=lot.id)
            return self._grant(entry, lot)
        draws, short = self._draw(self._taken(), -amount, at, include_pending=True)
        if short and not allow_negative:
            held = -amount - short
            raise InsufficientPoints(
                f"{-amount} points to take off, only {held} held",
                details={"available": held, "asked": -amount},
            )
        return self._book(Entry(EntryKind.ADJUST, amount, at, reference, reason), draws)

    # --- invariants ----------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every broken invariant, as a sentence; an empty list means the ledger is sound."""
        problems: list[str] = []
        total = sum(e.amount for e in self.entries)
        if self.cached_balance != total:
            problems.append(f"cached balance {self.cached_balance} ≠ sum of entries {total}")
        for before, after in zip(self.entries, self.entries[1:], strict=False):
            if after.at < before.at:
                problems.append(f"entry at {after.at} is booked after one at {before.at}")
        lots = {lot.id: lot for lot in self.grants}
        taken: dict[int, int] = {}
        drawn: dict[int, int] = {}
        for a in self.allocations:
            if a.lot_id not in lots or not 0 <= a.entry < len(self.entries) or a.amount <= 0:
                problems.append(f"allocation {a} points at no lot or entry, or is not positive")
                continue
            taken[a.lot_id] = taken.get(a.lot_id, 0) + a.amount
            drawn[a.entry] = drawn.get(a.entry, 0) + a.amount
        for lot in self.grants:
            remaining = lot.amount - taken.get(lot.id, 0)
            if lot.amount <= 0 or not 0 <= remaining <= lot.amount:
                problems.append(f"lot {lot.id} holds {remaining} of {lot.amount}: overdrawn")
        debt = 0
        for i, e in enumerate(self.entries):
            problems.extend(_entry_problems(i, e, drawn.get(i, 0), lots))
            if e.kind in _DEBTORS and e.amount < 0:
                debt += max(0, -e.amount - drawn.get(i, 0))
        held = sum(lot.amount - taken.get(lot.id, 0) for lot in self.grants)
        if total != held - debt:
            problems.append(f"entries sum to {total}, lots hold {held} less debt {debt}")
        if total < 0 and -total > debt:
            problems.append(f"balance {total} is negative beyond the return debt {debt}")
        return problems

    # --- internals -----------------------------------------------------------------------

    def _step(self, at: datetime) -> None:
        _aware("at", at)
        if self.entries and at < self.entries[-1].at:
            raise LedgerError(
                f"the ledger is append-only: {at} is before its last entry ({self.entries[-1].at})",
                code="points.out_of_order",
            )

    def _taken(self, at: datetime | None = None) -> dict[int, int]:
        taken: dict[int, int] = {}
        for a in self.allocations:
            if at is None or a.at <= at:
                taken[a.lot_id] = taken.get(a.lot_id, 0) + a.amount
        return taken

    def _debts(self, at: datetime | None = None) -> dict[int, int]:
        """Entry index → points of that return or adjustment no lot has covered yet."""
        drawn: dict[int, int] = {}
        for a in self.allocations:
            if at is None or a.at <= at:
                drawn[a.entry] = drawn.get(a.entry, 0) + a.amount
        debts = {}
        for i, e in enumerate(self.entries):
            owed = -e.amount - drawn.get(i, 0)
            if e.kind in _DEBTORS and owed > 0 and (at is None or e.at <= at):
                debts[i] = owed
        return debts

    def _draw(
        self, taken: dict[int, int], amount: int, at: datetime, *, include_pending: bool
    ) -> tuple[list[tuple[int, int]], int]:
        """Lots to take ``amount`` from, in redemption order, and the shortfall."""
        candidates = [
            lot
            for lot in self.grants
            if lot.usable(at) or (include_pending and lot.available_from > at)
        ]
        candidates.sort(
            key=lambda lot: (
                not lot.usable(at),
                lot.expires_at is None,
                lot.expires_at or at,
                lot.earned_at,
                lot.id,
            )
        )
        draws = []
        for lot in candidates:
            take = min(amount, lot.amount - taken.get(lot.id, 0))
            if take > 0:
                draws.append((lot.id, take))
                amount -= take
        return draws, amount

    def _book(self, entry: Entry, draws: Iterable[tuple[int, int]]) -> Ledger:
        index = len(self.entries)
        new = tuple(Allocation(index, lot_id, n, entry.at) for lot_id, n in draws)
        return replace(
            self,
            entries=(*self.entries, entry),
            allocations=self.allocations + new,
            cached_balance=self.cached_balance + entry.amount,
        )

    def _grant(self, entry: Entry, lot: Lot) -> Ledger:
        """Book a new lot; it pays outstanding debt first, oldest debt first."""
        ledger = replace(self._book(entry, ()), grants=(*self.grants, lot))
        left = lot.amount
        settled = []
        for index, owed in self._debts().items():
            pay = min(owed, left)
            if pay > 0:
                settled.append(Allocation(index, lot.id, pay, entry.at))
                left -= pay
        return replace(ledger, allocations=ledger.allocations + tuple(settled))


def _entry_problems(index: int, entry: Entry, drawn: int, lots: dict[int, Lot]) -> list[str]:
    name = f"entry {index} ({entry.kind} {entry.amount})"
    if entry.kind in (EntryKind.REDEEM, EntryKind.EXPIRE) and drawn != -entry.amount:
        return [f"{name} is covered by {drawn} points of allocations"]
    if entry.amount >= 0 and drawn:
        return [f"{name} is positive but draws {drawn} points from lots"]
    if entry.amount < 0 and drawn > -entry.amount:
        return [f"{name} has allocations of {drawn} points, more than it takes"]
    if entry.amount > 0:
        lot = lots.get(entry.lot_id) if entry.lot_id is not None else None
        if lot is None or lot.amount != entry.amount:
            return [f"{name} has no lot of the same amount"]
    return []


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise LedgerError(
            f"{name} must be a timezone-aware datetime, not {value!r}", code="points.naive_time"
        )
    return value


def _positive(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise LedgerError(f"points are a positive whole number, not {amount!r}")


def _share(share: Fraction | Decimal | int) -> Fraction:
    if isinstance(share, bool) or not isinstance(share, Fraction | Decimal | int):
        raise LedgerError(f"a share is an int, Fraction or Decimal, not {share!r}")
    try:
        part = Fraction(share)
    except (ValueError, OverflowError) as error:
        raise LedgerError(f"a share must be a finite number, not {share!r}") from error
    if not 0 < part <= 1:
        raise LedgerError(f"a share of a purchase is more than 0 and at most 1, not {share}")
    return part
