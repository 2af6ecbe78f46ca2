"""Every failure in one of two shapes: JSON for machines, a friendly page for people.

The API (and any client that does not ask for HTML) gets ``{"error": {"code", "message",
"details"}}``; integrators branch on the stable ``code``, and the HTTP status follows the
error's ``status``. A browser on a page gets an HTML page with the same status, and a page that
needs a signed-in user sends it to the sign-in page and back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from patron.errors import PatronError

log = logging.getLogger(__name__)

# Paths that always answer in JSON, whatever the client accepts.
MACHINE_PATHS = ("/api/", "/openapi.json", "/health", "/docs/assets/", "/static/")


class SignInRequired(PatronError):
    """A page needs a signed-in user: a browser is sent to the sign-in page and back."""

    status = 401

    def __init__(self, next_path: str) -> None:
        super().__init__(
            "sign in to see this page", code="auth.sign_in_required", details={"next": next_path}
        )
        self.next_path = next_path


def wants_html(request: Request) -> bool:
    """A person's browser on a page: not a machine path, and HTML accepted."""
    path = request.url.path
    if path.startswith(MACHINE_PATHS) or path in ("/openapi.json", "/health"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _html_error(request: Request, status: int, code: str, message: str) -> Response:
    """The friendly error page; should rendering fail as well, the JSON shape still answers."""
    from patron.web.rendering import render  # the pages need the app's state, set up later

    try:
        return render(
            request,
            "error.html",
            {"status": status, "code": code, "message": message},
            status=status,
        )
    except Exception:
        log.exception("the error page itself failed for %s", request.url.path)
        return error_response(status, code, message)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any


class ErrorPublic(BaseModel):
    """Every error's body, ``{"error": {"code", "message", "details"}}``; ``details`` may be null."""

    error: ErrorBody


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _patron_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PatronError)
    if wants_html(request):
        if isinstance(exc, SignInRequired):
            return RedirectResponse(f"/sign-in?{urlencode({'next': exc.next_path})}", 303)
        return _html_error(request, exc.status, exc.code, exc.message)
    # A 401 names the scheme that would succeed (RFC 9110): an API key as a Bearer token.
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, exc.details, headers=headers)


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": list(error["loc"]), "message": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(str(part) for part in problem['location'])}: {problem['message']}"
        for problem in problems
    )
    return error_response(422, "request.invalid", f"invalid request: {summary}", problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = "http." + phrase.lower().replace(" ", "_").replace("-", "_")
    if exc.status_code == 404 and exc.detail == phrase:
        message = f"no such resource: {request.method} {request.url.path}"
    else:
        message = str(exc.detail)
    if wants_html(request) and exc.status_code >= 400:
        return _html_error(request, exc.status_code, code, message)
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if wants_html(request):
        return _html_error(
            request, 500, "internal", "internal error; the server log has the details"
        )
    return error_response(500, "internal", "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    """Register the handlers: Patron's own errors, bad requests, HTTP errors, and the rest."""
    app.add_exception_handler(PatronError, _patron_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
