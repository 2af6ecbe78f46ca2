"""Jobs that run on the clock (``patron worker``, ``patron loyalty expire --as-of``) and the
invariant check (``patron loyalty verify``).

Every job is idempotent: it acts only on what is due and not yet done, so running it twice, or
in two workers, changes nothing the second time. Each member is handled under its account lock,
one short transaction per batch, like any booking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from patron.loyalty import reading, store, tiers
from patron.loyalty.models import (
    Account,
    Allocation,
    Entry,
    Lot,
    Programme,
    Voucher,
    VoucherUse,
)
from patron.loyalty.programme import ProgrammeSpec
from patron.loyalty.setup import programmes
from patron.outbox import service as outbox

BATCH = 200  # members per transaction
VEST_BATCH = 2_000  # lots per transaction


def expire_due(session: Session, *, as_of: datetime) -> dict[str, int]:
    """Book the expiry of every lot whose ``expires_at <= as_of`` that still holds points."""
    due = session.scalars(
        select(Lot.account_id)
        .where(Lot.expires_at <= as_of, Lot.remaining > 0)
        .distinct()
        .order_by(Lot.account_id)
    ).all()
    session.rollback()
    members = points = 0
    for start in range(0, len(due), BATCH):
        with store.writing(session):
            done = _expire_batch(session, due[start : start + BATCH], as_of)
        members += done[0]
        points += done[1]
    return {"members": members, "points_expired": points}


def _expire_batch(session: Session, account_ids: Sequence[int], as_of: datetime) -> tuple[int, int]:
    members = points = 0
    codes = _programme_codes(session)
    for account in store.lock_accounts(session, account_ids):
        loaded = store.load(session, account)
        at = store.booking_time(loaded.ledger, as_of)
        after = loaded.ledger.expire(at=at)
        gone = loaded.ledger.cached_balance - after.cached_balance
        if not gone:
            continue
        store.save(session, loaded, after, sources=[], actor="expiry")
        members += 1
        points += gone
        outbox.enqueue(
            session,
            topic="points.expired",
            payload={
                "programme": codes[account.programme_id],
                "customer_id": account.customer_id,
                "points": gone,
                "balance": account.balance,
                "at": at.isoformat(),
            },
            key=f"points.expired:{account.id}:{len(after.entries)}",
            now=at,
        )
    session.commit()
    return members, points


def vest_due(session: Session, *, as_of: datetime) -> dict[str, int]:
    """Mark lots that became usable (``available_from <= as_of``) and tell the shop once."""
    vested = 0
    while True:
        with store.writing(session):
            done = _vest_batch(session, as_of)
        vested += done
        if done < VEST_BATCH:
            return {"lots_vested": vested}


def _vest_batch(session: Session, as_of: datetime) -> int:
    """Mark one batch of lots vested; how many the batch held."""
    rows = session.execute(
        select(Lot.id, Lot.account_id, Lot.remaining, Lot.available_from, Lot.reference)
        .where(Lot.vested_at.is_(None), Lot.available_from <= as_of)
        .order_by(Lot.id)
        .limit(VEST_BATCH)
    ).all()
    if not rows:
        return 0
    codes = _programme_codes(session)
    accounts = {
        a.id: a
        for a in session.scalars(
            select(Account).where(Account.id.in_({r.account_id for r in rows}))
        )
    }
    for row in rows:
        marked = session.execute(
            update(Lot).where(Lot.id == row.id, Lot.vested_at.is_(None)).values(vested_at=as_of)
        )
        if marked.rowcount != 1 or not row.remaining:  # type: ignore[attr-defined]
            continue
        account = accounts[row.account_id]
        outbox.enqueue(
            session,
            topic="points.vested",
            payload={
                "programme": codes[account.programme_id],
                "customer_id": account.customer_id,
                "points": row.remaining,
                "reference": row.reference,
                "at": row.available_from.isoformat(),
            },
            key=f"points.vested:{row.id}",
            now=as_of,
        )
    session.commit()
    return len(rows)


def review_tiers(session: Session, *, as_of: datetime) -> dict[str, int]:
    """Re-evaluate members above the entry tier: start the grace period of those who fell below
    their tier's line, downgrade those whose grace period has ended."""
    changed = started = 0
    for row, spec in programmes(session):
        levels = spec.tiers
        if len(levels.levels) < 2:
            continue
        entry = levels.levels[0].code
        members = session.execute(
            select(Account.id, Account.tier, Account.tier_since, Account.tier_review_at)
            .where(Account.programme_id == row.id, Account.tier.is_not(None), Account.tier != entry)
            .order_by(Account.id)
        ).all()
        values = reading.qualifying_values(session, levels, row.id, as_of)
        # Only members whose tier state would change are locked and looked at again.
        candidates = [
            m.id
            for m in members
            if tiers.decide(levels, _state(m), values.get(m.id, Decimal(0)), as_of) != _state(m)
        ]
        session.rollback()
        for start in range(0, len(candidates), BATCH):
            with store.writing(session):
                batch = candidates[start : start + BATCH]
                found = _review_batch(session, spec, batch, as_of)
            changed += found[0]
            started += found[1]
    return {"tiers_changed": changed, "grace_started": started}


