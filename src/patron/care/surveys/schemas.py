"""Pydantic shapes of surveys, their answers and reports, for the JSON API and the CLI."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patron.care.moments import Moment

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class SurveyKind(StrEnum):
    nps = "nps"
    csat = "csat"
    kano = "kano"


class FeatureIn(BaseModel):
    """One Kano feature: texts per language (de and en required, nb falls back to en)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, description="Stable key, e.g. `same_day`.")
    name: dict[str, str] = Field(description="The feature's name per language.")
    functional: dict[str, str] = Field(description="'If the product had …, how would you feel?'")
    dysfunctional: dict[str, str] = Field(
        description="'If the product did not have …, how would you feel?'"
    )


class SurveyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, description="Lower-case letters, digits, - and _.")
    name: str = Field(min_length=1, max_length=200)
    kind: SurveyKind
    question: dict[str, str] | None = Field(
        default=None,
        description="NPS/CSAT: the question per language (default: the built-in one). "
        "`{shop}` is replaced by the shop's name.",
    )
    features: list[FeatureIn] | None = Field(
        default=None, description="Kano: the features, each with its two questions."
    )


class SurveyPublic(BaseModel):
    id: int
    key: str
    name: str
    kind: SurveyKind
    status: str
    questions: dict[str, Any]
    created_at: datetime
    responses: int = 0


class SurveysPublic(BaseModel):
    data: list[SurveyPublic]
    count: int


class ResponseIn(BaseModel):
    """An answer gathered elsewhere (a shop's own form, a call): the same customer and
    reference again replaces the earlier answer."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=64, description="External id or number.")
    reference: str = Field(
        default="", max_length=64, description="What asked: `case:12`, `order:4711`, …"
    )
    score: float | None = Field(default=None, description="NPS 0..10 or CSAT 1..5.")
    answers: dict[str, list[int]] | None = Field(
        default=None, description="Kano: `{feature: [functional, dysfunctional]}`, each 1..5."
    )
    comment: str | None = Field(default=None, max_length=2000)
    language: str | None = Field(default=None, max_length=8)
    answered_at: Moment | None = Field(default=None, description="Default: now.")


class ResponsePublic(BaseModel):
    id: int
    survey: str
    kind: SurveyKind
    customer_id: int
    reference: str
    case_id: int | None
    score: float | None
    answers: dict[str, list[int]]
    comment: str | None
    language: str | None
    answered_at: datetime
    replaced: bool = Field(description="An earlier answer to the same invitation was replaced.")


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=64, description="External id or number.")
    reference: str = Field(
        min_length=1,
        max_length=64,
        description="What the customer is asked about: `case:12`, `order:4711`, `event:3`.",
    )


class NpsRow(BaseModel):
    """NPS of one period or group: counts, score in -100..100 and its 95 % interval."""

    group: str
    period: date | None = None
    n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    ci_low: float | None
    ci_high: float | None


class CsatRow(BaseModel):
    group: str
    n: int
    mean: float | None
    satisfied: int
    share_satisfied: float | None
    ci_low: float | None
    ci_high: float | None


class KanoRow(BaseModel):
    feature: str
    name: str
    n: int
    counts: dict[str, int]
    shares: dict[str, float]
    dominant: str | None
    better: float | None
    worse: float | None


class NpsReport(BaseModel):
    by: str
    snapshot_id: int | None = None
    overall: NpsRow
    rows: list[NpsRow]


class CsatReport(BaseModel):
    overall: CsatRow
    rows: list[CsatRow]


class SurveyReport(BaseModel):
    survey: SurveyPublic
    nps: list[NpsRow] | None = None
    nps_overall: NpsRow | None = None
    csat: CsatRow | None = None
    csat_by_category: list[CsatRow] | None = None
    kano: list[KanoRow] | None = None
