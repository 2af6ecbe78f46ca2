"""Bookings: purchase, return, bonus event, redemption, adjustment, voucher use.

Each use case is one transaction in the same shape (``_book``):

1. find the programme and the customer, enrol the customer if new;
2. lock the member's account row (``store.lock_accounts``: ``FOR UPDATE`` on PostgreSQL, in id
   order; SQLite serialises writers) — every balance check happens inside this lock;
3. look up the idempotency key: the same key with the same payload returns the stored answer
   and changes nothing; with another payload it is refused (``idempotency.mismatch``);
4. load the ledger, let the pure rules decide, write what was appended, record the answer
   under the key, enqueue the webhooks (same transaction), commit.

A concurrent request with the same key waits for the lock and then finds the key; should two
still collide on the key's unique constraint, the loser is rolled back and replays the winner.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from pydantic import BaseModel
from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.customers import service as customers
from patron.errors import Conflict, NotFound, PatronError
from patron.loyalty import earning, reading, store, tiers
from patron.loyalty import ledger as pure
from patron.loyalty.models import Account, Event, Redemption, Reward, Voucher, VoucherUse
from patron.loyalty.models import Programme as ProgrammeRow
from patron.loyalty.programme import ProgrammeError, ProgrammeSpec, RewardKind
from patron.loyalty.programme import Reward as RewardSpec
from patron.loyalty.schemas import (
    MAX_POINTS,
    AdjustIn,
    BookingPublic,
    EventIn,
    PurchaseIn,
    RedeemIn,
    ReturnIn,
    VoucherCheckIn,
    VoucherCheckPublic,
    VoucherConsumeIn,
    VoucherIssueIn,
    VoucherPublic,
)
from patron.loyalty.setup import audit, programme
from patron.outbox import service as outbox

CENT = Decimal("0.01")
# The most points one booking may move (a typo'd amount must not mint billions of points, and
# balances are 32-bit integers on PostgreSQL): the same limit the requests' schemas set.
MOST_POINTS = MAX_POINTS


class IdempotencyMismatch(PatronError):
    code = "idempotency.mismatch"
    status = 422


@dataclass(frozen=True)
class Booked:
    """A booking's answer, and whether it is a replay of an earlier request with the same key."""

    booking: BookingPublic
    replayed: bool


@dataclass
class _Draft:
    """The event row being booked (inserted first for its id, completed at the end)."""

    id: int
    operation: str
    reference: str | None
    points: int = 0
    spend: Decimal = Decimal(0)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Context:
    session: Session
    programme_id: int
    spec: ProgrammeSpec
    customer: customers.CustomerRef
    account: Account
    loaded: store.Loaded
    at: datetime
    actor: str | None
    others: dict[int, Account] = field(default_factory=dict)
    after: pure.Ledger | None = None  # the member's ledger once this booking is saved


# --- the use cases -------------------------------------------------------------------------


