"""The staff pages of engagement: segments with a live count, templates with a preview for a
real customer, campaigns (create, schedule, run, pause, resume, cancel) and journeys.

Forms are plain posts that answer with a redirect saying what was done or why not; a report
of a campaign's uplift is on ``report_pages``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.customers.pages import CUSTOMER_360
from patron.db import utcnow
from patron.engage import actions, audience, authoring, campaigns, journeys, messages
from patron.engage.schemas import CampaignCreate, CampaignKind, TemplateIn, VariantIn
from patron.engage.segments import SegmentError
from patron.errors import NotFound, PatronError
from patron.web.deps import SessionDep, SettingsDep, csrf, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, Section, SectionSource, render

TEMPLATES = Path(__file__).parent / "templates"
READ = "campaigns:read"
WRITE = "campaigns:write"
# one entry for the area; its pages are reached by the tabs in engage/_tabs.html
NAV = (
    NavItem(
        N_("Campaigns"),
        "/campaigns",
        READ,
        order=40,
        also=("/segments", "/templates", "/experiments"),
    ),
)


def engagement_section(request: Request, session: Session, customer_id: int) -> Section:
    """The customer's next best action with its reason, and the newest messages to them."""
    # "messages" takes the place the 360 keeps for them
    return Section(
        "messages",
        "engage/_customer_engagement.html",
        {
            "action": actions.for_customer(session, customer_id),
            "messages": messages.listed(session, customer_id=customer_id, limit=5).data,
        },
    )


SECTIONS = (SectionSource(CUSTOMER_360, READ, engagement_section),)
router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, page(READ)]
Writer = Annotated[SignedIn, page(WRITE)]
TEXT_MAX = 2000
ACTIONS = ("run", "schedule", "pause", "resume", "cancel")
DONE = {
    "created": N_("The campaign was created."),
    "enabled": N_("The journey is switched on: it reaches customers as they become due."),
    "run": N_("The campaign ran: its messages are queued for the worker."),
    "schedule": N_("The campaign is scheduled: the worker sends it when its time has come."),
    "pause": N_("The campaign is paused; its queued messages wait."),
    "resume": N_("The campaign is resumed."),
    "cancel": N_("The campaign is cancelled; its queued messages will not be sent."),
    "saved": N_("The template was saved."),
}
STATUS_NAMES = {
    "draft": N_("draft"),
    "scheduled": N_("scheduled"),
    "active": N_("active"),
    "paused": N_("paused"),
    "done": N_("done"),
    "cancelled": N_("cancelled"),
}


# --- segments --------------------------------------------------------------------------------


@router.get("/segments")
def segments_page(
    request: Request,
    session: SessionDep,
    me: Reader,
    q: Annotated[str, Query(max_length=TEXT_MAX)] = "",
) -> HTMLResponse:
    """Write a segment and see at once how many customers it holds, and who."""
    found, problem = None, None
    if q.strip():
        try:
            found = audience.preview(session, text=q)
        except SegmentError as error:
            problem = error
    return render(
        request,
        "engage/segments.html",
        {
            "q": q,
            "found": found,
            "problem": problem,
            "fields": list(audience.catalogue().values()),
            "text_max": TEXT_MAX,
        },
    )


# --- templates -------------------------------------------------------------------------------


@router.get("/templates")
def templates_page(request: Request, session: SessionDep, me: Reader) -> HTMLResponse:
    return render(request, "engage/templates.html", {"templates": authoring.listed(session)})


@router.get("/templates/{key}")
def template_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Reader,
    key: str,
    customer: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """A template in every language, and the message one real customer would get."""
    template = authoring.one(session, key)
    return _template_page(request, session, settings, template.model_dump(), customer, None)


