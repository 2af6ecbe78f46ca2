"""The staff pages of privacy: erasure requests to approve or reject, a person's export.

``/privacy`` lists the open requests (oldest first) with approve and reject (a reason is
required) and the decided ones; the customer 360 gets a ``privacy`` section with the
download of the person's data and, for an open request or none, the erase button. All of it
needs ``privacy:manage``. Forms are plain posts answered with a redirect that says what was
done or why not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.customers.pages import CUSTOMER_360
from patron.db import utcnow
from patron.errors import PatronError
from patron.privacy import service
from patron.privacy.export import person_data
from patron.web.deps import SessionDep, csrf, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, Section, SectionSource, render

TEMPLATES = Path(__file__).parent / "templates"
MANAGE = "privacy:manage"
NAV = (NavItem(N_("Privacy"), "/privacy", MANAGE, order=85),)
Manager = Annotated[SignedIn, page(MANAGE)]
DONE = {
    "approved": N_("The person was erased."),
    "rejected": N_("The request was rejected."),
    "erased": N_("The person was erased."),
}
CONFIRM = N_("Tick the confirmation first: an erasure cannot be undone.")
SOURCES = {"portal": N_("the person (portal)"), "staff": N_("staff"), "api": N_("the shop (API)")}
STATUSES = {"requested": N_("open"), "rejected": N_("rejected"), "done": N_("erased")}
router = APIRouter(include_in_schema=False)


def privacy_section(request: Request, session: Session, customer_id: int) -> Section:
    """The person's erasure request (if any), the download of their data, the erase button."""
    return Section(
        "privacy",
        "privacy/_customer_privacy.html",
        {
            "customer_id": customer_id,
            "erased_at": session.scalar(
                select(Customer.erased_at).where(Customer.id == customer_id)
            ),
            "request": service.request_of(session, customer_id),
            "statuses": STATUSES,
        },
    )


SECTIONS: tuple[SectionSource, ...] = (SectionSource(CUSTOMER_360, MANAGE, privacy_section),)


def _back(path: str, *, done: str | None = None, error: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("done", done), ("error", error)) if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def _flash(request: Request) -> dict[str, Any]:
    return {
        "done": DONE.get(request.query_params.get("done", "")),
        "error": request.query_params.get("error", "")[:300],
    }


@router.get("/privacy")
def privacy_page(request: Request, session: SessionDep, me: Manager) -> HTMLResponse:
    """Open erasure requests to decide, and the decided ones."""
    decided = [r for r in service.list_requests(session, limit=200).data if r.status != "requested"]
    return render(
        request,
        "privacy/requests.html",
        {
            "pending": service.pending(session),
            "decided": decided,
            "sources": SOURCES,
            "statuses": STATUSES,
            **_flash(request),
        },
    )


@router.post("/privacy/requests/{request_id}/approve", dependencies=[csrf()])
def approve_page(session: SessionDep, me: Manager, request_id: int) -> RedirectResponse:
    try:
        service.approve(session, request_id, user_id=me.user.id, now=utcnow())
    except PatronError as error:
        return _back("/privacy", error=error.message)
    return _back("/privacy", done="approved")


@router.post("/privacy/requests/{request_id}/reject", dependencies=[csrf()])
def reject_page(
    session: SessionDep, me: Manager, request_id: int, note: Annotated[str, Form()] = ""
) -> RedirectResponse:
    try:
        service.reject(session, request_id, user_id=me.user.id, note=note[:2000], now=utcnow())
    except PatronError as error:
        return _back("/privacy", error=error.message)
    return _back("/privacy", done="rejected")


@router.get("/privacy/customers/{customer_id}/export")
def export_page(session: SessionDep, me: Manager, customer_id: int) -> Response:
    """The person's data as a JSON file to download."""
    customer = customers.customer_by_number(session, customer_id=customer_id)
    data = person_data(session, customer.id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="person-{customer.id}.json"'},
    )


@router.post("/privacy/customers/{customer_id}/erase", dependencies=[csrf()])
def erase_page(
    session: SessionDep,
    me: Manager,
    customer_id: int,
    confirm: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Erase the person at once (the form asks to tick a confirmation first)."""
    if confirm != "yes":
        return _back("/privacy", error=CONFIRM)
    try:
        service.erase_now(session, customer_id, user_id=me.user.id, now=utcnow())
    except PatronError as error:
        return _back("/privacy", error=error.message)
    return _back("/privacy", done="erased")
