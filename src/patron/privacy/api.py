"""The JSON API of privacy: a person's data export, erasure requests and their decision.

All of it needs ``privacy:manage``. Decisions made with an API key are recorded without a
user (``decided_by`` empty); the key is in the web server's log.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from patron.customers import service as customers
from patron.db import utcnow
from patron.errors import NotFound
from patron.privacy import service
from patron.privacy.export import person_data
from patron.privacy.models import ErasureRequest
from patron.privacy.schemas import (
    ErasureIn,
    ErasureRequestPublic,
    ErasureRequestsPublic,
    RejectIn,
    RequestStatus,
)
from patron.web.deps import SessionDep, described_errors, error_responses, require

router = APIRouter(prefix="/api/v1", tags=["privacy"], responses=error_responses(401, 403))
MANAGE = require("privacy:manage")
NO_CUSTOMER = "No customer with this external id or number (`customers.not_found`)."
NO_REQUEST = "No erasure request with this number (`privacy.request_not_found`)."
CustomerKey = Annotated[
    str, Path(min_length=1, max_length=64, description="The customer's external id or number.")
]
RequestKey = Annotated[str, Path(max_length=20, description="The erasure request's number.")]


def known_request(session: SessionDep, request_id: RequestKey) -> int:
    """The request's number, if there is such a request (404 first, before the body)."""
    number = int(request_id) if request_id.isascii() and request_id.isdigit() else None
    if number is None or len(request_id) > 9 or session.get(ErasureRequest, number) is None:
        raise NotFound(
            f"no erasure request {request_id!r}",
            code="privacy.request_not_found",
            details={"request_id": request_id},
        )
    return number


RequestId = Annotated[int, Depends(known_request)]


EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}},
        "description": "Everything Patron holds about the person (`patron-person-export`, "
        "version 1), as a file to download.",
    }
}


@router.get(
    "/customers/{key}/export",
    dependencies=[MANAGE],
    responses=EXPORT
    | described_errors({404: NO_CUSTOMER, 422: "The key is too long (`request.invalid`)."}),
)
def export(session: SessionDep, key: CustomerKey) -> Response:
    """Everything Patron holds about one person: every row that refers to them, in every
    table, and the rows that name them; secrets withheld."""
    customer = customers.find_customer(session, key=key)
    data = person_data(session, customer.id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="person-{customer.id}.json"'},
    )


@router.get(
    "/erasure-requests",
    response_model=ErasureRequestsPublic,
    dependencies=[MANAGE],
    responses=error_responses(422),
)
def list_requests(
    session: SessionDep,
    status: RequestStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ErasureRequestsPublic:
    """Erasure requests: open ones first (oldest first), then decided ones (newest first)."""
    return service.list_requests(session, status=status.value if status else None, limit=limit)


@router.post(
    "/customers/{key}/erasure",
    response_model=ErasureRequestPublic,
    dependencies=[MANAGE],
    responses=described_errors(
        {
            400: "The body is not JSON (`http.bad_request`).",
            404: NO_CUSTOMER,
            409: "The person was erased already (`privacy.already_erased`).",
            422: "The body is invalid (`request.invalid`): `mode` is `request` or `erase`.",
        }
    ),
)
def erasure(
    session: SessionDep, key: CustomerKey, body: ErasureIn | None = None
) -> ErasureRequestPublic:
    """Ask for the person's erasure (``mode: request``, the default: queued for a decision;
    asked again, the open request), or erase them at once (``mode: erase``)."""
    customer = customers.find_customer(session, key=key)
    if body is not None and body.mode == "erase":
        return service.erase_now(session, customer.id, user_id=None, now=utcnow())
    return service.request_erasure(session, customer.id, source="api", now=utcnow())


DECIDED: dict[int | str, dict[str, Any]] = described_errors(
    {
        400: "The body is not JSON (`http.bad_request`).",
        404: NO_REQUEST,
        409: "The request was decided the other way already (`privacy.decided`).",
        422: "The request is invalid (`request.invalid`, `privacy.invalid` naming the field).",
    }
)


@router.post(
    "/erasure-requests/{request_id}/approve",
    response_model=ErasureRequestPublic,
    dependencies=[MANAGE],
    responses=DECIDED,
)
def approve(session: SessionDep, request_id: RequestId) -> ErasureRequestPublic:
    """Erase the person and mark the request done (approving it again changes nothing)."""
    return service.approve(session, request_id, user_id=None, now=utcnow())


@router.post(
    "/erasure-requests/{request_id}/reject",
    response_model=ErasureRequestPublic,
    dependencies=[MANAGE],
    responses=DECIDED,
)
def reject(session: SessionDep, request_id: RequestId, body: RejectIn) -> ErasureRequestPublic:
    """Refuse the request, saying why; the person's data stays."""
    return service.reject(session, request_id, user_id=None, note=body.note, now=utcnow())
