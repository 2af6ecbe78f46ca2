"""Survey reports: NPS over time and by segment, CSAT by case category, Kano per feature.

The arithmetic is the pure modules' (``scores.nps``, ``scores.csat``, ``kano.evaluate``); this
module chooses the answers and groups them:

- **NPS over time** counts every NPS answer in the period it was given (the shop's calendar).
- **NPS by segment** counts each customer once, with their latest NPS answer, in the group the
  newest analytics snapshot puts them in (ABC class, RFM segment, lifecycle phase, loyalty
  type); customers the snapshot does not hold are in the group ``None``.
- **CSAT by case category** takes the CSAT answers that belong to a case (``case_id``), by the
  case's category.
- **Kano** classifies each feature of one survey from all its answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.analytics.snapshots import CustomerScore, latest_snapshot
from patron.care.models import Case, Survey, SurveyResponse
from patron.care.surveys import kano, scores
from patron.care.surveys.questions import SurveyProblem, features_of, text_in
from patron.care.surveys.schemas import CsatReport, CsatRow, KanoRow, NpsReport, NpsRow
from patron.care.surveys.service import ensure_survey, get_survey

SEGMENTS = ("abc", "rfm_segment", "lifecycle_phase", "loyalty_type")
BY = (*scores.PERIODS, *SEGMENTS)
ALL = "all"
QueryT = TypeVar("QueryT")


def nps_row(group: str, result: scores.NpsResult, period: Any = None) -> NpsRow:
    low, high = result.ci if result.ci else (None, None)
    return NpsRow(
        group=group,
        period=period,
        n=result.n,
        promoters=result.promoters,
        passives=result.passives,
        detractors=result.detractors,
        nps=result.nps,
        ci_low=low,
        ci_high=high,
    )


def csat_row(group: str, result: scores.CsatResult) -> CsatRow:
    low, high = result.ci if result.ci else (None, None)
    return CsatRow(
        group=group,
        n=result.n,
        mean=result.mean,
        satisfied=result.satisfied,
        share_satisfied=result.share_satisfied,
        ci_low=low,
        ci_high=high,
    )


def _survey_filter(session: Session, query: QueryT, survey: str | None) -> QueryT:
    """``query`` narrowed to one survey's answers (all of the kind when ``survey`` is None)."""
    if survey is None:
        return query
    narrowed: Any = query
    return narrowed.where(SurveyResponse.survey_id == ensure_survey(session, survey).id)


def _score(value: float | None) -> float:
    """A score of a query that left out the rows without one."""
    assert value is not None
    return float(value)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- NPS ------------------------------------------------------------------------------------


def nps_report(
    session: Session, *, by: str = "month", survey: str | None = None, timezone: str = "UTC"
) -> NpsReport:
    """NPS per period (``week``, ``month``, ``quarter``) or per segment of the newest snapshot
    (``abc``, ``rfm_segment``, ``lifecycle_phase``, ``loyalty_type``). ``survey``: one NPS
    survey's answers only (default: every NPS answer)."""
    if by not in BY:
        raise SurveyProblem(f"by must be one of {', '.join(BY)}", details={"field": "by"})
    if survey is not None and ensure_survey(session, survey).kind != "nps":
        raise SurveyProblem(f"{survey!r} is not an NPS survey", details={"field": "survey"})
    if by in SEGMENTS:
        return _nps_by_segment(session, by, survey)
    query = select(SurveyResponse.answered_at, SurveyResponse.score).where(
        SurveyResponse.kind == "nps", SurveyResponse.score.is_not(None)
    )
    zone = ZoneInfo(timezone)
    answers = [
        (_aware(at).astimezone(zone).date(), _score(score))
        for at, score in session.execute(_survey_filter(session, query, survey))
    ]
    rows = [
        nps_row(start.isoformat(), result, start)
        for start, result in scores.nps_by_period(answers, by)  # type: ignore[arg-type]
    ]
    overall = nps_row(ALL, scores.nps(score for _day, score in answers))
    return NpsReport(by=by, overall=overall, rows=rows)


def _latest_per_customer(session: Session, survey: str | None) -> dict[int, float]:
    query = select(
        SurveyResponse.customer_id,
        SurveyResponse.answered_at,
        SurveyResponse.id,
        SurveyResponse.score,
    ).where(SurveyResponse.kind == "nps", SurveyResponse.score.is_not(None))
    latest: dict[int, tuple[datetime, int, float]] = {}
    for customer_id, at, row_id, score in session.execute(_survey_filter(session, query, survey)):
        key = (_aware(at), row_id, _score(score))
        if customer_id not in latest or key[:2] > latest[customer_id][:2]:
            latest[customer_id] = key
    return {customer_id: value[2] for customer_id, value in latest.items()}


