"""What the cases' API, pages and CLI take and give: a case, its history, the queue, the report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    complaint = "complaint"
    question = "question"
    request = "request"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Channel(StrEnum):
    email = "email"
    phone = "phone"
    web = "web"
    api = "api"
    store = "store"
    chat = "chat"
    letter = "letter"


class Status(StrEnum):
    new = "new"
    in_progress = "in_progress"
    waiting = "waiting"
    resolved = "resolved"
    closed = "closed"


class DueState(StrEnum):
    """How a case stands against its next deadline."""

    ok = "ok"
    at_risk = "at_risk"  # within the warning time (working hours) of its deadline
    breached = "breached"
    none = "none"  # no deadline runs (resolved, closed, or no policy)


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str = Field(
        min_length=1, max_length=64, description="The customer's external id or Patron number."
    )
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(
        min_length=1, max_length=20_000, description="The customer's own words: the first entry."
    )
    kind: Kind = Kind.complaint
    category: str = Field(
        default="other",
        max_length=64,
        description="delivery, damaged, wrong_item, quality, billing, return, service or other.",
    )
    priority: Priority = Priority.normal
    channel: Channel = Channel.api
    order: str | None = Field(
        default=None, max_length=64, description="The external id of the order it is about."
    )
    assignee_id: int | None = Field(default=None, description="The agent's user number.")
    team: str | None = Field(default=None, max_length=64)
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="An idempotency key: the same key again answers with the case it opened.",
    )


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=20_000)
    wait: bool = Field(default=False, description="Then wait for the customer's answer.")
    send: bool = Field(
        default=True,
        description="E-mail the reply to the customer; false records a reply given another "
        "way (on the phone, in the shop).",
    )


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=20_000)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status
    note: str | None = Field(default=None, max_length=2000, description="Why, for the history.")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee_id: int | None = Field(default=None, description="A user number; null: nobody.")
    team: str | None = Field(default=None, max_length=64, description="A team; null: none.")


class EntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    case_id: int
    kind: str = Field(description="note (internal), reply, customer (their message), change.")
    body: str
    author: str | None
    message_id: int | None = Field(description="The outbox message that carried a reply.")
    created_at: datetime


class CasePublic(BaseModel):
    id: int
    customer_id: int
    customer_name: str | None
    customer_external_id: str | None
    order_id: int | None
    order_external_id: str | None
    kind: Kind
    subject: str
    category: str
    priority: Priority
    channel: Channel
    status: Status
    assignee_id: int | None
    assignee: str | None = Field(description="The assignee's name or e-mail address.")
    team: str | None
    customer_class: str | None = Field(description="ABC class when the case opened.")
    sla_policy: str | None
    opened_at: datetime
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_breached_at: datetime | None
    csat_score: int | None
    due_at: datetime | None = Field(
        description="The next deadline: first response until answered, then resolution."
    )
    due_state: DueState
    working_hours_left: float | None = Field(
        description="Working hours until the next deadline (negative: past it)."
    )


class CaseDetail(CasePublic):
    entries: list[EntryPublic]


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int


class RecoveryGroup(BaseModel):
    group: str = Field(description="resolved, unresolved or none (no complaint).")
    customers: int = Field(description="Customers in the group.")
    repurchase_eligible: int = Field(
        description="Of them, those whose window after the reference date has fully passed."
    )
    repurchased: int = Field(description="Of those, customers with a completed order in it.")
    repurchase_rate: float | None = Field(description="repurchased / eligible; null if none.")
    clv_customers: int = Field(description="Customers with a CLV before and after the date.")
    clv_change: float | None = Field(description="Mean CLV after minus before; null if none.")


class RecoveryPublic(BaseModel):
    as_of: datetime
    window_days: int
    reference_for_none: datetime | None = Field(
        description="The no-complaint group's reference date: the median first-complaint date."
    )
    snapshots: int = Field(description="Score snapshots available for the CLV change.")
    groups: list[RecoveryGroup]
