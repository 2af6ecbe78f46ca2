"""Use cases of subscriptions: create one, read and list them, change items, rhythm or price,
pause, resume, skip a delivery, cancel within the contract's rules, and the history.

Every function that writes commits its own work, keeps a line of history (``SubscriptionChange``
with the actor: ``apikey:…``, ``portal``, ``user:<id>``, ``worker``) and queues the webhook event
the shop needs (``subscription.created``, ``.changed``, ``.paused``, ``.resumed``, ``.skipped``,
``.cancelled``) in the same transaction. A refused request changes nothing.

A cancelled subscription keeps status ``cancelled`` from the day it is asked, with ``ends_on`` the
last day of delivery the contract allows (``terms.earliest_end``): deliveries continue until then,
and the worker clears ``next_due`` after it (``deliveries.end_finished``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer, Product
from patron.db import utcnow
from patron.errors import Conflict, NotFound, PatronError
from patron.outbox import service as outbox
from patron.subscriptions import notices, pricing, schedule, terms
from patron.subscriptions.models import (
    CANCEL_REASONS,
    STATUSES,
    Subscription,
    SubscriptionChange,
    SubscriptionDelivery,
    SubscriptionItem,
)
from patron.subscriptions.schemas import (
    CancelTerms,
    ChangePublic,
    HistoryPublic,
    IntervalPublic,
    ItemIn,
    ItemPublic,
    SubscriptionCreate,
    SubscriptionPublic,
    SubscriptionsPublic,
    SubscriptionUpdate,
)

MAX_PAUSE_DAYS = 183
MAX_LIST = 500
_PENDING = "pending:"  # a made-up key's placeholder until the row has its number


class SubscriptionInvalid(PatronError):
    code = "subscriptions.invalid"
    status = 422


class SubscriptionRefused(Conflict):
    """What the subscription's state does not allow now (pause a paused one, skip an announced
    delivery, cancel twice)."""

    code = "subscriptions.refused"


def _invalid(field: str, message: str, **details: Any) -> SubscriptionInvalid:
    return SubscriptionInvalid(message, details={"field": field, **details})


# --- creating ----------------------------------------------------------------------------------


def create(
    session: Session,
    request: SubscriptionCreate,
    *,
    settings: Settings,
    actor: str,
    now: datetime,
) -> SubscriptionPublic:
    """Create a subscription and commit (see ``create_or_repeat``)."""
    return create_or_repeat(session, request, settings=settings, actor=actor, now=now)[0]


def create_or_repeat(
    session: Session,
    request: SubscriptionCreate,
    *,
    settings: Settings,
    actor: str,
    now: datetime,
) -> tuple[SubscriptionPublic, bool]:
    """Create a subscription and commit; ``(subscription, created)``.

    The same ``key`` with the same content again answers with the subscription made the first
    time (``created`` False), even after it changed since; with other content it is refused
    (``subscriptions.key_taken``, 409): a key names one subscription.
    """
    if request.key is not None:
        repeated = _repeated(session, request, now=now)
        if repeated is not None:
            return repeated, False
    try:
        made = _insert(session, request, settings=settings, actor=actor, now=now)
    except IntegrityError:
        session.rollback()  # the same key, made at the same moment by another request
        repeated = _repeated(session, request, now=now) if request.key else None
        if repeated is None:
            raise
        return repeated, False
    return get(session, made, now=now), True


def _fingerprint(request: SubscriptionCreate) -> dict[str, Any]:
    return request.model_dump(mode="json")


def _repeated(
    session: Session, request: SubscriptionCreate, *, now: datetime
) -> SubscriptionPublic | None:
    row = session.scalar(select(Subscription).where(Subscription.key == request.key))
    if row is None:
        return None
    first = session.scalar(
        select(SubscriptionChange.details).where(
            SubscriptionChange.subscription_id == row.id, SubscriptionChange.kind == "created"
        )
    )
    if (first or {}).get("request") != _fingerprint(request):
        raise Conflict(
            f"subscription key {request.key!r} is taken by a subscription with other content",
            code="subscriptions.key_taken",
            details={"field": "key", "key": request.key},
        )
    return get(session, row.key, now=now)


def _insert(
    session: Session,
    request: SubscriptionCreate,
    *,
    settings: Settings,
    actor: str,
    now: datetime,
) -> str:
    customer = _customer(session, request.customer)
    zone_name = _zone_name(request.time_zone, customer.time_zone, settings)
    today = schedule.local_today(now, ZoneInfo(zone_name))
    started_on = request.started_on or today
    rhythm = schedule.Rhythm(request.interval.unit.value, request.interval.count)
    if request.first_due is not None:
        if request.first_due < today:
            raise _invalid(
                "first_due",
                f"first_due {request.first_due} lies in the past (today is {today} in "
                f"{zone_name}): give the next delivery's date",
            )
        if request.first_due < started_on:
            raise _invalid("first_due", "first_due must not lie before started_on")
        first = request.first_due
    else:
        anchored = schedule.month_anchor(rhythm, started_on)
        first = schedule.resume_on(anchored, started_on, today)
    rhythm = schedule.month_anchor(rhythm, first)
    contract = terms.Contract(
        started_on, request.minimum_term_months, request.notice_days, request.renewal_months
    )
    row = Subscription(
        key=request.key or f"{_PENDING}{now.timestamp()}:{customer.id}:{id(request)}",
        customer_id=customer.id,
        interval_unit=rhythm.unit,
        interval_count=rhythm.count,
        anchor_day=rhythm.anchor_day,
        time_zone=zone_name,
        next_due=first,
        status="active",
        discount_percent=request.discount_percent,
        benefit=_benefit(request.benefit),
        currency=settings.currency,
        started_on=started_on,
        minimum_term_months=contract.minimum_term_months,
        notice_days=contract.notice_days,
        renewal_months=contract.renewal_months,
        term_ends_on=terms.term_in_force(contract, today),
        source=request.source.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if request.key is None:
        row.key = _made_key(session, row.id)
    _set_items(session, row, request.items)
    _record(
        session,
        row,
        "created",
        actor=actor,
        now=now,
        details={"request": _fingerprint(request)},
        event={"next_due": first.isoformat(), "source": row.source},
    )
    session.commit()
    return row.key


def _customer(session: Session, key: str) -> Customer:
    ref = customers.customer_ref(session, key=key)
    customer = session.get_one(Customer, ref.id)
    if customer.erased_at is not None:
        raise SubscriptionRefused(
            f"customer {key!r} was erased: no new subscriptions",
            details={"field": "customer", "customer": key},
        )
    return customer


def _zone_name(asked: str | None, customer_zone: str | None, settings: Settings) -> str:
    """The zone asked for (which must exist), else the customer's if known here, else the shop's."""
    if asked is not None:
        if _zone(asked) is None:
            raise _invalid("time_zone", f"unknown time zone {asked!r}", value=asked)
        return asked
    if customer_zone and _zone(customer_zone) is not None:
        return customer_zone
    return settings.timezone


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _made_key(session: Session, number: int) -> str:
    """``S-000123`` from the row's number; a suffix in the rare case a shop already uses it."""
    key, n = f"S-{number:06d}", 1
    while session.scalar(select(Subscription.id).where(Subscription.key == key)) is not None:
        n += 1
        key = f"S-{number:06d}-{n}"
    return key


