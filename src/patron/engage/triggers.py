"""Who is due for a journey now, and on which occasion.

``due`` answers for one journey: an ``Occasion`` per customer who should hear from it, in
priority order, with the template variables of what happened. The occasion names the event
(``order:123``, ``birthday:2026``, ``tier:gold:2026-03-02``, ``watch:77:12.90``,
``lapse:4711`` …); a campaign assigns a customer once per occasion, so ``due`` may — and does —
return the same occasion on every run while its event lies within ``lookback``: a run that was
missed, or crashed, is made up by the next one, and a repeat sends nothing.

Event time and lookback: an occasion is due when its moment (an order placed ``days_after``
ago, the local midnight that starts a birthday, a tier change, a reminder day) lies in
``(now - lookback, now]``. Triggers that read a state instead of an event (a price below the
watched one, a P(alive) below the threshold) return everyone in that state; their occasion
changes only when the state starts anew (a lower price, a new last order).

Data the triggers read, and the shapes they expect:

- orders: completed ones only (as analytics counts them);
- ``price_watch`` interactions: the product in ``product_id``, the price the customer saw in
  ``payload`` as ``{"price": "12.90"}`` (a decimal string; a JSON number is accepted);
- complaints: until the care area has its own cases, any interaction whose ``payload`` holds
  ``{"topic": "complaint"}``; ``"resolved": false`` holds the follow-up back;
- loyalty: new members from the programme's accounts, tier changes from the outbox's
  ``tier.changed`` events; an upgrade is a move up the programme's order of tiers;
- analytics: the newest score snapshot (P(alive), CLV, subscription product and interval).

Dates in contexts are ``date`` objects and prices ``Decimal``: ``context.localise`` writes
them the customer's way.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, exists, extract, func, or_, select
from sqlalchemy.orm import Session, aliased

from patron.analytics.snapshots import CustomerScore, latest_snapshot
from patron.config import Settings
from patron.customers.models import Customer, Interaction, Order, OrderLine, Product
from patron.engage import audience, journeys, links
from patron.errors import NotFound
from patron.loyalty import reading as loyalty
from patron.outbox import service as outbox

CENT = Decimal("0.01")
CHUNK = 5_000  # customer ids per query


@dataclass(frozen=True)
class Occasion:
    """A customer due for a journey on one occasion, with the occasion's template variables."""

    customer_id: int
    occasion: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Window:
    since: datetime
    now: datetime
    zone: tzinfo  # the shop's
    site: Settings | None = None  # signs personal links (a survey's) when a trigger needs them

    def holds(self, moment: datetime) -> bool:
        return self.since < moment <= self.now

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


def due(
    session: Session,
    journey: str,
    settings: Mapping[str, Any],
    *,
    now: datetime,
    lookback: timedelta = timedelta(days=3),
    timezone: str = "UTC",
    site: Settings | None = None,
) -> list[Occasion]:
    """Who is due for ``journey`` at ``now`` (see the module's docstring), in priority order.

    ``settings`` are the campaign's (the journey's defaults fill what they leave out);
    ``timezone`` is the shop's (``Settings.timezone``): birthdays of customers without a time
    zone of their own, and the days of orders, are counted in it. ``site`` (the app's
    settings) signs personal links: the ``feedback`` journey's survey link needs it.
    """
    found = journeys.journey(journey)
    if found.one_off:
        raise journeys.JourneyProblem(
            f"{journey!r} is sent once to a segment, not triggered; order the segment with "
            "quiet_first",
            details={"field": "journey"},
        )
    checked = journeys.settings_for(journey, settings)
    window = _Window(now - lookback, now, _zone(timezone) or UTC, site)
    return TRIGGERS[journey](session, checked, window)


# --- orders ------------------------------------------------------------------------------------


def _order_context(window: _Window, number: str, placed_at: datetime) -> dict[str, Any]:
    return {"order": {"number": number, "date": window.local_day(placed_at)}}


