"""The customers' survey answer page: ``/s/{token}``, no sign-in, made for a phone.

The signed, expiring token in the address names the survey, the customer and what asked
(``case:12``, ``order:4711``), so it is the whole credential — which is why the form needs no
CSRF token: a forged form cannot know it (as with the unsubscribe page). An NPS survey asks
for 0–10, a CSAT survey for 1–5, a Kano survey per feature the functional and the
dysfunctional question with the five answers of the Kano scale. A ``?score=N`` in the link (the
feedback e-mail links each number) chooses that score in advance; an answer given before is
shown and may be changed. The page speaks the customer's language (de, en, nb); the staff
pages' catalogues know English and German only, so its texts live here, per language.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from patron.care.surveys import kano
from patron.care.surveys import service as surveys
from patron.care.surveys.questions import features_of, text_in
from patron.config import Settings
from patron.customers.models import Customer
from patron.db import utcnow
from patron.engage import consent, links
from patron.engage.public import NO_CACHE, browser_language
from patron.errors import NotFound
from patron.web.deps import SessionDep, SettingsDep, public
from patron.web.rendering import render

TEMPLATES = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)
FORM_FIELDS_MAX = 200  # a Kano survey has at most 40 features: 2 fields each, and a comment

TEXTS: Mapping[str, Mapping[str, str]] = {
    "de": {
        "title": "Ihre Meinung",
        "low": "0 = gar nicht wahrscheinlich",
        "high": "10 = äußerst wahrscheinlich",
        "csat_1": "Sehr unzufrieden",
        "csat_2": "Unzufrieden",
        "csat_3": "Teils, teils",
        "csat_4": "Zufrieden",
        "csat_5": "Sehr zufrieden",
        "kano_intro": "Bitte beantworten Sie zu jedem Punkt beide Fragen.",
        "comment": "Möchten Sie uns noch etwas sagen? (freiwillig)",
        "submit": "Antwort senden",
        "previous": "Sie haben bereits geantwortet. Sie können Ihre Antwort hier ändern.",
        "choose": "Bitte wählen Sie eine Zahl aus.",
        "choose_all": "Bitte beantworten Sie zu jedem Punkt beide Fragen.",
        "thanks_title": "Vielen Dank!",
        "thanks": "Ihre Antwort ist bei {shop} angekommen. Sie hilft uns, besser zu werden.",
        "change": "Sie können Ihre Antwort über denselben Link noch ändern.",
        "expired_title": "Dieser Link ist abgelaufen",
        "expired": "Die Umfrage über diesen Link ist beendet. Vielen Dank für Ihr Interesse!",
        "closed_title": "Die Umfrage ist beendet",
        "closed": "{shop} nimmt zu dieser Umfrage keine Antworten mehr an. Vielen Dank!",
        "bad_title": "Dieser Link funktioniert nicht",
        "bad": "Er wurde vielleicht gekürzt oder verändert. Bitte verwenden Sie den "
        "vollständigen Link aus der Nachricht.",
    },
    "en": {
        "title": "Your opinion",
        "low": "0 = not at all likely",
        "high": "10 = extremely likely",
        "csat_1": "Very dissatisfied",
        "csat_2": "Dissatisfied",
        "csat_3": "Neither",
        "csat_4": "Satisfied",
        "csat_5": "Very satisfied",
        "kano_intro": "Please answer both questions for every point.",
        "comment": "Anything else you would like to tell us? (optional)",
        "submit": "Send answer",
        "previous": "You have answered already. You can change your answer here.",
        "choose": "Please choose a number.",
        "choose_all": "Please answer both questions for every point.",
        "thanks_title": "Thank you!",
        "thanks": "{shop} has received your answer. It helps us to get better.",
        "change": "You can still change your answer with the same link.",
        "expired_title": "This link has expired",
        "expired": "The survey behind this link has ended. Thank you for your interest!",
        "closed_title": "The survey has ended",
        "closed": "{shop} no longer takes answers to this survey. Thank you!",
        "bad_title": "This link does not work",
        "bad": "It may have been cut short or changed. Please use the complete link from the "
        "message.",
    },
    "nb": {
        "title": "Din mening",
        "low": "0 = svært usannsynlig",
        "high": "10 = svært sannsynlig",
        "csat_1": "Svært misfornøyd",
        "csat_2": "Misfornøyd",
        "csat_3": "Både og",
        "csat_4": "Fornøyd",
        "csat_5": "Svært fornøyd",
        "kano_intro": "Svar på begge spørsmålene for hvert punkt.",
        "comment": "Er det noe mer du vil si til oss? (valgfritt)",
        "submit": "Send svar",
        "previous": "Du har allerede svart. Du kan endre svaret ditt her.",
        "choose": "Velg et tall.",
        "choose_all": "Svar på begge spørsmålene for hvert punkt.",
        "thanks_title": "Takk!",
        "thanks": "{shop} har mottatt svaret ditt. Det hjelper oss å bli bedre.",
        "change": "Du kan fortsatt endre svaret med den samme lenken.",
        "expired_title": "Denne lenken er utløpt",
        "expired": "Undersøkelsen bak denne lenken er avsluttet. Takk for interessen!",
        "closed_title": "Undersøkelsen er avsluttet",
        "closed": "{shop} tar ikke lenger imot svar på denne undersøkelsen. Takk!",
        "bad_title": "Denne lenken virker ikke",
        "bad": "Den kan være forkortet eller endret. Bruk hele lenken fra meldingen.",
    },
}


@router.get("/s/{token}", dependencies=[public()])
def survey_page(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The questionnaire, with a ``?score=N`` from the link or an earlier answer chosen."""
    found = _open(request, session, settings, token)
    if isinstance(found, HTMLResponse):
        return found
    invitation, survey, language = found
    previous = surveys.previous_answer(session, invitation)
    chosen: dict[str, Any] = {"score": None, "answers": {}, "comment": ""}
    if previous is not None:
        score = int(previous.score) if previous.score is not None else None
        chosen = {"score": score, "answers": previous.answers, "comment": previous.comment or ""}
    wanted = _whole(request.query_params.get("score"))
    if wanted is not None and survey.kind != "kano":
        chosen["score"] = wanted
    return _form(request, settings, token, survey, language, chosen, previous=previous is not None)


