"""What members and staff read: balance, statement, tier progress, rewards, members, liability.

Nothing here writes. The rules of what a member may redeem and when a voucher is valid live
here too (``reward_problem``, ``voucher_problem``), so the listing and the booking agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from patron.customers import service as customers
from patron.customers.models import Customer
from patron.errors import NotFound
from patron.loyalty import ledger as pure
from patron.loyalty import store, tiers
from patron.loyalty.models import (
    Account,
    Entry,
    Event,
    Lot,
    Programme,
    Redemption,
    Reward,
    Voucher,
)
from patron.loyalty.programme import ProgrammeSpec, QualifyOn, Tiers
from patron.loyalty.programme import Reward as RewardSpec
from patron.loyalty.programme import Tier as TierSpec
from patron.loyalty.schemas import (
    BalancePublic,
    EntryPublic,
    LiabilityRow,
    LotPublic,
    MemberRow,
    MembersPublic,
    ProgressPublic,
    RewardPublic,
    StatementPublic,
    TierPublic,
)
from patron.loyalty.setup import programme, programmes

EXPIRING_WITHIN = timedelta(days=90)


class NotAMember(NotFound):
    code = "loyalty.not_a_member"


def member(
    session: Session, *, programme_code: str, customer: str
) -> tuple[ProgrammeSpec, Account]:
    row, spec = programme(session, programme_code)
    found = customers.find_customer(session, key=customer)
    account = session.scalar(
        select(Account).where(Account.programme_id == row.id, Account.customer_id == found.id)
    )
    if account is None:
        raise NotAMember(
            f"customer {customer!r} is not a member of {programme_code!r} yet "
            "(a first purchase or event enrols them)",
            details={"customer": customer, "programme": programme_code},
        )
    return spec, account


def balance(
    session: Session, *, programme_code: str, customer: str, now: datetime
) -> BalancePublic:
    spec, account = member(session, programme_code=programme_code, customer=customer)
    return balance_of(spec, account, store.load(session, account).ledger, now)


def balance_of(
    spec: ProgrammeSpec, account: Account, ledger: pure.Ledger, at: datetime
) -> BalancePublic:
    available = ledger.available(at)
    expiring: dict[date, int] = defaultdict(int)
    for held in ledger.lots(at):
        lot = held.lot
        if held.remaining and lot.expires_at and at < lot.expires_at <= at + EXPIRING_WITHIN:
            expiring[lot.expires_at.date()] += held.remaining
    return BalancePublic(
        programme=spec.code,
        customer_id=account.customer_id,
        balance=ledger.balance(at),
        available=available,
        pending=ledger.pending(at),
        debt=ledger.return_debt(at),
        value=(max(available, 0) * spec.point_value).quantize(Decimal("0.01")),
        currency=spec.currency,
        expiring=[{"date": d.isoformat(), "points": n} for d, n in sorted(expiring.items())],
        tier=tier_public(spec.tier(account.tier)),
        tier_review_at=account.tier_review_at,
    )


def tier_public(tier: TierSpec | None) -> TierPublic | None:
    if tier is None:
        return None
    return TierPublic(
        code=tier.code,
        name=tier.name,
        threshold=tier.threshold,
        factor=tier.factor,
        benefits=list(tier.benefits),
    )


def statement(
    session: Session, *, programme_code: str, customer: str, page: int = 1, per_page: int = 50
) -> StatementPublic:
    """The member's entries, newest first, each with the balance after it; and every lot."""
    _spec, account = member(session, programme_code=programme_code, customer=customer)
    entries = list(
        session.scalars(select(Entry).where(Entry.account_id == account.id).order_by(Entry.number))
    )
    running, rows = 0, []
    for entry in entries:
        running += entry.amount
        rows.append(
            EntryPublic(
                number=entry.number,
                kind=entry.kind,
                amount=entry.amount,
                at=entry.at,
                reference=entry.reference,
                reason=entry.reason,
                actor=entry.actor,
                running_balance=running,
            )
        )
    rows.reverse()
    start = (max(page, 1) - 1) * per_page
    lots = session.scalars(select(Lot).where(Lot.account_id == account.id).order_by(Lot.number))
    return StatementPublic(
        data=rows[start : start + per_page],
        count=len(rows),
        lots=[LotPublic.model_validate(lot) for lot in lots],
    )


