"""JSON routes of surveys under ``/api/v1``: surveys, answers gathered elsewhere, invitations,
and the reports (one survey's, NPS over time or by segment, CSAT by case category).

An answer is idempotent per customer and reference: posting it again replaces the earlier one
(200 instead of 201). An invitation is idempotent per survey, customer and reference.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from patron.care.surveys import reports
from patron.care.surveys import service as surveys
from patron.care.surveys.schemas import (
    CsatReport,
    InvitationIn,
    NpsReport,
    ResponseIn,
    ResponsePublic,
    SurveyCreate,
    SurveyPublic,
    SurveyReport,
    SurveysPublic,
)
from patron.db import utcnow
from patron.engage.schemas import MessagePublic
from patron.web.deps import SessionDep, SettingsDep, described_errors, error_responses, require

router = APIRouter(prefix="/api/v1", tags=["surveys"], responses=error_responses(401, 403))
READ = require("cases:read")
WRITE = require("cases:write")
INVALID = "The request is invalid (`request.invalid`, `survey.invalid`)."
NO_SURVEY = "No survey with this key (`survey.not_found`)."
NOT_TEXT = "The body is not UTF-8 text (`http.bad_request`)."
SurveyKey = Annotated[str, Path(max_length=64, description="The survey's key.")]


def known_survey(session: SessionDep, key: SurveyKey) -> str:
    """The survey's key; resolved before the body, so a wrong key is a 404 first."""
    return surveys.get_survey(session, key).key


KnownSurvey = Annotated[str, Depends(known_survey)]


@router.get("/surveys", response_model=SurveysPublic, dependencies=[READ])
def list_surveys(session: SessionDep) -> SurveysPublic:
    """Every survey, newest first, with its number of answers."""
    return surveys.list_surveys(session)


@router.post(
    "/surveys",
    status_code=201,
    response_model=SurveyPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: NOT_TEXT,
            409: "A survey with this key exists (`survey.exists`).",
            422: INVALID,
        }
    ),
)
def create_survey(session: SessionDep, body: SurveyCreate) -> SurveyPublic:
    """Create an NPS, CSAT or Kano survey. A Kano survey needs at least one feature with a
    functional and a dysfunctional question in German and English (Norwegian optional)."""
    return surveys.create_survey(
        session,
        key=body.key,
        name=body.name,
        kind=body.kind.value,
        question=body.question,
        features=[f.model_dump() for f in body.features] if body.features else None,
        now=utcnow(),
    )


@router.get(
    "/surveys/{key}",
    response_model=SurveyPublic,
    dependencies=[READ],
    responses=described_errors({404: NO_SURVEY}),
)
def get_survey(session: SessionDep, key: KnownSurvey) -> SurveyPublic:
    """One survey with its questions (the built-in `nps` and `csat` always exist)."""
    return surveys.get_survey(session, key)


@router.post(
    "/surveys/{key}/responses",
    status_code=201,
    response_model=ResponsePublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            200: "An answer to the same customer and reference was replaced.",
            400: NOT_TEXT,
            404: NO_SURVEY + " Or no such customer (`customers.not_found`).",
            409: "The survey is closed (`survey.closed`).",
            422: INVALID,
        }
    ),
)
def record_response(
    session: SessionDep, key: KnownSurvey, body: ResponseIn, response: Response
) -> ResponsePublic:
    """Record an answer gathered elsewhere (a shop's own form, a call). NPS: `score` 0..10,
    CSAT: 1..5, Kano: `answers` with a [functional, dysfunctional] pair 1..5 per feature. A
    CSAT answer with reference `case:<id>` is also stored on the case."""
    stored = surveys.record_answer(
        session,
        survey=key,
        customer=body.customer,
        reference=body.reference,
        score=_whole(body.score),
        answers=body.answers,
        comment=body.comment,
        language=body.language,
        answered_at=body.answered_at,
        now=utcnow(),
    )
    if stored.replaced:
        response.status_code = 200
    return stored


def _whole(score: float | None) -> Any:
    """JSON numbers arrive as floats; 9.0 is the answer 9, 9.5 stays and is refused."""
    return int(score) if score is not None and float(score).is_integer() else score


@router.post(
    "/surveys/{key}/invitations",
    status_code=201,
    response_model=MessagePublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            200: "Invited before for this reference: the first message, nothing new.",
            400: NOT_TEXT,
            404: NO_SURVEY + " Or no such customer (`customers.not_found`).",
            409: "The survey is closed (`survey.closed`), or the customer has no usable "
            "address (`message.unreachable`).",
            422: INVALID,
        }
    ),
)
def invite(
    session: SessionDep,
    settings: SettingsDep,
    key: KnownSurvey,
    body: InvitationIn,
    response: Response,
) -> MessagePublic:
    """E-mail one customer a personal, expiring link to the survey about `reference` (what
    they are asked about: `case:12`, `order:4711`). Transactional: no marketing consent."""
    message, created = surveys.invite(
        session,
        survey=key,
        customer=body.customer,
        reference=body.reference,
        settings=settings,
        now=utcnow(),
    )
    if not created:
        response.status_code = 200
    return message


@router.get(
    "/surveys/{key}/report",
    response_model=SurveyReport,
    dependencies=[READ],
    responses=described_errors({404: NO_SURVEY, 422: INVALID}),
)
def survey_report(
    session: SessionDep,
    settings: SettingsDep,
    key: KnownSurvey,
    period: Annotated[str, Query(pattern="^(week|month|quarter)$")] = "month",
    language: Annotated[str, Query(pattern="^(de|en|nb)$")] = "en",
) -> SurveyReport:
    """NPS per period, CSAT overall and by case category, or Kano per feature (counts and
    shares of A, O, M, I, R, Q, the dominant category, better and worse)."""
    found = reports.survey_report(
        session, survey=key, period=period, timezone=settings.timezone, language=language
    )
    return SurveyReport(**found)


@router.get(
    "/reports/nps",
    response_model=NpsReport,
    dependencies=[READ],
    responses=described_errors({404: NO_SURVEY, 422: INVALID}),
)
def nps_report(
    session: SessionDep,
    settings: SettingsDep,
    by: Annotated[
        str,
        Query(
            description="`week`, `month`, `quarter`, or a segment of the newest analysis: "
            "`abc`, `rfm_segment`, `lifecycle_phase`, `loyalty_type`."
        ),
    ] = "month",
    survey: Annotated[str | None, Query(max_length=64)] = None,
) -> NpsReport:
    """NPS over time (every answer) or by segment (each customer's latest answer), with the
    counts and a 95 % interval."""
    return reports.nps_report(session, by=by, survey=survey, timezone=settings.timezone)


@router.get(
    "/reports/csat-by-category",
    response_model=CsatReport,
    dependencies=[READ],
    responses=described_errors({404: NO_SURVEY}),
)
def csat_report(
    session: SessionDep, survey: Annotated[str | None, Query(max_length=64)] = None
) -> CsatReport:
    """CSAT of the answers about cases, by case category: mean, share satisfied (4-5) and its
    Wilson interval."""
    return reports.csat_by_category(session, survey=survey)
