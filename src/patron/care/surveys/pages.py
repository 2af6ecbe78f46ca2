"""Staff pages of surveys: the list with answer counts and a form for a new survey, one
survey's report (NPS over time, CSAT by case category, or the Kano chart), and NPS by segment.

The form takes a Kano survey's features as text, one line per feature and language:
``<key> <language>: <name> | <functional question> | <dysfunctional question>`` (de and en
required, nb optional) — see ``questions.parse_features``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from patron.access.schemas import SignedIn
from patron.analytics.charts import LOYALTY_NAMES, PHASE_NAMES, SEGMENT_NAMES
from patron.care.surveys import charts, reports
from patron.care.surveys import questions as q
from patron.care.surveys import service as surveys
from patron.db import utcnow
from patron.errors import PatronError
from patron.web.deps import SessionDep, SettingsDep, csrf, page
from patron.web.i18n import N_, translations
from patron.web.rendering import NavItem, SectionSource, render, request_language

TEMPLATES = Path(__file__).parent / "templates"
READ = "cases:read"
WRITE = "cases:write"
NAV = (NavItem(N_("Surveys"), "/surveys", READ, order=48),)
SECTIONS: tuple[SectionSource, ...] = ()
router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, page(READ)]
Writer = Annotated[SignedIn, page(WRITE)]

KIND_NAMES = {
    "nps": N_("Net Promoter Score"),
    "csat": N_("Satisfaction (CSAT)"),
    "kano": N_("Kano"),
}
STATUS_NAMES = {"active": N_("active"), "closed": N_("closed")}
SEGMENT_TITLES = {
    "abc": N_("ABC class"),
    "rfm_segment": N_("RFM segment"),
    "lifecycle_phase": N_("Lifecycle phase"),
    "loyalty_type": N_("Loyalty type"),
}
GROUP_NAMES: dict[str, dict[str, str]] = {
    "abc": {"A": "A", "B": "B", "C": "C"},
    "rfm_segment": SEGMENT_NAMES,
    "lifecycle_phase": PHASE_NAMES,
    "loyalty_type": LOYALTY_NAMES,
}
PERIOD_NAMES = {"week": N_("week"), "month": N_("month"), "quarter": N_("quarter")}
DONE = {
    "created": N_("The survey was created."),
    "closed": N_("The survey is closed: its links take no more answers."),
    "active": N_("The survey is open again."),
}


@router.get("/surveys")
def surveys_page(request: Request, session: SessionDep, me: Reader) -> HTMLResponse:
    """Every survey with its answers, links to the reports, and the form for a new one."""
    return render(
        request,
        "surveys/surveys.html",
        {
            "surveys": surveys.list_surveys(session).data,
            "kind_names": KIND_NAMES,
            "status_names": STATUS_NAMES,
            "error": request.query_params.get("error", "")[:300],
            "done": DONE.get(request.query_params.get("done", "")),
            "example": EXAMPLE_FEATURES,
        },
    )


EXAMPLE_FEATURES = (
    "same_day de: Lieferung am selben Tag | Wie fänden Sie es, wenn wir am selben Tag liefern? "
    "| Wie fänden Sie es, wenn wir nicht am selben Tag liefern?\n"
    "same_day en: Same-day delivery | How would you feel if we delivered on the same day? "
    "| How would you feel if we did not deliver on the same day?"
)


@router.post("/surveys/new", dependencies=[csrf()])
def create_survey(
    session: SessionDep,
    me: Writer,
    key: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=8)] = "nps",
    question_de: Annotated[str, Form(max_length=q.TEXT_MAX)] = "",
    question_en: Annotated[str, Form(max_length=q.TEXT_MAX)] = "",
    question_nb: Annotated[str, Form(max_length=q.TEXT_MAX)] = "",
    features: Annotated[str, Form(max_length=50_000)] = "",
) -> RedirectResponse:
    """A new survey from the form; back to the list saying what is wrong, if anything."""
    given = {"de": question_de, "en": question_en, "nb": question_nb}
    question = {k: v for k, v in given.items() if v.strip()} or None
    try:
        parsed = q.parse_features(features) if kind == "kano" else None
        made = surveys.create_survey(
            session,
            key=key.strip(),
            name=name,
            kind=kind,
            question=question if kind != "kano" else None,
            features=parsed,
            now=utcnow(),
        )
    except PatronError as error:
        session.rollback()
        return RedirectResponse(f"/surveys?{urlencode({'error': error.message})}", 303)
    return RedirectResponse(f"/surveys/{made.key}?done=created", status_code=303)


@router.post("/surveys/{key}/status", dependencies=[csrf()])
def change_status(
    session: SessionDep,
    me: Writer,
    key: str,
    status: Annotated[str, Form(max_length=16)] = "",
) -> RedirectResponse:
    """Close a survey or open it again."""
    try:
        surveys.set_status(session, key, status)
    except PatronError as error:
        session.rollback()
        return RedirectResponse(f"/surveys?{urlencode({'error': error.message})}", 303)
    return RedirectResponse(f"/surveys/{key}?done={status}", status_code=303)


@router.get("/surveys/reports/nps")
def nps_by_segment_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Reader,
    by: Annotated[str, Query(max_length=16)] = "abc",
) -> HTMLResponse:
    """NPS per ABC class, RFM segment, lifecycle phase or loyalty type of the newest snapshot."""
    if by not in reports.SEGMENTS:
        by = "abc"
    report = reports.nps_report(session, by=by, timezone=settings.timezone)
    names = GROUP_NAMES[by]
    return render(
        request,
        "surveys/nps_segments.html",
        {
            "report": report,
            "by": by,
            "segment_titles": SEGMENT_TITLES,
            "label": lambda group: names.get(group, group) if group else N_("Not scored"),
        },
    )


@router.get("/surveys/{key}")
def survey_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Reader,
    key: str,
    period: Annotated[str, Query(max_length=8)] = "month",
) -> HTMLResponse:
    """One survey's report, as fits its kind."""
    if period not in PERIOD_NAMES:
        period = "month"
    language = request_language(request)
    report = reports.survey_report(
        session, survey=key, period=period, timezone=settings.timezone, language=language
    )
    gettext = translations(language).gettext
    drawn: dict[str, Any] = {}
    if report.get("nps"):
        drawn["chart-nps"] = charts.nps_over_time(report["nps"], gettext)
    if report.get("kano"):
        drawn["chart-kano"] = charts.kano_categories(report["kano"], gettext)
        if any(row.better is not None for row in report["kano"]):
            drawn["chart-better-worse"] = charts.better_worse(report["kano"], gettext)
    return render(
        request,
        "surveys/survey.html",
        {
            "report": report,
            "survey": report["survey"],
            "charts": drawn,
            "period": period,
            "period_names": PERIOD_NAMES,
            "kind_names": KIND_NAMES,
            "status_names": STATUS_NAMES,
            "category_names": charts.CATEGORY_LABELS,
            "categories": list(charts.CATEGORY_LABELS),
            "done": DONE.get(request.query_params.get("done", "")),
            "question": _question(report["survey"].questions, language),
        },
    )


def _question(questions: dict[str, Any], language: str) -> str:
    found = questions.get("question")
    return q.text_in(found, language) if isinstance(found, dict) else ""