def _benefit(text: str | None) -> str | None:
    return (text or "").strip() or None


def _set_items(session: Session, row: Subscription, items: list[ItemIn]) -> None:
    """Replace the subscription's items; each SKU once, each with a price from somewhere."""
    skus = [item.sku.strip() for item in items]
    products = {
        p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(set(skus))))
    }
    seen: set[str] = set()
    for index, (sku, item) in enumerate(zip(skus, items, strict=True)):
        field = f"items[{index}].sku"
        if sku in seen:
            raise _invalid(field, f"SKU {sku!r} appears twice: give it once with its quantity")
        seen.add(sku)
        product = products.get(sku)
        if product is None:
            raise NotFound(
                f"no product with SKU {sku!r}",
                code="products.not_found",
                details={"field": field, "sku": sku},
            )
        if item.unit_price is None and product.price is None:
            raise _invalid(
                f"items[{index}].unit_price",
                f"product {sku!r} has no list price: give the agreed unit_price",
            )
    for old in session.scalars(
        select(SubscriptionItem).where(SubscriptionItem.subscription_id == row.id)
    ):
        session.delete(old)
    session.flush()
    for line_no, (sku, item) in enumerate(zip(skus, items, strict=True), start=1):
        session.add(
            SubscriptionItem(
                subscription_id=row.id,
                line_no=line_no,
                product_id=products[sku].id,
                quantity=item.quantity,
                unit_price=item.unit_price,
            )
        )
    session.flush()


