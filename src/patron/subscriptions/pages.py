"""The staff pages of subscriptions: the list (filters, key figures, the offer to every
candidate), one subscription (items, price, rhythm, the next deliveries, the contract's dates,
deliveries with their orders, history, and pause / resume / skip / cancel), the report with
its charts, and the subscriptions section of the customer 360 (the customer's subscriptions,
or, for a candidate, the suggested product and rhythm and the button that offers it).

Forms are plain posts that answer with a redirect saying what was done or why not.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.config import Settings
from patron.customers.pages import CUSTOMER_360
from patron.db import utcnow
from patron.errors import PatronError
from patron.subscriptions import charts, listing, offers, reports, schedule
from patron.subscriptions import service as subscriptions
from patron.subscriptions.models import CANCEL_REASONS
from patron.subscriptions.offers import OfferIn
from patron.web.deps import SessionDep, SettingsDep, csrf, page
from patron.web.i18n import N_, translations
from patron.web.rendering import NavItem, Section, SectionSource, render, request_language

TEMPLATES = Path(__file__).parent / "templates"
READ = "subscriptions:read"
WRITE = "subscriptions:write"
NAV = (NavItem(N_("Subscriptions"), "/subscriptions", READ, order=50),)
router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, page(READ)]
Writer = Annotated[SignedIn, page(WRITE)]
NEXT_DELIVERIES = 6
DUE_SOON_DAYS = 7
STATUS_NAMES = {
    "active": N_("active"),
    "paused": N_("paused"),
    "cancelled": N_("cancelled"),
    "ending": N_("ending"),
    "ended": N_("ended"),
}
FILTER_NAMES = {
    "running": N_("running (not ended)"),
    "active": N_("active"),
    "paused": N_("paused"),
    "cancelled": N_("cancelled"),
    "ended": N_("ended"),
    "all": N_("all"),
}
UNIT_NAMES = {
    "day": N_("daily rhythms"),
    "week": N_("weekly rhythms"),
    "month": N_("monthly rhythms"),
}
REASON_NAMES = {
    "too_expensive": N_("too expensive"),
    "too_much_product": N_("too much product"),
    "quality": N_("quality"),
    "delivery_problems": N_("delivery problems"),
    "switching_supplier": N_("switching supplier"),
    "no_longer_needed": N_("no longer needed"),
    "moving": N_("moving"),
    "other": N_("other"),
}
CHANGE_NAMES = {
    "created": N_("created"),
    "changed": N_("changed"),
    "paused": N_("paused"),
    "resumed": N_("resumed"),
    "skipped": N_("delivery skipped"),
    "interval_changed": N_("rhythm changed"),
    "cancel_requested": N_("cancellation requested"),
    "cancelled": N_("cancelled"),
    "renewed": N_("renewed"),
    "ended": N_("ended"),
    "reminder": N_("account manager reminded"),
    "renewal_notice": N_("renewal notice sent"),
}
DELIVERY_NAMES = {
    "due": N_("due"),
    "announced": N_("announced"),
    "fulfilled": N_("fulfilled"),
    "skipped": N_("skipped"),
    "cancelled": N_("cancelled"),
}
SOURCE_NAMES = {
    "api": N_("shop system"),
    "staff": N_("staff"),
    "portal": N_("customer portal"),
    "offer": N_("offer"),
    "import": N_("import"),
    "demo": N_("demo"),
}
DONE = {
    "paused": N_("The subscription was paused."),
    "resumed": N_("The subscription runs again."),
    "skipped": N_("The next delivery was skipped."),
    "cancelled": N_("The subscription was cancelled."),
}
assert set(REASON_NAMES) == set(CANCEL_REASONS)


def _names() -> dict[str, Any]:
    return {
        "status_names": STATUS_NAMES,
        "reason_names": REASON_NAMES,
        "change_names": CHANGE_NAMES,
        "delivery_names": DELIVERY_NAMES,
        "source_names": SOURCE_NAMES,
        "reasons": CANCEL_REASONS,
    }


def _back(target: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{target}?{urlencode(query)}" if query else target, status_code=303)


def _error(error: PatronError) -> str:
    return error.message[:300]


def _actor(me: SignedIn) -> str:
    return f"user:{me.user.id}"


def _path(key: str) -> str:
    return f"/subscriptions/{quote(key, safe='')}"


def _today(settings: Settings) -> date:
    return utcnow().astimezone(settings.tz).date()


# --- the customer 360 ----------------------------------------------------------------------------


def subscriptions_section(request: Request, session: Session, customer_id: int) -> Section | None:
    """The customer's subscriptions; for a candidate without one of their regular product, the
    suggested product and rhythm and (for those who may) the button that offers it."""
    now = utcnow()
    mine = subscriptions.for_customer(session, customer_id, now=now)
    candidate = next(iter(offers.candidates(session, now=now, customer_id=customer_id)), None)
    if not mine and candidate is None:
        return None
    return Section(
        "subscriptions",
        "subscriptions/_customer_subscriptions.html",
        {
            "subscriptions": mine,
            "candidate": candidate,
            "offered": request.query_params.get("offer", "")[:40],
            "offer_error": request.query_params.get("offer_error", "")[:300],
            "customer_id": customer_id,
            "again_days": offers.OFFER_AGAIN_DAYS,
            **_names(),
        },
    )


SECTIONS = (SectionSource(CUSTOMER_360, READ, subscriptions_section),)


# --- the list ------------------------------------------------------------------------------------


@router.get("/subscriptions")
def list_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Reader,
    status: Annotated[str, Query(pattern="^(running|active|paused|cancelled|ended|all)$")] = (
        "running"
    ),
    unit: Annotated[str, Query(pattern="^(|day|week|month)$")] = "",
    due: Annotated[str, Query(pattern="^(|soon)$")] = "",
) -> HTMLResponse:
    """Subscriptions with filters, the key figures, and the offer to every candidate."""
    now = utcnow()
    found = listing.browse(
        session,
        today=_today(settings),
        status=status,
        unit=unit or None,
        due_within=DUE_SOON_DAYS if due else None,
    )
    return render(
        request,
        "subscriptions/list.html",
        {
            "found": found,
            "figures": reports.key_figures(session, settings=settings, now=now),
            "candidates": offers.candidates(session, now=now),
            "status": status,
            "unit": unit,
            "due": due,
            "filter_names": FILTER_NAMES,
            "unit_names": UNIT_NAMES,
            "due_soon_days": DUE_SOON_DAYS,
            "again_days": offers.OFFER_AGAIN_DAYS,
            "offered": {k: v[:12] for k, v in request.query_params.items() if k.startswith("o_")},
            "error": request.query_params.get("error", "")[:300],
            **_names(),
        },
    )


def _offer_request(customer: str | None, discount: str, benefit: str, url: str) -> OfferIn | str:
    """The form's offer, or what is wrong with it."""
    try:
        return OfferIn.model_validate(
            {
                "customer": customer,
                "discount_percent": discount.strip().replace(",", ".") or None,
                "benefit": benefit.strip() or None,
                "url": url.strip() or None,
            }
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return f"{field}: {first['msg']}"[:300]


@router.post("/subscriptions/offers", dependencies=[csrf()])
def offer_all(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    discount: Annotated[str, Form(max_length=8)] = "",
    benefit: Annotated[str, Form(max_length=200)] = "",
    url: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """Offer every current candidate a subscription (see ``offers``)."""
    wanted = _offer_request(None, discount, benefit, url)
    if isinstance(wanted, str):
        return _back("/subscriptions", error=wanted)
    try:
        done = offers.offer(session, wanted, settings=settings, actor=_actor(me), now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back("/subscriptions", error=_error(error))
    counts = done.model_dump(exclude={"campaigns"})
    return _back("/subscriptions", **{f"o_{k}": str(v) for k, v in counts.items()})


@router.post("/subscriptions/offers/customers/{customer_id}", dependencies=[csrf()])
def offer_one(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    customer_id: int,
    discount: Annotated[str, Form(max_length=8)] = "",
    benefit: Annotated[str, Form(max_length=200)] = "",
    url: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """Offer one customer (from their 360) a subscription of their regular product."""
    target = f"/customers/{customer_id}"
    wanted = _offer_request(str(customer_id), discount, benefit, url)
    if isinstance(wanted, str):
        return _back(target, offer_error=wanted)
    try:
        done = offers.offer(session, wanted, settings=settings, actor=_actor(me), now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(target, offer_error=_error(error))
    outcome = (
        "queued"
        if done.queued
        else "control_group"
        if done.control_group
        else "unreachable"
        if done.unreachable
        else "held"
    )
    return _back(target, offer=outcome)


# --- the report ----------------------------------------------------------------------------------


@router.get("/subscriptions/reports")
def report_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Reader,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    """MRR, churn and its reasons, revenue share, CLV against similar customers, offers."""
    error = ""
    try:
        found = reports.report(session, settings=settings, now=utcnow(), since=since, until=until)
    except PatronError as problem:
        error = _error(problem)
        found = reports.report(session, settings=settings, now=utcnow())
    gettext = translations(request_language(request)).gettext
    drawn = {
        "chart-mrr": charts.mrr_over_time(found.mrr.by_month, found.currency, gettext),
        "chart-churn": charts.churn_over_time(found.churn.by_month, gettext),
    }
    if found.churn.cancellations:
        drawn["chart-reasons"] = charts.reasons(found.churn.reasons, REASON_NAMES, gettext)
    return render(
        request,
        "subscriptions/report.html",
        {"report": found, "charts": drawn, "error": error, **_names()},
    )


# --- one subscription ----------------------------------------------------------------------------


@router.get("/subscriptions/{key}")
def subscription_page(
    request: Request, session: SessionDep, settings: SettingsDep, me: Reader, key: str
) -> HTMLResponse:
    """A subscription: what, how often, at what price, the contract, deliveries, history."""
    now = utcnow()
    found = subscriptions.get(session, key, now=now)
    row = subscriptions.find(session, key)
    terms = (
        subscriptions.cancellation_terms(session, key, now=now)
        if found.status != "cancelled"
        else None
    )
    upcoming: list[date] = []
    if found.next_due is not None and found.status != "paused":
        rhythm = schedule.Rhythm(
            found.interval.unit,  # type: ignore[arg-type]
            found.interval.count,
            found.interval.anchor_day,
        )
        upcoming = [
            d
            for d in schedule.dates(rhythm, found.next_due, NEXT_DELIVERIES)
            if found.ends_on is None or d <= found.ends_on
        ]
    return render(
        request,
        "subscriptions/subscription.html",
        {
            "s": found,
            "path": _path(found.key),
            "ended": found.status == "cancelled" and found.next_due is None,
            "terms": terms,
            "upcoming": upcoming,
            "deliveries": listing.deliveries_of(session, row.id),
            "history": subscriptions.history(session, key).data,
            "today": _today(settings),
            "max_pause_days": subscriptions.MAX_PAUSE_DAYS,
            "done": DONE.get(request.query_params.get("done", "")),
            "error": request.query_params.get("error", "")[:300],
            **_names(),
        },
    )


@router.post("/subscriptions/{key}/pause", dependencies=[csrf()])
def pause(
    session: SessionDep,
    me: Writer,
    key: str,
    until: Annotated[str, Form(max_length=10)] = "",
) -> RedirectResponse:
    try:
        day = _day(until)
        subscriptions.pause(session, key, until=day, actor=_actor(me), now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(_path(key), error=_error(error))
    return _back(_path(key), done="paused")


def _day(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise subscriptions.SubscriptionInvalid(
            f"until must be a date such as 2027-03-01, not {text!r}", details={"field": "until"}
        ) from None
    if not 1970 <= day.year <= 9998:
        raise subscriptions.SubscriptionInvalid(
            f"until must lie between 1970 and 9998, not {day}", details={"field": "until"}
        )
    return day


@router.post("/subscriptions/{key}/resume", dependencies=[csrf()])
def resume(session: SessionDep, me: Writer, key: str) -> RedirectResponse:
    try:
        subscriptions.resume(session, key, actor=_actor(me), now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(_path(key), error=_error(error))
    return _back(_path(key), done="resumed")


@router.post("/subscriptions/{key}/skip", dependencies=[csrf()])
def skip(session: SessionDep, me: Writer, key: str) -> RedirectResponse:
    try:
        subscriptions.skip(session, key, actor=_actor(me), now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(_path(key), error=_error(error))
    return _back(_path(key), done="skipped")


@router.post("/subscriptions/{key}/cancel", dependencies=[csrf()])
def cancel(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    key: str,
    reason: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    try:
        subscriptions.cancel(
            session,
            key,
            reason=reason,
            note=note or None,
            actor=_actor(me),
            settings=settings,
            now=utcnow(),
        )
    except PatronError as error:
        session.rollback()
        return _back(_path(key), error=_error(error))
    return _back(_path(key), done="cancelled")