@router.post("/s/{token}", dependencies=[public()])
async def survey_answer(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """Store the answer (replacing an earlier one to the same link) and thank the customer."""
    found = _open(request, session, settings, token)
    if isinstance(found, HTMLResponse):
        return found
    invitation, survey, language = found
    form = await request.form(max_fields=FORM_FIELDS_MAX, max_files=0)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    score = _whole(fields.get("score"))
    answers = _kano_answers(survey, fields)
    chosen = {"score": score, "answers": answers, "comment": fields.get("comment", "")[:2000]}
    complete = (
        len(answers) == len(features_of(survey.questions))
        if survey.kind == "kano"
        else score is not None
    )
    if not complete:
        problem = TEXTS[language]["choose_all" if survey.kind == "kano" else "choose"]
        return _form(request, settings, token, survey, language, chosen, problem=problem)
    try:
        surveys.answer(
            session,
            survey=invitation.survey,
            customer_id=invitation.customer_id,
            reference=invitation.reference,
            score=score if survey.kind != "kano" else None,
            answers=answers if survey.kind == "kano" else None,
            comment=chosen["comment"],
            language=language,
            now=utcnow(),
        )
    except surveys.SurveyClosed:
        session.rollback()
        return _message(request, settings, language, "closed", status=410)
    except surveys.SurveyProblem:
        session.rollback()
        problem = TEXTS[language]["choose_all" if survey.kind == "kano" else "choose"]
        return _form(request, settings, token, survey, language, chosen, problem=problem)
    return _message(request, settings, language, "thanks", extra=["change"])


# --- reading the link and the form ----------------------------------------------------------


def _open(
    request: Request, session: Session, settings: Settings, token: str
) -> tuple[surveys.Invitation, Any, str] | HTMLResponse:
    """(invitation, survey, language) of a working link, else the page that says why not."""
    fallback = browser_language(request.headers.get("accept-language"), settings.language)
    try:
        invitation = surveys.read_link(token, settings)
        survey = surveys.ensure_survey(session, invitation.survey)
    except links.ExpiredLink:
        return _message(request, settings, fallback, "expired", status=410)
    except (links.BadLink, NotFound):
        return _message(request, settings, fallback, "bad", status=404)
    customer = session.get(Customer, invitation.customer_id)
    if customer is None:  # erased since the link was sent
        return _message(request, settings, fallback, "bad", status=404)
    language = consent.language_of(customer.language, settings)
    if survey.status != "active":
        return _message(request, settings, language, "closed", status=410)
    return invitation, survey, language


def _whole(value: str | None) -> int | None:
    """A whole number from a form or query field, None when it is none."""
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else None


def _kano_answers(survey: Any, fields: Mapping[str, str]) -> dict[str, list[int]]:
    """The complete answer pairs in the form (fields ``f:<feature>`` and ``d:<feature>``)."""
    answers = {}
    for feature in features_of(survey.questions):
        functional = _whole(fields.get(f"f:{feature['key']}"))
        dysfunctional = _whole(fields.get(f"d:{feature['key']}"))
        if functional is not None and dysfunctional is not None:
            answers[feature["key"]] = [functional, dysfunctional]
    return answers


# --- rendering ------------------------------------------------------------------------------


def _form(
    request: Request,
    settings: Settings,
    token: str,
    survey: Any,
    language: str,
    chosen: Mapping[str, Any],
    *,
    previous: bool = False,
    problem: str | None = None,
) -> HTMLResponse:
    texts = TEXTS[language]
    question = ""
    if survey.kind != "kano":
        question = text_in(survey.questions.get("question", {}), language)
        question = question.replace("{shop}", settings.shop_name)
    features = [
        {
            "key": f["key"],
            "name": text_in(f["name"], language),
            "functional": text_in(f["functional"], language),
            "dysfunctional": text_in(f["dysfunctional"], language),
        }
        for f in features_of(survey.questions)
    ]
    context = {
        "language": language,
        "shop": settings.shop_name,
        "title": texts["title"],
        "lines": [],
        "texts": texts,
        "kind": survey.kind,
        "question": question,
        "features": features,
        "kano_labels": kano.ANSWER_LABELS[language],
        "csat_labels": {n: texts[f"csat_{n}"] for n in range(1, 6)},
        "chosen": chosen,
        "previous": previous,
        "problem": problem,
        "action": f"/s/{token}",
    }
    status = 422 if problem else 200
    return render(request, "survey_public/survey.html", context, status=status, headers=NO_CACHE)


def _message(
    request: Request,
    settings: Settings,
    language: str,
    what: str,
    *,
    status: int = 200,
    extra: tuple[str, ...] | list[str] = (),
) -> HTMLResponse:
    """A page of one message: thanks, expired, closed or bad link."""
    texts = TEXTS[language]
    lines = [texts[what].format(shop=settings.shop_name), *(texts[e] for e in extra)]
    context = {
        "language": language,
        "shop": settings.shop_name,
        "title": texts[f"{what}_title"],
        "lines": lines,
        "what": what,
    }
    return render(request, "survey_public/message.html", context, status=status, headers=NO_CACHE)