# --- the history and the shop's events ---------------------------------------------------------


def _record(
    session: Session,
    row: Subscription,
    kind: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
) -> None:
    """A line of history and, for what the shop must know, the webhook event (keyed by it)."""
    line = SubscriptionChange(
        subscription_id=row.id, kind=kind, at=now, actor=actor, reason=reason, details=details
    )
    session.add(line)
    row.updated_at = now
    session.flush()
    topic = TOPICS.get(kind)
    if topic is None:
        return
    customer = session.get_one(Customer, row.customer_id)
    payload = {
        "subscription": row.key,
        "customer": customer.external_id or str(customer.id),
        "status": row.status,
        "actor": actor,
        **(event or {}),
    }
    outbox.enqueue(session, topic=topic, payload=payload, key=f"{topic}:{line.id}", now=now)


TOPICS = {
    "created": "subscription.created",
    "changed": "subscription.changed",
    "interval_changed": "subscription.changed",
    "paused": "subscription.paused",
    "resumed": "subscription.resumed",
    "skipped": "subscription.skipped",
    "cancelled": "subscription.cancelled",
}


# --- reading -----------------------------------------------------------------------------------


def find(session: Session, key: str) -> Subscription:
    """The subscription with this key (``subscriptions.not_found`` otherwise)."""
    row = session.scalar(select(Subscription).where(Subscription.key == key.strip()))
    if row is None:
        raise NotFound(
            f"no subscription {key!r}", code="subscriptions.not_found", details={"key": key}
        )
    return row


def _locked(session: Session, key: str) -> Subscription:
    row = session.scalar(
        select(Subscription).where(Subscription.key == key.strip()).with_for_update()
    )
    if row is None:
        raise NotFound(
            f"no subscription {key!r}", code="subscriptions.not_found", details={"key": key}
        )
    return row


