"""The customer portal: the customers' own site under ``/portal``, made for a phone.

Every route is public to the staff side's access rules (``public()``): the portal has its own
sign-in (an e-mailed one-time link, see ``access``) and its own session cookie (``session``).
A page for signed-in customers sends anyone else to the sign-in page; every form carries the
portal's CSRF token; every change is made by the owning area's service for the signed-in
customer only (a subscription key in a form is checked against the customer's own).
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from patron.config import Environment, Settings
from patron.customers.models import CONSENT_CHANNELS
from patron.db import utcnow
from patron.engage import consent
from patron.engage.public import NO_CACHE
from patron.errors import PatronError
from patron.loyalty import service as loyalty
from patron.loyalty.schemas import RedeemIn
from patron.portal import access, views
from patron.portal.session import (
    PATH,
    SESSION_COOKIE,
    CustomerDep,
    forget,
    portal_csrf,
    render,
    set_cookie,
    signed_in,
    to_sign_in,
)
from patron.privacy import export as privacy_export
from patron.privacy import service as privacy
from patron.subscriptions import service as subscriptions
from patron.subscriptions.models import CANCEL_REASONS, INTERVAL_UNITS
from patron.web.deps import SessionDep, SettingsDep, public

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = Path(__file__).parent / "static" / "portal.css"
router = APIRouter(prefix=PATH, include_in_schema=False)
ACTOR = "portal"
FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DONE = ("paused", "resumed", "skipped", "interval", "cancelled", "consent", "erasure", "redeemed")


@router.get("/portal.css", dependencies=[public()])
def stylesheet() -> FileResponse:
    """The portal's own stylesheet (written here; no CDN): the shop's colours come from the
    page as CSS variables."""
    return FileResponse(
        STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


# --- signing in ------------------------------------------------------------------------------


@router.get("/sign-in", dependencies=[public()])
def sign_in_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The address form (a signed-in customer goes straight home)."""
    if signed_in(request, session) is not None:
        return RedirectResponse(PATH, status_code=303)
    out = request.query_params.get("out") == "1"
    return render(request, session, settings, "portal/sign_in.html", {"signed_out": out})


