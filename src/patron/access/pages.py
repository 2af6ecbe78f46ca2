"""Settings pages of the access area: staff users and API keys (administrators only).

Creating a key shows its token once, on the page that answers the form, never again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from patron.access import service
from patron.access.permissions import API_KEY_SCOPES, PERMISSIONS, ROLES
from patron.access.schemas import SignedIn
from patron.db import utcnow
from patron.errors import PatronError
from patron.web.deps import SessionDep, csrf, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, render

TEMPLATES = Path(__file__).parent / "templates"
NAV = (NavItem(N_("Settings"), "/settings", "users:manage", order=90),)
router = APIRouter(include_in_schema=False)

Admin = Annotated[SignedIn, page("users:manage")]
KeyAdmin = Annotated[SignedIn, page("apikeys:manage")]


@router.get("/settings")
def settings_home(me: Admin) -> RedirectResponse:
    return RedirectResponse("/settings/users", status_code=303)


@router.get("/settings/users")
def users(request: Request, session: SessionDep, me: Admin) -> HTMLResponse:
    return _users_page(request, session)


@router.post("/settings/users", dependencies=[csrf()])
def create_user(
    request: Request,
    session: SessionDep,
    me: Admin,
    email: Annotated[str, Form(max_length=254)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        created = service.create_user(
            session, email=email, password=password, role=role, name=name or None
        )
    except PatronError as exc:
        form = {"email": email, "name": name, "role": role}
        return _users_page(request, session, error=exc.message, form=form, status=exc.status)
    return _users_page(request, session, created=created.email, status=201)


def _users_page(
    request: Request,
    session: SessionDep,
    *,
    error: str | None = None,
    created: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "access/users.html",
        {
            "users": service.list_users(session).data,
            "roles": ROLES,
            "error": error,
            "created": created,
            "form": form or {"email": "", "name": "", "role": "marketer"},
        },
        status=status,
    )


@router.get("/settings/api-keys")
def api_keys(request: Request, session: SessionDep, me: KeyAdmin) -> HTMLResponse:
    return _keys_page(request, session)


@router.post("/settings/api-keys", dependencies=[csrf()])
async def create_api_key(request: Request, session: SessionDep, me: KeyAdmin) -> Response:
    form = await request.form()
    name = str(form.get("name") or "")
    scopes = [str(scope) for scope in form.getlist("scopes")]
    try:
        key, token = service.create_api_key(session, name=name, scopes=scopes)
    except PatronError as exc:
        return _keys_page(request, session, error=exc.message, status=exc.status)
    return _keys_page(request, session, token=token, created=key.name, status=201)


@router.post("/settings/api-keys/{prefix}/revoke", dependencies=[csrf()])
def revoke_api_key(prefix: str, session: SessionDep, me: KeyAdmin) -> Response:
    service.revoke_api_key(session, prefix=prefix, now=utcnow())
    return RedirectResponse("/settings/api-keys", status_code=303)


def _keys_page(
    request: Request,
    session: SessionDep,
    *,
    error: str | None = None,
    token: str | None = None,
    created: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "access/api_keys.html",
        {
            "keys": service.list_api_keys(session).data,
            "scopes": sorted(API_KEY_SCOPES),
            "descriptions": PERMISSIONS,
            "error": error,
            "token": token,
            "created": created,
        },
        status=status,
    )
