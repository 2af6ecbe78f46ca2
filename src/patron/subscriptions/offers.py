"""Offer a subscription to regular buyers: analytics' subscription candidates, one click.

Analytics finds customers who reorder a product at a steady rhythm (``analytics.regularity``,
stored per customer in the score snapshot as ``subscription_product`` and
``subscription_interval_days``). ``offer`` makes them an offer of exactly that: the product,
delivered in their own rhythm rounded to one a person would choose (``suggest_rhythm``: 13.6
days is every 2 weeks, 31 days every month, 45 days every 45 days).

**An offer is marketing**, so it goes through engagement like any campaign: one-off campaigns
with the shipped ``subscription_offer`` template, which keep the latest marketing consent and
a usable address, leave out the global control group, draw a holdout (for all candidates; one
customer offered by hand is a decision, not a sample) and keep the frequency cap and quiet
hours. The campaigns' segment is the customers themselves (``id in (…)``); customers offered
the same product in the same rhythm share a campaign, whose settings carry what is offered
(``offer_*``, written out in German, English and Norwegian for the template). Candidates who
cannot be reached by marketing e-mail (no consent, no usable address) are counted and left
out before any campaign is made, so a click makes no empty campaigns. A customer
offered within ``OFFER_AGAIN_DAYS`` is not offered again, and customers who already subscribe
to the product are no candidates.

The campaigns are the record of what was offered to whom (their members, treated or held
out); ``results`` tells how many of them subscribed afterwards, beside the holdout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from patron.analytics.snapshots import CustomerScore, latest_snapshot
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer, Product
from patron.engage import audience, campaigns, holdout, library, segments
from patron.engage.models import Campaign, CampaignMember
from patron.engage.schemas import CampaignCreate, CampaignKind, VariantIn
from patron.errors import Conflict
from patron.subscriptions import schedule
from patron.subscriptions.models import Subscription, SubscriptionItem
from patron.subscriptions.report_schemas import OffersPublic

TEMPLATE = "subscription_offer"
CHANNEL = "email"
KEY_PREFIX = "subscription-offer-"
OFFER_AGAIN_DAYS = 90
MONTH_DAYS = 365.2425 / 12
LANGUAGES = ("de", "en", "nb")
# (one, several) per unit and language: "every week" / "every 3 weeks"
WORDS = {
    "de": {
        "day": ("jeden Tag", "alle {n} Tage"),
        "week": ("jede Woche", "alle {n} Wochen"),
        "month": ("jeden Monat", "alle {n} Monate"),
    },
    "en": {
        "day": ("every day", "every {n} days"),
        "week": ("every week", "every {n} weeks"),
        "month": ("every month", "every {n} months"),
    },
    "nb": {
        "day": ("hver dag", "hver {n}. dag"),
        "week": ("hver uke", "hver {n}. uke"),
        "month": ("hver måned", "hver {n}. måned"),
    },
}


class NotCandidate(Conflict):
    code = "subscription_offers.not_candidate"


class OfferedRecently(Conflict):
    code = "subscription_offers.offered_recently"


# --- the rhythm, in words -----------------------------------------------------------------------


def suggest_rhythm(interval_days: float) -> schedule.Rhythm:
    """The rhythm a person would choose for a mean gap of ``interval_days``: whole months when
    within 5 % (at least 2 days) of them (29-32 days: every month; 58-63: every 2 months),
    else whole weeks when within a day of them (13-15 days: every 2 weeks), else whole days."""
    days = min(max(interval_days, 1.0), float(schedule.MAX_COUNT))
    months = round(days / MONTH_DAYS)
    if months >= 1 and abs(days - months * MONTH_DAYS) <= max(2.0, 0.05 * months * MONTH_DAYS):
        return schedule.Rhythm("month", months)
    weeks = round(days / 7)
    if weeks >= 1 and abs(days - 7 * weeks) <= 1.0:
        return schedule.Rhythm("week", weeks)
    return schedule.Rhythm("day", max(1, min(round(days), schedule.MAX_COUNT)))


def interval_words(rhythm: schedule.Rhythm, language: str) -> str:
    """``every 4 weeks`` / ``alle 4 Wochen`` / ``hver 4. uke``."""
    one, several = WORDS.get(language, WORDS["en"])[rhythm.unit]
    return one if rhythm.count == 1 else several.format(n=rhythm.count)


def percent_words(percent: Decimal, language: str) -> str:
    """``10 %`` in German and Norwegian, ``10%`` in English; no trailing zeros."""
    number = format(percent.normalize(), "f")
    if language != "en":
        number = number.replace(".", ",")
    return f"{number}%" if language == "en" else f"{number} %"


# --- who is a candidate -------------------------------------------------------------------------


class Candidate(BaseModel):
    customer_id: int
    customer: str = Field(description="The customer's external id, else their Patron number.")
    name: str | None
    sku: str
    product: str
    price: Decimal | None
    interval_days: float
    unit: str
    count: int
    offered_at: datetime | None = Field(description="When last offered (any product).")


def candidates(
    session: Session, *, now: datetime, customer_id: int | None = None
) -> list[Candidate]:
    """The newest snapshot's regular buyers (of one customer, if given) who do not subscribe to
    their regular product yet, with the suggested rhythm and when they were last offered one."""
    snapshot = latest_snapshot(session)
    if snapshot is None:
        return []
    statement = (
        select(
            Customer.id,
            Customer.external_id,
            Customer.name,
            Product.sku,
            Product.name,
            Product.price,
            CustomerScore.subscription_interval_days,
        )
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .join(Product, Product.sku == CustomerScore.subscription_product)
        .where(
            CustomerScore.snapshot_id == snapshot.id,
            CustomerScore.subscription_interval_days > 0,
            Customer.erased_at.is_(None),
            Product.active.is_(True),
        )
        .order_by(Customer.id)
    )
    if customer_id is not None:
        statement = statement.where(Customer.id == customer_id)
    rows = session.execute(statement).all()
    subscribed = _subscribed(session, [r[0] for r in rows])
    offered = last_offered(session, [r[0] for r in rows])
    out = []
    for cid, external, name, sku, product, price, days in rows:
        if (cid, sku) in subscribed:
            continue
        rhythm = suggest_rhythm(float(days or 0))
        out.append(
            Candidate(
                customer_id=cid,
                customer=external or str(cid),
                name=name,
                sku=sku,
                product=product or sku,
                price=price,
                interval_days=float(days or 0),
                unit=rhythm.unit,
                count=rhythm.count,
                offered_at=offered.get(cid),
            )
        )
    return out


def _subscribed(session: Session, ids: Sequence[int]) -> set[tuple[int, str]]:
    """(customer, SKU) of subscriptions that have not ended (cancelled ones until their end)."""
    if not ids:
        return set()
    rows = session.execute(
        select(Subscription.customer_id, Product.sku)
        .join(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
        .join(Product, Product.id == SubscriptionItem.product_id)
        .where(Subscription.next_due.is_not(None) | (Subscription.status != "cancelled"))
    )
    wanted = set(ids)
    return {(c, s) for c, s in rows if c in wanted}


def _offer_campaigns() -> Select[int]:
    return select(Campaign.id).where(Campaign.key.startswith(KEY_PREFIX))


def last_offered(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these customers was last drawn into an offer (treated or held out)."""
    if not ids:
        return {}
    wanted = set(ids)
    rows = session.execute(
        select(CampaignMember.customer_id, func.max(CampaignMember.assigned_at))
        .where(CampaignMember.campaign_id.in_(_offer_campaigns()))
        .group_by(CampaignMember.customer_id)
    )
    return {c: at for c, at in rows if c in wanted}