def _thank_you(session: Session, settings: Mapping[str, Any], window: _Window) -> list[Occasion]:
    """The customer's first completed order, placed within the window."""
    earlier = aliased(Order)
    before = exists().where(
        earlier.customer_id == Order.customer_id,
        earlier.status == "completed",
        or_(
            earlier.placed_at < Order.placed_at,
            and_(earlier.placed_at == Order.placed_at, earlier.id < Order.id),
        ),
    )
    rows = session.execute(
        select(Order.id, Order.customer_id, Order.external_id, Order.placed_at)
        .where(
            Order.status == "completed",
            Order.customer_id.is_not(None),
            Order.placed_at > window.since,
            Order.placed_at <= window.now,
            ~before,
        )
        .order_by(Order.placed_at, Order.id)
    )
    return _order_occasions(window, rows)


def _order_occasions(window: _Window, rows: Iterable[Any]) -> list[Occasion]:
    """One occasion per order row (id, customer id, number, placed at)."""
    return [
        Occasion(int(c), f"order:{i}", _order_context(window, number, at))
        for i, c, number, at in rows
    ]


def _latest_orders(session: Session, window: _Window, days_after: int) -> list[Occasion]:
    """Orders placed ``days_after`` days before the window, each its customer's latest."""
    later = aliased(Order)
    newer = exists().where(
        later.customer_id == Order.customer_id,
        later.status == "completed",
        later.placed_at <= window.now,
        or_(
            later.placed_at > Order.placed_at,
            and_(later.placed_at == Order.placed_at, later.id > Order.id),
        ),
    )
    shift = timedelta(days=days_after)
    rows = session.execute(
        select(Order.id, Order.customer_id, Order.external_id, Order.placed_at)
        .where(
            Order.status == "completed",
            Order.customer_id.is_not(None),
            Order.placed_at > window.since - shift,
            Order.placed_at <= window.now - shift,
            ~newer,
        )
        .order_by(Order.placed_at, Order.id)
    )
    return _order_occasions(window, rows)


def _cross_sell(session: Session, settings: Mapping[str, Any], window: _Window) -> list[Occasion]:
    return _latest_orders(session, window, settings["days_after"])


def _feedback(session: Session, settings: Mapping[str, Any], window: _Window) -> list[Occasion]:
    """With ``survey`` (a survey's key) each customer gets a personal, signed link to it for
    this order (reference ``order:<number>``), so the answer is theirs; with ``survey_url``
    everyone gets the same link."""
    found = _latest_orders(session, window, settings["days_after"])
    survey = settings.get("survey")
    if not survey:
        url = settings.get("survey_url")
        return [
            Occasion(o.customer_id, o.occasion, {**o.context, "survey_url": url}) for o in found
        ]
    site = window.site
    if site is None:
        raise journeys.JourneyProblem(
            "the feedback journey needs the shop's settings to sign its survey links",
            details={"field": "settings.survey"},
        )
    return [
        Occasion(
            o.customer_id,
            o.occasion,
            {
                **o.context,
                "survey_url": links.survey_url(
                    site.public_url,
                    site.secret_key,
                    survey,
                    o.customer_id,
                    f"order:{o.context['order']['number']}",
                ),
            },
        )
        for o in found
    ]


# --- birthdays ---------------------------------------------------------------------------------


def _birthdays(session: Session, settings: Mapping[str, Any], window: _Window) -> list[Occasion]:
    """Customers whose birthday began (local midnight in their time zone, else the shop's)
    within the window. The query narrows to the few month/day pairs any zone can be on."""
    pairs = _calendar_days(window.since - timedelta(hours=14), window.now + timedelta(hours=14))
    month, day = extract("month", Customer.birthday), extract("day", Customer.birthday)
    rows = session.execute(
        select(Customer.id, Customer.birthday, Customer.time_zone)
        .where(
            Customer.birthday.is_not(None),
            or_(*(and_(month == m, day == d) for m, d in sorted(pairs))),
        )
        .order_by(Customer.id)
    )
    found = []
    for customer_id, birthday, time_zone in rows:
        if birthday is None:
            continue
        zone = _zone(time_zone) or window.zone
        local_year = window.now.astimezone(zone).year
        for year in (local_year - 1, local_year):
            celebrated = celebration(birthday, year)
            starts = datetime.combine(celebrated, time(0), tzinfo=zone)
            if window.holds(starts):
                found.append((starts, customer_id, year, celebrated))
    found.sort()
    return [Occasion(int(c), f"birthday:{year}", {"birthday": day}) for _, c, year, day in found]