def _nps_by_segment(session: Session, by: str, survey: str | None) -> NpsReport:
    answers = _latest_per_customer(session, survey)
    snapshot = latest_snapshot(session)
    groups: dict[int, str] = {}
    if snapshot is not None:
        column = getattr(CustomerScore, by)
        found = session.execute(
            select(CustomerScore.customer_id, column).where(
                CustomerScore.snapshot_id == snapshot.id
            )
        )
        groups = {int(c): g for c, g in found if c in answers and g is not None}
    scored: dict[str | None, list[float]] = {}
    for customer_id, score in answers.items():
        scored.setdefault(groups.get(customer_id), []).append(score)
    order = sorted((g for g in scored if g is not None), key=str)
    rows = [nps_row(g, scores.nps(scored[g])) for g in order]
    if None in scored:
        rows.append(nps_row("", scores.nps(scored[None])))
    return NpsReport(
        by=by,
        snapshot_id=snapshot.id if snapshot else None,
        overall=nps_row(ALL, scores.nps(answers.values())),
        rows=rows,
    )


# --- CSAT -----------------------------------------------------------------------------------


def csat_by_category(session: Session, *, survey: str | None = None) -> CsatReport:
    """CSAT of the answers that belong to a case, per case category (alphabetical)."""
    query = (
        select(Case.category, SurveyResponse.score)
        .join(Case, Case.id == SurveyResponse.case_id)
        .where(SurveyResponse.kind == "csat", SurveyResponse.score.is_not(None))
    )
    by_category: dict[str, list[float]] = {}
    for category, score in session.execute(_survey_filter(session, query, survey)):
        by_category.setdefault(category, []).append(_score(score))
    rows = [csat_row(c, scores.csat(by_category[c])) for c in sorted(by_category)]
    every = [s for values in by_category.values() for s in values]
    return CsatReport(overall=csat_row(ALL, scores.csat(every)), rows=rows)


def csat_overall(session: Session, *, survey: str) -> CsatRow:
    """CSAT of every answer to one survey, with or without a case."""
    query = select(SurveyResponse.score).where(SurveyResponse.score.is_not(None))
    values = [_score(s) for s in session.scalars(_survey_filter(session, query, survey))]
    return csat_row(ALL, scores.csat(values))


# --- Kano -----------------------------------------------------------------------------------


def kano_report(session: Session, *, survey: str, language: str = "en") -> list[KanoRow]:
    """Per feature of a Kano survey, in the questionnaire's order: the category counts and
    shares, the dominant category and the better/worse coefficients."""
    found = ensure_survey(session, survey)
    if found.kind != "kano":
        raise SurveyProblem(f"{survey!r} is not a Kano survey", details={"field": "survey"})
    answers = session.scalars(
        select(SurveyResponse.answers).where(SurveyResponse.survey_id == found.id)
    )
    return kano_rows(found, answers, language)


def kano_rows(
    survey: Survey, answers: Iterable[dict[str, Sequence[int]] | None], language: str
) -> list[KanoRow]:
    features = features_of(survey.questions)
    wanted = {f["key"] for f in features}
    # A feature removed from the questionnaire after answers came in is not reported.
    results = kano.evaluate_features(
        {k: v for k, v in (a or {}).items() if k in wanted} for a in answers
    )
    empty = kano.evaluate([])
    rows = []
    for feature in features:
        result = results.get(feature["key"], empty)
        rows.append(
            KanoRow(
                feature=feature["key"],
                name=text_in(feature["name"], language),
                n=result.n,
                counts=dict(result.counts),
                shares=dict(result.shares),
                dominant=result.dominant,
                better=result.better,
                worse=result.worse,
            )
        )
    return rows


# --- one survey -----------------------------------------------------------------------------


def survey_report(
    session: Session,
    *,
    survey: str,
    period: str = "month",
    timezone: str = "UTC",
    language: str = "en",
) -> dict[str, Any]:
    """What fits the survey's kind: NPS over time, CSAT overall and by case category, Kano."""
    public = get_survey(session, survey)
    report: dict[str, Any] = {"survey": public}
    if public.kind == "nps":
        over_time = nps_report(session, by=period, survey=survey, timezone=timezone)
        report |= {"nps": over_time.rows, "nps_overall": over_time.overall}
    elif public.kind == "csat":
        report |= {
            "csat": csat_overall(session, survey=survey),
            "csat_by_category": csat_by_category(session, survey=survey).rows,
        }
    else:
        report["kano"] = kano_report(session, survey=survey, language=language)
    return report
