"""One JSON error shape for every failure, ``{"error": {"code", "message", "details"}}``.

Integrators branch on the stable ``code``; the HTTP status follows the error's ``status``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from patron.errors import PatronError

log = logging.getLogger(__name__)


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


async def _patron_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PatronError)
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


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = "http." + phrase.lower().replace(" ", "_").replace("-", "_")
    if exc.status_code == 404 and exc.detail == phrase:
        message = f"no such resource: {request.method} {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    """Register the handlers: Patron's own errors, bad requests, HTTP errors, and the rest."""
    app.add_exception_handler(PatronError, _patron_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
