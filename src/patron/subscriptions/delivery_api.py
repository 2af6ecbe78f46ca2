"""The JSON API of subscription deliveries: the due list and its export (JSON or CSV), and the
order that fulfilled a delivery, for shops that tell Patron afterwards.

A delivery's reference is the subscription's key and the due day (``S-000123/2026-12-01``): the
fulfilment's path is that reference, ``…/subscription-deliveries/S-000123/2026-12-01/fulfil``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from patron.db import utcnow
from patron.errors import NotFound
from patron.subscriptions import fulfilment
from patron.subscriptions.fulfilment import DeliveriesPublic, DeliveryPublic
from patron.subscriptions.models import DELIVERY_STATUSES
from patron.web.deps import SessionDep, described_errors, error_responses, require

router = APIRouter(prefix="/api/v1", tags=["subscriptions"], responses=error_responses(401, 403))
READ = require("subscriptions:read")
WRITE = require("subscriptions:write")
FIRST, LAST = date(1970, 1, 1), date(9998, 12, 31)
NO_DELIVERY = (
    "No delivery with this reference (`deliveries.not_found`) or no such order "
    "(`orders.not_found`)."
)


class DeliveryStatus(StrEnum):
    due = "due"
    announced = "announced"
    fulfilled = "fulfilled"
    skipped = "skipped"
    cancelled = "cancelled"


assert tuple(DeliveryStatus) == DELIVERY_STATUSES  # one list of statuses


CSV_TOO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The deliveries (as CSV with format=csv)."}
}


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"


def _plausible(day: date | None) -> date | None:
    if day is not None and not FIRST <= day <= LAST:
        raise ValueError(f"must lie between {FIRST} and {LAST}")
    return day


Day = Annotated[date | None, AfterValidator(_plausible)]


class FulfilIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"order": "SO-2026-0042"}]},
    )
    order: str = Field(
        min_length=1, max_length=64, description="The order's id in the shop (its external id)."
    )


@router.get(
    "/subscription-deliveries",
    response_model=DeliveriesPublic,
    dependencies=[READ],
    responses=CSV_TOO
    | described_errors({422: "A parameter is invalid (`request.invalid`, `deliveries.invalid`)."}),
)
def list_deliveries(
    session: SessionDep,
    status: Annotated[
        list[DeliveryStatus],
        Query(max_length=5, description="Any of these statuses (default: announced)."),
    ] = [],  # noqa: B006
    since: Annotated[Day, Query(alias="from", description="Due on or after this day.")] = None,
    until: Annotated[Day, Query(alias="to", description="Due on or before this day.")] = None,
    format: Annotated[
        ExportFormat, Query(description="json, or csv: one row per item (a pick list).")
    ] = ExportFormat.json,
) -> DeliveriesPublic | Response:
    """The deliveries the shop is to fulfil (announced, not yet fulfilled), by due day: each
    with its reference, which the order that fulfils it quotes (`subscription_ref`), the
    customer's key, the items at their subscriber prices, and any benefit (free delivery…).
    The same list the `subscription.due` webhook announces one by one."""
    found = fulfilment.due_deliveries(
        session,
        status=[s.value for s in status] or ["announced"],
        since=since,
        until=until,
    )
    if format is ExportFormat.csv:
        return Response(
            fulfilment.to_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="subscription-deliveries.csv"'},
        )
    return found


def known_delivery(
    session: SessionDep,
    key: Annotated[str, Path(max_length=64, description="The subscription's key.")],
    due_on: Annotated[str, Path(max_length=10, description="The due day, YYYY-MM-DD.")],
) -> str:
    """The delivery's reference, if there is such a delivery (404 first, before the body)."""
    ref = fulfilment.reference_of(key, due_on)
    if not fulfilment.delivery_exists(session, ref):
        raise NotFound(
            f"no subscription delivery with reference {ref!r}",
            code="deliveries.not_found",
            details={"reference": ref},
        )
    return ref


KnownDelivery = Annotated[str, Depends(known_delivery)]


@router.post(
    "/subscription-deliveries/{key}/{due_on}/fulfil",
    response_model=DeliveryPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: "The body is not JSON (`http.bad_request`).",
            404: NO_DELIVERY,
            409: "The delivery was fulfilled by another order (`deliveries.already_fulfilled`), "
            "the order fulfils another delivery (`deliveries.order_taken`) or belongs to "
            "another customer (`deliveries.other_customer`).",
            422: "The body is invalid (`request.invalid`).",
        }
    ),
)
def fulfil_delivery(
    session: SessionDep, reference: KnownDelivery, body: FulfilIn
) -> DeliveryPublic:
    """Name the order that fulfilled a delivery (it is linked to the subscription). The path is
    the delivery's reference, `S-000123/2026-12-01`. Usually unneeded: an imported order that
    carries `subscription_ref` is linked by the worker. The same order again changes nothing."""
    return fulfilment.fulfil(session, reference, order=body.order, now=utcnow())
