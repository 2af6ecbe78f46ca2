"""What the API and the pages of key accounts, tasks and events read and write."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from patron.care.moments import Moment


class TaskKind(StrEnum):
    """``care.models.TASK_KINDS`` (a test keeps the two the same)."""

    call = "call"
    visit = "visit"
    gift = "gift"
    invitation = "invitation"
    follow_up = "follow_up"


class TaskStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class EventKind(StrEnum):
    trade_fair = "trade_fair"
    jubilee = "jubilee"
    product_test = "product_test"
    other = "other"


class EventStatus(StrEnum):
    planned = "planned"
    invited = "invited"
    done = "done"
    cancelled = "cancelled"


# An event's key names its invitation campaigns (``event-<key>-<n>``, at most 64 characters).
EVENT_KEY = r"^[a-z0-9][a-z0-9_\-]*$"
MAX_COMPANIONS = 5


class _Rows(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- managers and key accounts ------------------------------------------------------------------


class ManagerIn(BaseModel):
    """An account manager's settings; what is left out stays as it was (a new one: the shop's
    ``account_capacity``, every region, active)."""

    model_config = ConfigDict(extra="forbid")
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    regions: list[str] | None = Field(
        default=None, max_length=100, description="Countries served, as stored on customers."
    )
    active: bool | None = None

    @field_validator("regions")
    @classmethod
    def _clean(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [r.strip() for r in value if r.strip()]
        if any(len(r) > 64 for r in cleaned):
            raise ValueError("a region is a country of at most 64 characters")
        return sorted(set(cleaned))


class ManagerPublic(BaseModel):
    user_id: int
    email: str
    name: str | None
    role: str
    capacity: int
    regions: list[str]
    active: bool
    accounts: int  # key accounts now (manual ones included)
    manual: int  # of which a person assigned


class ManagersPublic(BaseModel):
    data: list[ManagerPublic]
    count: int


class KeyAccountIn(BaseModel):
    """A manual assignment: the manager's e-mail address, or null to hand the customer back
    to the rule."""

    model_config = ConfigDict(extra="forbid")
    manager: str | None = Field(default=None, max_length=254)


class KeyAccountPublic(BaseModel):
    customer_id: int
    external_id: str | None
    name: str | None
    country: str | None
    manager_id: int | None
    manager: str | None  # the manager's name, or e-mail address
    source: str | None  # rule or manual; None: nobody looks after the customer
    reason: str | None
    assigned_at: datetime | None


class KeyAccountsPublic(BaseModel):
    data: list[KeyAccountPublic]
    count: int


class AssignmentRunPublic(BaseModel):
    """What a run of the rule did. ``snapshot_id`` is the scores it read (None: no analysis
    yet, so it changed nothing)."""

    snapshot_id: int | None
    a_customers: int
    assigned: int
    kept: int
    moved: int
    released: int
    unplaced: int


# --- tasks -------------------------------------------------------------------------------------


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: TaskKind
    title: str = Field(min_length=1, max_length=300)
    customer: str | None = Field(
        default=None, max_length=64, description="External id or number; optional."
    )
    owner: str | None = Field(
        default=None,
        max_length=254,
        description="The owner's e-mail address; default: the customer's account manager.",
    )
    due_on: date
    note: str | None = Field(default=None, max_length=4000)


class TaskPublic(_Rows):
    id: int
    key: str | None
    kind: TaskKind
    title: str
    note: str | None
    customer_id: int | None
    customer_name: str | None = None
    owner_id: int | None
    owner: str | None = None
    due_on: date
    status: TaskStatus
    rule: str | None
    event_id: int | None
    case_id: int | None
    created_by: str | None
    created_at: datetime
    done_at: datetime | None


class TasksPublic(BaseModel):
    data: list[TaskPublic]
    count: int


class RulesRunPublic(BaseModel):
    """Tasks the rules made in one run, per rule."""

    p_alive: int
    anniversary: int
    no_contact: int


# --- workspace ---------------------------------------------------------------------------------


class OrderBrief(BaseModel):
    external_id: str
    placed_at: datetime
    currency: str
    total: Decimal


class WorkspaceAccount(BaseModel):
    customer_id: int
    external_id: str | None
    name: str | None
    country: str | None
    source: str
    abc: str | None
    clv: float | None
    p_alive: float | None
    phase: str | None
    orders: list[OrderBrief]
    open_cases: int
    next_tasks: list[TaskPublic]


class WorkspacePublic(BaseModel):
    manager_id: int
    snapshot_id: int | None
    accounts: list[WorkspaceAccount]
    tasks: list[TaskPublic]  # the manager's own open tasks, the next first


# --- events ------------------------------------------------------------------------------------


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=48, pattern=EVENT_KEY)
    name: str = Field(min_length=1, max_length=200)
    kind: EventKind = EventKind.other
    starts_at: Moment
    ends_at: Moment | None = None
    place: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    segment: str | None = Field(default=None, max_length=2000)
    capacity: int | None = Field(default=None, ge=1, le=100_000)


class EventUpdate(BaseModel):
    """What changes; what is left out stays."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: EventKind | None = None
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    place: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    segment: str | None = Field(default=None, max_length=2000)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    status: EventStatus | None = None


class EventCounts(BaseModel):
    guests: int
    invited: int
    accepted: int
    declined: int
    no_answer: int
    attended: int
    expected: int  # people who said yes, with their companions


class EventPublic(_Rows):
    id: int
    key: str
    name: str
    kind: EventKind
    starts_at: datetime
    ends_at: datetime | None
    place: str | None
    description: str | None
    segment: str | None
    capacity: int | None
    status: EventStatus
    created_by: str | None
    created_at: datetime
    counts: EventCounts | None = None


class EventsPublic(BaseModel):
    data: list[EventPublic]
    count: int


class GuestPublic(BaseModel):
    customer_id: int
    external_id: str | None
    name: str | None
    email: str | None
    invited_at: datetime | None
    message_id: int | None
    rsvp: str
    companions: int
    responded_at: datetime | None
    attended_at: datetime | None
    # for a guest not yet invited: whether a marketing e-mail can reach them now, else why not
    # (consent: no marketing consent or no usable address; control_group); None: not asked
    reachable: bool | None = None
    reason: str | None = None


class EventDetailPublic(BaseModel):
    event: EventPublic
    guests: list[GuestPublic]


class GuestsIn(BaseModel):
    """Guests to add: everyone in ``segment`` (default: the event's own segment when neither
    is given), or the listed customers (external ids or numbers)."""

    model_config = ConfigDict(extra="forbid")
    segment: str | None = Field(default=None, max_length=2000)
    customers: list[str] | None = Field(default=None, max_length=10_000)
    remove: bool = Field(default=False, description="Remove the listed customers instead.")


class GuestsChanged(BaseModel):
    added: int
    removed: int
    guests: int


class Unreachable(BaseModel):
    customer_id: int
    name: str | None
    reason: str  # consent (no marketing consent or no usable address) or control_group


class InvitationRunPublic(BaseModel):
    invited: int
    already: int
    not_reachable: list[Unreachable]
    campaigns: list[str]  # the keys of the campaigns that sent the invitations


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[str] = Field(min_length=1, max_length=10_000)


class AttendancePublic(BaseModel):
    recorded: int
    already: int


class RsvpPublic(BaseModel):
    """One guest's answer as the invitation page shows it."""

    event: EventPublic
    customer_id: int
    language: str
    rsvp: str
    companions: int
