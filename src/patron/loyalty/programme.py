"""A programme's rules as data: earning, lots, bonuses, tiers, promotions and rewards.

Pure (pydantic, no database). A YAML file (``patron loyalty setup FILE``, or the text of the
dashboard's settings form) or the settings stored with a programme are read into
``ProgrammeSpec``; anything wrong is refused naming the field. Money is ``Decimal``, points are ``int``; multipliers are ``Decimal`` so "1.25" is exact.
"""

from __future__ import annotations

import enum
import itertools
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from patron.errors import PatronError

CODE = r"^[a-z0-9][a-z0-9_-]{0,39}$"
Code = Annotated[str, Field(pattern=CODE, description="lower-case letters, digits, - and _")]
Points = Annotated[int, Field(ge=0)]
Factor = Annotated[Decimal, Field(gt=0, le=100, max_digits=8, decimal_places=4)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]

# What a purchase line may be; only the ``earnable`` kinds earn points.
LINE_KINDS = ("product", "service", "shipping", "voucher", "reward", "gift_card", "fee")
PERIODS = ("day", "week", "month", "year")


class ProgrammeError(PatronError):
    code = "loyalty.invalid_programme"
    status = 422


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rounding(enum.StrEnum):
    """How an order's exact points become whole points (once per order, never per line)."""

    floor = "floor"  # 9.99 € at 1 point per € → 9 points
    half_up = "half_up"  # 9.50 → 10, 9.49 → 9


class Multiplier(_Spec):
    """Lines of this product (``sku``) or ``category`` earn ``factor`` times the base rate.

    When several match one line, the highest factor applies (they do not compound).
    """

    sku: str | None = None
    category: str | None = None
    factor: Factor

    @model_validator(mode="after")
    def _one_target(self) -> Multiplier:
        if (self.sku is None) == (self.category is None):
            raise ValueError("a multiplier names either a sku or a category")
        return self


class Cap(_Spec):
    """At most ``points`` from purchases per member per calendar ``period`` (in UTC)."""

    points: Annotated[int, Field(gt=0)]
    period: Literal["day", "week", "month", "year"]


