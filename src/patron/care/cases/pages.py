"""The staff pages of cases: the agents' queue (the most urgent deadline first, with at-risk and
breached badges and the working hours left), a form for a new case, a case's page (its facts
and deadlines, history, reply and note forms, status buttons, assignment), the
service-recovery report, and the cases section of the customer 360.

Forms are plain posts that answer with a redirect saying what was done or why not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.care.cases import recovery, service
from patron.care.models import CASE_CHANNELS, CASE_KINDS, OPEN_STATUSES, PRIORITIES
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.pages import CUSTOMER_360
from patron.db import utcnow
from patron.errors import PatronError
from patron.web.deps import SessionDep, SettingsDep, csrf, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, Section, SectionSource, render

TEMPLATES = Path(__file__).parent / "templates"
READ = "cases:read"
WRITE = "cases:write"
NAV = (NavItem(N_("Cases"), "/cases", READ, order=45),)
router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, page(READ)]
Writer = Annotated[SignedIn, page(WRITE)]
TEXT_MAX = 20_000
STATUS_NAMES = {
    "new": N_("new"),
    "in_progress": N_("in progress"),
    "waiting": N_("waiting for customer"),
    "resolved": N_("resolved"),
    "closed": N_("closed"),
}
KIND_NAMES = {"complaint": N_("complaint"), "question": N_("question"), "request": N_("request")}
PRIORITY_NAMES = {
    "low": N_("low"),
    "normal": N_("normal"),
    "high": N_("high"),
    "urgent": N_("urgent"),
}
CHANNEL_NAMES = {
    "email": N_("e-mail"),
    "phone": N_("phone"),
    "web": N_("web form"),
    "api": N_("shop system"),
    "store": N_("in the shop"),
    "chat": N_("chat"),
    "letter": N_("letter"),
}
ENTRY_NAMES = {
    "note": N_("Internal note"),
    "reply": N_("Reply to the customer"),
    "customer": N_("Customer"),
    "change": N_("Change"),
}
GROUP_NAMES = {
    "resolved": N_("Complaint resolved"),
    "unresolved": N_("Complaint not resolved"),
    "none": N_("No complaint"),
}
QUEUE_NAMES = {
    "mine": N_("Mine"),
    "team": N_("My team"),
    "unassigned": N_("Unassigned"),
    "all": N_("All"),
}
DONE = {
    "opened": N_("The case was opened."),
    "reply": N_("The reply was sent to the customer."),
    "reply_recorded": N_("The reply was recorded."),
    "note": N_("The note was added."),
    "status": N_("The status was changed."),
    "assign": N_("The assignment was saved."),
}
# what each status button does to the case (the buttons offered follow the status flow)
STATUS_ACTIONS = {
    "in_progress": N_("Start working"),
    "waiting": N_("Wait for customer"),
    "resolved": N_("Resolve"),
    "closed": N_("Close"),
}


def _names() -> dict[str, Any]:
    return {
        "status_names": STATUS_NAMES,
        "kind_names": KIND_NAMES,
        "priority_names": PRIORITY_NAMES,
        "channel_names": CHANNEL_NAMES,
        "categories": service.CATEGORIES,
    }


def cases_section(request: Request, session: Session, customer_id: int) -> Section:
    """The customer's open cases (most urgent first) and their newest closed ones."""
    settings: Settings = request.app.state.settings
    open_, done = service.open_cases_for_customer(
        session, customer_id=customer_id, settings=settings, now=utcnow(), limit=5
    )
    external_id = customers.customer_by_number(session, customer_id=customer_id).external_id
    return Section(
        "cases",
        "cases/_customer_cases.html",
        {"open": open_, "done": done, "customer_key": external_id or str(customer_id), **_names()},
    )


SECTIONS = (SectionSource(CUSTOMER_360, READ, cases_section),)


def _back(target: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{target}?{urlencode(query)}" if query else target, status_code=303)


def _error(error: PatronError) -> str:
    return error.message[:300]


# --- the queue -------------------------------------------------------------------------------


@router.get("/cases")
def queue_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Reader,
    view: Annotated[str, Query(pattern="^(mine|team|unassigned|all)$")] = "all",
    team: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(pattern="^(open|new|in_progress|waiting|resolved|closed)$")] = (
        "open"
    ),
) -> HTMLResponse:
    """The cases of one queue, the next deadline first."""
    problem = None
    wanted = list(OPEN_STATUSES) if status == "open" else [status]
    teams = service.teams(session)
    if view == "team" and not team:
        team = teams[0] if teams else ""
    cases = service.CasesPublic(data=[], count=0)
    try:
        cases = service.list_cases(
            session,
            settings=settings,
            now=utcnow(),
            status=wanted,
            assignee_id=me.user.id if view == "mine" else None,
            unassigned=view == "unassigned",
            team=team if view == "team" else None,
            limit=200,
        )
    except PatronError as error:
        problem = error.message
    return render(
        request,
        "cases/queue.html",
        {
            "cases": cases,
            "view": view,
            "team": team,
            "teams": teams,
            "status": status,
            "queue_names": QUEUE_NAMES,
            "problem": problem,
            "warn_hours": settings.care_warn_hours,
            **_names(),
        },
    )


# --- a new case ------------------------------------------------------------------------------