def _publics(
    session: Session, rows: list[Subscription], *, now: datetime
) -> list[SubscriptionPublic]:
    """The public form of each row, reading their items and customers in two queries."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    items: dict[int, list[tuple[SubscriptionItem, Product]]] = {i: [] for i in ids}
    for item, product in session.execute(
        select(SubscriptionItem, Product)
        .join(Product, Product.id == SubscriptionItem.product_id)
        .where(SubscriptionItem.subscription_id.in_(ids))
        .order_by(SubscriptionItem.subscription_id, SubscriptionItem.line_no)
    ):
        items[item.subscription_id].append((item, product))
    people = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(Customer.id.in_({row.customer_id for row in rows}))
        )
    }
    return [_public(row, items[row.id], people[row.customer_id], now) for row in rows]


def _public(
    row: Subscription,
    items: list[tuple[SubscriptionItem, Product]],
    customer: Customer,
    now: datetime,
) -> SubscriptionPublic:
    lines = []
    for item, product in items:
        agreed = item.unit_price if item.unit_price is not None else product.price
        price = pricing.unit_price(agreed, row.discount_percent)
        lines.append(
            ItemPublic(
                line_no=item.line_no,
                sku=product.sku,
                product_name=product.name,
                quantity=item.quantity,
                unit_price=agreed,
                effective_price=price,
                line_total=pricing.line_total(price, item.quantity),
            )
        )
    per_delivery = pricing.delivery_value(line.line_total for line in lines)
    rhythm = schedule.rhythm_of(row)
    cancel = None if row.status == "cancelled" else _terms_on(row, _today(row, now))
    return SubscriptionPublic(
        key=row.key,
        customer=customer.external_id or str(customer.id),
        customer_id=customer.id,
        customer_name=customer.name,
        status=row.status,
        interval=IntervalPublic(unit=rhythm.unit, count=rhythm.count, anchor_day=rhythm.anchor_day),
        time_zone=row.time_zone,
        next_due=row.next_due,
        paused_until=row.paused_until,
        items=lines,
        currency=row.currency,
        discount_percent=row.discount_percent,
        benefit=row.benefit,
        delivery_value=per_delivery,
        monthly_value=pricing.monthly_value(rhythm, per_delivery),
        started_on=row.started_on,
        minimum_term_months=row.minimum_term_months,
        notice_days=row.notice_days,
        renewal_months=row.renewal_months,
        term_ends_on=row.term_ends_on,
        notice_deadline=(
            terms.notice_deadline(row.term_ends_on, row.notice_days) if row.term_ends_on else None
        ),
        earliest_end=cancel.earliest_end if cancel else None,
        ends_on=row.ends_on,
        cancel_requested_at=row.cancel_requested_at,
        cancel_reason=row.cancel_reason,
        cancel_note=row.cancel_note,
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def get(session: Session, key: str, *, now: datetime | None = None) -> SubscriptionPublic:
    """The subscription with its items, prices and contract dates as of ``now``."""
    return _publics(session, [find(session, key)], now=now or utcnow())[0]


def list_subscriptions(
    session: Session,
    *,
    status: str | None = None,
    customer: str | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> SubscriptionsPublic:
    """Subscriptions, newest first, of one status and/or one customer (external id or number)."""
    if status is not None and status not in STATUSES:
        raise _invalid("status", f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if not 1 <= limit <= MAX_LIST or offset < 0:
        raise _invalid("limit", f"limit must lie between 1 and {MAX_LIST}, offset be ≥ 0")
    where = []
    if status is not None:
        where.append(Subscription.status == status)
    if customer is not None:
        where.append(Subscription.customer_id == customers.customer_ref(session, key=customer).id)
    count = session.scalar(select(func.count()).select_from(Subscription).where(*where)) or 0
    rows = session.scalars(
        select(Subscription)
        .where(*where)
        .order_by(Subscription.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return SubscriptionsPublic(data=_publics(session, list(rows), now=now or utcnow()), count=count)


def for_customer(
    session: Session, customer_id: int, *, now: datetime | None = None
) -> list[SubscriptionPublic]:
    """A customer's subscriptions (by Patron number), running ones first, then the newest."""
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.customer_id == customer_id)
        .order_by(Subscription.next_due.is_(None), Subscription.id.desc())
    ).all()
    return _publics(session, list(rows), now=now or utcnow())


def history(session: Session, key: str) -> HistoryPublic:
    """What happened to the subscription, oldest first."""
    row = find(session, key)
    lines = session.scalars(
        select(SubscriptionChange)
        .where(SubscriptionChange.subscription_id == row.id)
        .order_by(SubscriptionChange.at, SubscriptionChange.id)
    ).all()
    return HistoryPublic(key=row.key, data=[ChangePublic.model_validate(c) for c in lines])


# --- changing ----------------------------------------------------------------------------------


