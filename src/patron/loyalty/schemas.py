"""What the loyalty API and CLI take and give: requests (``…In``) and answers (``…Public``).

Money is ``Decimal`` (sent as a string in JSON), points are integers, instants are aware.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from patron.loyalty.programme import LINE_KINDS

# Text without NUL characters, which PostgreSQL cannot store: refused here, not by the database.
TEXT = r"^[^\x00]*$"
Key = Annotated[
    str, Field(min_length=1, max_length=200, pattern=TEXT, description="The customer's key.")
]
Reference = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=4)]
# Points move in 32-bit integer columns: one booking of at most 100 million leaves room for many.
MAX_POINTS = 100_000_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PurchaseLineIn(_In):
    amount: Money = Field(description="What the customer paid for the line, after discounts.")
    kind: str = Field("product", description=f"One of: {', '.join(LINE_KINDS)}.")
    sku: str | None = Field(None, max_length=64, pattern=TEXT)
    category: str | None = Field(None, max_length=100, pattern=TEXT)
    quantity: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)] = Decimal(1)


class PurchaseIn(_In):
    """A purchase to earn points for; the lines are kept so a later return can name them."""

    customer: Key
    order: Reference = Field(description="The order's reference in the shop; unique per purchase.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[PurchaseLineIn] = Field(min_length=1, max_length=1000)
    occurred_at: AwareDatetime | None = Field(
        None, description="When it was bought (for the record)."
    )
    referred_by: Key | None = Field(
        None,
        description="The member who recommended this customer (referral bonus on a first purchase).",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer": "C-1001",
                    "order": "SO-2026-0042",
                    "currency": "EUR",
                    "lines": [
                        {
                            "sku": "COF-500",
                            "category": "coffee",
                            "amount": "24.90",
                            "quantity": "2",
                        },
                        {"kind": "shipping", "amount": "4.90"},
                    ],
                }
            ]
        },
    )


class ReturnLineIn(_In):
    line: int = Field(ge=0, description="The purchase line's position (0 = first line).")
    share: Annotated[Decimal, Field(gt=0, le=1)] = Field(
        Decimal(1), description="How much of the line came back (1 = all of it)."
    )


class ReturnIn(_In):
    """A return of (part of) a purchase: name the lines, or an amount, or a share of it."""

    customer: Key
    order: Reference = Field(description="The purchase's order reference.")
    lines: list[ReturnLineIn] | None = None
    amount: Money | None = Field(None, gt=0, description="Earnable amount refunded.")
    share: Annotated[Decimal, Field(gt=0, le=1)] | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer": "C-1001",
                    "order": "SO-2026-0042",
                    "lines": [{"line": 0, "share": "0.5"}],
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _one_measure(self) -> ReturnIn:
        given = [x is not None for x in (self.lines, self.amount, self.share)]
        if sum(given) != 1:
            raise ValueError("give exactly one of lines, amount or share")
        return self


class EventIn(_In):
    """Something that earns a bonus (e.g. ``review``, ``survey``), as the programme's rules say."""

    customer: Key
    type: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    reference: Reference = Field(description="What the event is about, e.g. the review's id.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"customer": "C-1001", "type": "review", "reference": "REV-77"}]
        },
    )


class RedeemIn(_In):
    """Redeem a catalogue reward (``reward``) or pay part of an order with points (``points``)."""

    customer: Key
    reward: str | None = Field(None, max_length=40, pattern=TEXT)
    points: Annotated[int, Field(gt=0, le=MAX_POINTS)] | None = None
    order: Reference | None = Field(None, description="With ``points``: the order paid.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"customer": "C-1001", "reward": "voucher-5"}]},
    )

    @model_validator(mode="after")
    def _one_kind(self) -> RedeemIn:
        if (self.reward is None) == (self.points is None):
            raise ValueError("give either a reward code or a number of points")
        if self.points is not None and self.order is None:
            raise ValueError("points redeemed at the checkout name the order")
        return self


class AdjustIn(_In):
    """Points granted (positive) or taken off (negative) by hand, with the reason for the audit."""

    customer: Key
    points: int = Field(
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="Positive to grant, negative to take off; never 0.",
    )
    reason: str = Field(min_length=3, max_length=500, pattern=TEXT)
    allow_negative: bool = Field(
        False, description="Take off more than the member holds: the rest becomes debt."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer": "C-1001", "points": 250, "reason": "Goodwill: parcel arrived late"}
            ]
        },
    )