def _counted(levels: Tiers, at: datetime) -> tuple[Any, Any, Any, list[ColumnElement[bool]]]:
    """What counts toward a tier in the window ending at ``at``: the account, instant and value
    columns and the conditions, for points earned less returns or earnable spend less returns."""
    since = tiers.window_start(levels, at)
    if levels.qualify_on is QualifyOn.spend:
        window = [Event.operation.in_(("purchase", "return")), Event.at > since, Event.at <= at]
        return Event.account_id, Event.at, Event.spend, window
    window = [Entry.kind.in_(("earn", "reverse")), Entry.at > since, Entry.at <= at]
    return Entry.account_id, Entry.at, Entry.amount, window


def contributions(
    session: Session, levels: Tiers, account_id: int, at: datetime
) -> list[tiers.Contribution]:
    """The member's contributions toward a tier in the window ending at ``at``."""
    account, when, value, window = _counted(levels, at)
    rows = session.execute(select(when, value).where(account == account_id, *window))
    return [tiers.Contribution(instant, Decimal(amount)) for instant, amount in rows]


def qualifying_values(
    session: Session, levels: Tiers, programme_id: int, at: datetime
) -> dict[int, Decimal]:
    """``qualifying_value`` of every member of a programme, in one query."""
    account, _when, value, window = _counted(levels, at)
    members = select(Account.id).where(Account.programme_id == programme_id)
    totals = session.execute(
        select(account, func.sum(value)).where(account.in_(members), *window).group_by(account)
    )
    return {member: max(Decimal(0), Decimal(total or 0)) for member, total in totals if member}


def qualifying_value(
    session: Session,
    levels: Tiers,
    account_id: int,
    at: datetime,
    *,
    ledger: pure.Ledger | None = None,
) -> Decimal:
    """The member's value toward a tier at ``at``; from ``ledger`` (the member's, just loaded)
    when the tier counts points, so a booking need not query again."""
    if ledger is not None and levels.qualify_on is QualifyOn.points:
        since = tiers.window_start(levels, at)
        counted = [
            tiers.Contribution(e.at, Decimal(e.amount))
            for e in ledger.entries
            if e.kind in (pure.EntryKind.EARN, pure.EntryKind.REVERSE) and since < e.at <= at
        ]
        return tiers.qualifying_value(levels, counted, at)
    return tiers.qualifying_value(levels, contributions(session, levels, account_id, at), at)


def progress(
    session: Session, *, programme_code: str, customer: str, now: datetime
) -> ProgressPublic:
    spec, account = member(session, programme_code=programme_code, customer=customer)
    return progress_of(session, spec, account, now)


def progress_of(
    session: Session, spec: ProgrammeSpec, account: Account, now: datetime
) -> ProgressPublic:
    levels = spec.tiers
    state = tiers.TierState(account.tier, account.tier_since, account.tier_review_at)
    found = tiers.progress(
        levels, state, contributions(session, levels, account.id, now), now, currency=spec.currency
    )
    return ProgressPublic(
        tier=tier_public(found.tier),
        value=found.value,
        qualify_on=levels.qualify_on.value,
        window_months=levels.window_months,
        next_tier=tier_public(found.next_tier),
        missing=found.missing,
        by=found.by,
        keep_until=found.keep_until,
        needed_to_keep=found.needed_to_keep,
        rules=list(found.rules),
    )


