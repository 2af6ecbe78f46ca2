"""JSON routes of subscriptions under ``/api/v1``: the shop or ERP creates and changes them, and
pauses, resumes, skips or cancels on the customer's behalf; the history says who did what.

Creating takes an idempotency key (``key`` in the body, or the ``Idempotency-Key`` header): the
same key with the same content again answers 200 with the subscription made the first time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from patron.customers import service as customers
from patron.db import utcnow
from patron.errors import PatronError
from patron.subscriptions import service
from patron.subscriptions.schemas import (
    CancelIn,
    CancelTerms,
    HistoryPublic,
    IntervalIn,
    PauseIn,
    SubscriptionCreate,
    SubscriptionPublic,
    SubscriptionsPublic,
    SubscriptionUpdate,
)
from patron.web.deps import (
    ApiKeyActorDep,
    SessionDep,
    SettingsDep,
    described_errors,
    error_responses,
    require,
)

router = APIRouter(prefix="/api/v1", tags=["subscriptions"], responses=error_responses(401, 403))
READ = require("subscriptions:read")
WRITE = require("subscriptions:write")
NOT_JSON = "The body is not JSON (`http.bad_request`)."
INVALID = "The request is invalid (`request.invalid`, `subscriptions.invalid` naming the field)."
NO_SUBSCRIPTION = "No subscription with this key (`subscriptions.not_found`)."
REFUSED = (
    "The subscription's state does not allow it (`subscriptions.refused`: paused, ended, "
    "cancelled already; `subscriptions.already_announced`: the delivery was passed to the shop)."
)
REPEATED: dict[int | str, dict[str, Any]] = {
    200: {"model": SubscriptionPublic, "description": "Made before under this key: that one."}
}
SubscriptionKey = Annotated[str, Path(max_length=64, description="The subscription's key.")]


def known(session: SessionDep, key: SubscriptionKey) -> str:
    """The key, if there is such a subscription (404 first, before the body is judged)."""
    return service.find(session, key).key


KnownKey = Annotated[str, Depends(known)]


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionPublic,
    dependencies=[WRITE],
    responses=REPEATED
    | described_errors(
        {
            400: NOT_JSON,
            404: "No such customer or product (`customers.not_found`, `products.not_found`).",
            409: "The key names a subscription with other content (`subscriptions.key_taken`), "
            "or the customer was erased (`subscriptions.refused`).",
            422: INVALID,
        }
    ),
)
def create_subscription(
    session: SessionDep,
    settings: SettingsDep,
    actor: ApiKeyActorDep,
    body: SubscriptionCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=64, description="Instead of `key`."),
    ] = None,
) -> SubscriptionPublic:
    """Create a customer's subscription: items (at their list price or an agreed one), the
    rhythm, the first delivery (default: the start), a discount or benefit, and the contract
    (minimum term, notice period, renewal). Dates are local to the customer's time zone."""
    if body.key and idempotency_key and body.key != idempotency_key:
        raise PatronError(
            "the body's key and the Idempotency-Key header differ: send one of them",
            code="request.invalid",
        )
    if idempotency_key and not body.key:
        body = SubscriptionCreate.model_validate(body.model_dump() | {"key": idempotency_key})
    made, created = service.create_or_repeat(
        session, body, settings=settings, actor=actor, now=utcnow()
    )
    if not created:
        response.status_code = 200
    return made