def record_purchase(
    session: Session,
    *,
    programme_code: str,
    key: str,
    purchase: PurchaseIn,
    actor: str | None,
    now: datetime,
) -> Booked:
    """Earn points for a purchase (and a first-purchase or referral bonus, as the rules say)."""
    referrer = None
    if purchase.referred_by is not None:
        referrer = customers.customer_ref(session, key=purchase.referred_by)
        if referrer.external_id == purchase.customer or str(referrer.id) == purchase.customer:
            raise PatronError("a customer cannot refer themselves", code="loyalty.self_referral")

    def work(ctx: _Context, event: _Draft) -> BookingPublic:
        session = ctx.session
        purchases = select(Event.id).where(
            Event.programme_id == ctx.programme_id,
            Event.operation == "purchase",
            Event.id != event.id,
        )
        taken, bought_before = session.execute(
            select(
                exists(purchases.where(Event.reference == purchase.order)),
                exists(purchases.where(Event.account_id == ctx.account.id)),
            )
        ).one()
        if taken:
            raise Conflict(
                f"order {purchase.order!r} already earned points (under another idempotency key)",
                code="loyalty.duplicate_order",
                details={"order": purchase.order},
            )
        if purchase.currency != ctx.spec.currency:
            raise PatronError(
                f"programme {ctx.spec.code!r} counts in {ctx.spec.currency}, "
                f"the purchase is in {purchase.currency}",
                code="loyalty.currency",
                details={"expected": ctx.spec.currency, "given": purchase.currency},
            )
        first = not bought_before
        lines = [
            earning.PurchaseLine(
                amount=line.amount,
                kind=line.kind,
                sku=line.sku,
                category=line.category,
                quantity=line.quantity,
            )
            for line in purchase.lines
        ]
        cap = ctx.spec.earning.cap
        this_period = 0
        if cap is not None:
            since = earning.cap_period_start(cap, ctx.at)
            this_period = sum(
                lot.amount
                for lot in ctx.loaded.ledger.grants
                if ctx.loaded.sources.get(lot.id) == "purchase" and lot.earned_at >= since
            )
        earned = earning.points_for(
            ctx.spec,
            lines,
            member=_member(session, ctx),
            at=ctx.at,
            first_purchase=first,
            earned_this_period=int(this_period),
        )
        if earned.points + earned.first_purchase_bonus > MOST_POINTS:
            raise PatronError(
                f"order {purchase.order!r} would earn {earned.points:,} points, more than the "
                f"{MOST_POINTS:,} one booking may move: check its amounts",
                code="loyalty.too_many_points",
                details={"points": earned.points, "limit": MOST_POINTS},
            )
        vests = earning.vests_at(ctx.spec.lots, ctx.at)
        # Expiry counts from the day the points can be used: none expire before they vest
        # (a December purchase under end-of-year expiry keeps its points into the next year).
        expires = earning.expires_at(ctx.spec.lots, vests)
        ledger = ctx.loaded.ledger
        sources = []
        for points, source in ((earned.points, "purchase"), (earned.first_purchase_bonus, "bonus")):
            if points > 0:
                ledger = ledger.earn(
                    points,
                    at=ctx.at,
                    reference=purchase.order,
                    available_from=vests,
                    expires_at=expires,
                )
                sources.append(source)
        total = earned.points + earned.first_purchase_bonus
        event.points, event.spend = total, earned.spend
        event.detail = {
            "lines": [str(line.exact) for line in earned.lines],
            "spend": str(earned.spend),
            "points": earned.points,
            "bonus": earned.first_purchase_bonus,
        }
        _save(ctx, ledger, sources, event)
        reasons = list(earned.reasons)
        if referrer is not None and first and ctx.spec.bonuses.referral > 0:
            reasons.append(_referral(ctx, referrer, purchase.order, event))
        if total > 0:
            _notify(
                ctx,
                "points.earned",
                {"points": total, "order": purchase.order, "available_from": vests.isoformat()},
                event,
            )
        return _answer(ctx, event, total, reasons)

    others = [] if referrer is None else [referrer.id]
    return _book(
        session,
        programme_code=programme_code,
        key=key,
        operation="purchase",
        payload=purchase,
        customer_key=purchase.customer,
        reference=purchase.order,
        actor=actor,
        now=now,
        work=work,
        also_lock=others,
    )


def record_return(
    session: Session,
    *,
    programme_code: str,
    key: str,
    returned: ReturnIn,
    actor: str | None,
    now: datetime,
) -> Booked:
    """Take back the share of a purchase's points that its returned part earned."""

    def work(ctx: _Context, event: _Draft) -> BookingPublic:
        bought = ctx.session.scalar(
            select(Event).where(
                Event.programme_id == ctx.programme_id,
                Event.account_id == ctx.account.id,
                Event.operation == "purchase",
                Event.reference == returned.order,
            )
        )
        if bought is None:
            raise NotFound(
                f"no purchase {returned.order!r} of this customer earned points in "
                f"{ctx.spec.code!r}",
                code="loyalty.unknown_order",
                details={"order": returned.order},
            )
        share = _return_share(bought, returned)
        spend = Decimal(bought.detail.get("spend", "0"))
        ledger = ctx.loaded.ledger
        points = 0
        if bought.points > 0:
            after = ledger.reverse(returned.order, share, at=ctx.at)
            points = after.cached_balance - ledger.cached_balance
            ledger = after
        event.points = points
        event.spend = -(spend * Decimal(share.numerator) / Decimal(share.denominator)).quantize(
            CENT, ROUND_HALF_UP
        )
        event.detail = {"share": str(share)}
        _save(ctx, ledger, [], event)
        reasons = [f"{-points} points taken back: {share} of order {returned.order}"]
        if ctx.account.debt:
            reasons.append(
                f"{ctx.account.debt} of them were already spent: the balance shows them as debt, "
                "paid off by the next points earned"
            )
        return _answer(ctx, event, points, reasons)

    return _book(
        session,
        programme_code=programme_code,
        key=key,
        operation="return",
        payload=returned,
        customer_key=returned.customer,
        reference=returned.order,
        actor=actor,
        now=now,
        work=work,
    )