def reward_problem(
    programme_spec: ProgrammeSpec,
    reward: RewardSpec,
    stock: int | None,
    account: Account,
    redeemed: int,
    available: int | None,
    at: datetime,
) -> tuple[str, str] | None:
    """Why ``account`` cannot redeem ``reward`` at ``at`` (a code and a sentence), or None."""
    today = at.date()
    if reward.valid_from and today < reward.valid_from:
        return "loyalty.reward_not_yet", f"{reward.name} can be redeemed from {reward.valid_from}"
    if reward.valid_until and today > reward.valid_until:
        return "loyalty.reward_ended", f"{reward.name} could be redeemed until {reward.valid_until}"
    if reward.min_tier is not None:
        order = [t.code for t in programme_spec.tiers.levels]
        held = order.index(account.tier) if account.tier in order else -1
        if held < order.index(reward.min_tier):
            needed = programme_spec.tier(reward.min_tier)
            name = needed.name if needed else reward.min_tier
            return "loyalty.tier_required", f"{reward.name} is for {name} members and above"
    if reward.per_member_limit is not None and redeemed >= reward.per_member_limit:
        return (
            "loyalty.limit_reached",
            f"{reward.name} can be redeemed {reward.per_member_limit} times per member",
        )
    if stock is not None and stock <= 0:
        return "loyalty.out_of_stock", f"{reward.name} is out of stock"
    if available is not None and available < reward.cost:
        return (
            "points.insufficient",
            f"{reward.name} costs {reward.cost} points, {available} are available",
        )
    return None


def rewards(
    session: Session, *, programme_code: str, customer: str | None, now: datetime
) -> list[RewardPublic]:
    """The catalogue; for a member, each reward says whether they can redeem it now, or why not."""
    row, spec = programme(session, programme_code)
    account, available, counts = None, None, {}
    if customer is not None:
        spec, account = member(session, programme_code=programme_code, customer=customer)
        available = store.load(session, account).ledger.available(now)
        counts = dict(
            session.execute(
                select(Redemption.reward_id, func.count())
                .where(Redemption.account_id == account.id)
                .group_by(Redemption.reward_id)
            ).all()
        )
    found = []
    query = select(Reward).where(Reward.programme_id == row.id, Reward.active).order_by(Reward.cost)
    for reward in session.scalars(query):
        reward_spec = RewardSpec.model_validate(reward.spec)
        problem = None
        if account is not None:
            problem = reward_problem(
                spec, reward_spec, reward.stock, account, counts.get(reward.id, 0), available, now
            )
        found.append(
            RewardPublic(
                code=reward.code,
                name=reward.name,
                description=reward_spec.description,
                kind=reward_spec.kind.value,
                cost=reward.cost,
                value=reward_spec.value,
                stock=reward.stock,
                min_tier=reward_spec.min_tier,
                valid_until=reward_spec.valid_until,
                redeemable=account is not None and problem is None,
                why_not=problem[1] if problem else None,
            )
        )
    return found


def voucher_problem(
    voucher: Voucher,
    programme_currency: str,
    currency: str,
    order_total: Decimal,
    owner: int | None,
    customer_id: int | None,
    now: datetime,
) -> tuple[str, str] | None:
    if voucher.cancelled_at is not None:
        return "voucher.cancelled", f"voucher {voucher.code} was cancelled"
    if now < voucher.valid_from:
        return (
            "voucher.not_yet_valid",
            f"voucher {voucher.code} is valid from {voucher.valid_from:%Y-%m-%d}",
        )
    if voucher.valid_until is not None and now >= voucher.valid_until:
        return (
            "voucher.expired",
            f"voucher {voucher.code} expired on {voucher.valid_until:%Y-%m-%d}",
        )
    if voucher.uses >= voucher.max_uses:
        return "voucher.used", f"voucher {voucher.code} has been used"
    if currency != programme_currency:
        return (
            "voucher.currency",
            f"voucher {voucher.code} is in {programme_currency}, not {currency}",
        )
    if order_total < voucher.minimum_order:
        return (
            "voucher.minimum_order",
            f"voucher {voucher.code} needs an order of at least "
            f"{voucher.minimum_order.quantize(Decimal('0.01'))} {currency}",
        )
    if owner is not None and customer_id != owner:
        return "voucher.other_customer", f"voucher {voucher.code} belongs to another customer"
    return None


def vouchers_of(session: Session, *, programme_code: str, customer: str) -> list[Voucher]:
    _spec, account = member(session, programme_code=programme_code, customer=customer)
    return list(
        session.scalars(
            select(Voucher).where(Voucher.account_id == account.id).order_by(Voucher.id.desc())
        )
    )