# --- making the offer ---------------------------------------------------------------------------


class OfferIn(BaseModel):
    """Whom to offer a subscription, and what a subscriber gets."""

    model_config = ConfigDict(extra="forbid")
    customer: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="One customer (external id or Patron number); empty: every current "
        "candidate not offered in the last 90 days.",
    )
    discount_percent: Annotated[
        Decimal | None, Field(ge=0, le=100, max_digits=5, decimal_places=2)
    ] = Field(default=None, description="The subscriber discount the message promises.")
    benefit: str | None = Field(
        default=None, max_length=200, description='Another benefit, e.g. "free delivery".'
    )
    url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://\S+$",
        description="Where to subscribe (the shop's page); empty: the customer portal.",
    )


class OfferRunPublic(BaseModel):
    candidates: int = Field(description="Candidates considered.")
    offered_recently: int = Field(description="Left out: offered in the last 90 days.")
    control_group: int
    unreachable: int = Field(description="No marketing consent or no usable address.")
    holdout: int
    queued: int = Field(description="Offers on their way (the frequency cap may delay them).")
    campaigns: list[str]


def offer(
    session: Session, request: OfferIn, *, settings: Settings, actor: str | None, now: datetime
) -> OfferRunPublic:
    """Offer a subscription to one candidate or to all of them (see the module docstring);
    commits (each campaign as it runs)."""
    single = request.customer is not None
    chosen = _chosen(session, request.customer, now=now)
    since = now - timedelta(days=OFFER_AGAIN_DAYS)
    fresh = [c for c in chosen if c.offered_at is None or c.offered_at < since]
    if single and not fresh:
        offered_at = chosen[0].offered_at
        raise OfferedRecently(
            f"customer {request.customer!r} was offered a subscription on "
            f"{offered_at:%Y-%m-%d}; offers are at least {OFFER_AGAIN_DAYS} days apart",
            details={"customer": request.customer, "offered_at": str(offered_at)},
        )
    library.install(session, now=now)  # a store older than the shipped template gets it now
    reachable = audience.reachable(
        session, channel=CHANNEL, purpose="marketing", among=[c.customer_id for c in fresh]
    )
    groups: dict[tuple[str, str, int], list[Candidate]] = defaultdict(list)
    for candidate in fresh:
        if candidate.customer_id in reachable:
            groups[(candidate.sku, candidate.unit, candidate.count)].append(candidate)
    done = OfferRunPublic(
        candidates=len(chosen),
        offered_recently=len(chosen) - len(fresh),
        control_group=0,
        unreachable=len(fresh) - len(reachable),
        holdout=0,
        queued=0,
        campaigns=[],
    )
    for (_sku, _unit, _count), group in sorted(groups.items()):
        for batch in segments.id_batches([c.customer_id for c in group]):
            _run(session, group[0], batch, request, settings, actor, now, single, done)
    session.commit()
    return done


