"""JSON routes of consent under ``/api/v1``: consent changes, double opt-in, the suppression list.

Consent is part of the customer's record, so it follows the customers permissions: reading needs
``customers:read``, a change ``customers:write``. The suppression list holds addresses, which are
personal data as well, and stopping or allowing mail to one is a change of the same kind.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from patron.customers import service as customers
from patron.db import utcnow
from patron.engage import consent
from patron.engage.schemas_consent import (
    ConsentChangePublic,
    ConsentCreate,
    ConsentsPublic,
    OptInCreate,
    OptInPublic,
    SuppressionChangePublic,
    SuppressionCreate,
    SuppressionsPublic,
)
from patron.web.deps import SessionDep, SettingsDep, described_errors, error_responses, require

router = APIRouter(prefix="/api/v1", tags=["consent"], responses=error_responses(401, 403))

READ = require("customers:read")
WRITE = require("customers:write")
NO_CUSTOMER = "No customer with this key (`customers.not_found`)."
INVALID = "An unknown channel, purpose, reason or address (`consent.invalid`)."
REQUEST_INVALID = "The request is invalid (`request.invalid`)."


def known_customer(
    session: SessionDep,
    key: Annotated[
        str,
        Path(max_length=200, description="The external id, or Patron's number for the customer."),
    ],
) -> int:
    """The customer's number; resolved before the body, so a wrong key is a 404 first."""
    return customers.find_customer(session, key=key).id


CustomerDep = Annotated[int, Depends(known_customer)]


@router.get(
    "/customers/{key}/consents",
    response_model=ConsentsPublic,
    dependencies=[READ],
    responses=described_errors({404: NO_CUSTOMER, 422: REQUEST_INVALID}),
)
def list_consents(session: SessionDep, customer_id: CustomerDep) -> ConsentsPublic:
    """The customer's consent now: the latest event per channel and purpose.

    A channel and purpose without an entry was never asked, which means no consent.
    """
    states = customers.consent_state(session, customer_id=customer_id)
    return ConsentsPublic(data=states, count=len(states))


@router.post(
    "/customers/{key}/consents",
    status_code=201,
    response_model=ConsentChangePublic,
    dependencies=[WRITE],
    responses=described_errors({400: INVALID, 404: NO_CUSTOMER, 422: REQUEST_INVALID}),
)
def change_consent(
    session: SessionDep, customer_id: CustomerDep, body: ConsentCreate
) -> ConsentChangePublic:
    """Record that the customer gave or withdrew consent for a channel and purpose.

    The history is append-only; the latest event wins. A marketing withdrawal takes effect at
    once: the customer's queued marketing messages on the channel are cancelled in the same
    transaction (`cancelled_messages`). A `consent.changed` event goes to the webhooks.
    """
    return consent.record_consent(
        session,
        customer_id=customer_id,
        channel=body.channel,
        purpose=body.purpose,
        granted=body.granted,
        source=body.source,
        now=utcnow(),
    )


@router.post(
    "/customers/{key}/opt-in",
    status_code=202,
    response_model=OptInPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: INVALID,
            404: NO_CUSTOMER,
            409: "The customer has no e-mail address (`consent.no_address`), or it is on the "
            "suppression list (`consent.address_suppressed`).",
            422: REQUEST_INVALID,
        }
    ),
)
def start_opt_in(
    session: SessionDep, settings: SettingsDep, customer_id: CustomerDep, body: OptInCreate
) -> OptInPublic:
    """Start a double opt-in: the customer gets an e-mail whose link confirms the consent.

    The consent is recorded only when the customer follows the link (within 7 days); the link
    itself goes to the customer alone, never into this answer.
    """
    token = consent.request_opt_in(
        session,
        customer_id=customer_id,
        channel=body.channel,
        purpose=body.purpose,
        source=body.source,
        settings=settings,
        now=utcnow(),
    )
    return consent.opt_in_request(session, token=token)


@router.get(
    "/suppressions",
    response_model=SuppressionsPublic,
    dependencies=[READ],
    responses=described_errors({400: INVALID, 422: REQUEST_INVALID}),
)
def list_suppressions(
    session: SessionDep,
    channel: Annotated[str | None, Query(max_length=16, description="Only this channel.")] = None,
    limit: Annotated[int, Query(ge=1, le=consent.MAX_SUPPRESSIONS)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> SuppressionsPublic:
    """Addresses that get no messages (or no marketing, for `unsubscribe`), newest first."""
    return consent.suppressions(session, channel=channel, limit=limit, offset=offset)


@router.post(
    "/suppressions",
    status_code=201,
    response_model=SuppressionChangePublic,
    dependencies=[WRITE],
    responses=described_errors({400: INVALID, 422: REQUEST_INVALID}),
)
def add_suppression(session: SessionDep, body: SuppressionCreate) -> SuppressionChangePublic:
    """Stop messages to an address at once: what is queued to it is cancelled.

    `hard_bounce`, `complaint` and `manual` stop every message; `unsubscribe` stops marketing.
    Adding an address again updates its reason and note (an `unsubscribe` never weakens an entry
    that stops everything). E-mail addresses are compared trimmed and in lower case.
    """
    return consent.suppress(
        session,
        channel=body.channel,
        address=body.address,
        reason=body.reason,
        note=body.note,
        now=utcnow(),
    )


@router.delete(
    "/suppressions/{channel}/{address}",
    status_code=204,
    response_class=Response,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: INVALID,
            404: "The address is not on the channel's list (`suppressions.not_found`).",
            422: REQUEST_INVALID,
        }
    ),
)
def remove_suppression(
    session: SessionDep,
    channel: Annotated[str, Path(max_length=16)],
    address: Annotated[str, Path(max_length=254)],
) -> Response:
    """Take an address off the suppression list: messages may reach it again (marketing still
    needs the customer's consent)."""
    consent.unsuppress(session, channel=channel, address=address)
    return Response(status_code=204)