def members(
    session: Session,
    *,
    programme_code: str,
    search: str | None = None,
    tier: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> MembersPublic:
    row, _spec = programme(session, programme_code)
    where = [Account.programme_id == row.id]
    if tier:
        where.append(Account.tier == tier)
    if search:
        term = "%" + customers.escape_like(search.strip().lower()) + "%"
        where.append(
            or_(
                func.lower(Customer.name).like(term, escape="\\"),
                func.lower(Customer.email).like(term, escape="\\"),
                func.lower(Customer.external_id).like(term, escape="\\"),
            )
        )
    base = (
        select(Account, Customer).join(Customer, Customer.id == Account.customer_id).where(*where)
    )
    count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        base.order_by(Account.balance.desc(), Account.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return MembersPublic(
        data=[
            MemberRow(
                customer_id=customer.id,
                external_id=customer.external_id,
                name=customer.name,
                tier=account.tier,
                balance=account.balance,
                debt=account.debt,
                enrolled_at=account.enrolled_at,
                last_entry_at=account.last_entry_at,
            )
            for account, customer in rows
        ],
        count=count,
    )


def liability(session: Session, *, now: datetime) -> list[LiabilityRow]:
    """Per programme: outstanding points (what lots still hold, pending included, unexpired,
    less return debt), their value, and what expires in the next calendar month."""
    start, end = next_month(now)
    rows = []
    for row, spec in programmes(session):
        accounts = select(Account.id).where(Account.programme_id == row.id)
        members_count, debt = session.execute(
            select(func.count(), func.coalesce(func.sum(Account.debt), 0)).where(
                Account.programme_id == row.id
            )
        ).one()
        open_lots = and_(
            Lot.account_id.in_(accounts),
            Lot.remaining > 0,
            or_(Lot.expires_at.is_(None), Lot.expires_at > now),
        )
        held = session.scalar(select(func.coalesce(func.sum(Lot.remaining), 0)).where(open_lots))
        pending = session.scalar(
            select(func.coalesce(func.sum(Lot.remaining), 0)).where(
                open_lots, Lot.available_from > now
            )
        )
        expiring = session.scalar(
            select(func.coalesce(func.sum(Lot.remaining), 0)).where(
                open_lots, Lot.expires_at >= start, Lot.expires_at < end
            )
        )
        points = int(held or 0) - int(debt or 0)
        rows.append(
            LiabilityRow(
                programme=spec.code,
                currency=spec.currency,
                point_value=spec.point_value,
                members=int(members_count),
                points=points,
                pending=int(pending or 0),
                value=(points * spec.point_value).quantize(Decimal("0.01")),
                expiring_next_month=int(expiring or 0),
                expiring_value=(int(expiring or 0) * spec.point_value).quantize(Decimal("0.01")),
                debt=int(debt or 0),
            )
        )
    return rows


def next_month(now: datetime) -> tuple[datetime, datetime]:
    """The first instant of next month and of the month after (UTC): what "expiring next month"
    counts."""
    first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (first + timedelta(days=32)).replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


# --- for personal messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class MemberSummary:
    """What a personal message says about a member: tier, points, and what expires soon.

    ``balance``, ``available`` and ``pending`` mean what they mean in ``balance``;
    ``expiring_points`` are held in lots that expire within the window asked for, the first of
    them on ``expiring_on``.
    """

    customer_id: int
    programme: str
    tier: str | None  # the tier's code
    tier_name: str | None
    balance: int
    available: int
    pending: int
    expiring_points: int
    expiring_on: date | None


SUMMARY_CHUNK = 5_000  # customer ids per query: within every driver's limit on parameters


def summaries(
    session: Session,
    customer_ids: Sequence[int],
    *,
    now: datetime,
    within: timedelta = timedelta(days=30),
    programme_code: str | None = None,
) -> dict[int, MemberSummary]:
    """The members among ``customer_ids`` with their summary, in one query per 5,000 customers
    (plus one for the programme): a campaign personalises a whole audience at once.

    Read from the cached columns (a lot's ``remaining``, an account's ``balance`` and ``debt``),
    which equal what the ledger gives at ``now`` once every booking up to ``now`` is written:
    the same figures as ``balance`` without loading each member's ledger. ``programme_code``
    None means the oldest active programme (shops run one); none at all gives no members.
    """
    chosen = _programme_or_first(session, programme_code)
    if chosen is None:
        return {}
    row, spec = chosen
    ids = sorted(set(customer_ids))
    found: dict[int, MemberSummary] = {}
    for start in range(0, len(ids), SUMMARY_CHUNK):
        chunk = ids[start : start + SUMMARY_CHUNK]
        if session.get_bind().dialect.name == "postgresql":  # one parameter, not thousands
            members = Account.customer_id == any_(bindparam(None, chunk, type_=ARRAY(Integer)))
        else:
            members = Account.customer_id.in_(chunk)
        query = _summary_query(row.id, members, now, within)
        for r in session.execute(query):
            tier = spec.tier(r.tier)
            found[r.customer_id] = MemberSummary(
                customer_id=r.customer_id,
                programme=spec.code,
                tier=r.tier,
                tier_name=tier.name if tier else None,
                balance=int(r.balance),
                available=int(r.usable or 0) - int(r.debt),
                pending=int(r.pending or 0),
                expiring_points=int(r.expiring or 0),
                expiring_on=_utc(r.expiring_on).date() if r.expiring_on is not None else None,
            )
    return found


def _summary_query(
    programme_id: int, members: ColumnElement[bool], now: datetime, within: timedelta
) -> Select[*tuple[Any, ...]]:
    """Each member's account joined to the lots that still hold points, summed by kind."""
    usable = (Lot.available_from <= now) & (Lot.expires_at.is_(None) | (Lot.expires_at > now))
    expiring = (Lot.expires_at > now) & (Lot.expires_at <= now + within)
    return (
        select(
            Account.customer_id,
            Account.tier,
            Account.balance,
            Account.debt,
            func.sum(case((usable, Lot.remaining), else_=0)).label("usable"),
            func.sum(case((Lot.available_from > now, Lot.remaining), else_=0)).label("pending"),
            func.sum(case((expiring, Lot.remaining), else_=0)).label("expiring"),
            func.min(case((expiring, Lot.expires_at), else_=None)).label("expiring_on"),
        )
        .outerjoin(Lot, (Lot.account_id == Account.id) & (Lot.remaining > 0))
        .where(Account.programme_id == programme_id, members)
        .group_by(Account.id, Account.customer_id, Account.tier, Account.balance, Account.debt)
    )


def _utc(value: datetime | str) -> datetime:
    """MIN() over a timestamp: SQLite hands back its stored text, PostgreSQL a datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _programme_or_first(
    session: Session, programme_code: str | None
) -> tuple[Programme, ProgrammeSpec] | None:
    if programme_code is not None:
        return programme(session, programme_code)
    code = session.scalar(
        select(Programme.code).where(Programme.active).order_by(Programme.id).limit(1)
    )
    return None if code is None else programme(session, code)


def tier_levels(session: Session, *, programme_code: str) -> tuple[TierPublic, ...]:
    """The programme's tiers from the entry tier up: the order that says whether a change of
    tier was an upgrade."""
    _row, spec = programme(session, programme_code)
    return tuple(t for t in (tier_public(level) for level in spec.tiers.levels) if t is not None)


@dataclass(frozen=True)
class Enrolment:
    customer_id: int
    programme: str
    programme_name: str
    enrolled_at: datetime


def enrolments(session: Session, *, since: datetime, until: datetime) -> list[Enrolment]:
    """Who became a member of an active programme after ``since`` and by ``until``, oldest
    first. Read from the accounts, so a programme without tiers (whose members never get a
    ``member.enrolled`` event) is covered too."""
    rows = session.execute(
        select(Account.customer_id, Programme.code, Programme.name, Account.enrolled_at)
        .join(Programme, Programme.id == Account.programme_id)
        .where(Programme.active, Account.enrolled_at > since, Account.enrolled_at <= until)
        .order_by(Account.enrolled_at, Account.id)
    )
    return [Enrolment(int(c), code, name, at) for c, code, name, at in rows]