def record_event(
    session: Session,
    *,
    programme_code: str,
    key: str,
    happened: EventIn,
    actor: str | None,
    now: datetime,
) -> Booked:
    """Grant the programme's bonus for an event (a review, a survey answered, …)."""
    reference = f"{happened.type}:{happened.reference}"

    def work(ctx: _Context, event: _Draft) -> BookingPublic:
        points = ctx.spec.bonuses.events.get(happened.type)
        if points is None:
            known = ", ".join(sorted(ctx.spec.bonuses.events)) or "none"
            raise ProgrammeError(
                f"programme {ctx.spec.code!r} grants nothing for {happened.type!r} (events: {known})",
                code="loyalty.unknown_event",
                details={"type": happened.type},
            )
        taken = ctx.session.scalar(
            select(Event.id).where(
                Event.account_id == ctx.account.id,
                Event.operation == "event",
                Event.reference == reference,
                Event.id != event.id,
            )
        )
        if taken is not None:
            raise Conflict(
                f"{happened.type} {happened.reference!r} already earned its bonus",
                code="loyalty.duplicate_event",
            )
        ledger = ctx.loaded.ledger
        sources = []
        if points > 0:
            ledger = ledger.earn(
                points,
                at=ctx.at,
                reference=reference,
                expires_at=earning.expires_at(ctx.spec.lots, ctx.at),
            )
            sources.append("event")
        event.points = points
        _save(ctx, ledger, sources, event)
        if points:
            _notify(ctx, "points.earned", {"points": points, "event": happened.type}, event)
        return _answer(ctx, event, points, [f"{points} points for {happened.type}"])

    return _book(
        session,
        programme_code=programme_code,
        key=key,
        operation="event",
        payload=happened,
        customer_key=happened.customer,
        reference=reference,
        actor=actor,
        now=now,
        work=work,
    )


def redeem(
    session: Session,
    *,
    programme_code: str,
    key: str,
    request: RedeemIn,
    actor: str | None,
    now: datetime,
) -> Booked:
    """Redeem a reward from the catalogue, or pay part of an order with points."""

    def work(ctx: _Context, event: _Draft) -> BookingPublic:
        if request.points is not None:
            assert request.order is not None
            ledger = ctx.loaded.ledger.redeem(request.points, at=ctx.at, reference=request.order)
            value = (request.points * ctx.spec.point_value).quantize(CENT)
            event.points = -request.points
            event.detail = {"value": str(value)}
            _save(ctx, ledger, [], event)
            reasons = [
                f"{request.points} points paid {value} {ctx.spec.currency} of {request.order}"
            ]
            return _answer(ctx, event, -request.points, reasons)
        return _redeem_reward(ctx, event, request.reward or "")

    return _book(
        session,
        programme_code=programme_code,
        key=key,
        operation="redeem" if request.points is not None else "reward",
        payload=request,
        customer_key=request.customer,
        reference=request.order or request.reward,
        actor=actor,
        now=now,
        work=work,
    )


def adjust(
    session: Session, *, programme_code: str, key: str, request: AdjustIn, actor: str, now: datetime
) -> Booked:
    """A manual booking by a member of staff, with its reason; audited."""

    def work(ctx: _Context, event: _Draft) -> BookingPublic:
        ledger = ctx.loaded.ledger.adjust(
            request.points,
            at=ctx.at,
            reason=request.reason,
            allow_negative=request.allow_negative,
            reference=f"adjustment:{key}",
        )
        event.points = request.points
        event.detail = {"reason": request.reason}
        _save(ctx, ledger, ["adjustment"] if request.points > 0 else [], event)
        audit(
            ctx.session,
            actor=actor,
            programme_id=ctx.programme_id,
            action="points.adjusted",
            subject=str(ctx.customer.external_id or ctx.customer.id),
            details={
                "points": request.points,
                "reason": request.reason,
                "balance": ctx.account.balance,
            },
            now=ctx.at,
        )
        if request.points > 0:
            _notify(ctx, "points.earned", {"points": request.points, "adjustment": True}, event)
        return _answer(ctx, event, request.points, [request.reason])

    return _book(
        session,
        programme_code=programme_code,
        key=key,
        operation="adjust",
        payload=request,
        customer_key=request.customer,
        reference=None,
        actor=actor,
        now=now,
        work=work,
    )