def celebration(birthday: date, year: int) -> date:
    """The day a birthday is celebrated in ``year``: 29 February on 28 February when ``year``
    has none."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


def _calendar_days(start: datetime, end: datetime) -> set[tuple[int, int]]:
    """The (month, day) pairs of the UTC dates from ``start`` to ``end``, with 29 February
    wherever a 28 February of a common year stands for it."""
    pairs = set()
    day = start.astimezone(UTC).date()
    while day <= end.astimezone(UTC).date():
        pairs.add((day.month, day.day))
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            pairs.add((2, 29))
        day += timedelta(days=1)
    return pairs


@cache
def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# --- loyalty -----------------------------------------------------------------------------------


def _loyalty_welcome(
    session: Session, settings: Mapping[str, Any], window: _Window
) -> list[Occasion]:
    """New members, once per programme."""
    return [
        Occasion(e.customer_id, f"enrolled:{e.programme}", {"programme": e.programme_name})
        for e in loyalty.enrolments(session, since=window.since, until=window.now)
    ]


def _tier_upgrade(session: Session, settings: Mapping[str, Any], window: _Window) -> list[Occasion]:
    """Members whose newest change of tier within the window was a move up."""
    newest: dict[tuple[str, int], outbox.EventRecord] = {}
    for event in outbox.events_since(
        session, topics=["tier.changed"], since=window.since, until=window.now
    ):
        programme, customer_id = event.payload.get("programme"), event.payload.get("customer_id")
        if isinstance(programme, str) and isinstance(customer_id, int):
            newest[(programme, customer_id)] = event
    levels: dict[str, Sequence[Any]] = {}
    found = []
    for (programme, customer_id), event in newest.items():
        if programme not in levels:
            try:
                levels[programme] = loyalty.tier_levels(session, programme_code=programme)
            except NotFound:  # the programme was switched off since
                levels[programme] = ()
        ranks = {tier.code: (i, tier) for i, tier in enumerate(levels[programme])}
        before, after = ranks.get(event.payload.get("from")), ranks.get(event.payload.get("to"))
        if before is None or after is None or after[0] <= before[0]:
            continue
        tier = after[1]
        context = {
            "new_tier": tier.name,
            "previous_tier": before[1].name,
            "benefits": list(tier.benefits),
        }
        day = event.created_at.astimezone(UTC).date().isoformat()
        found.append((event.id, Occasion(customer_id, f"tier:{tier.code}:{day}", context)))
    return [occasion for _, occasion in sorted(found, key=lambda pair: pair[0])]


# --- analytics ---------------------------------------------------------------------------------


def _replenishment(
    session: Session, settings: Mapping[str, Any], window: _Window
) -> list[Occasion]:
    """Regular buyers ``days_before`` the day their regular product is expected to run out:
    their last purchase of it (read now, not from the snapshot) plus the usual interval."""
    snapshot = latest_snapshot(session)
    if snapshot is None:
        return []
    last = func.max(Order.placed_at)
    rows = session.execute(
        select(
            CustomerScore.customer_id,
            CustomerScore.subscription_interval_days,
            Product.id,
            Product.sku,
            Product.name,
            Product.price,
            last,
        )
        .join(Product, Product.sku == CustomerScore.subscription_product)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(
            Order,
            (Order.id == OrderLine.order_id) & (Order.customer_id == CustomerScore.customer_id),
        )
        .where(
            CustomerScore.snapshot_id == snapshot.id,
            CustomerScore.subscription_interval_days > 0,
            Product.active.is_(True),
            OrderLine.kind == "sale",
            Order.status == "completed",
            Order.placed_at <= window.now,
        )
        .group_by(
            CustomerScore.customer_id,
            CustomerScore.subscription_interval_days,
            Product.id,
            Product.sku,
            Product.name,
            Product.price,
        )
    )
    found = []
    for customer_id, interval, product_id, sku, name, price, bought in rows:
        days = round(interval or 0)
        last_day = window.local_day(_aware(bought))
        expected = last_day + timedelta(days=days)
        remind = expected - timedelta(days=settings["days_before"])
        if not window.holds(datetime.combine(remind, time(0), tzinfo=window.zone)):
            continue
        context = {
            "product": {"name": name or sku, "sku": sku, "price": price},
            "interval_days": days,
            "expected_on": expected,
            "last_purchase_on": last_day,
        }
        occasion = f"replenish:{product_id}:{last_day.isoformat()}"
        found.append((expected, customer_id, Occasion(int(customer_id), occasion, context)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [occasion for *_, occasion in found]


def _win_back(session: Session, settings: Mapping[str, Any], window: _Window) -> list[Occasion]:
    """Customers the newest analytics gives a P(alive) below the threshold, the most valuable
    first; once per lapse (the occasion is their last order). Who ordered after the snapshot's
    period is not lapsed, whatever the snapshot says."""
    snapshot = latest_snapshot(session)
    if snapshot is None:
        return []
    ranked = (
        select(
            Order.id,
            Order.customer_id,
            Order.external_id,
            Order.placed_at,
            func.row_number()
            .over(
                partition_by=Order.customer_id, order_by=(Order.placed_at.desc(), Order.id.desc())
            )
            .label("position"),
        )
        .where(Order.status == "completed", Order.customer_id.is_not(None))
        .subquery()
    )
    rows = session.execute(
        select(
            CustomerScore.customer_id,
            CustomerScore.clv,
            CustomerScore.p_alive,
            ranked.c.id,
            ranked.c.external_id,
            ranked.c.placed_at,
        )
        .join(
            ranked, (ranked.c.customer_id == CustomerScore.customer_id) & (ranked.c.position == 1)
        )
        .where(
            CustomerScore.snapshot_id == snapshot.id,
            CustomerScore.p_alive < settings["p_alive_below"],
        )
    )
    found = []
    for customer_id, clv, p_alive, order_id, number, placed_at in rows:
        placed = _aware(placed_at)
        if placed.astimezone(UTC).date() > snapshot.period_end or placed > window.now:
            continue
        context = {
            "last_order": {"number": number, "date": window.local_day(placed)},
            "days_since": (window.now - placed).days,
        }
        value = clv if clv is not None else float("-inf")
        found.append(
            (
                (-value, p_alive, customer_id),
                Occasion(int(customer_id), f"lapse:{order_id}", context),
            )
        )
    found.sort(key=lambda item: item[0])
    return [occasion for _, occasion in found]


# --- interactions ------------------------------------------------------------------------------


def _price_drop(session: Session, settings: Mapping[str, Any], window: _Window) -> list[Occasion]:
    """The newest watch of each product by each customer, when the product now costs less than
    the watched price and the customer has not bought it since; the deepest cut first."""
    bought = (
        select(OrderLine.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.customer_id == Interaction.customer_id,
            OrderLine.product_id == Interaction.product_id,
            Order.status == "completed",
            Order.placed_at >= Interaction.occurred_at,
            Order.placed_at <= window.now,
        )
        .exists()
    )
    rows = session.execute(
        select(
            Interaction.id,
            Interaction.customer_id,
            Interaction.payload,
            Product.id,
            Product.sku,
            Product.name,
            Product.price,
        )
        .join(Product, Product.id == Interaction.product_id)
        .where(
            Interaction.kind == "price_watch",
            Interaction.occurred_at > window.now - timedelta(days=settings["watch_days"]),
            Interaction.occurred_at <= window.now,
            Product.active.is_(True),
            Product.price.is_not(None),
            ~bought,
        )
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    )
    seen: set[tuple[int, int]] = set()
    found = []
    for watch_id, customer_id, payload, product_id, sku, name, price in rows:
        if (customer_id, product_id) in seen:
            continue
        seen.add((customer_id, product_id))
        watched = watched_price(payload)
        now_price = Decimal(price).quantize(CENT)
        if watched is None or now_price >= watched:
            continue
        context = {
            "product": {"name": name or sku, "sku": sku, "price": now_price},
            "old_price": watched,
            "new_price": now_price,
            "saving": watched - now_price,
            "saving_percent": int((watched - now_price) * 100 / watched),
        }
        occasion = Occasion(int(customer_id), f"watch:{watch_id}:{now_price}", context)
        found.append((now_price / watched, watch_id, occasion))
    found.sort(key=lambda item: (item[0], item[1]))
    return [occasion for *_, occasion in found]


def watched_price(payload: Mapping[str, Any] | None) -> Decimal | None:
    """The price in a ``price_watch`` payload (``{"price": "12.90"}``), or None if it has none
    that is a positive amount."""
    if not isinstance(payload, Mapping):
        return None
    value = payload.get("price")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        price = Decimal(str(value)).quantize(CENT)
    except InvalidOperation:
        return None
    return price if price.is_finite() and price > 0 else None


def _complaint_follow_up(
    session: Session, settings: Mapping[str, Any], window: _Window
) -> list[Occasion]:
    """``days_after`` a complaint (the customer's newest in the window)."""
    shift = timedelta(days=settings["days_after"])
    rows = session.execute(
        select(
            Interaction.id, Interaction.customer_id, Interaction.occurred_at, Interaction.payload
        )
        .where(
            Interaction.payload.is_not(None),
            Interaction.occurred_at > window.since - shift,
            Interaction.occurred_at <= window.now - shift,
        )
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    )
    newest: dict[int, tuple[datetime, int, Occasion]] = {}
    for interaction_id, customer_id, occurred_at, payload in rows:
        if not is_complaint(payload) or customer_id in newest:
            continue
        at = _aware(occurred_at)
        context = {"complaint": {"date": window.local_day(at)}}
        occasion = Occasion(int(customer_id), f"complaint:{interaction_id}", context)
        newest[customer_id] = (at, interaction_id, occasion)
    return [occasion for *_, occasion in sorted(newest.values(), key=lambda i: i[:2])]


def is_complaint(payload: Any) -> bool:
    """An interaction the follow-up is for: ``{"topic": "complaint"}``, unless it says
    ``"resolved": false``."""
    return (
        isinstance(payload, Mapping)
        and payload.get("topic") == "complaint"
        and payload.get("resolved") is not False
    )


# --- event invitations -------------------------------------------------------------------------


def quiet_first(session: Session, customer_ids: Sequence[int]) -> list[int]:
    """``customer_ids`` ordered by how long they have been quiet, longest first: the time since
    their last order or interaction (or, with neither, since they were first recorded), ties
    by id. An invitation to an event is the occasion to bring such contacts back."""
    ids = sorted(set(customer_ids))
    last: dict[int, datetime] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        queries = (
            select(Order.customer_id, func.max(Order.placed_at))
            .where(audience.ids_among(session, Order.customer_id, chunk))
            .group_by(Order.customer_id),
            select(Interaction.customer_id, func.max(Interaction.occurred_at))
            .where(audience.ids_among(session, Interaction.customer_id, chunk))
            .group_by(Interaction.customer_id),
            select(
                Customer.id, func.coalesce(Customer.first_contact_at, Customer.created_at)
            ).where(audience.ids_among(session, Customer.id, chunk)),
        )
        for query in queries:
            for customer_id, moment in session.execute(query):
                if customer_id is None or moment is None:
                    continue
                moment = _aware(moment)
                if customer_id not in last or moment > last[customer_id]:
                    last[customer_id] = moment
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(ids, key=lambda c: (last.get(c, never), c))


def _aware(value: datetime | str) -> datetime:
    """MAX() over a timestamp comes back as text on SQLite, as a datetime on PostgreSQL."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Trigger = Callable[[Session, Mapping[str, Any], _Window], list[Occasion]]
TRIGGERS: dict[str, Trigger] = {
    "thank_you": _thank_you,
    "loyalty_welcome": _loyalty_welcome,
    "birthday": _birthdays,
    "tier_upgrade": _tier_upgrade,
    "cross_sell": _cross_sell,
    "replenishment": _replenishment,
    "price_drop": _price_drop,
    "win_back": _win_back,
    "feedback": _feedback,
    "complaint_follow_up": _complaint_follow_up,
}
