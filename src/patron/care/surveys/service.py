"""Surveys: create and list questionnaires, store answers, invite customers by e-mail.

``questions`` of an NPS or CSAT survey: ``{"question": {language: text}}``. Of a Kano survey:
``{"features": [{"key", "name": {language: text}, "functional": {…}, "dysfunctional": {…}}]}``.

An answer belongs to (survey, customer, reference): the reference names the invitation that
asked (``case:12``, ``order:4711``); answering the same invitation again replaces the answer
and its time. A CSAT answer for ``case:<id>`` is also written onto the case. The built-in
``nps`` and ``csat`` surveys are made on first use (``ensure_survey``), so a message can carry
a link to them before anyone created them.

Invitations go out as *transactional* e-mail: each one asks about one thing the customer did
with the shop (their case, their order, the event they attended), which is service
communication about that thing and carries no offer. A survey sent to a whole segment without
such an occasion is marketing: that is the ``feedback`` journey, which waits for consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.care.models import Case, Survey, SurveyResponse
from patron.care.surveys import questions as q
from patron.care.surveys.schemas import ResponsePublic, SurveyPublic, SurveysPublic
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.engage import library, links, transactional
from patron.engage.schemas import MessagePublic
from patron.errors import Conflict, NotFound, PatronError

SurveyProblem = q.SurveyProblem
INVITATION_TEMPLATE = "survey_invitation"
# An answer "from the future" is a clock or time-zone mistake of the sender.
CLOCK_SKEW = timedelta(minutes=5)


class SurveyClosed(PatronError):
    code = "survey.closed"
    status = 409


class SurveyExists(Conflict):
    code = "survey.exists"


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
        raise NotFound(f"no survey {key!r}", code="survey.not_found", details={"survey": key})
    return survey


def survey_link(
    session: Session, *, survey: str, customer_id: int, reference: str, settings: Settings
) -> str:
    """The signed link that lets one customer answer ``survey`` once for ``reference``."""
    ensure_survey(session, survey)
    return links.survey_url(
        settings.public_url, settings.secret_key, survey, customer_id, reference
    )


# --- surveys --------------------------------------------------------------------------------


def create_survey(
    session: Session,
    *,
    key: str,
    name: str,
    kind: str,
    question: dict[str, str] | None = None,
    features: list[dict[str, Any]] | None = None,
    now: datetime,
) -> SurveyPublic:
    """A new active survey; commits. NPS and CSAT take the built-in question unless given one;
    Kano needs its features (see ``questions.kano_features``)."""
    q.check_key(key)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise SurveyProblem("the name must be 1-200 characters", details={"field": "name"})
    document = q.questions(kind, question, features, BUILT_IN.get(kind, {}).get("questions"))
    if session.scalar(select(Survey.id).where(Survey.key == key)) is not None:
        raise SurveyExists(f"there is already a survey {key!r}", details={"field": "key"})
    survey = Survey(
        key=key, name=name, kind=kind, questions=document, status="active", created_at=now
    )
    session.add(survey)
    try:
        session.commit()
    except IntegrityError:  # made by someone else a moment ago
        session.rollback()
        raise SurveyExists(f"there is already a survey {key!r}", details={"field": "key"}) from None
    return _public(survey, 0)


def list_surveys(session: Session) -> SurveysPublic:
    """Every survey, newest first, with its number of answers."""
    counts = dict(
        session.execute(
            select(SurveyResponse.survey_id, func.count()).group_by(SurveyResponse.survey_id)
        ).all()
    )
    rows = session.scalars(select(Survey).order_by(Survey.created_at.desc(), Survey.id.desc()))
    data = [_public(s, int(counts.get(s.id, 0))) for s in rows]
    return SurveysPublic(data=data, count=len(data))


def get_survey(session: Session, key: str) -> SurveyPublic:
    """The survey ``key`` (the built-in ``nps`` and ``csat`` exist once asked for)."""
    survey = ensure_survey(session, key)
    count = session.scalar(
        select(func.count())
        .select_from(SurveyResponse)
        .where(SurveyResponse.survey_id == survey.id)
    )
    return _public(survey, int(count or 0))


def set_status(session: Session, key: str, status: str) -> SurveyPublic:
    """Close a survey (its links then take no answers) or reopen it; commits."""
    if status not in ("active", "closed"):
        raise SurveyProblem("status must be active or closed", details={"field": "status"})
    survey = ensure_survey(session, key)
    survey.status = status
    session.commit()
    return get_survey(session, key)


def _public(survey: Survey, responses: int) -> SurveyPublic:
    return SurveyPublic(
        id=survey.id,
        key=survey.key,
        name=survey.name,
        kind=survey.kind,
        status=survey.status,
        questions=survey.questions,
        created_at=survey.created_at,
        responses=responses,
    )


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    """What a survey link names: the survey, the customer, and what asked (the reference)."""

    survey: str
    customer_id: int
    reference: str


def read_link(token: str, settings: Settings) -> Invitation:
    """The invitation of a survey link; ``links.ExpiredLink`` after ``survey_valid_days``,
    ``links.BadLink`` when the link was not made here or was changed."""
    survey, customer_id, reference = links.read_survey(
        settings.secret_key, token, max_age_days=settings.survey_valid_days
    )
    return Invitation(survey, customer_id, reference)


def previous_answer(session: Session, invitation: Invitation) -> SurveyResponse | None:
    """The answer already given to this invitation, if any (the page shows it to change)."""
    survey = ensure_survey(session, invitation.survey)
    return session.scalar(
        select(SurveyResponse).where(
            SurveyResponse.survey_id == survey.id,
            SurveyResponse.customer_id == invitation.customer_id,
            SurveyResponse.reference == invitation.reference,
        )
    )


def answer(
    session: Session,
    *,
    survey: str,
    customer_id: int,
    reference: str = "",
    score: Any = None,
    answers: Any = None,
    comment: Any = None,
    language: Any = None,
    now: datetime,
    answered_at: datetime | None = None,
) -> ResponsePublic:
    """Store one customer's answer to one invitation, replacing an earlier one; commits.

    NPS takes a whole ``score`` 0..10, CSAT 1..5, Kano ``answers`` with one 1..5 pair per
    feature. A closed survey takes no answers. For ``case:<id>`` the case gets the CSAT score.
    """
    found = ensure_survey(session, survey)
    if found.status != "active":
        raise SurveyClosed(
            f"the survey {survey!r} is closed and takes no more answers",
            details={"survey": survey},
        )
    values = _checked(found, score=score, answers=answers, comment=comment, language=language)
    if len(reference) > 64:
        raise SurveyProblem("the reference is longer than 64", details={"field": "reference"})
    if session.get(Customer, customer_id) is None:
        raise NotFound(
            f"no customer with number {customer_id}",
            code="customers.not_found",
            details={"customer_id": customer_id},
        )
    case = _case_of(session, reference, customer_id)
    when = answered_at or now
    values |= {"case_id": case.id if case else None, "answered_at": when, "kind": found.kind}
    stored, replaced = _upsert(session, found.id, customer_id, reference, values)
    if case is not None and found.kind == "csat":
        case.csat_score = int(values["score"])
        case.csat_answered_at = when
    session.commit()
    return _response(stored, found.key, replaced)


def answer_link(
    session: Session,
    *,
    token: str,
    settings: Settings,
    score: Any = None,
    answers: Any = None,
    comment: Any = None,
    language: Any = None,
    now: datetime,
) -> ResponsePublic:
    """``answer`` for the invitation a signed survey link names."""
    invitation = read_link(token, settings)
    return answer(
        session,
        survey=invitation.survey,
        customer_id=invitation.customer_id,
        reference=invitation.reference,
        score=score,
        answers=answers,
        comment=comment,
        language=language,
        now=now,
    )


def record_answer(
    session: Session,
    *,
    survey: str,
    customer: str,
    reference: str = "",
    score: Any = None,
    answers: Any = None,
    comment: Any = None,
    language: Any = None,
    answered_at: datetime | None = None,
    now: datetime,
) -> ResponsePublic:
    """An answer gathered elsewhere (a shop's own form, a phone call), for the customer with
    external id or number ``customer``; the same customer and reference again replaces it."""
    if answered_at is not None:
        if answered_at.tzinfo is None:
            raise SurveyProblem(
                "answered_at needs a time zone (e.g. 2026-03-01T10:00:00Z)",
                details={"field": "answered_at"},
            )
        if answered_at > now + CLOCK_SKEW:
            raise SurveyProblem("answered_at lies in the future", details={"field": "answered_at"})
    found = customers.customer_ref(session, key=customer)
    return answer(
        session,
        survey=survey,
        customer_id=found.id,
        reference=reference,
        score=score,
        answers=answers,
        comment=comment,
        language=language,
        now=now,
        answered_at=answered_at,
    )


def _checked(
    survey: Survey, *, score: Any, answers: Any, comment: Any, language: Any
) -> dict[str, Any]:
    if survey.kind == "kano":
        if score is not None:
            raise SurveyProblem("a Kano survey takes answers, no score", details={"field": "score"})
        pairs = q.kano_answers(survey.questions, answers)
        values: dict[str, Any] = {"score": None, "answers": pairs}
    else:
        if answers:
            raise SurveyProblem(
                f"an {survey.kind.upper()} survey takes a score, no answers",
                details={"field": "answers"},
            )
        if score is None:
            raise SurveyProblem("a score is needed", details={"field": "score"})
        values = {"score": q.score(survey.kind, score), "answers": {}}
    return values | {"comment": q.comment(comment), "language": q.language(language)}


def _case_of(session: Session, reference: str, customer_id: int) -> Case | None:
    """The case a ``case:<id>`` reference names; it must be the customer's own."""
    kind, _, number = reference.partition(":")
    if kind != "case":
        return None
    if not number.isdigit():
        raise SurveyProblem(
            f"reference {reference!r} must be case:<number>", details={"field": "reference"}
        )
    case = session.get(Case, int(number))
    if case is None:
        return None  # the case was deleted; the answer still counts for the survey
    if case.customer_id != customer_id:
        raise SurveyProblem(f"case {number} is not this customer's", details={"field": "reference"})
    return case


def _upsert(
    session: Session, survey_id: int, customer_id: int, reference: str, values: dict[str, Any]
) -> tuple[SurveyResponse, bool]:
    """Insert the answer, or overwrite the one the invitation already has: (row, replaced)."""
    where = (
        SurveyResponse.survey_id == survey_id,
        SurveyResponse.customer_id == customer_id,
        SurveyResponse.reference == reference,
    )
    existing = session.scalar(select(SurveyResponse).where(*where).with_for_update())
    if existing is None:
        row = SurveyResponse(
            survey_id=survey_id, customer_id=customer_id, reference=reference, **values
        )
        try:
            with session.begin_nested():
                session.add(row)
            return row, False
        except IntegrityError:  # the same invitation answered twice at once: the later wins
            existing = session.scalars(select(SurveyResponse).where(*where)).one()
    for name, value in values.items():
        setattr(existing, name, value)
    return existing, True


def _response(row: SurveyResponse, survey: str, replaced: bool) -> ResponsePublic:
    return ResponsePublic(
        id=row.id,
        survey=survey,
        kind=row.kind,
        customer_id=row.customer_id,
        reference=row.reference,
        case_id=row.case_id,
        score=row.score,
        answers=dict(row.answers or {}),
        comment=row.comment,
        language=row.language,
        answered_at=row.answered_at,
        replaced=replaced,
    )


# --- invitations ----------------------------------------------------------------------------


def invite(
    session: Session,
    *,
    survey: str,
    customer: str,
    reference: str,
    settings: Settings,
    now: datetime,
    channel: str = "email",
) -> tuple[MessagePublic, bool]:
    """E-mail one customer a personal link to ``survey`` about ``reference`` (transactional:
    see the module's docstring); commits. The same invitation again queues nothing new:
    ``(message, created)``."""
    found = ensure_survey(session, survey)
    if found.status != "active":
        raise SurveyClosed(
            f"the survey {survey!r} is closed: reopen it before inviting",
            details={"survey": survey},
        )
    reference = reference.strip()
    if not reference or len(reference) > 64:
        raise SurveyProblem(
            "an invitation needs a reference of 1-64 characters: what the customer is asked "
            "about (case:12, order:4711, event:3)",
            details={"field": "reference"},
        )
    person = customers.customer_ref(session, key=customer)
    _case_of(session, reference, person.id)
    library.install(session, now=now)  # a store older than the template gets it now
    url = links.survey_url(
        settings.public_url, settings.secret_key, found.key, person.id, reference
    )
    return transactional.send(
        session,
        customer=str(person.external_id or person.id),
        template_key=INVITATION_TEMPLATE,
        channel=channel,
        key=f"survey:{found.key}:{person.id}:{reference}",
        variables={"survey_url": url, "survey_kind": found.kind},
        settings=settings,
        now=now,
    )