@router.post("/sign-in", dependencies=[public(), portal_csrf()])
async def ask_for_link(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """E-mail a link; the answer is the same whether the address is known or not."""
    form = await request.form()
    email = str(form.get("email") or "").strip()[:300]
    if "@" not in email:
        wrong = {"problem": "bad_address", "email": email}
        return render(request, session, settings, "portal/sign_in.html", wrong, status=422)
    asked = access.ask_for_link(session, email=email, settings=settings, now=utcnow())
    demo_link = asked.url if settings.environment is Environment.demo else None
    context: dict[str, Any] = {
        "email": email,
        "demo_link": demo_link,
        "minutes": settings.portal_link_minutes,
    }
    return render(request, session, settings, "portal/sent.html", context)


@router.get("/sign-in/{token}", dependencies=[public()])
def link_page(request: Request, token: str, session: SessionDep, settings: SettingsDep) -> Response:
    """A button that signs in. Opening the link does not use it: mail scanners and link
    previews fetch links before the person does, and would use up a one-time link."""
    state = access.link_state(session, token=token, now=utcnow())
    return _link_answer(request, session, settings, state, token)


@router.post("/sign-in/{token}", dependencies=[public(), portal_csrf()])
def use_link(request: Request, token: str, session: SessionDep, settings: SettingsDep) -> Response:
    """Use the link (once) and open the session."""
    opened = access.open_link(session, token=token, settings=settings, now=utcnow())
    if isinstance(opened, str):
        return _link_answer(request, session, settings, opened, token)
    response = RedirectResponse(PATH, status_code=303, headers=NO_CACHE)
    max_age = int((opened.expires_at - utcnow()).total_seconds())
    set_cookie(response, request, settings, SESSION_COOKIE, opened.token, max_age=max_age)
    return response


def _link_answer(
    request: Request, session: Session, settings: Settings, state: str, token: str
) -> Response:
    status = {"valid": 200, "unknown": 404}.get(state, 410)
    context = {"state": state, "token": token, "minutes": settings.portal_link_minutes}
    return render(request, session, settings, "portal/link.html", context, status=status)


@router.post("/sign-out", dependencies=[public(), portal_csrf()])
def sign_out(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        access.sign_out(session, token=token, now=utcnow())
    response = RedirectResponse(f"{PATH}/sign-in?out=1", status_code=303, headers=NO_CACHE)
    forget(response, SESSION_COOKIE)
    return response


# --- home, points, rewards -------------------------------------------------------------------


@router.get("", dependencies=[public()])
def home(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    if customer is None:
        return to_sign_in()
    now = utcnow()
    context = {
        "page": "home",
        "name": views.first_name(session, customer),
        "programmes": views.loyalty(session, customer, now),
        "subscriptions": subscriptions.for_customer(session, customer, now=now),
    }
    return render(request, session, settings, "portal/home.html", context)


@router.get("/points", dependencies=[public()])
def points(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    if customer is None:
        return to_sign_in()
    found = views.loyalty(session, customer, utcnow())
    statements = [(p, views.statement(session, customer, p.view.spec.code)) for p in found]
    context = {"page": "points", "statements": statements}
    return render(request, session, settings, "portal/points.html", context)


@router.get("/rewards", dependencies=[public()])
def rewards_page(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    if customer is None:
        return to_sign_in()
    return _rewards(request, session, settings, customer)


def _rewards(
    request: Request,
    session: Session,
    settings: Settings,
    customer: int,
    *,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    found = views.loyalty(session, customer, now)
    catalogues = [(p, views.rewards(session, customer, p.view.spec.code, now)) for p in found]
    context = {
        "page": "rewards",
        "catalogues": catalogues,
        "form_key": secrets.token_urlsafe(24),
        "problem": problem,
        **_done(request),
    }
    return render(request, session, settings, "portal/rewards.html", context, status=status)


@router.post("/rewards/redeem", dependencies=[public(), portal_csrf()])
async def redeem(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """Redeem a reward; the form's random key makes a double tap book once."""
    if customer is None:
        return to_sign_in()
    form = await request.form()
    programme, reward = str(form.get("programme", "")), str(form.get("reward", ""))
    form_key = str(form.get("key", ""))
    key = views.customer_key(session, customer)
    if key is None or not FORM_KEY.match(form_key) or not reward or not programme:
        return _rewards(request, session, settings, customer, problem="refused", status=400)
    try:
        loyalty.redeem(
            session,
            programme_code=programme[:40],
            key=f"portal:{customer}:{form_key}",
            request=RedeemIn(customer=key, reward=reward[:40]),
            actor=ACTOR,
            now=utcnow(),
        )
    except (PatronError, ValueError) as exc:
        session.rollback()
        return _rewards(request, session, settings, customer, problem=_why(exc), status=409)
    return RedirectResponse(f"{PATH}/rewards?done=redeemed", status_code=303)


# --- subscriptions ---------------------------------------------------------------------------


@router.get("/subscriptions", dependencies=[public()])
def subscriptions_page(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    if customer is None:
        return to_sign_in()
    return _subscriptions(request, session, settings, customer)


def _subscriptions(
    request: Request,
    session: Session,
    settings: Settings,
    customer: int,
    *,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    own = subscriptions.for_customer(session, customer, now=now)
    done = _done(request)
    if done["done"] == "cancelled":
        wanted = request.query_params.get("key")
        done["done_date"] = next((s.ends_on for s in own if s.key == wanted), None)
    context = {
        "page": "subscriptions",
        "subscriptions": own,
        "units": INTERVAL_UNITS,
        "pause_min": (now.date() + timedelta(days=1)).isoformat(),
        "pause_max": (now.date() + timedelta(days=subscriptions.MAX_PAUSE_DAYS)).isoformat(),
        "problem": problem,
        **done,
    }
    return render(request, session, settings, "portal/subscriptions.html", context, status=status)


@router.post("/subscriptions/{key}/{action}", dependencies=[public(), portal_csrf()])
async def change_subscription(
    request: Request,
    key: str,
    action: str,
    customer: CustomerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Pause, resume, skip, change the rhythm or cancel one of the customer's subscriptions."""
    if customer is None:
        return to_sign_in()
    now = utcnow()
    if action not in ("pause", "resume", "skip", "interval", "cancel") or (
        views.own_subscription(session, customer, key, now) is None
    ):
        # someone else's subscription, or none: the same answer, so keys cannot be probed
        return _subscriptions(request, session, settings, customer, problem="refused", status=404)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        done = _apply(session, key, action, form, settings, now)
    except (PatronError, ValueError) as exc:
        session.rollback()
        return _subscriptions(request, session, settings, customer, problem=_why(exc), status=409)
    return RedirectResponse(
        f"{PATH}/subscriptions?done={done}&key={quote(key, safe='')}", status_code=303
    )


def _apply(
    session: Session, key: str, action: str, form: dict[str, str], settings: Settings, now: datetime
) -> str:
    """Carry out one change; the word for the page that says it is done."""
    if action == "pause":
        until = form.get("until", "").strip()
        subscriptions.pause(
            session, key, until=date.fromisoformat(until) if until else None, actor=ACTOR, now=now
        )
        return "paused"
    if action == "resume":
        subscriptions.resume(session, key, actor=ACTOR, now=now)
        return "resumed"
    if action == "skip":
        subscriptions.skip(session, key, actor=ACTOR, now=now)
        return "skipped"
    if action == "interval":
        count = form.get("count", "").strip()
        unit = form.get("unit", "")
        if not (count.isascii() and count.isdigit() and len(count) <= 3):
            raise ValueError("the rhythm needs a whole number")
        subscriptions.change_interval(
            session, key, unit=unit, count=int(count), actor=ACTOR, now=now
        )
        return "interval"
    subscriptions.cancel(
        session,
        key,
        reason=form.get("reason", ""),
        note=form.get("note", "")[:500] or None,
        actor=ACTOR,
        settings=settings,
        now=now,
    )
    return "cancelled"


@router.get("/subscriptions/{key}/cancel", dependencies=[public()])
def cancel_page(
    request: Request, key: str, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """What cancelling today means (the last delivery day, the term and its notice deadline),
    shown before the customer confirms."""
    if customer is None:
        return to_sign_in()
    now = utcnow()
    own = views.own_subscription(session, customer, key, now)
    if own is None or own.status == "cancelled":
        return _subscriptions(request, session, settings, customer, problem="refused", status=404)
    context = {
        "page": "subscriptions",
        "subscription": own,
        "terms": subscriptions.cancellation_terms(session, key, now=now),
        "reasons": CANCEL_REASONS,
    }
    return render(request, session, settings, "portal/cancel.html", context)


# --- service: cases and surveys --------------------------------------------------------------


@router.get("/service", dependencies=[public()])
def service_page(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    if customer is None:
        return to_sign_in()
    now = utcnow()
    open_cases, done_cases = views.own_cases(session, customer, settings, now)
    open_surveys, answered = views.own_surveys(session, customer, settings, now)
    context = {
        "page": "service",
        "open_cases": open_cases,
        "done_cases": done_cases,
        "open_surveys": open_surveys,
        "answered": answered,
    }
    return render(request, session, settings, "portal/service.html", context)


# --- my data ---------------------------------------------------------------------------------


@router.get("/data", dependencies=[public()])
def data_page(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    if customer is None:
        return to_sign_in()
    return _data(request, session, settings, customer)


def _data(
    request: Request,
    session: Session,
    settings: Settings,
    customer: int,
    *,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "page": "data",
        "consents": views.marketing_consents(session, customer),
        "erasure": privacy.request_of(session, customer),
        "problem": problem,
        **_done(request),
    }
    return render(request, session, settings, "portal/data.html", context, status=status)


@router.post("/data/consents/{channel}", dependencies=[public(), portal_csrf()])
async def change_consent(
    request: Request,
    channel: str,
    customer: CustomerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Allow or withdraw marketing on one channel (recorded with the source ``portal``)."""
    if customer is None:
        return to_sign_in()
    form = await request.form()
    if channel not in CONSENT_CHANNELS or form.get("granted") not in ("0", "1"):
        return _data(request, session, settings, customer, problem="refused", status=400)
    consent.record_consent(
        session,
        customer_id=customer,
        channel=channel,
        purpose=views.MARKETING,
        granted=form.get("granted") == "1",
        source=ACTOR,
        now=utcnow(),
    )
    return RedirectResponse(f"{PATH}/data?done=consent", status_code=303)


@router.get("/data/export", dependencies=[public()])
def export(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """Everything Patron holds about the customer, as a JSON file."""
    if customer is None:
        return to_sign_in()
    now = utcnow()
    found = privacy_export.person_data(session, customer, now=now)
    name = f"my-data-{now:%Y-%m-%d}.json"
    body = json.dumps(found, ensure_ascii=False, indent=2, default=str)
    headers = {**NO_CACHE, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type="application/json", headers=headers)


@router.post("/data/erasure", dependencies=[public(), portal_csrf()])
async def request_erasure(
    request: Request, customer: CustomerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """Queue the customer's erasure for staff approval (they must tick the box first)."""
    if customer is None:
        return to_sign_in()
    form = await request.form()
    if form.get("confirm") != "yes":
        return _data(
            request, session, settings, customer, problem="erase_needs_confirm", status=422
        )
    privacy.request_erasure(session, customer, source=ACTOR, now=utcnow())
    return RedirectResponse(f"{PATH}/data?done=erasure", status_code=303)


# --- helpers ---------------------------------------------------------------------------------


def _done(request: Request) -> dict[str, Any]:
    """The confirmation a page shows after a change (``?done=``)."""
    done = request.query_params.get("done")
    return {"done": done if done in DONE else None, "done_date": None}


def _why(exc: Exception) -> str:
    """The reason a change was refused, as the service said it (its messages are English)."""
    if isinstance(exc, PatronError):
        return exc.message
    return str(exc).splitlines()[0] if str(exc) else "?"
