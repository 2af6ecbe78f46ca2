"""What engagement's API, pages and CLI take and give: segments, templates, campaigns, messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    push = "push"


class Purpose(StrEnum):
    marketing = "marketing"
    transactional = "transactional"


class CampaignKind(StrEnum):
    one_off = "one_off"
    journey = "journey"


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segment: str = Field(
        max_length=2000, description='A filter such as abc = "A" and p_alive < 0.5'
    )
    sample: int = Field(default=10, ge=0, le=100)


class SegmentPreview(BaseModel):
    segment: str
    count: int
    sample: list[dict[str, Any]]
    snapshot_id: int | None = Field(description="The analytics snapshot whose scores were read.")


class FieldPublic(BaseModel):
    name: str
    type: str
    meaning: str


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    name: str = Field(min_length=1, max_length=200)
    purpose: Purpose = Purpose.marketing
    subjects: dict[str, str] = Field(description="Subject per language code (de, en, nb).")
    bodies: dict[str, str] = Field(description="HTML body per language code (Jinja2).")


class TemplatePublic(BaseModel):
    id: int
    key: str
    name: str
    purpose: Purpose
    languages: list[str]
    subjects: dict[str, str]
    bodies: dict[str, str]
    shipped: bool
    variables: list[str] = Field(description="The variables the template uses.")
    updated_at: datetime


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="A", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
    template: str = Field(min_length=1, max_length=64, description="A template's key.")
    weight: float = Field(default=1.0, gt=0)

    @field_validator("name")
    @classmethod
    def _not_holdout(cls, value: str) -> str:
        if value.lower() in ("holdout", "control", "treatment"):
            raise ValueError(f"{value!r} names a comparison group; choose another variant name")
        return value


class CampaignCreate(BaseModel):
    """A one-off campaign (to a segment, now or at ``scheduled_at``) or a journey."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    key: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_\-]*$",
        description="Stable key, the seed of the holdout draw (made from the name if absent).",
    )
    kind: CampaignKind = CampaignKind.one_off
    journey: str | None = Field(default=None, description="The trigger of a journey.")
    segment: str | None = Field(default=None, max_length=2000)
    channel: Channel = Channel.email
    purpose: Purpose | None = Field(
        default=None, description="Marketing unless the journey or template says otherwise."
    )
    variants: list[VariantIn] = Field(default_factory=list, max_length=10)
    holdout_share: float = Field(default=0.1, ge=0.0, lt=1.0)
    window_days: int = Field(default=30, ge=1, le=730)
    settings: dict[str, Any] = Field(default_factory=dict)
    scheduled_at: datetime | None = None


class CampaignPublic(BaseModel):
    id: int
    key: str
    name: str
    kind: CampaignKind
    journey: str | None
    status: str
    segment: str | None
    channel: Channel
    purpose: Purpose
    variants: list[VariantIn]
    holdout_share: float
    window_days: int
    settings: dict[str, Any]
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    counts: dict[str, int] = Field(
        default_factory=dict, description="Members per group and messages per status."
    )


class CampaignsPublic(BaseModel):
    data: list[CampaignPublic]
    count: int


class RunPublic(BaseModel):
    """What one run of a campaign did."""

    campaign_id: int
    candidates: int = Field(description="Customers the segment or trigger named.")
    control_group: int = Field(description="Left out: the global control group.")
    unreachable: int = Field(description="Left out: no consent or no usable address.")
    already: int = Field(description="Left out: assigned in an earlier run.")
    holdout: int
    queued: int
    deferred: int = Field(description="Queued for later: frequency cap or quiet hours.")


class MessagePublic(BaseModel):
    id: int
    key: str
    campaign_id: int | None
    customer_id: int | None
    variant: str | None
    template_key: str | None
    channel: Channel
    purpose: Purpose
    language: str
    recipient: str
    subject: str
    status: str
    attempts: int
    send_after: datetime
    sent_at: datetime | None
    last_error: str | None
    opened_at: datetime | None
    clicked_at: datetime | None
    created_at: datetime


class MessagesPublic(BaseModel):
    data: list[MessagePublic]
    count: int


class TransactionalIn(BaseModel):
    """A service message to one customer (an order confirmation, a delivery note …)."""

    model_config = ConfigDict(extra="forbid")
    customer: str = Field(description="Patron id or the shop's external id.")
    template: str = Field(min_length=1, max_length=64)
    channel: Channel = Channel.email
    key: str = Field(
        min_length=1, max_length=150, description="Idempotency key: a repeat sends nothing new."
    )
    variables: dict[str, Any] = Field(
        default_factory=dict, description="Extra template variables (order number …)."
    )


class PreviewPublic(BaseModel):
    customer_id: int
    template: str
    language: str
    subject: str
    html: str
    text: str
