"""The shell's own pages: the front door, sign-in, sign-out and the user's language.

Sign-in rotates the session (a new token, whatever cookie came in), sets an HTTP-only,
SameSite=Lax cookie (Secure in production and over HTTPS), and sends the user back to the page
that asked for it (only ever a path on this site). Failed sign-ins are throttled by the access
area: five in a row lock the account for 15 minutes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from patron.access import service as access
from patron.access import sign_ins
from patron.access.schemas import SignedIn
from patron.db import utcnow
from patron.errors import PatronError, TooManyAttempts
from patron.web import i18n
from patron.web.deps import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    SessionDep,
    SettingsDep,
    anonymous_csrf_token,
    csrf,
    current_sign_in,
    public,
    set_cookie,
    signed_in,
)
from patron.web.rendering import render

router = APIRouter(include_in_schema=False)
HOME = "/overview"


def safe_next(target: str | None) -> str:
    """A path on this site to return to after sign-in; anything else leads home."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return HOME
    if target.startswith("/sign-"):
        return HOME
    return target


@router.get("/", dependencies=[public()])
def front_door() -> RedirectResponse:
    """The overview; a visitor who is not signed in is sent to sign in first."""
    return RedirectResponse(HOME, status_code=303)


@router.get("/sign-in", dependencies=[public()])
def sign_in_form(
    request: Request, session: SessionDep, settings: SettingsDep, next: str | None = None
) -> Response:
    if current_sign_in(request, session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _sign_in_page(request, settings, next_path=safe_next(next))


@router.post("/sign-in", dependencies=[public(), csrf()])
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    now = utcnow()
    try:
        user = access.authenticate(session, email=email, password=password, now=now)
    except TooManyAttempts as exc:
        until = exc.details.get("locked_until") if isinstance(exc.details, dict) else None
        locked_until = datetime.fromisoformat(until) if isinstance(until, str) else None
        return _sign_in_page(
            request,
            settings,
            next_path=safe_next(next),
            email=email,
            error="locked",
            locked_until=locked_until,
            status=429,
        )
    except PatronError:
        return _sign_in_page(
            request, settings, next_path=safe_next(next), email=email, error="invalid", status=401
        )
    token, _signed_in = sign_ins.start(
        session, user_id=user.id, now=now, replaces=request.cookies.get(SESSION_COOKIE)
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(response, request, settings, SESSION_COOKIE, token)
    response.delete_cookie(PRESESSION_COOKIE, path="/")
    return response


@router.post("/sign-out", dependencies=[public(), csrf()])
def sign_out(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sign_ins.end(session, token=token)
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/account/language", dependencies=[csrf()])
def choose_language(
    request: Request,
    session: SessionDep,
    me: Annotated[SignedIn, signed_in()],
    language: Annotated[str, Form(max_length=8)] = "",
    back: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    """Keep the chosen language in the user's profile; "auto" follows the browser again."""
    chosen = language if language in i18n.LANGUAGES else None
    access.set_language(session, user_id=me.user.id, language=chosen)
    return RedirectResponse(safe_next(back), status_code=303)


def _sign_in_page(
    request: Request,
    settings: SettingsDep,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    locked_until: datetime | None = None,
    status: int = 200,
) -> Response:
    response = Response()
    token = anonymous_csrf_token(request, settings, response)
    request.state.anonymous_csrf = token
    page = render(
        request,
        "sign_in.html",
        {
            "next_path": next_path,
            "email": email,
            "error": error,
            "locked_until": locked_until,
            "signed_out": request.query_params.get("signed_out") == "1",
        },
        status=status,
    )
    for name, value in response.headers.items():
        if name.lower() == "set-cookie":
            page.headers.append("set-cookie", value)
    page.headers["cache-control"] = "no-store"
    return page