# --- vouchers ------------------------------------------------------------------------------


def check_voucher(
    session: Session, *, programme_code: str, code: str, request: VoucherCheckIn, now: datetime
) -> VoucherCheckPublic:
    """Whether ``code`` can be used on this order now, and what it takes off (nothing is booked)."""
    row, spec = programme(session, programme_code)
    voucher = _voucher(session, row.id, code)
    customer_id = _customer_id(session, request.customer)
    return _check(voucher, spec, request, customer_id, session, now)


def consume_voucher(
    session: Session,
    *,
    programme_code: str,
    code: str,
    key: str,
    request: VoucherConsumeIn,
    now: datetime,
) -> tuple[VoucherCheckPublic, bool]:
    """Use the voucher on an order (once per key); refused, booking nothing, if it is not valid."""
    hashed = _hash("voucher", request, extra=code)
    for attempt in (1, 2):
        try:
            with store.writing(session):
                return _consume(session, programme_code, code, key, hashed, request, now)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _consume(
    session: Session,
    programme_code: str,
    code: str,
    key: str,
    hashed: str,
    request: VoucherConsumeIn,
    now: datetime,
) -> tuple[VoucherCheckPublic, bool]:
    """One attempt of ``consume_voucher``, inside ``store.writing``."""
    row, spec = programme(session, programme_code)
    voucher = _voucher(session, row.id, code)
    _lock_voucher(session, voucher.id)
    session.refresh(voucher)
    replay = _replay(session, row.id, key, hashed)
    if replay is not None:
        session.rollback()
        return VoucherCheckPublic.model_validate(replay), True
    customer_id = _customer_id(session, request.customer)
    checked = _check(voucher, spec, request, customer_id, session, now)
    if not checked.valid:
        session.rollback()
        return checked, False
    voucher.uses += 1
    session.add(VoucherUse(voucher_id=voucher.id, order_reference=request.order, at=now))
    used = checked.model_copy(update={"voucher": voucher_public(voucher, spec.currency)})
    session.add(
        Event(
            programme_id=row.id,
            key=key,
            operation="voucher",
            payload_hash=hashed,
            account_id=voucher.account_id,
            reference=request.order,
            at=now,
            points=0,
            spend=Decimal(0),
            detail={"voucher": code},
            response=used.model_dump(mode="json"),
            actor=None,
        )
    )
    session.commit()
    return used, False


def issue_vouchers(
    session: Session, *, programme_code: str, request: VoucherIssueIn, actor: str, now: datetime
) -> list[VoucherPublic]:
    """Staff issue ``count`` amount vouchers (for a customer, or for anyone with the code)."""
    row, spec = programme(session, programme_code)
    account_id = None
    if request.customer is not None:
        customer = customers.customer_ref(session, key=request.customer)
        account_id = store.ensure_account(
            session, programme_id=row.id, customer_id=customer.id, at=now
        )
    made = []
    for _ in range(request.count):
        voucher = Voucher(
            programme_id=row.id,
            code=new_code(),
            kind="amount",
            value=request.value,
            minimum_order=request.minimum_order,
            account_id=account_id,
            valid_from=now,
            valid_until=now + timedelta(days=request.valid_days),
            max_uses=request.max_uses,
            uses=0,
            created_at=now,
        )
        session.add(voucher)
        made.append(voucher)
    session.flush()
    audit(
        session,
        actor=actor,
        programme_id=row.id,
        action="vouchers.issued",
        subject=request.customer,
        details=request.model_dump(mode="json") | {"codes": [v.code for v in made]},
        now=now,
    )
    session.commit()
    return [voucher_public(v, spec.currency) for v in made]


