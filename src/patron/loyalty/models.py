"""Tables of the loyalty engine: programmes, members (accounts), the ledger, rewards, vouchers.

The ledger tables (``loyalty_lots``, ``loyalty_entries``, ``loyalty_allocations``) are
append-only but for the cached ``remaining`` of a lot; ``loyalty_accounts.balance`` caches the
sum of a member's entries. ``CHECK`` constraints back up what ``patron.loyalty.ledger`` keeps:
positive lots never overdrawn, entries signed by kind, no balance below its return debt.
``loyalty_events`` is the idempotency record of every external request.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

import patron.customers.models  # noqa: F401 - registers ``customers``, which members refer to
from patron.db import Base, utcnow
from patron.sqltypes import Money, UTCDateTime

ENTRY_KINDS = ("earn", "redeem", "reverse", "expire", "adjust")
LOT_SOURCES = ("purchase", "bonus", "event", "referral", "adjustment")
OPERATIONS = ("purchase", "return", "event", "redeem", "reward", "voucher", "adjust", "enrol")
VOUCHER_KINDS = ("amount", "free_product")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Programme(Base):
    __tablename__ = "loyalty_programmes"
    __table_args__ = (
        CheckConstraint("point_value >= 0", name="point_value"),
        CheckConstraint("length(currency) = 3", name="currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    point_value: Mapped[Decimal] = mapped_column(Money())
    # ProgrammeSpec.settings(): earning, lots, bonuses, tiers, promotions (rewards: own table)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Account(Base):
    """A member: one customer in one programme. ``balance`` = Σ entries; ``debt`` = return debt."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        UniqueConstraint("programme_id", "customer_id"),
        CheckConstraint("debt >= 0", name="debt"),
        CheckConstraint("balance >= -debt", name="balance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programmes.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    debt: Mapped[int] = mapped_column(Integer, default=0)
    tier: Mapped[str | None] = mapped_column(String(40))
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A pending downgrade: the tier is kept until then unless the member requalifies.
    tier_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_entry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Lot(Base):
    """One grant of points. ``number`` is its place in the member's ledger (1, 2, …)."""

    __tablename__ = "loyalty_lots"
    __table_args__ = (
        UniqueConstraint("account_id", "number"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining"),
        CheckConstraint("available_from >= earned_at", name="vesting"),
        CheckConstraint(_one_of("source", LOT_SOURCES), name="source"),
        Index("ix_loyalty_lots_open_expiry", "expires_at", "remaining"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id"))
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_from: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by the vesting job when the lot became usable (and points.vested was sent).
    vested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Entry(Base):
    """A booking; ``number`` is its place in the member's ledger (0, 1, …)."""

    __tablename__ = "loyalty_entries"
    __table_args__ = (
        UniqueConstraint("account_id", "number"),
        CheckConstraint(_one_of("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint("amount <> 0", name="amount"),
        CheckConstraint(
            "(kind IN ('earn') AND amount > 0) OR (kind IN ('redeem', 'reverse', 'expire')"
            " AND amount < 0) OR kind = 'adjust'",
            name="sign",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, info={"personal": True})  # erased with them
    lot_number: Mapped[int | None] = mapped_column(Integer)
    share: Mapped[str | None] = mapped_column(String(80))  # a reverse: "1/3" of the purchase
    event_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_events.id"))
    actor: Mapped[str | None] = mapped_column(String(254))


class Allocation(Base):
    """``amount`` points of lot ``lot_number`` taken by entry ``entry_number`` of one account."""

    __tablename__ = "loyalty_allocations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_loyalty_allocations_account", "account_id", "entry_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id"))
    entry_number: Mapped[int] = mapped_column(Integer)
    lot_number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Event(Base):
    """An external request (purchase, return, redemption …) under its idempotency key.

    A repeat with the same key and the same payload (``payload_hash``) gets ``response`` back;
    with another payload it is refused. ``points`` and ``spend`` feed the tier window.
    """

    __tablename__ = "loyalty_events"
    __table_args__ = (
        UniqueConstraint("programme_id", "key"),
        CheckConstraint(_one_of("operation", OPERATIONS), name="operation"),
        Index("ix_loyalty_events_account_at", "account_id", "at"),
        Index("ix_loyalty_events_reference", "programme_id", "operation", "reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programmes.id"))
    key: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(16))
    payload_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_accounts.id"))
    reference: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    points: Mapped[int] = mapped_column(Integer, default=0)
    spend: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    # A purchase keeps its per-line exact points, so a return of some lines takes their share.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str | None] = mapped_column(String(254))


class Reward(Base):
    __tablename__ = "loyalty_rewards"
    __table_args__ = (
        UniqueConstraint("programme_id", "code"),
        CheckConstraint("cost > 0", name="cost"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programmes.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    # programme.Reward as JSON: kind, value, sku, limits, validity (the rules of the reward)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Redemption(Base):
    __tablename__ = "loyalty_redemptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("loyalty_rewards.id"), index=True)
    entry_number: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_vouchers.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Voucher(Base):
    """A code for the checkout: ``max_uses`` times, within its validity, above a minimum order."""

    __tablename__ = "loyalty_vouchers"
    __table_args__ = (
        CheckConstraint(_one_of("kind", VOUCHER_KINDS), name="kind"),
        CheckConstraint("max_uses >= 1", name="max_uses"),
        CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses"),
        CheckConstraint("value >= 0", name="value"),
        CheckConstraint("minimum_order >= 0", name="minimum_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programmes.id"))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Money())
    sku: Mapped[str | None] = mapped_column(String(64))
    minimum_order: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_rewards.id"))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VoucherUse(Base):
    __tablename__ = "loyalty_voucher_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("loyalty_vouchers.id"), index=True)
    order_reference: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditRecord(Base):
    """Every change to a programme's settings, rewards and to balances by hand: who, when, what."""

    __tablename__ = "loyalty_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_programmes.id"))
    action: Mapped[str] = mapped_column(String(40))
    # a customer's shop key for bookings by hand: replaced by their number on erasure
    subject: Mapped[str | None] = mapped_column(String(200), info={"customer_key": True})
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
