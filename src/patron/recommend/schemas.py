"""What the recommender's API and CLI take and give."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    cross = "cross"  # cross-selling: what goes with what they buy (re-buys when due)
    up = "up"  # upselling: the premium alternative in a category they buy from
    partner = "partner"  # complementary products from partners' catalogues


class RecommendSettings(BaseModel):
    """The business rules in force; stored with each fit, changed by ``patron recommend fit``."""

    model_config = ConfigDict(extra="forbid")

    exclude: list[str] = Field(
        default_factory=list,
        description="SKUs never recommended and left out of the statistics (postage, fees); "
        "shell-style wildcards allowed (gift_*).",
    )
    margin_floor: float | None = Field(
        default=None, ge=0.0, lt=1.0, description="Least margin rate of an offer (known costs)."
    )
    per_category: int = Field(default=3, ge=1, le=100, description="Most offers per category.")
    replenish_rate: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="A product bought before is offered again when at least this share of its "
        "buyers bought it again, or it is flagged replenishable.",
    )
    due_from: float = Field(
        default=0.0,
        ge=0.0,
        le=10.0,
        description="...and when this share of its usual repurchase interval has passed.",
    )


class ReasonPublic(BaseModel):
    code: str
    text: str
    figures: dict[str, Any]


class RecommendationPublic(BaseModel):
    product_id: int
    sku: str
    name: str | None
    category: str | None
    price: float | None
    partner_name: str | None
    score: float = Field(
        description="cross and partner: the probability that it is in the next order; "
        "up: a ranking score."
    )
    reason: ReasonPublic


class RecommendationsPublic(BaseModel):
    customer_id: int
    kind: Kind
    fitted_at: datetime
    data: list[RecommendationPublic]
    count: int


class FitPublic(BaseModel):
    id: int
    fitted_at: datetime
    as_of: datetime
    settings: RecommendSettings
    summary: dict[str, Any]
    weights: dict[str, float]


class BlockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=200)


class BlockPublic(BaseModel):
    customer_id: int
    product_id: int
    sku: str
    name: str | None
    reason: str | None
    created_by: str | None
    created_at: datetime