def _template_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    template: dict[str, Any],
    customer: str,
    problem: PatronError | None,
    *,
    status: int = 200,
) -> HTMLResponse:
    preview, preview_problem = None, None
    if customer.strip() and problem is None:
        try:
            preview = campaigns.preview(
                session,
                template_key=template["key"],
                customer=customer.strip(),
                settings=settings,
                now=utcnow(),
            )
        except PatronError as error:
            preview_problem = error
    return render(
        request,
        "engage/template.html",
        {
            "template": template,
            "customer": customer,
            "preview": preview,
            "preview_problem": preview_problem,
            "problem": problem,
            "template_languages": ("de", "en", "nb"),
            "done": DONE.get(request.query_params.get("done", "")),
        },
        status=status,
    )


@router.post("/templates/{key}/save", dependencies=[csrf()])
async def save_template(
    request: Request, session: SessionDep, settings: SettingsDep, me: Writer, key: str
) -> Any:
    """Save a template from the form; a mistake re-shows the form with its line."""
    form = await request.form()
    current = authoring.one(session, key)
    subjects = {lang: str(form.get(f"subject_{lang}", "")).strip() for lang in ("de", "en", "nb")}
    bodies = {lang: str(form.get(f"body_{lang}", "")).strip() for lang in ("de", "en", "nb")}
    wanted = {
        "key": key,
        "name": str(form.get("name", current.name)).strip() or current.name,
        "purpose": current.purpose.value,
        "subjects": {k: v for k, v in subjects.items() if v},
        "bodies": {k: v for k, v in bodies.items() if v},
    }
    try:
        authoring.save(session, TemplateIn(**wanted), now=utcnow())
    except (PatronError, ValidationError) as error:
        session.rollback()
        problem = (
            error
            if isinstance(error, PatronError)
            else PatronError(str(error.errors()[0]["msg"]), code="template.invalid")
        )
        shown = current.model_dump() | wanted
        return _template_page(request, session, settings, shown, "", problem, status=422)
    return RedirectResponse(f"/templates/{key}?done=saved", status_code=303)


# --- campaigns -------------------------------------------------------------------------------


@router.get("/campaigns")
def campaigns_page(request: Request, session: SessionDep, me: Reader) -> HTMLResponse:
    """Every campaign with its counts, the journeys to switch on, and a form for a new one."""
    listed = campaigns.list_campaigns(session)
    enabled = {c.journey: c for c in listed.data if c.journey and c.status in ("active", "paused")}
    return render(
        request,
        "engage/campaigns.html",
        {
            "campaigns": listed.data,
            "members": {
                c.id: sum(n for k, n in c.counts.items() if k.startswith("group:"))
                for c in listed.data
            },
            "journeys": list(journeys.JOURNEYS.values()),
            "enabled": enabled,
            "templates": authoring.listed(session),
            "status_names": STATUS_NAMES,
            "error": request.query_params.get("error", "")[:300],
            "text_max": TEXT_MAX,
        },
    )


@router.post("/campaigns/new", dependencies=[csrf()])
def create_campaign(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    name: Annotated[str, Form(max_length=200)] = "",
    template: Annotated[str, Form(max_length=64)] = "",
    template_b: Annotated[str, Form(max_length=64)] = "",
    segment: Annotated[str, Form(max_length=TEXT_MAX)] = "",
    holdout: Annotated[float, Form(ge=0, le=99)] = 10,
    window: Annotated[int, Form(ge=1, le=730)] = 30,
    at: Annotated[str, Form(max_length=40)] = "",
    invitation: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """A one-off campaign from the form: a draft, or scheduled when a time is given."""
    try:
        variants = [VariantIn(name="A", template=template)]
        if template_b:
            variants.append(VariantIn(name="B", template=template_b))
        wanted = CampaignCreate(
            name=name.strip(),
            kind=CampaignKind.one_off,
            segment=segment.strip() or None,
            variants=variants,
            holdout_share=holdout / 100,
            window_days=window,
            scheduled_at=_when(at, settings.timezone),
            journey="event_invitation" if invitation else None,
        )
        made = campaigns.create(session, wanted, actor=me.user.email, now=utcnow())
    except (PatronError, ValidationError, ValueError) as error:
        session.rollback()
        return _back_to_list(_problem(error))
    return RedirectResponse(f"/campaigns/{made.id}?done=created", status_code=303)


def _when(text: str, zone: str) -> datetime | None:
    """A ``datetime-local`` field's value, a time in the shop's time zone (``zone``)."""
    if not text.strip():
        return None
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(zone))


