"""JSON routes of the analytics under ``/api/v1``: a customer's scores, the segments' figures.

Both read the stored snapshots (``patron analyze`` writes them); neither computes anything.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from patron.analytics import readout
from patron.analytics.explain import Rules, explain, sentences
from patron.analytics.schemas import (
    CustomerScoresPublic,
    SegmentFigures,
    SegmentsPublic,
    SnapshotPublic,
)
from patron.analytics.snapshots import SCORE_FIELDS, segment_counts
from patron.web.deps import ReaderDep, SessionDep, error_responses, require

# Every route here needs a key: each may answer 401 and 403 in the error shape.
router = APIRouter(prefix="/api/v1", tags=["analytics"], responses=error_responses(401, 403))

# Scores and segment figures are analytics (the permission table's "analytics:read": scores,
# segments' figures, reports), more than a customer's record: a key that may read customers
# does not see their value, profit or churn risk without this scope as well.
READ = require("analytics:read")


def _not_found(description: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``error_responses`` for 404 and ``statuses``, the 404 described as ``description``."""
    responses = error_responses(404, *statuses)
    return responses | {404: responses[404] | {"description": description}}


NOT_SCORED = _not_found(
    "No customer with this key (`customers.not_found`), or the customer has no scores yet "
    "(`analytics.not_scored`: run `patron analyze`).",
    422,
)
NO_SNAPSHOT = _not_found("Nothing scored yet (`analytics.no_snapshot`: run `patron analyze`).")


@router.get(
    "/customers/{key}/scores",
    response_model=CustomerScoresPublic,
    dependencies=[READ],
    responses=NOT_SCORED,
)
def customer_scores(
    session: SessionDep,
    reader: ReaderDep,
    key: Annotated[str, Path(description="The external id, or Patron's number for the customer.")],
) -> CustomerScoresPublic:
    """The customer's scores from the newest snapshot that holds them, each explained."""
    customer, snapshot, score = readout.scores_of(session, key=key)
    explained = explain(
        score,
        Rules.of(snapshot),
        translations=reader.translations,
        formats=reader.formats,
        product=readout.product_name(session, score.subscription_product),
    )
    return CustomerScoresPublic(
        customer_id=customer.id,
        external_id=customer.external_id,
        snapshot=SnapshotPublic.model_validate(snapshot),
        explanation=sentences(explained),
        **{name: getattr(score, name) for name in SCORE_FIELDS},
    )


@router.get(
    "/analytics/segments",
    response_model=SegmentsPublic,
    dependencies=[READ],
    responses=NO_SNAPSHOT,
)
def segments(session: SessionDep) -> SegmentsPublic:
    """Customers, revenue and CLV per ABC class, RFM segment, lifecycle phase and loyalty type
    in the newest snapshot."""
    snapshot = readout.newest_snapshot(session)
    counted = segment_counts(session, snapshot.id)
    return SegmentsPublic(
        snapshot=SnapshotPublic.model_validate(snapshot),
        **{name: [SegmentFigures(**row) for row in rows] for name, rows in counted.items()},
    )