def _today(row: Subscription, now: datetime) -> date:
    return schedule.local_today(now, _zone(row.time_zone) or ZoneInfo("UTC"))


def _running(row: Subscription, doing: str) -> None:
    """Refuse to change what has ended (a cancelled subscription past its end)."""
    if row.status == "cancelled" and row.next_due is None:
        raise SubscriptionRefused(
            f"subscription {row.key} has ended: it cannot be {doing}",
            details={"key": row.key, "status": row.status, "ends_on": _iso(row.ends_on)},
        )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def change(
    session: Session, key: str, request: SubscriptionUpdate, *, actor: str, now: datetime
) -> SubscriptionPublic:
    """Change the fields given (items, interval, next delivery date, discount, benefit); commits.
    Nothing given, or nothing different: no history line, no event."""
    row = _locked(session, key)
    _running(row, "changed")
    given = request.model_fields_set
    changed: dict[str, Any] = {}
    if "items" in given and request.items is not None:
        _set_items(session, row, request.items)
        changed["items"] = [i.model_dump(mode="json") for i in request.items]
    if "interval" in given and request.interval is not None:
        rhythm = _new_rhythm(row, request.interval.unit.value, request.interval.count)
        if rhythm != schedule.rhythm_of(row):
            _set_rhythm(row, rhythm)
            changed["interval"] = {"unit": rhythm.unit, "count": rhythm.count}
    next_due = request.next_due
    if "next_due" in given and next_due is not None and next_due != row.next_due:
        _move_next_due(session, row, next_due, now)
        changed["next_due"] = next_due.isoformat()
    if "discount_percent" in given and request.discount_percent != row.discount_percent:
        row.discount_percent = request.discount_percent
        changed["discount_percent"] = _text(request.discount_percent)
    if "benefit" in given and _benefit(request.benefit) != row.benefit:
        row.benefit = _benefit(request.benefit)
        changed["benefit"] = row.benefit
    if changed:
        _record(session, row, "changed", actor=actor, now=now, details=changed, event=changed)
    session.commit()
    return get(session, row.key, now=now)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _new_rhythm(row: Subscription, unit: str, count: int) -> schedule.Rhythm:
    anchor = None
    if unit == "month":
        anchor = row.anchor_day if row.interval_unit == "month" else None
        anchor = anchor or (row.next_due or row.started_on).day
    return schedule.Rhythm(unit, count, anchor)  # type: ignore[arg-type]


def _set_rhythm(row: Subscription, rhythm: schedule.Rhythm) -> None:
    row.interval_unit, row.interval_count = rhythm.unit, rhythm.count
    row.anchor_day = rhythm.anchor_day


def _move_next_due(session: Session, row: Subscription, day: date, now: datetime) -> None:
    today = _today(row, now)
    if day < today:
        raise _invalid("next_due", f"next_due {day} lies in the past (today is {today})")
    if row.ends_on is not None and day > row.ends_on:
        raise _invalid("next_due", f"next_due {day} lies after the contract's end {row.ends_on}")
    if _announced(session, row, day) is not None:
        raise SubscriptionRefused(
            f"a delivery on {day} was already announced to the shop",
            details={"key": row.key, "next_due": day.isoformat()},
        )
    row.next_due = day
    if row.interval_unit == "month":
        row.anchor_day = day.day


def change_interval(
    session: Session, key: str, *, unit: str, count: int, actor: str, now: datetime
) -> SubscriptionPublic:
    """A new rhythm from the next delivery on (a monthly one keeps its day of the month);
    commits."""
    row = _locked(session, key)
    _running(row, "changed")
    rhythm = _new_rhythm(row, unit, count)
    before = schedule.rhythm_of(row)
    if rhythm != before:
        _set_rhythm(row, rhythm)
        details = {
            "from": {"unit": before.unit, "count": before.count},
            "to": {"unit": rhythm.unit, "count": rhythm.count},
        }
        _record(
            session, row, "interval_changed", actor=actor, now=now, details=details, event=details
        )
    session.commit()
    return get(session, row.key, now=now)