def issue_voucher(
    session: Session,
    *,
    customer_id: int,
    value: Decimal,
    valid_days: int,
    reference: str,
    now: datetime,
    programme_code: str | None = None,
    minimum_order: Decimal = Decimal(0),
) -> VoucherPublic:
    """One amount voucher for a customer (enrolled if new), once per ``reference``; nothing is
    committed — a campaign writes the voucher in the transaction that queues its message, so
    both exist or neither does.

    The reference is kept as the idempotency key of a ``voucher`` event (``loyalty_events``,
    unique per programme): asking again with the same reference returns the voucher issued
    first. The event is inserted before the voucher with ON CONFLICT DO NOTHING, so two
    transactions issuing for the same reference at once leave one voucher (on PostgreSQL the
    second waits for the first and then reads its answer). ``programme_code`` None: the oldest
    active programme.
    """
    value, valid_days = _voucher_terms(value, valid_days, minimum_order)
    key = f"voucher.issued:{reference}"
    if not 0 < len(key) <= 200:
        raise PatronError(
            "a voucher's reference has at most 185 characters", code="voucher.invalid"
        )
    row, spec = _issuing_programme(session, programme_code)
    terms = {"customer_id": customer_id, "value": str(value), "valid_days": valid_days}
    hashed = hashlib.sha256(json.dumps(terms | {"minimum_order": str(minimum_order)}).encode())
    issued = _issued(session, row.id, key, hashed.hexdigest())
    if issued is not None:
        return issued
    account_id = store.ensure_account(session, programme_id=row.id, customer_id=customer_id, at=now)
    voucher = Voucher(
        programme_id=row.id,
        code=new_code(),
        kind="amount",
        value=value,
        minimum_order=minimum_order,
        account_id=account_id,
        valid_from=now,
        valid_until=now + timedelta(days=valid_days),
        max_uses=1,
        uses=0,
        created_at=now,
    )
    public = voucher_public(voucher, spec.currency)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    recorded = session.execute(
        dialect.insert(Event)
        .values(
            programme_id=row.id,
            key=key,
            operation="voucher",
            payload_hash=hashed.hexdigest(),
            account_id=account_id,
            reference=reference[:200],
            at=now,
            points=0,
            spend=Decimal(0),
            detail={"issued": voucher.code},
            response=public.model_dump(mode="json"),
            actor="engage",
        )
        .on_conflict_do_nothing(index_elements=[Event.programme_id, Event.key])
        .returning(Event.id)
    ).scalar()
    if recorded is None:  # a concurrent transaction issued it first
        issued = _issued(session, row.id, key, hashed.hexdigest())
        assert issued is not None
        return issued
    session.add(voucher)
    session.flush()
    return public


def _voucher_terms(value: Decimal, valid_days: int, minimum_order: Decimal) -> tuple[Decimal, int]:
    try:
        amount = Decimal(value).quantize(CENT)
    except (ArithmeticError, ValueError, TypeError):
        amount = Decimal(0)
    if not amount.is_finite() or amount <= 0 or amount > Decimal(1_000_000):
        raise PatronError(
            f"a voucher's value is an amount above 0 and up to 1,000,000, not {value!r}",
            code="voucher.invalid",
            details={"field": "value"},
        )
    if (
        isinstance(valid_days, bool)
        or not isinstance(valid_days, int)
        or not 1 <= valid_days <= 3650
    ):
        raise PatronError(
            f"a voucher is valid for 1 to 3650 days, not {valid_days!r}",
            code="voucher.invalid",
            details={"field": "valid_days"},
        )
    if minimum_order < 0:
        raise PatronError(
            "a voucher's minimum order is not negative",
            code="voucher.invalid",
            details={"field": "minimum_order"},
        )
    return amount, valid_days


def _issuing_programme(
    session: Session, programme_code: str | None
) -> tuple[ProgrammeRow, ProgrammeSpec]:
    if programme_code is not None:
        return programme(session, programme_code)
    code = session.scalar(
        select(ProgrammeRow.code).where(ProgrammeRow.active).order_by(ProgrammeRow.id).limit(1)
    )
    if code is None:
        raise NotFound(
            "no active loyalty programme issues vouchers (set one up with `patron loyalty setup`)",
            code="loyalty.unknown_programme",
        )
    return programme(session, code)


def _issued(session: Session, programme_id: int, key: str, hashed: str) -> VoucherPublic | None:
    """The voucher an earlier request with this key issued (refused if its terms differ)."""
    found = session.execute(
        select(Event.payload_hash, Event.response).where(
            Event.programme_id == programme_id, Event.key == key
        )
    ).first()
    if found is None:
        return None
    if found.payload_hash != hashed:
        raise IdempotencyMismatch(
            f"a voucher with other terms was issued under the reference {key!r}",
            details={"key": key},
        )
    return VoucherPublic.model_validate(found.response)