def _form_values(request: Request, session: Session) -> dict[str, Any]:
    """What every page with case forms shows: who can take a case, the error of the last post,
    the length limit of a text, and the names of kinds, priorities and statuses."""
    return {
        "agents": service.agents(session),
        "teams": service.teams(session),
        "error": request.query_params.get("error", "")[:300],
        "text_max": TEXT_MAX,
        **_names(),
    }


@router.get("/cases/new")
def new_case_page(
    request: Request,
    session: SessionDep,
    me: Writer,
    customer: Annotated[str, Query(max_length=64)] = "",
    order: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The form for a case taken on the phone, in the shop, by letter."""
    return render(
        request,
        "cases/new.html",
        {
            "customer": customer,
            "order": order,
            "kinds": CASE_KINDS,
            "priorities": PRIORITIES,
            "channels": CASE_CHANNELS,
            **_form_values(request, session),
        },
    )


@router.post("/cases/new", dependencies=[csrf()])
def create_case(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    customer: Annotated[str, Form(max_length=64)] = "",
    subject: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=TEXT_MAX)] = "",
    kind: Annotated[str, Form(max_length=16)] = "complaint",
    category: Annotated[str, Form(max_length=64)] = "other",
    priority: Annotated[str, Form(max_length=16)] = "normal",
    channel: Annotated[str, Form(max_length=16)] = "phone",
    order: Annotated[str, Form(max_length=64)] = "",
    assignee: Annotated[str, Form(max_length=12)] = "",
    team: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    try:
        if not customer.strip():
            raise service.CaseInvalid("say which customer", details={"field": "customer"})
        made, _ = service.open_case(
            session,
            customer=customer.strip(),
            subject=subject,
            description=description,
            kind=kind,
            category=category,
            priority=priority,
            channel=channel,
            order=order.strip() or None,
            assignee_id=int(assignee) if assignee.isdigit() else None,
            team=team,
            author=me.user.email,
            settings=settings,
            now=utcnow(),
        )
    except PatronError as error:
        session.rollback()
        return _back("/cases/new", customer=customer, order=order, error=_error(error))
    return _back(f"/cases/{made.id}", done="opened")


# --- the service-recovery report -------------------------------------------------------------


@router.get("/cases/report")
def report_page(
    request: Request,
    session: SessionDep,
    me: Reader,
    window: Annotated[int, Query(ge=1, le=3650)] = 90,
) -> HTMLResponse:
    """Do customers come back after a complaint — resolved, not resolved, or none at all?"""
    found = recovery.report(session, as_of=utcnow(), window_days=window)
    return render(
        request,
        "cases/report.html",
        {"report": found, "group_names": GROUP_NAMES, "window": window},
    )


# --- one case --------------------------------------------------------------------------------


@router.get("/cases/{case_id}")
def case_page(
    request: Request, session: SessionDep, settings: SettingsDep, me: Reader, case_id: int
) -> HTMLResponse:
    """A case: its facts and deadlines, its history, and what can be done next."""
    found = service.detail(session, case_id=case_id, settings=settings, now=utcnow())
    return render(
        request,
        "cases/case.html",
        {
            "case": found,
            "moves": sorted(service.TRANSITIONS[found.status.value]),
            "status_actions": STATUS_ACTIONS,
            "entry_names": ENTRY_NAMES,
            "done": DONE.get(request.query_params.get("done", "")),
            **_form_values(request, session),
        },
    )


@router.post("/cases/{case_id}/reply", dependencies=[csrf()])
def reply(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    case_id: int,
    body: Annotated[str, Form(max_length=TEXT_MAX)] = "",
    wait: Annotated[bool, Form()] = False,
    send: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Answer the customer (by e-mail when ``send`` is ticked)."""
    try:
        service.reply(
            session,
            case_id=case_id,
            body=body,
            author=me.user.email,
            settings=settings,
            now=utcnow(),
            wait=wait,
            send=send,
        )
    except PatronError as error:
        session.rollback()
        return _back(f"/cases/{case_id}", error=_error(error))
    return _back(f"/cases/{case_id}", done="reply" if send else "reply_recorded")


@router.post("/cases/{case_id}/note", dependencies=[csrf()])
def note(
    session: SessionDep,
    me: Writer,
    case_id: int,
    body: Annotated[str, Form(max_length=TEXT_MAX)] = "",
) -> RedirectResponse:
    try:
        service.add_note(session, case_id=case_id, body=body, author=me.user.email, now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(f"/cases/{case_id}", error=_error(error))
    return _back(f"/cases/{case_id}", done="note")


@router.post("/cases/{case_id}/status", dependencies=[csrf()])
def status(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    case_id: int,
    status: Annotated[str, Form(max_length=16)] = "",
) -> RedirectResponse:
    try:
        service.change_status(
            session,
            case_id=case_id,
            status=status,
            author=me.user.email,
            settings=settings,
            now=utcnow(),
        )
    except PatronError as error:
        session.rollback()
        return _back(f"/cases/{case_id}", error=_error(error))
    return _back(f"/cases/{case_id}", done="status")


@router.post("/cases/{case_id}/assign", dependencies=[csrf()])
def assign(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    case_id: int,
    assignee: Annotated[str, Form(max_length=12)] = "",
    team: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    try:
        service.assign(
            session,
            case_id=case_id,
            assignee_id=int(assignee) if assignee.isdigit() else None,
            team=team,
            author=me.user.email,
            settings=settings,
            now=utcnow(),
        )
    except PatronError as error:
        session.rollback()
        return _back(f"/cases/{case_id}", error=_error(error))
    return _back(f"/cases/{case_id}", done="assign")