def pause(
    session: Session, key: str, *, until: date | None, actor: str, now: datetime
) -> SubscriptionPublic:
    """Pause an active subscription until ``until`` (the first day it runs again; None: until
    resumed); commits. The deliveries in between are not made up; the rhythm stays."""
    row = _locked(session, key)
    if row.status != "active":
        raise SubscriptionRefused(
            f"subscription {row.key} is {row.status}: only an active one can be paused",
            details={"key": row.key, "status": row.status},
        )
    today = _today(row, now)
    if until is not None and not today < until <= today + timedelta(days=MAX_PAUSE_DAYS):
        raise _invalid(
            "until",
            f"a pause runs until a day after today and at most {MAX_PAUSE_DAYS} days ahead "
            f"(today is {today}), not {until}",
            until=until.isoformat(),
        )
    row.status, row.paused_until = "paused", until
    details = {"until": _iso(until), "next_due": _iso(row.next_due)}
    _record(session, row, "paused", actor=actor, now=now, details=details, event=details)
    session.commit()
    return get(session, row.key, now=now)


def resume(session: Session, key: str, *, actor: str, now: datetime) -> SubscriptionPublic:
    """Resume a paused subscription now; its next delivery is the rhythm's next date from today
    on. Commits."""
    row = _locked(session, key)
    if row.status != "paused":
        raise SubscriptionRefused(
            f"subscription {row.key} is {row.status}: only a paused one can be resumed",
            details={"key": row.key, "status": row.status},
        )
    today = _today(row, now)
    row.next_due = schedule.resume_on(schedule.rhythm_of(row), row.next_due or today, today)
    row.status, row.paused_until = "active", None
    details = {"next_due": _iso(row.next_due)}
    _record(session, row, "resumed", actor=actor, now=now, details=details, event=details)
    session.commit()
    return get(session, row.key, now=now)


def _announced(session: Session, row: Subscription, day: date) -> SubscriptionDelivery | None:
    return session.scalar(
        select(SubscriptionDelivery).where(
            SubscriptionDelivery.subscription_id == row.id,
            SubscriptionDelivery.due_on == day,
            SubscriptionDelivery.status == "announced",
        )
    )


def skip(session: Session, key: str, *, actor: str, now: datetime) -> SubscriptionPublic:
    """Skip the next delivery: it moves to the rhythm's following date; commits. Refused once
    the shop was told of it (announced): it may already be on its way."""
    row = _locked(session, key)
    _running(row, "skipped")
    if row.status == "paused" or row.next_due is None:
        raise SubscriptionRefused(
            f"subscription {row.key} is {row.status}: it has no next delivery to skip",
            details={"key": row.key, "status": row.status},
        )
    skipped = row.next_due
    announced = _announced(session, row, skipped)
    if announced is not None:
        raise SubscriptionRefused(
            f"the delivery of {skipped} was already announced to the shop"
            + (f" on {announced.announced_at:%Y-%m-%d}" if announced.announced_at else "")
            + ": it can no longer be skipped",
            code="subscriptions.already_announced",
            details={"key": row.key, "due_on": skipped.isoformat()},
        )
    row.next_due = schedule.next_after(schedule.rhythm_of(row), skipped)
    details = {"skipped": skipped.isoformat(), "next_due": row.next_due.isoformat()}
    _record(session, row, "skipped", actor=actor, now=now, details=details, event=details)
    session.commit()
    return get(session, row.key, now=now)


# --- cancelling --------------------------------------------------------------------------------


def _contract(row: Subscription) -> terms.Contract:
    return terms.Contract(
        row.started_on, row.minimum_term_months, row.notice_days, row.renewal_months
    )