# Unambiguous letters and digits (no 0/O, 1/I/L): codes are read aloud and typed at tills.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code(groups: int = 3, size: int = 4) -> str:
    """A random voucher code such as ``K7QM-3XRP-9HTW`` (about 74 bits)."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(size)) for _ in range(groups))


# --- the shape every booking shares --------------------------------------------------------


def _book(
    session: Session,
    *,
    programme_code: str,
    key: str,
    operation: str,
    payload: BaseModel,
    customer_key: str,
    reference: str | None,
    actor: str | None,
    now: datetime,
    work: Callable[[_Context, _Draft], BookingPublic],
    also_lock: Sequence[int] = (),
) -> Booked:
    hashed = _hash(operation, payload)
    for attempt in (1, 2):
        try:
            with store.writing(session):
                return _book_once(
                    session,
                    programme_code,
                    key,
                    operation,
                    hashed,
                    customer_key,
                    reference,
                    actor,
                    now,
                    work,
                    also_lock,
                )
        except IntegrityError:
            # A concurrent request with the same key (or the same new member) won the race.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _book_once(
    session: Session,
    programme_code: str,
    key: str,
    operation: str,
    hashed: str,
    customer_key: str,
    reference: str | None,
    actor: str | None,
    now: datetime,
    work: Callable[[_Context, _Draft], BookingPublic],
    also_lock: Sequence[int],
) -> Booked:
    row, spec = programme(session, programme_code)
    programme_id = row.id
    customer = customers.customer_ref(session, key=customer_key)
    account_id = store.ensure_account(
        session, programme_id=programme_id, customer_id=customer.id, at=now
    )
    others = [
        store.ensure_account(session, programme_id=programme_id, customer_id=c, at=now)
        for c in also_lock
    ]
    locked = {a.id: a for a in store.lock_accounts(session, [account_id, *others])}
    replay = _replay(session, programme_id, key, hashed)
    if replay is not None:
        session.rollback()
        return Booked(BookingPublic.model_validate(replay), replayed=True)
    account = locked.pop(account_id)
    loaded = store.load(session, account)
    at = store.booking_time(loaded.ledger, now)
    ctx = _Context(session, programme_id, spec, customer, account, loaded, at, actor, locked)
    event_id = session.execute(
        insert(Event)
        .values(
            programme_id=programme_id,
            key=key,
            operation=operation,
            payload_hash=hashed,
            account_id=account.id,
            reference=reference,
            at=at,
            points=0,
            spend=Decimal(0),
            detail={},
            response={},
            actor=actor,
        )
        .returning(Event.id)
    ).scalar_one()
    event = _Draft(event_id, operation, reference)
    booking = work(ctx, event)
    session.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            points=event.points,
            spend=event.spend,
            detail=event.detail,
            response=booking.model_dump(mode="json"),
        )
    )
    session.commit()
    return Booked(booking, replayed=False)


def _replay(session: Session, programme_id: int, key: str, hashed: str) -> dict[str, Any] | None:
    found = session.execute(
        select(Event.payload_hash, Event.response, Event.operation).where(
            Event.programme_id == programme_id, Event.key == key
        )
    ).first()
    if found is None:
        return None
    if found.payload_hash != hashed:
        raise IdempotencyMismatch(
            f"the idempotency key {key!r} was used for another request ({found.operation}); "
            "use a new key for a new request",
            details={"key": key, "operation": found.operation},
        )
    response: dict[str, Any] = found.response
    return response


def _hash(operation: str, payload: BaseModel, extra: str = "") -> str:
    document = {"operation": operation, "payload": payload.model_dump(mode="json"), "extra": extra}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _save(ctx: _Context, after: pure.Ledger, sources: list[str], event: _Draft) -> None:
    store.save(ctx.session, ctx.loaded, after, sources=sources, event_id=event.id, actor=ctx.actor)
    ctx.after = after
    _review_tier(ctx, ctx.account, event, after)


def _review_tier(
    ctx: _Context, account: Account, event: _Draft | None, ledger: pure.Ledger | None = None
) -> None:
    """Upgrade at once; a member below the tier's line gets the grace period before a downgrade."""
    levels = ctx.spec.tiers
    if not levels.levels:
        return
    value = reading.qualifying_value(ctx.session, levels, account.id, ctx.at, ledger=ledger)
    before = tiers.TierState(account.tier, account.tier_since, account.tier_review_at)
    after = tiers.decide(levels, before, value, ctx.at)
    account.tier, account.tier_since, account.tier_review_at = (
        after.code,
        after.since,
        after.review_at,
    )
    if after.code != before.code:
        change = {"from": before.code, "to": after.code}
        ctx.session.flush()
        # Entering the programme's first tier is the welcome, not a change of tier.
        topic = "member.enrolled" if before.code is None else "tier.changed"
        outbox.enqueue(
            ctx.session,
            topic=topic,
            payload=_payload(ctx, account, change | {"value": str(value)}),
            key=f"{topic}:{account.id}:{ctx.at.isoformat()}:{after.code}",
            now=ctx.at,
        )
        if event is not None and account is ctx.account:
            event.detail = {**(event.detail or {}), "tier_changed": change}