def _state(member: Row[int, str | None, datetime | None, datetime | None]) -> tiers.TierState:
    return tiers.TierState(member.tier, member.tier_since, member.tier_review_at)


def _review_batch(
    session: Session, spec: ProgrammeSpec, account_ids: Sequence[int], as_of: datetime
) -> tuple[int, int]:
    levels = spec.tiers
    changed = started = 0
    for account in store.lock_accounts(session, account_ids):
        value = reading.qualifying_value(session, levels, account.id, as_of)
        before = tiers.TierState(account.tier, account.tier_since, account.tier_review_at)
        after = tiers.decide(levels, before, value, as_of)
        if after == before:
            continue
        if after.review_at is not None and before.review_at is None:
            started += 1
        account.tier, account.tier_since, account.tier_review_at = (
            after.code,
            after.since,
            after.review_at,
        )
        if after.code != before.code:
            changed += 1
            outbox.enqueue(
                session,
                topic="tier.changed",
                payload={
                    "programme": spec.code,
                    "customer_id": account.customer_id,
                    "from": before.code,
                    "to": after.code,
                    "value": str(value),
                    "at": as_of.isoformat(),
                },
                key=f"tier.changed:{account.id}:{as_of.isoformat()}:{after.code}",
                now=as_of,
            )
    session.commit()
    return changed, started


def run_all(session: Session, *, as_of: datetime) -> dict[str, int]:
    """Vesting, expiry and tier review, in that order (what ``patron worker`` runs)."""
    return (
        vest_due(session, as_of=as_of)
        | expire_due(session, as_of=as_of)
        | review_tiers(session, as_of=as_of)
    )


@dataclass(frozen=True)
class Problem:
    account_id: int | None
    problem: str


def verify(session: Session) -> list[Problem]:
    """Every broken invariant of every member's ledger and of the vouchers; empty when sound.

    Per member: the pure ledger's ``check`` (cached balance = Σ entries, lots never overdrawn,
    allocations cover what they should, a negative balance only by return debt), and that the
    stored lot remainders and return debt match the ledger. Vouchers: uses = recorded uses.
    """
    problems: list[Problem] = []
    lots: dict[int, list[Lot]] = defaultdict(list)
    for lot in session.scalars(select(Lot).order_by(Lot.account_id, Lot.number)):
        lots[lot.account_id].append(lot)
    entries: dict[int, list[Entry]] = defaultdict(list)
    for entry in session.scalars(select(Entry).order_by(Entry.account_id, Entry.number)):
        entries[entry.account_id].append(entry)
    allocations: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in session.scalars(select(Allocation).order_by(Allocation.id)):
        allocations[allocation.account_id].append(allocation)
    for account in session.scalars(select(Account).order_by(Account.id)):
        ledger = store.ledger_of(
            account, lots[account.id], entries[account.id], allocations[account.id]
        )
        numbers = [e.number for e in entries[account.id]]
        if numbers != list(range(len(numbers))):
            problems.append(Problem(account.id, "entries are not numbered 0, 1, … without gaps"))
        problems.extend(Problem(account.id, text) for text in ledger.check())
        remaining = ledger.remaining()
        for lot in lots[account.id]:
            if remaining.get(lot.number) != lot.remaining:
                problems.append(
                    Problem(
                        account.id,
                        f"lot {lot.number} stores {lot.remaining} remaining, "
                        f"its allocations leave {remaining.get(lot.number)}",
                    )
                )
        if account.debt != ledger.outstanding_debt():
            problems.append(
                Problem(
                    account.id,
                    f"stored return debt {account.debt} ≠ ledger's {ledger.outstanding_debt()}",
                )
            )
    uses = dict(
        session.execute(
            select(VoucherUse.voucher_id, func.count()).group_by(VoucherUse.voucher_id)
        ).all()
    )
    for voucher_id, code, counted in session.execute(
        select(Voucher.id, Voucher.code, Voucher.uses)
    ):
        if uses.get(voucher_id, 0) != counted:
            problems.append(
                Problem(
                    None,
                    f"voucher {code} counts {counted} uses, {uses.get(voucher_id, 0)} recorded",
                )
            )
    session.rollback()
    return problems


def _programme_codes(session: Session) -> dict[int, str]:
    """Every programme's code by id, read once per batch for the webhooks' payloads."""
    return dict(session.execute(select(Programme.id, Programme.code)).all())
