"""The portal's side of a request: who is signed in, the CSRF token, the language, rendering.

The portal shares nothing with the staff dashboard's sign-in: its own cookies (``patron_portal``
for the session, ``patron_portal_pre`` before signing in), both HTTP-only, SameSite=Lax,
Secure in production and over HTTPS, and scoped to ``/portal``, so the staff pages never see
them and the portal never sees the staff's. Its pages render with their own Jinja2
environment: their own layout and stylesheet, the shop's colours, and German, English and
Norwegian texts from ``texts`` (the staff catalogues know English and German only).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from patron import __version__
from patron.config import Settings
from patron.db import utcnow
from patron.engage.public import NO_CACHE
from patron.errors import Forbidden
from patron.portal import access, views
from patron.portal.texts import LANGUAGE_NAMES, LANGUAGES, TEXTS
from patron.web.deps import CsrfCheck, SessionDep, SettingsDep, cookie_secure
from patron.web.i18n import Formats

TEMPLATES = Path(__file__).parent / "templates"
PATH = "/portal"
SESSION_COOKIE = "patron_portal"
PRE_COOKIE = "patron_portal_pre"
LANGUAGE_COOKIE = "patron_portal_lang"


def set_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
) -> None:
    """A portal cookie: HTTP-only, SameSite=Lax, Secure where it can be, only under /portal."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
        path=PATH,
    )


def forget(response: Response, name: str) -> None:
    response.delete_cookie(name, path=PATH)


# --- who is signed in ------------------------------------------------------------------------


def signed_in(request: Request, session: Session) -> int | None:
    """The signed-in customer's number (resumed once per request), or None."""
    if not hasattr(request.state, "portal_customer"):
        token = request.cookies.get(SESSION_COOKIE, "")
        customer = access.resume(session, token=token, now=utcnow()) if token else None
        request.state.portal_customer = customer
    found: int | None = request.state.portal_customer
    return found


def customer(request: Request, session: SessionDep) -> int | None:
    return signed_in(request, session)


CustomerDep = Annotated[int | None, Depends(customer)]


def to_sign_in() -> RedirectResponse:
    """Where a page sends a browser that is not (or no longer) signed in."""
    return RedirectResponse(f"{PATH}/sign-in", status_code=303, headers=NO_CACHE)


# --- CSRF ------------------------------------------------------------------------------------


def csrf_token(request: Request, settings: Settings, response: Response | None = None) -> str:
    """The token a portal form must carry: keyed to the session cookie when signed in, else to
    a random pre-session cookie (set on ``response`` when missing), by an HMAC with the secret.
    A forged form on another site can know neither."""
    key = settings.secret_key.encode("utf-8")
    token = request.cookies.get(SESSION_COOKIE)
    if token and getattr(request.state, "portal_customer", None) is not None:
        return hmac.new(key, b"portal:" + token.encode("utf-8"), hashlib.sha256).hexdigest()
    pre = request.cookies.get(PRE_COOKIE) or getattr(request.state, "portal_pre", None)
    if not pre or len(pre) > 128:
        pre = secrets.token_urlsafe(32)
        request.state.portal_pre = pre
        if response is not None:
            set_cookie(response, request, settings, PRE_COOKIE, pre)
    return hmac.new(key, b"portal-pre:" + pre.encode("utf-8"), hashlib.sha256).hexdigest()


class PortalCsrf(CsrfCheck):
    """Every portal form carries ``csrf_token`` (see ``csrf_token``) and comes from this site.

    A kind of the staff pages' ``CsrfCheck``, so the test that every state-changing page checks
    a token finds it; the token is the portal's own.
    """

    async def __call__(self, request: Request, session: SessionDep, settings: SettingsDep) -> None:
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
            raise _refused("the form was sent from another site")
        form = await request.form()
        sent = form.get("csrf_token")
        signed_in(request, session)
        has_cookie = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)
        expected = csrf_token(request, settings) if has_cookie else ""
        if (
            not isinstance(sent, str)
            or not expected
            or not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))
        ):
            raise _refused("the form's security token is missing or out of date")


def _refused(reason: str) -> Forbidden:
    return Forbidden(f"{reason}; reload the page and send the form again", code="auth.csrf")


def portal_csrf() -> Any:
    return Depends(PortalCsrf())


# --- language --------------------------------------------------------------------------------


def language(request: Request, session: Session, settings: Settings) -> str:
    """The customer's language, else one chosen here (``?lang=``, kept in a cookie), else
    the shop's."""
    customer_id = signed_in(request, session)
    if customer_id is not None:
        own = views.customer_language(session, customer_id)
        if own in LANGUAGES:
            return str(own)
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if chosen in LANGUAGES:
            return str(chosen)
    return settings.language if settings.language in LANGUAGES else "en"


def remember_language(request: Request, response: Response, settings: Settings) -> None:
    """Keep a ``?lang=`` choice for the next pages."""
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES and chosen != request.cookies.get(LANGUAGE_COOKIE):
        set_cookie(response, request, settings, LANGUAGE_COOKIE, str(chosen), max_age=31536000)


# --- rendering -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=32)
def _formats(language: str, timezone: ZoneInfo, currency: str) -> Formats:
    return Formats(language, timezone, currency)


def render(
    request: Request,
    session: Session,
    settings: Settings,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    """A portal page in the reader's language, with the shop's name and colours and the
    form token (a pre-session cookie is set when a signed-out browser has none)."""
    chosen = language(request, session, settings)
    formats = _formats(chosen, settings.tz, settings.currency)
    response = HTMLResponse("", status_code=status, headers=NO_CACHE)
    token = csrf_token(request, settings, response)
    customer_id = signed_in(request, session)
    values: dict[str, Any] = {
        "language": chosen,
        "languages": LANGUAGES,
        "language_names": LANGUAGE_NAMES,
        "t": TEXTS[chosen],
        "shop": settings.shop_name,
        "colour": settings.portal_colour,
        "accent": settings.portal_accent,
        "version": __version__,
        "csrf_token": token,
        "signed_in": customer_id is not None,
        "current_path": request.url.path,
        **formats.filters(),
        **context,
    }
    body = _environment().get_template(template).render(values)
    response.body = response.render(body)
    response.headers["content-length"] = str(len(response.body))
    remember_language(request, response, settings)
    return response