def _notify(ctx: _Context, topic: str, data: dict[str, Any], event: _Draft) -> None:
    outbox.enqueue(
        ctx.session,
        topic=topic,
        payload=_payload(ctx, ctx.account, data | {"event_id": event.id}),
        key=f"{topic}:{event.id}",
        now=ctx.at,
    )


def _payload(ctx: _Context, account: Account, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "programme": ctx.spec.code,
        "customer_id": account.customer_id,
        "customer": ctx.customer.external_id if account is ctx.account else None,
        "balance": account.balance,
        "tier": account.tier,
        "at": ctx.at.isoformat(),
    } | data


def _answer(ctx: _Context, event: _Draft, points: int, reasons: list[str]) -> BookingPublic:
    ledger = ctx.after if ctx.after is not None else ctx.loaded.ledger
    balance = reading.balance_of(ctx.spec, ctx.account, ledger, ctx.at)
    changed = (event.detail or {}).get("tier_changed")
    return BookingPublic(
        event_id=event.id,
        operation=event.operation,
        programme=ctx.spec.code,
        customer_id=ctx.customer.id,
        reference=event.reference,
        points=points,
        balance=balance,
        reasons=reasons,
        tier_changed=changed,
    )


def _member(session: Session, ctx: _Context) -> earning.Member:
    facts: dict[str, Any] = {}
    today = ctx.at.date()
    if any(
        (p.abc_classes or p.rfm_segments or p.lifecycle_phases) and p.starts <= today <= p.ends
        for p in ctx.spec.promotions
    ):
        from patron.analytics.snapshots import customer_classes

        facts = customer_classes(session, ctx.customer.id) or {}
    return earning.Member(tier=ctx.account.tier, birthday=ctx.customer.birthday, **facts)


def _referral(ctx: _Context, referrer: customers.CustomerRef, order: str, event: _Draft) -> str:
    """The referrer earns the referral bonus for this new customer's first purchase."""
    account = next(a for a in ctx.others.values() if a.customer_id == referrer.id)
    loaded = store.load(ctx.session, account)
    points = ctx.spec.bonuses.referral
    at = store.booking_time(loaded.ledger, ctx.at)
    vests = earning.vests_at(ctx.spec.lots, at)
    after = loaded.ledger.earn(
        points,
        at=at,
        reference=f"referral:{order}",
        available_from=vests,
        expires_at=earning.expires_at(ctx.spec.lots, vests),
    )
    store.save(ctx.session, loaded, after, sources=["referral"], event_id=event.id, actor=ctx.actor)
    _review_tier(ctx, account, None, after)
    outbox.enqueue(
        ctx.session,
        topic="points.earned",
        payload=_payload(ctx, account, {"points": points, "referral": order}),
        key=f"points.earned:referral:{event.id}",
        now=ctx.at,
    )
    return f"{points} points to {referrer.external_id or referrer.id} for the referral"


def _return_share(bought: Event, returned: ReturnIn) -> Fraction:
    detail = bought.detail or {}
    if returned.share is not None:
        return Fraction(returned.share)
    if returned.amount is not None:
        return earning.amount_share(Decimal(detail.get("spend", "0")), returned.amount)
    exact = [Decimal(x) for x in detail.get("lines", [])]
    lines = [
        earning.LinePoints(index=i, earnable=x > 0, amount=Decimal(0), factor=Decimal(1), exact=x)
        for i, x in enumerate(exact)
    ]
    assert returned.lines is not None
    shares: dict[int, Decimal] = {}
    for line in returned.lines:
        shares[line.line] = shares.get(line.line, Decimal(0)) + line.share
    return earning.return_share(lines, shares)