def _chosen(session: Session, customer: str | None, *, now: datetime) -> list[Candidate]:
    if customer is None:
        return candidates(session, now=now)
    found = customers.customer_ref(session, key=customer)  # unknown: customers.not_found
    mine = candidates(session, now=now, customer_id=found.id)
    if not mine:
        raise NotCandidate(
            f"customer {customer!r} is no subscription candidate in the newest analysis (no "
            "steady rhythm of one product, or they subscribe to it already)",
            details={"customer": customer},
        )
    return mine


def _run(
    session: Session,
    candidate: Candidate,
    batch: list[int],
    request: OfferIn,
    settings: Settings,
    actor: str | None,
    now: datetime,
    single: bool,
    done: OfferRunPublic,
) -> None:
    rhythm = schedule.Rhythm(candidate.unit, candidate.count)  # type: ignore[arg-type]
    key = _campaign_key(session, now)
    created = campaigns.create(
        session,
        CampaignCreate(
            name=f"Subscription offer: {candidate.product}, {rhythm.describe()}"[:200],
            key=key,
            kind=CampaignKind.one_off,
            segment=segments.of_ids(batch),
            variants=[VariantIn(name="A", template=TEMPLATE)],
            holdout_share=0.0 if single else CampaignCreate.model_fields["holdout_share"].default,
            settings=_settings(candidate, rhythm, request, settings),
        ),
        actor=actor,
        now=now,
    )
    ran = campaigns.run(session, created.id, settings=settings, now=now)
    done.campaigns.append(key)
    done.control_group += ran.control_group
    done.unreachable += ran.unreachable
    done.holdout += ran.holdout
    done.queued += ran.queued


def _settings(
    candidate: Candidate, rhythm: schedule.Rhythm, request: OfferIn, settings: Settings
) -> dict[str, object]:
    discount = request.discount_percent
    return {
        "offer_sku": candidate.sku,
        "offer_product": candidate.product[:200],
        "offer_unit": rhythm.unit,
        "offer_count": rhythm.count,
        "offer_interval": {lang: interval_words(rhythm, lang) for lang in LANGUAGES},
        "offer_discount": (
            {lang: percent_words(discount, lang) for lang in LANGUAGES} if discount else None
        ),
        "offer_benefit": (request.benefit or "").strip() or None,
        "offer_url": request.url or settings.portal_base,
    }


def _campaign_key(session: Session, now: datetime) -> str:
    stamp = f"{KEY_PREFIX}{now:%Y%m%d-%H%M%S}"
    taken = set(session.scalars(select(Campaign.key).where(Campaign.key.startswith(stamp))))
    number = len(taken) + 1
    while f"{stamp}-{number}" in taken:
        number += 1
    return f"{stamp}-{number}"


# --- what the offers brought --------------------------------------------------------------------


def results(session: Session) -> OffersPublic:
    """Customers offered (and held out), and how many of each subscribed after their first
    offer; subscriptions made with source ``offer``."""
    offer_ids = list(session.scalars(_offer_campaigns()))
    first: dict[tuple[int, bool], datetime] = {}
    for customer_id, group, at in session.execute(
        select(CampaignMember.customer_id, CampaignMember.group, CampaignMember.assigned_at).where(
            CampaignMember.campaign_id.in_(offer_ids)
        )
    ):
        pair = (customer_id, group == holdout.HOLDOUT)
        first[pair] = min(first.get(pair, at), at)
    started: dict[int, list[datetime]] = defaultdict(list)
    for customer_id, created_at in session.execute(
        select(Subscription.customer_id, Subscription.created_at).where(
            Subscription.customer_id.in_({c for c, _ in first})
        )
    ):
        started[customer_id].append(created_at)

    def subscribed(held: bool) -> int:
        return sum(
            1
            for (c, h), at in first.items()
            if h is held and any(made >= at for made in started[c])
        )

    return OffersPublic(
        campaigns=len(offer_ids),
        offered=sum(1 for _, h in first if not h),
        offered_subscribed=subscribed(False),
        holdout=sum(1 for _, h in first if h),
        holdout_subscribed=subscribed(True),
        from_offers=int(
            session.scalar(
                select(func.count()).select_from(Subscription).where(Subscription.source == "offer")
            )
            or 0
        ),
    )
