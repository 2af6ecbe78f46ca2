"""Request-scoped dependencies, as ``Annotated`` aliases so that a route states what it needs.

The session factory and the settings come from ``app.state``, where ``create_app`` (the one
composition root) put them; nothing here builds an engine or reads the environment.

Every route declares who may call it, with exactly one of two dependencies: ``require(p)``
(an API key whose scopes include the permission ``p``) or ``public()`` (anyone). The declaration
is an ``Access`` object in the route's dependencies, so ``route_access`` (and the test that
walks every route) can find it.
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from patron.access import service as access
from patron.access.permissions import PERMISSIONS
from patron.config import Settings
from patron.db import utcnow
from patron.errors import Forbidden, Unauthenticated
from patron.web.errors import ErrorPublic


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed (and any unfinished transaction rolled back) afterwards."""
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


# --- what a route may answer besides its result ---------------------------------------------

_ERROR_DESCRIPTIONS = {
    401: "No API key, or an unknown, malformed or revoked one (`auth.missing_key`, "
    "`auth.invalid_key`).",
    403: "The API key lacks the permission the endpoint needs (`auth.forbidden`).",
    422: "The request's parameters are invalid (`request.invalid`).",
}


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
    """A route's declared access: ``permission`` is needed, or ``None`` for a public route."""

    def __init__(self, permission: str | None) -> None:
        if permission is not None and permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")  # a typo fails at import
        self.permission = permission

    @property
    def public(self) -> bool:
        return self.permission is None

    def __repr__(self) -> str:
        return "public()" if self.public else f"require({self.permission!r})"


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
