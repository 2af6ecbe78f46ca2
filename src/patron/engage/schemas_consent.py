"""What the consent API takes and gives: consent changes, double opt-in, the suppression list."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from patron.customers.models import CONSENT_CHANNELS, CONSENT_PURPOSES
from patron.customers.schemas import ConsentState, Instant
from patron.engage.models import CHANNELS, SUPPRESSION_REASONS


class ConsentCreate(BaseModel):
    """A consent given or withdrawn, as the customer told the shop (checkout, hotline, letter)."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(
        max_length=16,
        description=f"One of {', '.join(CONSENT_CHANNELS)}.",
        json_schema_extra={"examples": ["email"]},
    )
    purpose: str = Field(
        default="marketing",
        max_length=16,
        description=f"One of {', '.join(CONSENT_PURPOSES)}.",
    )
    granted: bool
    source: str = Field(
        default="api",
        min_length=1,
        max_length=64,
        description="Where the customer said so (checkout, hotline, paper form …).",
    )


class ConsentChangePublic(BaseModel):
    """The consent event just recorded, and how many queued messages it stopped."""

    customer_id: int
    channel: str
    purpose: str
    granted: bool
    source: str
    recorded_at: Instant
    cancelled_messages: int = Field(
        description="Queued marketing messages on the channel cancelled by a withdrawal."
    )


class ConsentsPublic(BaseModel):
    """The latest event per channel and purpose; a pair without one was never asked (no consent)."""

    data: list[ConsentState]
    count: int


class OptInCreate(BaseModel):
    """Start a double opt-in: the customer gets an e-mail with a link that confirms it."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(default="email", max_length=16)
    purpose: str = Field(default="marketing", max_length=16)
    source: str = Field(default="api", min_length=1, max_length=64)


class OptInPublic(BaseModel):
    """A double opt-in waiting for its link (the link itself goes only to the customer)."""

    request_id: int
    customer_id: int
    channel: str
    purpose: str
    requested_at: Instant
    expires_at: Instant
    confirmed_at: Instant | None


class SuppressionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(max_length=16, description=f"One of {', '.join(CHANNELS)}.")
    address: str = Field(
        min_length=1, max_length=254, description="E-mail address, phone number or push id."
    )
    reason: str = Field(
        default="manual",
        max_length=16,
        description=f"One of {', '.join(SUPPRESSION_REASONS)}; `unsubscribe` stops marketing "
        "only, the others every message.",
    )
    note: str | None = Field(default=None, max_length=500)


class SuppressionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    address: str
    reason: str
    note: str | None
    created_at: Instant


class SuppressionChangePublic(BaseModel):
    """The suppression as it now stands, and how many queued messages to the address stopped."""

    suppression: SuppressionPublic
    cancelled_messages: int


class SuppressionsPublic(BaseModel):
    """Suppressions, newest first; ``count`` counts all that match, not only this page."""

    data: list[SuppressionPublic]
    count: int
