"""Surveys: the built-in NPS and CSAT questionnaires, and the signed link that asks one customer.

``questions`` of an NPS or CSAT survey: ``{"question": {language: text}}``. Of a Kano survey:
``{"features": [{"key", "name": {language: text}, "functional": {…}, "dysfunctional": {…}}]}``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.care.models import Survey
from patron.config import Settings
from patron.engage import links
from patron.errors import NotFound

NPS = "nps"
CSAT = "csat"
BUILT_IN: dict[str, dict[str, Any]] = {
    NPS: {
        "name": "Net Promoter Score",
        "kind": "nps",
        "questions": {
            "question": {
                "de": "Wie wahrscheinlich ist es, dass Sie {shop} einem Freund oder Kollegen "
                "empfehlen?",
                "en": "How likely are you to recommend {shop} to a friend or colleague?",
                "nb": "Hvor sannsynlig er det at du vil anbefale {shop} til en venn eller kollega?",
            }
        },
    },
    CSAT: {
        "name": "Satisfaction with a case",
        "kind": "csat",
        "questions": {
            "question": {
                "de": "Wie zufrieden sind Sie damit, wie wir Ihr Anliegen gelöst haben?",
                "en": "How satisfied are you with how we handled your request?",
                "nb": "Hvor fornøyd er du med hvordan vi løste saken din?",
            }
        },
    },
}


def ensure_survey(session: Session, key: str) -> Survey:
    """The survey ``key``; a built-in one (``nps``, ``csat``) is created the first time it is
    asked for. Flushes, never commits."""
    survey = session.scalar(select(Survey).where(Survey.key == key))
    if survey is None and key in BUILT_IN:
        survey = Survey(key=key, status="active", **BUILT_IN[key])
        session.add(survey)
        session.flush()
    if survey is None:
        raise NotFound(f"no survey {key!r}", details={"survey": key})
    return survey


def survey_link(
    session: Session, *, survey: str, customer_id: int, reference: str, settings: Settings
) -> str:
    """The signed link that lets one customer answer ``survey`` once for ``reference``."""
    ensure_survey(session, survey)
    return links.survey_url(
        settings.public_url, settings.secret_key, survey, customer_id, reference
    )
