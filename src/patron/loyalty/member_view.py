"""What the customer 360 shows of one customer in one programme, gathered for the page.

No rule is decided here: the figures come from ``reading`` and the pure ledger, read at ``now``.
A non-member gets a view with ``balance`` None (the page offers the adjustment form all the same).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from patron.loyalty import reading, store
from patron.loyalty.models import Voucher
from patron.loyalty.programme import ProgrammeSpec
from patron.loyalty.schemas import BalancePublic, ProgressPublic, StatementPublic

LOTS_LIMIT = 20
STATEMENT_LIMIT = 10


@dataclass(frozen=True)
class LotView:
    number: int
    source: str
    amount: int
    remaining: int
    earned_at: datetime
    available_from: datetime
    expires_at: datetime | None
    state: str  # pending, available or expired (the expiry job has not run yet)


@dataclass(frozen=True)
class MemberView:
    """One programme on the 360: the member's figures, or ``balance`` None for a non-member."""

    spec: ProgrammeSpec
    form_key: str
    account_id: int | None = None
    balance: BalancePublic | None = None
    progress: ProgressPublic | None = None
    expiring: tuple[tuple[date, int], ...] = ()  # points expiring within reading.EXPIRING_WITHIN
    lots: tuple[LotView, ...] = ()
    open_lots: int = 0
    statement: StatementPublic | None = None
    vouchers: tuple[tuple[Voucher, str], ...] = ()


def member_view(session: Session, spec: ProgrammeSpec, key: str, now: datetime) -> MemberView:
    """Customer ``key`` in programme ``spec`` at ``now``; ``form_key`` is new at every call, so
    each rendered adjustment form books once however often it is sent."""
    form_key = "adjust-" + secrets.token_urlsafe(18)
    try:
        spec, account = reading.member(session, programme_code=spec.code, customer=key)
    except reading.NotAMember:
        return MemberView(spec=spec, form_key=form_key)
    loaded = store.load(session, account)
    lots = open_lots(loaded, now)
    balance = reading.balance_of(spec, account, loaded.ledger, now)
    vouchers = reading.vouchers_of(session, programme_code=spec.code, customer=key)
    return MemberView(
        spec=spec,
        form_key=form_key,
        account_id=account.id,
        balance=balance,
        progress=reading.progress_of(session, spec, account, now),
        expiring=tuple((date.fromisoformat(e["date"]), int(e["points"])) for e in balance.expiring),
        lots=lots[:LOTS_LIMIT],
        open_lots=len(lots),
        statement=reading.statement(
            session, programme_code=spec.code, customer=key, per_page=STATEMENT_LIMIT
        ),
        vouchers=tuple((voucher, voucher_state(voucher, now)) for voucher in vouchers),
    )


def open_lots(loaded: store.Loaded, now: datetime) -> tuple[LotView, ...]:
    """The lots still holding points at ``now``, newest first. A lot past its expiry still holds
    its points until the expiry job books them off: it is shown, marked expired."""
    found = []
    for held in reversed(loaded.ledger.lots(now)):
        lot = held.lot
        if held.remaining <= 0:
            continue
        state = "pending" if lot.available_from > now else "available"
        found.append(
            LotView(
                number=lot.id,
                source=loaded.sources.get(lot.id, ""),
                amount=lot.amount,
                remaining=held.remaining,
                earned_at=lot.earned_at,
                available_from=lot.available_from,
                expires_at=lot.expires_at,
                state="expired" if lot.expired(now) else state,
            )
        )
    return tuple(found)


def voucher_state(voucher: Voucher, now: datetime) -> str:
    """One of ``VOUCHER_STATES``, in the order ``reading.voucher_problem`` checks them."""
    if voucher.cancelled_at is not None:
        return "cancelled"
    if now < voucher.valid_from:
        return "upcoming"
    if voucher.valid_until is not None and now >= voucher.valid_until:
        return "expired"
    if voucher.uses >= voucher.max_uses:
        return "used"
    return "valid"


def digits(value: Decimal | int | None) -> int:
    """Decimal places worth showing: 2 → 0, 1.5 → 1, 1.25 → 2 (at most 4)."""
    if value is None or isinstance(value, int):
        return 0
    exponent = value.normalize().as_tuple().exponent
    return min(max(-exponent, 0), 4) if isinstance(exponent, int) else 0