@router.get(
    "/subscriptions",
    response_model=SubscriptionsPublic,
    dependencies=[READ],
    responses=described_errors({404: "No such customer (`customers.not_found`).", 422: INVALID}),
)
def list_subscriptions(
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(active|paused|cancelled)$")] = None,
    customer: Annotated[
        str | None, Query(max_length=64, description="External id or Patron number.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> SubscriptionsPublic:
    """Subscriptions, newest first, with their total count."""
    return service.list_subscriptions(
        session, status=status, customer=customer, limit=limit, offset=offset, now=utcnow()
    )


@router.get(
    "/customers/{key}/subscriptions",
    response_model=list[SubscriptionPublic],
    dependencies=[READ],
    responses=described_errors({404: "No such customer (`customers.not_found`)."}),
)
def customer_subscriptions(
    session: SessionDep,
    key: Annotated[str, Path(max_length=64, description="External id or Patron number.")],
) -> list[SubscriptionPublic]:
    """One customer's subscriptions, running ones first."""
    customer_id = customers.customer_ref(session, key=key).id
    return service.for_customer(session, customer_id, now=utcnow())


@router.get(
    "/subscriptions/{key}",
    response_model=SubscriptionPublic,
    dependencies=[READ],
    responses=described_errors({404: NO_SUBSCRIPTION}),
)
def get_subscription(session: SessionDep, key: KnownKey) -> SubscriptionPublic:
    """One subscription: items and prices, monthly value, next delivery, contract dates, and
    the earliest end a cancellation today would give."""
    return service.get(session, key, now=utcnow())


@router.patch(
    "/subscriptions/{key}",
    response_model=SubscriptionPublic,
    dependencies=[WRITE],
    responses=described_errors({400: NOT_JSON, 404: NO_SUBSCRIPTION, 409: REFUSED, 422: INVALID}),
)
def change_subscription(
    session: SessionDep, actor: ApiKeyActorDep, key: KnownKey, body: SubscriptionUpdate
) -> SubscriptionPublic:
    """Change what is given: items (all of them), rhythm, the next delivery's date, discount,
    benefit. Sends `subscription.changed` when something did change."""
    return service.change(session, key, body, actor=actor, now=utcnow())


@router.post(
    "/subscriptions/{key}/interval",
    response_model=SubscriptionPublic,
    dependencies=[WRITE],
    responses=described_errors({400: NOT_JSON, 404: NO_SUBSCRIPTION, 409: REFUSED, 422: INVALID}),
)
def change_interval(
    session: SessionDep, actor: ApiKeyActorDep, key: KnownKey, body: IntervalIn
) -> SubscriptionPublic:
    """A new rhythm from the next delivery on; a monthly one keeps its day of the month."""
    return service.change_interval(
        session, key, unit=body.unit.value, count=body.count, actor=actor, now=utcnow()
    )


@router.post(
    "/subscriptions/{key}/pause",
    response_model=SubscriptionPublic,
    dependencies=[WRITE],
    responses=described_errors({400: NOT_JSON, 404: NO_SUBSCRIPTION, 409: REFUSED, 422: INVALID}),
)
def pause(
    session: SessionDep, actor: ApiKeyActorDep, key: KnownKey, body: PauseIn
) -> SubscriptionPublic:
    """Pause until a day (the first it runs again, at most 183 days ahead) or until resumed.
    Deliveries in between are not made up; the rhythm stays."""
    return service.pause(session, key, until=body.until, actor=actor, now=utcnow())


@router.post(
    "/subscriptions/{key}/resume",
    response_model=SubscriptionPublic,
    dependencies=[WRITE],
    responses=described_errors({404: NO_SUBSCRIPTION, 409: REFUSED}),
)
def resume(session: SessionDep, actor: ApiKeyActorDep, key: KnownKey) -> SubscriptionPublic:
    """Resume a paused subscription now: the next delivery is the rhythm's next date."""
    return service.resume(session, key, actor=actor, now=utcnow())


@router.post(
    "/subscriptions/{key}/skip",
    response_model=SubscriptionPublic,
    dependencies=[WRITE],
    responses=described_errors({404: NO_SUBSCRIPTION, 409: REFUSED}),
)
def skip(session: SessionDep, actor: ApiKeyActorDep, key: KnownKey) -> SubscriptionPublic:
    """Skip the next delivery (refused once it was announced to the shop)."""
    return service.skip(session, key, actor=actor, now=utcnow())


@router.get(
    "/subscriptions/{key}/cancellation",
    response_model=CancelTerms,
    dependencies=[READ],
    responses=described_errors({404: NO_SUBSCRIPTION}),
)
def cancellation_terms(session: SessionDep, key: KnownKey) -> CancelTerms:
    """What cancelling today would mean: the current term's end, its notice deadline, and the
    last day of delivery."""
    return service.cancellation_terms(session, key, now=utcnow())


@router.post(
    "/subscriptions/{key}/cancel",
    response_model=SubscriptionPublic,
    dependencies=[WRITE],
    responses=described_errors({400: NOT_JSON, 404: NO_SUBSCRIPTION, 409: REFUSED, 422: INVALID}),
)
def cancel(
    session: SessionDep,
    settings: SettingsDep,
    actor: ApiKeyActorDep,
    key: KnownKey,
    body: CancelIn,
) -> SubscriptionPublic:
    """Cancel at the earliest end the contract allows (`ends_on`); deliveries continue until
    then. The reason feeds the churn report."""
    return service.cancel(
        session,
        key,
        reason=body.reason.value,
        note=body.note,
        actor=actor,
        settings=settings,
        now=utcnow(),
    )


@router.get(
    "/subscriptions/{key}/history",
    response_model=HistoryPublic,
    dependencies=[READ],
    responses=described_errors({404: NO_SUBSCRIPTION}),
)
def history(session: SessionDep, key: KnownKey) -> HistoryPublic:
    """Every change, oldest first: what, when, by whom (API key, portal, staff, worker), why."""
    return service.history(session, key)