def _terms_on(row: Subscription, today: date) -> CancelTerms:
    term_end = row.term_ends_on
    return CancelTerms(
        term_ends_on=term_end,
        notice_deadline=terms.notice_deadline(term_end, row.notice_days) if term_end else None,
        earliest_end=terms.earliest_end(_contract(row), term_end, today),
        notice_days=row.notice_days,
    )


def cancellation_terms(session: Session, key: str, *, now: datetime) -> CancelTerms:
    """What a cancellation asked today means: the term, its notice deadline, the last day."""
    row = find(session, key)
    return _terms_on(row, _today(row, now))


def cancel(
    session: Session,
    key: str,
    *,
    reason: str,
    note: str | None,
    actor: str,
    settings: Settings,
    now: datetime,
) -> SubscriptionPublic:
    """Cancel at the earliest end the contract allows (``terms.earliest_end``); commits, and
    confirms it to the customer by e-mail (``subscription_cancelled``: the last day and the
    last delivery; without a usable address the cancellation stands all the same).

    The subscription is ``cancelled`` from now with ``ends_on`` its last day of delivery;
    deliveries up to that day continue. A paused one stays without deliveries until its pause
    ends (or for good, if paused until resumed).
    """
    if reason not in CANCEL_REASONS:
        raise _invalid(
            "reason",
            f"reason must be one of {', '.join(CANCEL_REASONS)}, not {reason!r}",
            allowed=list(CANCEL_REASONS),
        )
    note = (note or "").strip() or None
    if note is not None and len(note) > 500:
        raise _invalid("note", "a note has at most 500 characters")
    row = _locked(session, key)
    if row.status == "cancelled":
        raise SubscriptionRefused(
            f"subscription {row.key} was cancelled already; it ends on {row.ends_on}",
            details={"key": row.key, "ends_on": _iso(row.ends_on)},
        )
    today = _today(row, now)
    ends_on = _terms_on(row, today).earliest_end
    if row.status == "paused":
        row.next_due = (
            schedule.resume_on(
                schedule.rhythm_of(row), row.next_due or row.paused_until, row.paused_until
            )
            if row.paused_until is not None
            else None
        )
    row.status, row.paused_until, row.ends_on = "cancelled", None, ends_on
    row.cancel_requested_at, row.cancel_reason, row.cancel_note = now, reason, note
    details = {"ends_on": ends_on.isoformat(), "note": note}
    event = {"ends_on": ends_on.isoformat(), "reason": reason}
    _record(
        session, row, "cancelled", actor=actor, now=now, reason=reason, details=details, event=event
    )
    session.commit()
    notices.confirm_cancellation(session, row, settings=settings, now=now)
    return get(session, row.key, now=now)


def end_for_erasure(session: Session, customer_id: int, *, now: datetime) -> int:
    """End every subscription of a person being erased today, those cancelled but still
    delivering included: nobody is left to deliver to. Their due and announced deliveries are
    cancelled; the history says why. No webhook: the shop hears of the erasure itself
    (``customer.erased``). Flushes, never commits (the erasure's one transaction); how many
    ended."""
    rows = session.scalars(
        select(Subscription).where(
            Subscription.customer_id == customer_id,
            (Subscription.status != "cancelled") | Subscription.next_due.is_not(None),
        )
    ).all()
    for row in rows:
        today = _today(row, now)
        row.status, row.next_due, row.paused_until = "cancelled", None, None
        row.ends_on = today if row.ends_on is None else min(row.ends_on, today)
        row.cancel_requested_at = row.cancel_requested_at or now
        row.updated_at = now
        session.add(
            SubscriptionChange(
                subscription_id=row.id,
                kind="ended",
                at=now,
                actor="privacy",
                details={"erased": True},
            )
        )
    if rows:
        session.execute(
            update(SubscriptionDelivery)
            .where(
                SubscriptionDelivery.subscription_id.in_([r.id for r in rows]),
                SubscriptionDelivery.status.in_(("due", "announced")),
            )
            .values(status="cancelled")
        )
    session.flush()
    return len(rows)
