"""What the portal's pages show one signed-in customer, read through the other areas' services.

Nothing here decides a rule: points, tiers and rewards come from ``loyalty.reading``, cases
from ``care.cases.service``, subscriptions from ``subscriptions.service``. The customer is
always the signed-in one, named by their Patron number; the loyalty services take a customer
key (the external id, else the number), and ``customer_key`` makes sure that key reaches this
customer and no other (a shop's external id may be another customer's number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.care.cases import service as cases
from patron.care.cases.schemas import CasePublic
from patron.care.models import Survey, SurveyResponse
from patron.care.surveys import service as surveys
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import CONSENT_CHANNELS, Customer
from patron.engage.models import Message
from patron.errors import NotFound
from patron.loyalty import member_view, reading
from patron.loyalty.member_view import MemberView
from patron.loyalty.schemas import RewardPublic, TierPublic
from patron.loyalty.setup import programmes
from patron.subscriptions import service as subscriptions
from patron.subscriptions.schemas import SubscriptionPublic

SURVEY_INVITATION = "survey_invitation"
INVITATION_KEY = "t:survey:"  # transactional.send's prefix + care's invitation key
MARKETING = "marketing"


@dataclass(frozen=True)
class Programme:
    """One loyalty programme the customer belongs to, as the home page shows it."""

    view: MemberView
    levels: tuple[TierPublic, ...]
    share: int  # how far to the next tier, in per cent (100 at the top)


@dataclass(frozen=True)
class SurveyItem:
    survey: str  # its key
    kind: str
    name: str
    reference: str
    answered_at: datetime | None
    score: float | None
    url: str | None  # None once the survey is closed


def customer_key(session: Session, customer_id: int) -> str | None:
    """The key the loyalty services find this customer by, or None if none reaches them."""
    external = session.scalar(select(Customer.external_id).where(Customer.id == customer_id))
    key = external or str(customer_id)
    try:
        found = customers.customer_ref(session, key=key)
    except NotFound:
        return None
    return key if found.id == customer_id else None


def first_name(session: Session, customer_id: int) -> str | None:
    name = session.scalar(select(Customer.name).where(Customer.id == customer_id))
    return name.split()[0] if name and name.split() else None


def customer_language(session: Session, customer_id: int) -> str | None:
    return session.scalar(select(Customer.language).where(Customer.id == customer_id))


# --- loyalty ---------------------------------------------------------------------------------


def loyalty(session: Session, customer_id: int, now: datetime) -> list[Programme]:
    """The active programmes the customer is a member of, with their figures at ``now``."""
    key = customer_key(session, customer_id)
    if key is None:
        return []
    found = []
    for _row, spec in programmes(session):
        view = member_view.member_view(session, spec, key, now)
        if view.balance is None:
            continue
        levels = reading.tier_levels(session, programme_code=spec.code)
        found.append(Programme(view, levels, _share(view)))
    return found


def _share(view: MemberView) -> int:
    """The progress bar's fill: the qualifying value between this tier's and the next one's."""
    progress = view.progress
    if progress is None or progress.next_tier is None:
        return 100
    floor = progress.tier.threshold if progress.tier is not None else Decimal(0)
    span = progress.next_tier.threshold - floor
    if span <= 0:
        return 100
    done = (progress.value - floor) / span
    return max(0, min(100, int(done * 100)))


def statement(session: Session, customer_id: int, programme: str) -> reading.StatementPublic:
    key = customer_key(session, customer_id)
    if key is None:
        raise reading.NotAMember("not a member", details={"programme": programme})
    return reading.statement(session, programme_code=programme, customer=key, per_page=200)


def rewards(
    session: Session, customer_id: int, programme: str, now: datetime
) -> list[RewardPublic]:
    key = customer_key(session, customer_id)
    if key is None:
        return []
    return reading.rewards(session, programme_code=programme, customer=key, now=now)


# --- subscriptions ---------------------------------------------------------------------------


def own_subscription(
    session: Session, customer_id: int, key: str, now: datetime
) -> SubscriptionPublic | None:
    """The subscription ``key`` if it is this customer's; None for anyone else's (a portal
    form names a subscription by its key, which a customer could change in the page)."""
    return next(
        (s for s in subscriptions.for_customer(session, customer_id, now=now) if s.key == key),
        None,
    )


# --- care ------------------------------------------------------------------------------------


def own_cases(
    session: Session, customer_id: int, settings: Settings, now: datetime
) -> tuple[list[CasePublic], list[CasePublic]]:
    """(open cases, the newest done ones) of the customer."""
    return cases.open_cases_for_customer(
        session, customer_id=customer_id, settings=settings, now=now
    )


def own_surveys(
    session: Session, customer_id: int, settings: Settings, now: datetime
) -> tuple[list[SurveyItem], list[SurveyItem]]:
    """(open invitations, answered surveys): invitations are the survey e-mails care sent
    (``survey:<survey>:<customer>:<reference>``) still within the link's validity and not
    answered yet; each item links to the survey's own answer page."""
    answered: dict[tuple[str, str], SurveyItem] = {}
    rows = session.execute(
        select(SurveyResponse, Survey)
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(SurveyResponse.customer_id == customer_id)
        .order_by(SurveyResponse.answered_at.desc())
    )
    for response, survey in rows:
        item = SurveyItem(
            survey.key,
            survey.kind,
            survey.name,
            response.reference,
            response.answered_at,
            response.score,
            _link(session, survey, customer_id, response.reference, settings),
        )
        answered.setdefault((survey.key, response.reference), item)
    open_: list[SurveyItem] = []
    since = now - timedelta(days=settings.survey_valid_days)
    keys = session.scalars(
        select(Message.key)
        .where(
            Message.customer_id == customer_id,
            Message.template_key == SURVEY_INVITATION,
            Message.send_after > since,
        )
        .order_by(Message.send_after.desc())
    )
    for key in keys:
        parts = key.removeprefix(INVITATION_KEY).split(":", 2)
        if len(parts) != 3 or parts[1] != str(customer_id) or (parts[0], parts[2]) in answered:
            continue
        invited = session.scalar(select(Survey).where(Survey.key == parts[0]))
        url = _link(session, invited, customer_id, parts[2], settings) if invited else None
        if invited is not None and url is not None:
            open_.append(
                SurveyItem(invited.key, invited.kind, invited.name, parts[2], None, None, url)
            )
    return open_, list(answered.values())


def _link(
    session: Session, survey: Survey, customer_id: int, reference: str, settings: Settings
) -> str | None:
    if survey.status != "active":
        return None
    return surveys.survey_link(
        session, survey=survey.key, customer_id=customer_id, reference=reference, settings=settings
    )


# --- consents --------------------------------------------------------------------------------


def marketing_consents(session: Session, customer_id: int) -> dict[str, bool]:
    """Per channel, whether the customer allows marketing on it now (never asked: no)."""
    state = {
        s.channel: bool(s.granted)
        for s in customers.consent_state(session, customer_id=customer_id)
        if s.purpose == MARKETING
    }
    return {channel: state.get(channel, False) for channel in CONSENT_CHANNELS}
