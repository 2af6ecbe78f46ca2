"""What the outbox shows to the outside. An endpoint's secret only when asked for by name."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, PlainSerializer

# As in the other areas' schemas (siblings, so not imported): "+00:00", not "Z".
Instant = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]


class EndpointPublic(BaseModel):
    id: int
    url: str
    topics: list[str]
    active: bool
    description: str | None
    created_at: Instant
    secret: str | None = None  # set at creation and for `--show-secret`, otherwise None


class EndpointsPublic(BaseModel):
    data: list[EndpointPublic]
    count: int


class DeliveryPublic(BaseModel):
    id: int
    event_id: int
    topic: str
    endpoint_id: int
    url: str
    status: str
    attempts: int
    created_at: Instant  # the event's
    next_attempt_at: Instant | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: Instant | None


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]
    count: int
