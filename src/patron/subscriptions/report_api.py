"""The JSON API of subscription reports and offers: the report (in force, MRR, churn and its
reasons, revenue share, CLV against similar customers, offers), the current subscription
candidates, and making them an offer.

Offering needs ``subscriptions:write`` (the permission names offers): the offer is marketing
and goes through engagement's consent, global control group, holdout and frequency cap, so
the permission to offer does not reach past them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel

from patron.db import utcnow
from patron.subscriptions import offers, reports
from patron.subscriptions.offers import Candidate, OfferIn, OfferRunPublic
from patron.subscriptions.report_schemas import SubscriptionReport
from patron.web.deps import (
    ApiKeyActorDep,
    SessionDep,
    SettingsDep,
    described_errors,
    error_responses,
    require,
)

router = APIRouter(prefix="/api/v1", tags=["subscriptions"], responses=error_responses(401, 403))
READ = require("subscriptions:read")
WRITE = require("subscriptions:write")
FIRST, LAST = date(1970, 1, 1), date(9998, 12, 31)


def _plausible(day: date | None) -> date | None:
    if day is not None and not FIRST <= day <= LAST:
        raise ValueError(f"must lie between {FIRST} and {LAST}")
    return day


Day = Annotated[date | None, AfterValidator(_plausible)]


class CandidatesPublic(BaseModel):
    data: list[Candidate]
    count: int


@router.get(
    "/reports/subscriptions",
    response_model=SubscriptionReport,
    dependencies=[READ],
    responses=described_errors(
        {
            422: "A parameter is invalid (`request.invalid`), or the period runs backwards or "
            "spans more than ten years (`subscriptions.report_invalid`)."
        }
    ),
)
def subscription_report(
    session: SessionDep,
    settings: SettingsDep,
    since: Annotated[
        Day, Query(alias="from", description="The period's first day (default: a year ago).")
    ] = None,
    until: Annotated[Day, Query(alias="to", description="Its last day (default: today).")] = None,
) -> SubscriptionReport:
    """Subscriptions in force (by status and rhythm), MRR today and over 12 months, subscriber
    churn per month and the reasons for cancelling, the share of revenue from deliveries and
    from subscribers in the period, subscribers' CLV against non-subscribers of the same ABC
    class and RFM segment (an association, not proof of an effect), and what offers brought."""
    return reports.report(session, settings=settings, now=utcnow(), since=since, until=until)


@router.get(
    "/subscription-offers/candidates",
    response_model=CandidatesPublic,
    dependencies=[READ],
)
def list_candidates(session: SessionDep) -> CandidatesPublic:
    """Regular buyers of the newest analysis who do not subscribe to their regular product yet,
    with the suggested rhythm and when they were last offered a subscription."""
    found = offers.candidates(session, now=utcnow())
    return CandidatesPublic(data=found, count=len(found))


@router.post(
    "/subscription-offers",
    response_model=OfferRunPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: "The body is not JSON (`http.bad_request`).",
            404: "No such customer (`customers.not_found`).",
            409: "The customer is no subscription candidate "
            "(`subscription_offers.not_candidate`) or was offered one in the last 90 days "
            "(`subscription_offers.offered_recently`).",
            422: "The body is invalid (`request.invalid`).",
        }
    ),
)
def make_offer(
    session: SessionDep, settings: SettingsDep, actor: ApiKeyActorDep, body: OfferIn
) -> OfferRunPublic:
    """Offer a subscription of their regular product, in their own rhythm, to one candidate
    (`customer`) or to every candidate not offered in the last 90 days: one-off marketing
    campaigns with the `subscription_offer` template, through consent, the global control
    group, a holdout (all candidates only) and the frequency cap. The counts say who got it
    and who was left out why."""
    return offers.offer(session, body, settings=settings, actor=actor, now=utcnow())
