"""A member's ledger between the tables and ``patron.loyalty.ledger``: lock, load, save the change.

The service locks the member's account row first (``SELECT … FOR UPDATE`` on PostgreSQL, in id
order when several; on SQLite writers queue, see ``writing``), then loads the ledger, lets the pure ledger decide,
and writes back only what was appended.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.loyalty import ledger as pure
from patron.loyalty.models import Account, Allocation, Entry, Lot

_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


@contextmanager
def writing(session: Session) -> Iterator[None]:
    """One use case's transaction, begun as a writer; rolled back unless it committed.

    On SQLite the process's writers queue on a lock (SQLite's own busy wait polls, and under
    load can starve one writer past any timeout), then ``BEGIN IMMEDIATE`` takes the database's
    write lock against other processes before anything is read. PostgreSQL needs neither: the
    account rows are locked with ``FOR UPDATE``.
    """
    if session.in_transaction():
        session.commit()  # a use case is its own transaction: end whatever the caller began
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        try:
            yield
        finally:
            session.rollback()
        return
    engine = bind.engine if isinstance(bind, Connection) else bind
    with _WRITERS_GUARD:
        lock = _WRITERS.setdefault(engine, threading.Lock())
    with lock:
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            session.rollback()


def lock_accounts(session: Session, account_ids: Iterable[int]) -> list[Account]:
    """Lock the accounts for this transaction, in id order (so two lockers never deadlock)."""
    ids = sorted(set(account_ids))
    if session.get_bind().dialect.name == "postgresql":
        query = (
            select(Account)
            .where(Account.id.in_(ids))
            .order_by(Account.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list(session.scalars(query))
    # SQLite: ``writing`` began the transaction with the database's one write lock.
    query = (
        select(Account)
        .where(Account.id.in_(ids))
        .order_by(Account.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))


def ensure_account(session: Session, *, programme_id: int, customer_id: int, at: datetime) -> int:
    """The member's account id, enrolling the customer if needed (safe when two enrol at once)."""
    found = _account_id(session, programme_id, customer_id)
    if found is not None:
        return found
    dialect = session.get_bind().dialect.name
    values = {
        "programme_id": programme_id,
        "customer_id": customer_id,
        "balance": 0,
        "debt": 0,
        "enrolled_at": at,
    }
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Account)
    session.execute(statement.values(**values).on_conflict_do_nothing())
    account_id = _account_id(session, programme_id, customer_id)
    assert account_id is not None
    return account_id


def _account_id(session: Session, programme_id: int, customer_id: int) -> int | None:
    return session.scalar(
        select(Account.id).where(
            Account.programme_id == programme_id, Account.customer_id == customer_id
        )
    )


@dataclass(frozen=True)
class Loaded:
    account: Account
    ledger: pure.Ledger
    sources: Mapping[int, str]  # lot number → source


def load(session: Session, account: Account) -> Loaded:
    """The account's ledger, read as plain rows (no ORM objects: this is every booking's path)."""
    lots = session.execute(
        select(
            Lot.number,
            Lot.amount,
            Lot.earned_at,
            Lot.available_from,
            Lot.expires_at,
            Lot.reference,
            Lot.source,
        )
        .where(Lot.account_id == account.id)
        .order_by(Lot.number)
    ).all()
    entries = session.execute(
        select(
            Entry.kind,
            Entry.amount,
            Entry.at,
            Entry.reference,
            Entry.reason,
            Entry.lot_number,
            Entry.share,
        )
        .where(Entry.account_id == account.id)
        .order_by(Entry.number)
    ).all()
    allocations = session.execute(
        select(Allocation.entry_number, Allocation.lot_number, Allocation.amount, Allocation.at)
        .where(Allocation.account_id == account.id)
        .order_by(Allocation.id)
    ).all()
    ledger = ledger_of(account, lots, entries, allocations)
    return Loaded(account, ledger, {lot.number: lot.source for lot in lots})


def ledger_of(
    account: Account,
    lots: Iterable[Any],
    entries: Iterable[Any],
    allocations: Iterable[Any],
) -> pure.Ledger:
    """The pure ledger of the rows of one account, each in ledger order: ORM objects or rows
    with the same column names."""
    return pure.Ledger(
        entries=tuple(
            pure.Entry(
                pure.EntryKind(e.kind),
                e.amount,
                e.at,
                e.reference,
                e.reason,
                e.lot_number,
                Fraction(e.share) if e.share else None,
            )
            for e in entries
        ),
        grants=tuple(
            pure.Lot(
                lot.number,
                lot.amount,
                lot.earned_at,
                lot.available_from,
                lot.expires_at,
                lot.reference,
            )
            for lot in lots
        ),
        allocations=tuple(
            pure.Allocation(a.entry_number, a.lot_number, a.amount, a.at) for a in allocations
        ),
        cached_balance=account.balance,
    )


def save(
    session: Session,
    loaded: Loaded,
    after: pure.Ledger,
    *,
    sources: Sequence[str],
    event_id: int | None = None,
    actor: str | None = None,
) -> None:
    """Write what ``after`` appended to ``loaded.ledger``; the new lots' sources are ``sources``,
    in order. The account's cached balance and debt are set (flushed with the transaction)."""
    before = loaded.ledger
    account = loaded.account
    new_entries = after.entries[len(before.entries) :]
    new_lots = after.grants[len(before.grants) :]
    new_allocations = after.allocations[len(before.allocations) :]
    remaining = after.remaining()
    if len(sources) != len(new_lots):
        raise ValueError(f"{len(new_lots)} new lots but {len(sources)} sources")
    if new_lots:
        session.execute(
            insert(Lot),
            [
                {
                    "account_id": account.id,
                    "number": lot.id,
                    "amount": lot.amount,
                    "remaining": remaining[lot.id],
                    "source": source,
                    "reference": lot.reference,
                    "earned_at": lot.earned_at,
                    "available_from": lot.available_from,
                    "expires_at": lot.expires_at,
                }
                for lot, source in zip(new_lots, sources, strict=True)
            ],
        )
    fresh = {lot.id for lot in new_lots}
    touched = sorted({a.lot_id for a in new_allocations} - fresh)
    for number in touched:
        session.execute(
            update(Lot)
            .where(Lot.account_id == account.id, Lot.number == number)
            .values(remaining=remaining[number])
        )
    if new_entries:
        session.execute(
            insert(Entry),
            [
                {
                    "account_id": account.id,
                    "number": len(before.entries) + i,
                    "kind": entry.kind.value,
                    "amount": entry.amount,
                    "at": entry.at,
                    "reference": entry.reference,
                    "reason": entry.reason,
                    "lot_number": entry.lot_id,
                    "share": str(entry.share) if entry.share is not None else None,
                    "event_id": event_id,
                    "actor": actor,
                }
                for i, entry in enumerate(new_entries)
            ],
        )
    if new_allocations:
        session.execute(
            insert(Allocation),
            [
                {
                    "account_id": account.id,
                    "entry_number": a.entry,
                    "lot_number": a.lot_id,
                    "amount": a.amount,
                    "at": a.at,
                }
                for a in new_allocations
            ],
        )
    account.balance = after.cached_balance
    account.debt = after.outstanding_debt()
    account.last_entry_at = after.last_at()


def booking_time(ledger: pure.Ledger, now: datetime) -> datetime:
    """Now, or the last entry's instant if the clock is behind it (the ledger is append-only)."""
    last = ledger.last_at()
    return now if last is None or now >= last else last