class Earning(_Spec):
    points_per_unit: Factor = Decimal(1)
    rounding: Rounding = Rounding.floor
    minimum_order: Amount = Decimal(0)
    earnable_kinds: tuple[str, ...] = ("product", "service")
    multipliers: tuple[Multiplier, ...] = ()
    cap: Cap | None = None

    @field_validator("earnable_kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(kinds) - set(LINE_KINDS))
        if unknown:
            raise ValueError(f"unknown line kinds {unknown}; known: {', '.join(LINE_KINDS)}")
        return kinds


class ExpiryPolicy(enum.StrEnum):
    never = "never"
    # Counted from the day the points become usable (vest), so none expire before they could
    # be used:
    rolling_months = "rolling_months"  # N months after that day
    end_of_year = "end_of_year"  # when the year N years after that day ends (N=0: that year)


class Expiry(_Spec):
    policy: ExpiryPolicy = ExpiryPolicy.rolling_months
    months: Annotated[int, Field(ge=1, le=120)] = 24
    years: Annotated[int, Field(ge=0, le=10)] = 1


class Lots(_Spec):
    """Purchase points are pending for ``vesting_days`` (the return window), then usable."""

    vesting_days: Annotated[int, Field(ge=0, le=365)] = 14
    expiry: Expiry = Expiry()


class Bonuses(_Spec):
    """Points for things other than spend. ``events`` maps an event type to its points
    (e.g. ``review: 20``); the shop reports such events through the API."""

    first_purchase: Points = 0
    birthday_month_factor: Factor = Decimal(1)
    referral: Points = 0
    events: dict[Annotated[str, Field(pattern=CODE)], Points] = {}


class QualifyOn(enum.StrEnum):
    points = "points"  # points earned (purchases and bonuses, less returns) in the window
    spend = "spend"  # earnable spend, less returns, in the window


class Tier(_Spec):
    code: Code
    name: str
    threshold: Annotated[Decimal, Field(ge=0)]
    factor: Factor = Decimal(1)
    benefits: tuple[str, ...] = ()


class Tiers(_Spec):
    qualify_on: QualifyOn = QualifyOn.points
    window_months: Annotated[int, Field(ge=1, le=60)] = 12
    grace_days: Annotated[int, Field(ge=0, le=730)] = 90
    levels: tuple[Tier, ...] = ()

    @field_validator("levels")
    @classmethod
    def _ordered(cls, levels: tuple[Tier, ...]) -> tuple[Tier, ...]:
        if not levels:
            return levels
        if levels[0].threshold != 0:
            raise ValueError("the first tier is the entry tier: its threshold must be 0")
        for lower, higher in itertools.pairwise(levels):
            if higher.threshold <= lower.threshold:
                raise ValueError(
                    f"tiers go up: {higher.code!r} needs more than {lower.code!r} "
                    f"({higher.threshold} ≤ {lower.threshold})"
                )
        codes = [tier.code for tier in levels]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        return levels


class Promotion(_Spec):
    """A surprise: from ``starts`` to ``ends`` (inclusive), members matching every given filter
    earn ``factor`` times; filters are tiers and the latest analytics scores' classes."""

    code: Code
    name: str
    starts: date
    ends: date
    factor: Factor
    tiers: tuple[str, ...] = ()
    abc_classes: tuple[Literal["A", "B", "C"], ...] = ()
    rfm_segments: tuple[str, ...] = ()
    lifecycle_phases: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _dates(self) -> Promotion:
        if self.ends < self.starts:
            raise ValueError("a promotion ends on or after the day it starts")
        return self


class RewardKind(enum.StrEnum):
    discount_voucher = "discount_voucher"  # a voucher worth ``value`` off an order
    free_product = "free_product"  # a voucher for product ``sku``
    service = "service"  # e.g. free gift wrapping; the shop fulfils it
    event = "event"  # an invitation; the shop fulfils it


class Reward(_Spec):
    code: Code
    name: str
    description: str = ""
    kind: RewardKind
    cost: Annotated[int, Field(gt=0)]
    value: Amount | None = None
    sku: str | None = None
    minimum_order: Amount = Decimal(0)
    stock: Points | None = None
    per_member_limit: Annotated[int, Field(gt=0)] | None = None
    min_tier: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    voucher_valid_days: Annotated[int, Field(ge=1, le=3650)] = 90

    @model_validator(mode="after")
    def _consistent(self) -> Reward:
        if self.kind is RewardKind.discount_voucher and not self.value:
            raise ValueError("a discount voucher reward needs a value")
        if self.kind is RewardKind.free_product and not self.sku:
            raise ValueError("a free product reward needs the product's sku")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class ProgrammeSpec(_Spec):
    code: Code
    name: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    point_value: Amount = Decimal("0.01")
    earning: Earning = Earning()
    lots: Lots = Lots()
    bonuses: Bonuses = Bonuses()
    tiers: Tiers = Tiers()
    promotions: tuple[Promotion, ...] = ()
    rewards: tuple[Reward, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> ProgrammeSpec:
        tiers = {tier.code for tier in self.tiers.levels}
        for reward in self.rewards:
            if reward.min_tier is not None and reward.min_tier not in tiers:
                raise ValueError(
                    f"reward {reward.code!r} names an unknown tier {reward.min_tier!r}"
                )
        for promotion in self.promotions:
            unknown = set(promotion.tiers) - tiers
            if unknown:
                raise ValueError(f"promotion {promotion.code!r} names unknown tiers {unknown}")
        codes = [reward.code for reward in self.rewards]
        if len(set(codes)) != len(codes):
            raise ValueError("reward codes must be unique")
        return self

    def settings(self) -> dict[str, Any]:
        """What is stored with the programme: everything but rewards (they have their table)."""
        return self.model_dump(mode="json", exclude={"rewards"})

    def tier(self, code: str | None) -> Tier | None:
        return next((tier for tier in self.tiers.levels if tier.code == code), None)


def read_spec(document: Any, *, source: str = "programme") -> ProgrammeSpec:
    """``document`` (parsed YAML/JSON) as a spec, or a ProgrammeError naming each bad field."""
    if isinstance(document, dict) and set(document) == {"programme"}:
        document = document["programme"]
    try:
        return ProgrammeSpec.model_validate(document)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(top)", "problem": e["msg"]}
            for e in error.errors()
        ]
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        raise ProgrammeError(
            f"{source} is not a valid programme: {listed}", details={"problems": problems}
        ) from None


def read_yaml(text: str, *, source: str = "programme") -> ProgrammeSpec:
    """A programme's YAML (or JSON) text as a spec. Text that is no YAML is refused with the
    line and column of the fault (``details``: ``line``, ``column``, ``problem``), a document
    that is no programme as by ``read_spec``."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as error:
        mark = getattr(error, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        if isinstance(error, RecursionError):
            problem = "nested too deeply"
        else:
            problem = str(getattr(error, "problem", None) or error)
        where = f" (line {line}, column {column})" if line is not None else ""
        raise ProgrammeError(
            f"{source} is not valid YAML{where}: {problem}",
            details={"line": line, "column": column, "problem": problem},
        ) from None
    return read_spec(document, source=source)


def to_yaml(document: dict[str, Any]) -> str:
    """A programme document (``ProgrammeSpec.model_dump(mode="json")``) as YAML, in its own
    order and with its own characters, which ``read_yaml`` reads back into the same spec."""
    text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return text


def safe_reference(text: str) -> str:
    """Idempotency keys and references: printable, at most 200 characters."""
    if not text or len(text) > 200 or not re.fullmatch(r"[\x21-\x7e]+", text):
        raise PatronError(
            "a reference or idempotency key is 1–200 printable ASCII characters without spaces",
            code="loyalty.bad_reference",
        )
    return text
