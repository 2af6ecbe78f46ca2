"""The overview page: key figures and charts of the whole customer base."""

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
NAV = (NavItem(N_("Overview"), "/overview", "customers:read", order=10),)
router = APIRouter(include_in_schema=False)


@router.get("/overview")
def overview(
    request: Request, session: SessionDep, me: Annotated[SignedIn, page("customers:read")]
) -> HTMLResponse:
    return render(request, "dashboard/overview.html", {})
