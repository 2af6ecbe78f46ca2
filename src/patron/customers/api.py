"""JSON routes of the knowledge store under ``/api/v1``: parse the request, call the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from patron.customers import service
from patron.customers.schemas import (
    Customer360Public,
    CustomerSort,
    CustomersPublic,
    StoreStats,
)
from patron.web.deps import SessionDep, error_responses, require

# Every route here needs a key: each may answer 401 and 403 in the error shape.
router = APIRouter(prefix="/api/v1", tags=["customers"], responses=error_responses(401, 403))

# The counts are the store's size, not analytics (scores, segments, reports): whoever may list
# customers sees their count anyway, so they need no more than customers:read.
READ = require("customers:read")


@router.get(
    "/customers",
    response_model=CustomersPublic,
    dependencies=[READ],
    responses=error_responses(422),
)
def list_customers(
    session: SessionDep,
    search: Annotated[
        str | None,
        Query(max_length=200, description="Start of a name, e-mail address or external id."),
    ] = None,
    page: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=service.MAX_PER_PAGE)] = 50,
    sort: CustomerSort = CustomerSort.name,
) -> CustomersPublic:
    """One page of customers; ``count`` is the number of all matches."""
    return service.list_customers(
        session, search=search, page=page, per_page=per_page, sort=sort.value
    )


@router.get(
    "/customers/{key}",
    response_model=Customer360Public,
    dependencies=[READ],
    responses=error_responses(404, 422),
)
def show_customer(
    session: SessionDep,
    key: Annotated[str, Path(description="The external id, or Patron's number for the customer.")],
) -> Customer360Public:
    """Everything known about one customer: profile, consent, orders, returns, interactions."""
    customer = service.find_customer(session, key=key)
    return service.customer_360(session, customer_id=customer.id)


@router.get("/stats", response_model=StoreStats, dependencies=[READ])
def stats(session: SessionDep) -> StoreStats:
    """Row counts of the knowledge store."""
    return service.store_stats(session)
