"""Request-scoped dependencies, as ``Annotated`` aliases so that a route states what it needs.

The session factory and the settings come from ``app.state``, where ``create_app`` (the one
composition root) put them; nothing here builds an engine or reads the environment.

Every route declares who may call it, with exactly one of three dependencies: ``require(p)``
(an API key whose scopes include the permission ``p``), ``page(p)`` (a signed-in user whose
role grants ``p``) or ``public()`` (anyone). The declaration is an ``Access`` object in the
route's dependencies, so ``route_access`` (and the test that walks every route for every key
scope and every role) can find it. Every state-changing page route also depends on ``csrf()``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from gettext import NullTranslations
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from patron.access import service as access
from patron.access import sign_ins
from patron.access.permissions import PERMISSIONS, allows
from patron.access.schemas import SignedIn
from patron.config import Environment, Settings
from patron.db import utcnow
from patron.errors import Forbidden, Unauthenticated
from patron.web import i18n
from patron.web.errors import ErrorPublic, SignInRequired


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed (and any unfinished transaction rolled back) afterwards."""
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Reader:
    """Who reads the prose in an API answer: their language (``Accept-Language``, English by
    default), its catalogue, and how they write numbers and money."""

    language: str
    translations: NullTranslations
    formats: i18n.Formats


def get_reader(request: Request, settings: SettingsDep) -> Reader:
    language = i18n.negotiate(request.headers.get("accept-language"))
    return _reader(language, settings.timezone, settings.currency)


@lru_cache(maxsize=32)
def _reader(language: str, timezone: str, currency: str) -> Reader:
    formats = i18n.Formats(language, ZoneInfo(timezone), currency)
    return Reader(language, i18n.translations(language), formats)


ReaderDep = Annotated[Reader, Depends(get_reader)]


# --- what a route may answer besides its result ---------------------------------------------

_ERROR_DESCRIPTIONS = {
    401: "No API key, or an unknown, malformed or revoked one (`auth.missing_key`, "
    "`auth.invalid_key`).",
    403: "The API key lacks the permission the endpoint needs (`auth.forbidden`).",
    422: "The request's parameters are invalid (`request.invalid`).",
}


def described_errors(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``error_responses`` for these statuses, each described by the codes it may carry."""
    responses = error_responses(*described)
    return {status: responses[status] | {"description": text} for status, text in described.items()}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for these error statuses, each in the one error shape.

    Routes behind ``require`` answer 401 and 403; routes with parameters 422 (which replaces
    FastAPI's own, differently shaped, validation error in the OpenAPI document).
    """
    return {
        status: {
            "model": ErrorPublic,
            "description": _ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        }
        for status in statuses
    }


# --- who may call a route ----------------------------------------------------------------

# auto_error=False: a missing key is answered by ``require`` in the one error shape. The two
# schemes also put an "Authorize" button on /docs.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKeyBearer",
    description="An API key: `Authorization: Bearer pk_…` (`patron apikey create`).",
)
_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKeyHeader",
    description="The same API key in an `X-API-Key` header, for clients that cannot send Bearer.",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
ApiKeyHeaderDep = Annotated[str | None, Security(_api_key_header)]


class Access:
    """A route's declared access: ``permission`` is needed, or ``None`` for a public route.

    ``page`` tells how: a signed-in user's role (pages) or an API key's scopes (the API).
    """

    page = False

    def __init__(self, permission: str | None) -> None:
        if permission is not None and permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")  # a typo fails at import
        self.permission = permission

    @property
    def public(self) -> bool:
        return self.permission is None and not self.page

    def __repr__(self) -> str:
        if self.public:
            return "public()"
        if self.permission is None:
            return "signed_in()"
        return f"{'page' if self.page else 'require'}({self.permission!r})"


class Public(Access):
    def __init__(self) -> None:
        super().__init__(None)

    def __call__(self) -> None:
        return None


class RequirePermission(Access):
    permission: str

    def __init__(self, permission: str) -> None:
        super().__init__(permission)

    def __call__(self, session: SessionDep, bearer: BearerDep, header: ApiKeyHeaderDep) -> set[str]:
        """The key's scopes, if the request carries a live key with this permission."""
        token = bearer.credentials if bearer is not None else header
        if not token or not token.strip():
            raise Unauthenticated(
                "this endpoint needs an API key: send `Authorization: Bearer <token>` "
                "(or `X-API-Key: <token>`); create one with `patron apikey create`",
                code="auth.missing_key",
                details={"permission": self.permission},
            )
        scopes = access.verify_api_key(session, token=token, now=utcnow())
        if self.permission not in scopes:
            raise Forbidden(
                f"this API key may not do this: it needs the scope {self.permission!r}",
                code="auth.forbidden",
                details={"permission": self.permission, "scopes": sorted(scopes)},
            )
        return scopes


def api_key_actor(bearer: BearerDep, header: ApiKeyHeaderDep) -> str:
    """Who sent the request, for an audit trail: ``apikey:<prefix>`` of its API key.

    Only behind ``require(...)``, which has verified the key (and refused a request without one).
    """
    token = bearer.credentials if bearer is not None else header
    return f"apikey:{access.api_key_prefix(token or '') or 'unknown'}"


