"""Pages of the knowledge store: the customer list and the customer 360."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from patron.access.schemas import SignedIn
from patron.web.deps import SessionDep, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, render

TEMPLATES = Path(__file__).parent / "templates"
NAV = (NavItem(N_("Customers"), "/customers", "customers:read", order=20),)
router = APIRouter(include_in_schema=False)


@router.get("/customers")
def customer_list(
    request: Request, session: SessionDep, me: Annotated[SignedIn, page("customers:read")]
) -> HTMLResponse:
    return render(request, "customers/list.html", {})