class VoucherCheckIn(_In):
    """The order a voucher is to be used on (a voucher of a member needs that member's key)."""

    order_total: Money = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    customer: Key | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"order_total": "34.80", "currency": "EUR", "customer": "C-1001"}]
        },
    )


class VoucherConsumeIn(VoucherCheckIn):
    """The order a voucher is used on, named so the use can be traced."""

    order: Reference

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "order_total": "34.80",
                    "currency": "EUR",
                    "customer": "C-1001",
                    "order": "SO-2026-0057",
                }
            ]
        },
    )


class VoucherIssueIn(_In):
    """Amount vouchers issued by staff: for one customer, or for anyone who has the code."""

    value: Money = Field(gt=0)
    minimum_order: Money = Field(Decimal(0), ge=0)
    max_uses: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    valid_days: Annotated[int, Field(ge=1, le=3650)] = 90
    customer: Key | None = None
    count: Annotated[int, Field(ge=1, le=10_000)] = 1

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"value": "10.00", "minimum_order": "30.00", "valid_days": 30, "customer": "C-1001"}
            ]
        },
    )


# --- answers -----------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TierPublic(_Out):
    code: str
    name: str
    threshold: Decimal
    factor: Decimal
    benefits: list[str]


class BalancePublic(_Out):
    """``balance`` = the sum of the member's entries; ``available`` can be redeemed now (less any
    return debt, so it may be negative: that is shown, never hidden); ``pending`` vests later."""

    programme: str
    customer_id: int
    balance: int
    available: int
    pending: int
    debt: int
    value: Decimal = Field(description="What the available points are worth, in the currency.")
    currency: str
    expiring: list[dict[str, Any]] = Field(description="Points expiring within 90 days, by date.")
    tier: TierPublic | None
    tier_review_at: datetime | None


class BookingPublic(_Out):
    """The result of a purchase, return, event, redemption or adjustment."""

    event_id: int
    operation: str
    programme: str
    customer_id: int
    reference: str | None
    points: int = Field(description="Net points this booking moved (negative for a redemption).")
    balance: BalancePublic
    reasons: list[str] = []
    voucher: VoucherPublic | None = None
    tier_changed: dict[str, str | None] | None = None


class LotPublic(_Out):
    number: int
    amount: int
    remaining: int
    source: str
    reference: str | None
    earned_at: datetime
    available_from: datetime
    expires_at: datetime | None


class EntryPublic(_Out):
    number: int
    kind: str
    amount: int
    at: datetime
    reference: str | None
    reason: str | None
    actor: str | None
    running_balance: int


class StatementPublic(BaseModel):
    data: list[EntryPublic]
    count: int
    lots: list[LotPublic]


class ProgressPublic(BaseModel):
    tier: TierPublic | None
    value: Decimal
    qualify_on: str
    window_months: int
    next_tier: TierPublic | None
    missing: Decimal | None
    by: datetime | None
    keep_until: datetime | None
    needed_to_keep: Decimal | None
    rules: list[str]


class RewardPublic(BaseModel):
    code: str
    name: str
    description: str
    kind: str
    cost: int
    value: Decimal | None
    stock: int | None
    min_tier: str | None
    valid_until: date | None
    redeemable: bool
    why_not: str | None = Field(None, description="Why the member cannot redeem it now.")


class VoucherPublic(_Out):
    code: str
    kind: str
    value: Decimal
    currency: str
    sku: str | None
    minimum_order: Decimal
    valid_from: datetime
    valid_until: datetime | None
    uses: int
    max_uses: int


class VoucherCheckPublic(BaseModel):
    code: str
    valid: bool
    reason: str | None = Field(None, description="A stable code, e.g. voucher.expired.")
    message: str | None = None
    discount: Decimal = Decimal(0)
    voucher: VoucherPublic | None = None


class LiabilityRow(BaseModel):
    programme: str
    currency: str
    point_value: Decimal
    members: int
    points: int = Field(
        description="Outstanding points: balances less return debt, pending included."
    )
    pending: int
    value: Decimal
    expiring_next_month: int
    expiring_value: Decimal
    debt: int


class MemberRow(BaseModel):
    customer_id: int
    external_id: str | None
    name: str | None
    tier: str | None
    balance: int
    debt: int
    enrolled_at: datetime
    last_entry_at: datetime | None


class MembersPublic(BaseModel):
    data: list[MemberRow]
    count: int


BookingPublic.model_rebuild()