def _redeem_reward(ctx: _Context, event: _Draft, code: str) -> BookingPublic:
    session = ctx.session
    reward = session.scalar(
        select(Reward).where(
            Reward.programme_id == ctx.programme_id, Reward.code == code, Reward.active
        )
    )
    if reward is None:
        raise NotFound(f"no reward {code!r} in {ctx.spec.code!r}", code="loyalty.unknown_reward")
    spec = RewardSpec.model_validate(reward.spec)
    redeemed = session.scalar(
        select(func.count())
        .select_from(Redemption)
        .where(Redemption.account_id == ctx.account.id, Redemption.reward_id == reward.id)
    )
    problem = reading.reward_problem(
        ctx.spec, spec, reward.stock, ctx.account, int(redeemed or 0), None, ctx.at
    )
    if problem is not None:
        raise Conflict(problem[1], code=problem[0], details={"reward": code})
    ledger = ctx.loaded.ledger.redeem(reward.cost, at=ctx.at, reference=f"reward:{code}")
    if reward.stock is not None:
        taken = session.execute(
            update(Reward)
            .where(Reward.id == reward.id, Reward.stock > 0)
            .values(stock=Reward.stock - 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"reward {code!r} is out of stock", code="loyalty.out_of_stock")
    event.points = -reward.cost
    _save(ctx, ledger, [], event)
    voucher = None
    if spec.kind in (RewardKind.discount_voucher, RewardKind.free_product):
        voucher = Voucher(
            programme_id=ctx.programme_id,
            code=new_code(),
            kind="amount" if spec.kind is RewardKind.discount_voucher else "free_product",
            value=spec.value or Decimal(0),
            sku=spec.sku,
            minimum_order=spec.minimum_order,
            account_id=ctx.account.id,
            reward_id=reward.id,
            valid_from=ctx.at,
            valid_until=ctx.at + timedelta(days=spec.voucher_valid_days),
            max_uses=1,
            uses=0,
            created_at=ctx.at,
        )
        session.add(voucher)
        session.flush()
    session.add(
        Redemption(
            account_id=ctx.account.id,
            reward_id=reward.id,
            entry_number=len(ledger.entries) - 1,
            points=reward.cost,
            voucher_id=voucher.id if voucher else None,
            at=ctx.at,
        )
    )
    _notify(
        ctx,
        "reward.redeemed",
        {"reward": code, "points": reward.cost, "voucher": voucher.code if voucher else None},
        event,
    )
    answer = _answer(ctx, event, -reward.cost, [f"{reward.cost} points for {reward.name}"])
    if voucher is not None:
        answer.voucher = voucher_public(voucher, ctx.spec.currency)
    return answer


def _voucher(session: Session, programme_id: int, code: str) -> Voucher:
    voucher = session.scalar(
        select(Voucher).where(Voucher.programme_id == programme_id, Voucher.code == code.upper())
    )
    if voucher is None:
        raise NotFound(f"no voucher {code!r}", code="voucher.unknown", details={"code": code})
    return voucher


def _lock_voucher(session: Session, voucher_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Voucher.id).where(Voucher.id == voucher_id).with_for_update())
    else:
        session.execute(update(Voucher).where(Voucher.id == voucher_id).values(uses=Voucher.uses))


def _customer_id(session: Session, key: str | None) -> int | None:
    return None if key is None else customers.customer_ref(session, key=key).id


def _check(
    voucher: Voucher,
    spec: ProgrammeSpec,
    request: VoucherCheckIn,
    customer_id: int | None,
    session: Session,
    now: datetime,
) -> VoucherCheckPublic:
    owner = None
    if voucher.account_id is not None:
        owner = session.scalar(select(Account.customer_id).where(Account.id == voucher.account_id))
    problem = reading.voucher_problem(
        voucher, spec.currency, request.currency, request.order_total, owner, customer_id, now
    )
    public = voucher_public(voucher, spec.currency)
    if problem is not None:
        return VoucherCheckPublic(
            code=voucher.code, valid=False, reason=problem[0], message=problem[1], voucher=public
        )
    discount = min(voucher.value, request.order_total) if voucher.kind == "amount" else Decimal(0)
    return VoucherCheckPublic(code=voucher.code, valid=True, discount=discount, voucher=public)


def voucher_public(voucher: Voucher, currency: str) -> VoucherPublic:
    return VoucherPublic(
        code=voucher.code,
        kind=voucher.kind,
        value=voucher.value.quantize(CENT),
        currency=currency,
        sku=voucher.sku,
        minimum_order=voucher.minimum_order.quantize(CENT),
        valid_from=voucher.valid_from,
        valid_until=voucher.valid_until,
        uses=voucher.uses,
        max_uses=voucher.max_uses,
    )
