"""What privacy's API, pages and CLI take and give: erasure requests and decisions on them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RequestStatus(StrEnum):
    requested = "requested"  # waiting for staff
    rejected = "rejected"
    done = "done"  # the person was erased


class RequestSource(StrEnum):
    portal = "portal"  # the person, in the customer portal
    staff = "staff"  # a member of staff on the person's behalf (page or command line)
    api = "api"  # the shop or another system


class ErasureRequestPublic(BaseModel):
    """A request to erase a person; once done, ``summary`` counts what changed where."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    customer_id: int
    source: RequestSource
    status: RequestStatus
    requested_at: datetime
    decided_by: int | None = None
    decided_at: datetime | None = None
    note: str | None = None
    summary: dict[str, Any] | None = None


class ErasureRequestsPublic(BaseModel):
    """Erasure requests, open ones first (oldest first), then decided ones (newest first)."""

    data: list[ErasureRequestPublic]
    count: int


class ErasureIn(BaseModel):
    """``request`` queues the erasure for a decision; ``erase`` carries it out at once."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["request", "erase"] = Field(
        default="request",
        description="`request` (queued for staff approval) or `erase` (at once).",
    )


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(
        min_length=1,
        max_length=500,
        description="Why the request is refused (e.g. an open dispute); never the person's data.",
    )
