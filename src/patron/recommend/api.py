"""JSON routes of the recommender under ``/api/v1``: a customer's offers, their blocks, the fit.

Offers are made when asked, from the customer's history up to now and the stored fit (``patron
recommend fit``). A block keeps one product away from one customer's offers of every kind.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from patron.customers import service as customers
from patron.db import utcnow
from patron.recommend import service
from patron.recommend.schemas import (
    BlockCreate,
    BlockPublic,
    FitPublic,
    Kind,
    RecommendationsPublic,
)
from patron.web.deps import ApiKeyActorDep, SessionDep, described_errors, error_responses, require

# Every route here needs a key: each may answer 401 and 403 in the error shape.
router = APIRouter(prefix="/api/v1", tags=["recommendations"], responses=error_responses(401, 403))

# Offers and blocks belong to the customer's record (what a shop shows or mails them); the fit's
# learnt weights and statistics are analytics.
READ = require("customers:read")
WRITE = require("customers:write")
ANALYTICS = require("analytics:read")
MAX_K = 50

NO_CUSTOMER = "No customer with this key (`customers.not_found`)"
NOT_FITTED = (
    "The recommender has not been fitted yet (`recommend.not_fitted`: run `patron recommend fit`)."
)


def known_customer(
    session: SessionDep,
    key: Annotated[
        str,
        Path(max_length=200, description="The external id, or Patron's number for the customer."),
    ],
) -> int:
    """The customer's number; resolved before the query and body, so a wrong key is a 404 first."""
    return customers.find_customer(session, key=key).id


CustomerDep = Annotated[int, Depends(known_customer)]


@router.get(
    "/customers/{key}/recommendations",
    response_model=RecommendationsPublic,
    dependencies=[READ],
    responses=described_errors(
        {
            404: NO_CUSTOMER + ".",
            409: NOT_FITTED,
            422: "The request is invalid (`request.invalid`).",
        }
    ),
)
def recommendations(
    session: SessionDep,
    customer_id: CustomerDep,
    kind: Annotated[
        Kind,
        Query(
            description="`cross`: what goes with what they buy (and re-buys when due); `up`: "
            "the premium alternative in a category they buy from; `partner`: partners' products."
        ),
    ] = Kind.cross,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many offers at most.")] = 10,
) -> RecommendationsPublic:
    """The customer's best offers of one kind, best first, each with its reason.

    A reason has a stable `code` (such as `bought_together`, `reorder_due`,
    `premium_alternative` or `popular_now`), its `figures` to word it in any language, and an
    English `text`. Products blocked for the customer are never offered.
    """
    return service.recommendations(session, customer_id=customer_id, kind=kind, k=k, now=utcnow())


@router.get(
    "/customers/{key}/recommendation-blocks",
    response_model=list[BlockPublic],
    dependencies=[READ],
    responses=described_errors(
        {404: NO_CUSTOMER + ".", 422: "The request is invalid (`request.invalid`)."}
    ),
)
def list_blocks(session: SessionDep, customer_id: CustomerDep) -> list[BlockPublic]:
    """The products never to be offered to this customer, oldest block first."""
    return service.blocks(session, customer_id=customer_id)


@router.post(
    "/customers/{key}/recommendation-blocks",
    status_code=201,
    response_model=BlockPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: "The body is not UTF-8 text (`http.bad_request`).",
            404: f"{NO_CUSTOMER}, or no product with this SKU (`products.not_found`).",
            409: "The product is already blocked for this customer (`recommend.already_blocked`).",
            422: "The request is invalid (`request.invalid`).",
        }
    ),
)
def block_product(
    session: SessionDep, customer_id: CustomerDep, body: BlockCreate, actor: ApiKeyActorDep
) -> BlockPublic:
    """Never offer this product to this customer again, in any kind of offer.

    Recorded with the API key that asked (`apikey:<prefix>`) and the optional reason.
    """
    return service.block(
        session,
        customer_id=customer_id,
        sku=body.sku.strip(),
        reason=(body.reason or "").strip() or None,
        by=actor,
    )


@router.delete(
    "/customers/{key}/recommendation-blocks/{sku}",
    status_code=204,
    response_class=Response,
    dependencies=[WRITE],
    responses=described_errors(
        {
            404: f"{NO_CUSTOMER}, or the product is not blocked for this customer "
            "(`recommend.not_blocked`).",
            422: "The request is invalid (`request.invalid`).",
        }
    ),
)
def unblock_product(
    session: SessionDep,
    customer_id: CustomerDep,
    sku: Annotated[str, Path(max_length=64, description="The blocked product's SKU.")],
) -> Response:
    """Lift the block: the product may be offered to this customer again."""
    service.unblock(session, customer_id=customer_id, sku=sku)
    return Response(status_code=204)


@router.get(
    "/recommendations/fit",
    response_model=FitPublic,
    dependencies=[ANALYTICS],
    responses=described_errors({409: NOT_FITTED}),
)
def fit(session: SessionDep) -> FitPublic:
    """When and on what the recommender was last fitted: the moment, counts (customers,
    products bought, baskets, neighbour pairs), the business rules in force and the weight it
    learnt for each ranking feature (per standard deviation, on the log-odds of a purchase)."""
    return service.fit_public(session)