def _problem(error: Exception) -> str:
    if isinstance(error, PatronError):
        return error.message
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(error)


def _back_to_list(error: str) -> RedirectResponse:
    return RedirectResponse(f"/campaigns?{urlencode({'error': error})}", status_code=303)


@router.post("/campaigns/journeys/{key}/enable", dependencies=[csrf()])
def enable_journey(session: SessionDep, me: Writer, key: str) -> RedirectResponse:
    try:
        made = campaigns.enable_journey(session, key, actor=me.user.email, now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back_to_list(error.message)
    return RedirectResponse(f"/campaigns/{made.id}?done=enabled", status_code=303)


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Reader,
    campaign_id: int,
    customer: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """One campaign: what it is, its counts, its newest messages, a preview for a customer."""
    found = campaigns.public(session, campaigns.get(session, campaign_id))
    preview, preview_problem = None, None
    if customer.strip():
        try:
            preview = campaigns.preview(
                session,
                template_key=found.variants[0].template,
                customer=customer.strip(),
                settings=settings,
                now=utcnow(),
                channel=found.channel.value,
                purpose=found.purpose.value,
            )
        except PatronError as error:
            preview_problem = error
    members = sum(n for k, n in found.counts.items() if k.startswith("group:"))
    return render(
        request,
        "engage/campaign.html",
        {
            "campaign": found,
            "members": members,
            "messages": messages.listed(session, campaign_id=found.id, limit=20).data,
            "customer": customer,
            "preview": preview,
            "preview_problem": preview_problem,
            "status_names": STATUS_NAMES,
            "done": DONE.get(request.query_params.get("done", "")),
            "error": request.query_params.get("error", "")[:300],
            "actions": _actions(found),
        },
    )


def _actions(found: Any) -> list[str]:
    """What the campaign's page offers: a one-off that has not run can be run or scheduled."""
    status, one_off = found.status, found.kind.value == "one_off"
    fresh = one_off and found.started_at is None and found.finished_at is None
    allowed = []
    if status in ("draft", "scheduled", "active") and (fresh or not one_off):
        allowed.append("run")
    if status in campaigns.CAN_SCHEDULE and fresh:
        allowed.append("schedule")
    if status in campaigns.CAN_PAUSE:
        allowed.append("pause")
    if status in campaigns.CAN_RESUME:
        allowed.append("resume")
    if status in campaigns.CAN_CANCEL:
        allowed.append("cancel")
    return allowed


@router.post("/campaigns/{campaign_id}/{action}", dependencies=[csrf()])
def campaign_action(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    campaign_id: int,
    action: str,
    at: Annotated[str, Form(max_length=40)] = "",
) -> RedirectResponse:
    """Run, schedule (at ``at``), pause, resume or cancel; back to the campaign with what was
    done or why not."""
    if action not in ACTIONS:
        raise NotFound(f"unknown action {action!r}")
    try:
        if action == "run":
            campaigns.run(session, campaign_id, settings=settings, now=utcnow())
        elif action == "schedule":
            when = _when(at, settings.timezone)
            if when is None:
                raise PatronError("say when the campaign should go out", code="campaign.invalid")
            campaigns.schedule(session, campaign_id, at=when)
        elif action == "cancel":
            campaigns.cancel(session, campaign_id, now=utcnow())
        else:
            getattr(campaigns, action)(session, campaign_id)
    except (PatronError, ValueError) as error:
        session.rollback()
        target = f"/campaigns/{campaign_id}?{urlencode({'error': _problem(error)})}"
        return RedirectResponse(target, status_code=303)
    return RedirectResponse(f"/campaigns/{campaign_id}?done={action}", status_code=303)