ApiKeyActorDep = Annotated[str, Depends(api_key_actor)]


def require(permission: str) -> Any:
    """A route dependency: the request needs an API key whose scopes include ``permission``.

    ``@router.get(..., dependencies=[require("customers:read")])``. A missing key is a 401
    ``auth.missing_key``, an unknown or revoked one a 401 ``auth.invalid_key``, a key without
    the scope a 403 ``auth.forbidden`` naming the permission.
    """
    return Security(RequirePermission(permission))


def public() -> Any:
    """A route dependency that declares the route open to anyone, on purpose."""
    return Depends(Public())


# --- pages: signed-in users ---------------------------------------------------------------

SESSION_COOKIE = "patron_session"
PRESESSION_COOKIE = "patron_presession"


def current_sign_in(request: Request, session: Session) -> SignedIn | None:
    """The request's live sign-in session (resumed from its cookie once per request), or None."""
    if not hasattr(request.state, "signed_in"):
        token = request.cookies.get(SESSION_COOKIE)
        request.state.signed_in = (
            sign_ins.resume(session, token=token, now=utcnow()) if token else None
        )
    signed_in: SignedIn | None = request.state.signed_in
    return signed_in


class RequirePage(Access):
    """A signed-in user whose role grants ``permission`` (any signed-in user for ``None``)."""

    page = True

    def __call__(self, request: Request, session: SessionDep) -> SignedIn:
        """The signed-in user, if their role grants this permission."""
        signed_in = current_sign_in(request, session)
        if signed_in is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(target)
        if self.permission is not None and not allows(signed_in.user.role, self.permission):
            raise Forbidden(
                f"your role ({signed_in.user.role}) does not allow this: it needs the "
                f"permission {self.permission!r}",
                code="auth.forbidden",
                details={"permission": self.permission, "role": signed_in.user.role},
            )
        return signed_in


def page(permission: str) -> Any:
    """A page route dependency: a signed-in user whose role grants ``permission``.

    Not signed in: the browser is sent to the sign-in page (and back afterwards). Signed in
    without the permission: a 403 page naming it.
    """
    return Depends(RequirePage(permission))


def signed_in() -> Any:
    """A page route dependency: any signed-in user, whatever their role (their own account)."""
    return Depends(RequirePage(None))


def cookie_secure(request: Request, settings: Settings) -> bool:
    """Cookies are Secure in production, and on any HTTPS request."""
    return settings.environment is Environment.production or request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, settings: Settings, name: str, value: str
) -> None:
    """An HTTP-only, SameSite=Lax cookie for the whole site, Secure where it can be."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
        path="/",
    )


def anonymous_csrf_token(request: Request, settings: Settings, response: Response | None) -> str:
    """The CSRF token of a browser that is not signed in (the sign-in form's).

    Bound to a random pre-session cookie by an HMAC with the secret key: a forged form from
    another site cannot know it. A missing cookie is set on ``response``.
    """
    presession = request.cookies.get(PRESESSION_COOKIE)
    if not presession or len(presession) > 128:
        presession = secrets.token_urlsafe(32)
        if response is not None:
            set_cookie(response, request, settings, PRESESSION_COOKIE, presession)
    key = settings.secret_key.encode("utf-8")
    return hmac.new(key, b"sign-in:" + presession.encode("utf-8"), hashlib.sha256).hexdigest()


class CsrfCheck:
    """A state-changing form must carry the session's CSRF token and come from this site."""

    async def __call__(self, request: Request, session: SessionDep, settings: SettingsDep) -> None:
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
            # Hosts only: behind a proxy that ends TLS the app sees http, the browser https.
            raise _csrf_refused("the form was sent from another site")
        form = await request.form()
        sent = form.get("csrf_token")
        signed_in = current_sign_in(request, session)
        if signed_in is not None:
            expected = signed_in.csrf_token
        elif request.cookies.get(PRESESSION_COOKIE):
            expected = anonymous_csrf_token(request, settings, None)
        else:
            expected = ""
        if (
            not isinstance(sent, str)
            or not expected
            or not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))
        ):
            raise _csrf_refused("the form's security token is missing or out of date")


def _csrf_refused(reason: str) -> Forbidden:
    return Forbidden(
        f"{reason}; reload the page and send the form again",
        code="auth.csrf",
    )


def csrf() -> Any:
    """A dependency of every state-changing page route: see ``CsrfCheck``."""
    return Depends(CsrfCheck())


def route_access(route: APIRoute | RouteContext) -> list[Access]:
    """Every access declaration among a route's dependencies (a sound route has exactly one).

    Pass the contexts of ``fastapi.routing.iter_route_contexts(app.routes)``: an included
    router's routes are found only through them, with the router's own dependencies added.
    """
    found: list[Access] = []

    def walk(dependant: Dependant) -> None:
        for sub in dependant.dependencies:
            if isinstance(sub.call, Access):
                found.append(sub.call)
            walk(sub)

    walk(route.dependant)
    return found
