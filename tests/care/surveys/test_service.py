"""Surveys and their answers through the service, on SQLite and PostgreSQL: definitions are
checked, one answer per invitation (a second replaces it), bad answers change nothing, a closed
survey refuses, a case's CSAT lands on the case, and links expire and cannot be forged."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from itsdangerous.timed import TimestampSigner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.surveys.conftest import NOW, case
from patron.care.models import Case, Survey, SurveyResponse
from patron.care.surveys import service
from patron.config import Settings
from patron.engage import links
from patron.errors import NotFound

FEATURES = [
    {
        "key": "same_day",
        "name": {"de": "Lieferung am selben Tag", "en": "Same-day delivery"},
        "functional": {"de": "Wir liefern am selben Tag.", "en": "We deliver the same day."},
        "dysfunctional": {"de": "Wir liefern nicht am selben Tag.", "en": "We do not."},
    },
    {
        "key": "gift_wrap",
        "name": {"de": "Geschenkverpackung", "en": "Gift wrapping", "nb": "Gaveinnpakning"},
        "functional": {"de": "Mit Verpackung.", "en": "With wrapping.", "nb": "Med."},
        "dysfunctional": {"de": "Ohne Verpackung.", "en": "Without wrapping.", "nb": "Uten."},
    },
]


def _responses(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SurveyResponse)) or 0)


def _kano(session: Session, key: str = "delivery") -> None:
    service.create_survey(
        session, key=key, name="Delivery features", kind="kano", features=FEATURES, now=NOW
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "kano", "features": []}, "features"),
        ({"kind": "kano", "features": None}, "features"),
        ({"kind": "kano", "features": [FEATURES[0] | {"key": "Bad Key"}]}, "features[0].key"),
        ({"kind": "kano", "features": [FEATURES[0], FEATURES[0]]}, "features[1].key"),
        (
            {"kind": "kano", "features": [FEATURES[0] | {"functional": {"de": "Nur deutsch"}}]},
            "features[0].functional.en",
        ),
        (
            {
                "kind": "kano",
                "features": [FEATURES[0] | {"name": {"de": "x", "en": "y", "fr": "z"}}],
            },
            "features[0].name",
        ),
        ({"kind": "nps", "features": FEATURES}, "features"),
        ({"kind": "csat", "question": {"en": "How was it?"}}, "question.de"),
        ({"kind": "survey"}, "kind"),
        ({"key": "NPS 2026"}, "key"),
        ({"name": "  "}, "name"),
    ],
)
def test_a_survey_that_cannot_be_asked_is_refused_naming_the_field(
    sessions: sessionmaker[Session], change: dict[str, Any], field: str
) -> None:
    wanted: dict[str, Any] = {"key": "spring", "name": "Spring survey", "kind": "nps"} | change
    with sessions() as session:
        with pytest.raises(service.SurveyProblem) as caught:
            service.create_survey(session, now=NOW, **wanted)
        assert caught.value.details["field"] == field
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Survey)) == 0


def test_surveys_are_created_listed_closed_and_reopened(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _kano(session)
        made = service.create_survey(
            session,
            key="nps-2026",
            name="Recommendation 2026",
            kind="nps",
            question={"de": "Empfehlen?", "en": "Recommend?"},
            now=NOW + timedelta(hours=1),
        )
        assert made.questions == {"question": {"de": "Empfehlen?", "en": "Recommend?"}}
        with pytest.raises(service.SurveyExists):
            service.create_survey(session, key="delivery", name="Again", kind="nps", now=NOW)
    with sessions() as session:
        listed = service.list_surveys(session)
        assert [s.key for s in listed.data] == ["nps-2026", "delivery"]  # newest first
        kano_survey = service.get_survey(session, "delivery")
        # nb is optional: only the feature that gave it has it
        names = [f["name"] for f in kano_survey.questions["features"]]
        assert [sorted(n) for n in names] == [["de", "en"], ["de", "en", "nb"]]
        assert service.set_status(session, "delivery", "closed").status == "closed"
        assert service.set_status(session, "delivery", "active").status == "active"
        with pytest.raises(NotFound):
            service.get_survey(session, "no-such-survey")
        # the built-in ones exist once asked for
        assert service.get_survey(session, "nps").kind == "nps"


def test_an_answer_is_stored_per_invitation_and_answering_again_replaces_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        customer_id = make.customer(session).id
        session.commit()
        first = service.answer(
            session, survey="nps", customer_id=customer_id, reference="order:17", score=9, now=NOW
        )
        assert (first.score, first.replaced, first.answered_at) == (9.0, False, NOW)
        later = NOW + timedelta(days=2)
        second = service.answer(
            session,
            survey="nps",
            customer_id=customer_id,
            reference="order:17",
            score=3,
            comment="  The parcel was late.  ",
            language="de",
            now=later,
        )
        assert second.replaced
        assert second.id == first.id
        other = service.answer(
            session, survey="nps", customer_id=customer_id, reference="order:18", score=10, now=NOW
        )
        assert not other.replaced
    with sessions() as session:
        rows = session.scalars(select(SurveyResponse).order_by(SurveyResponse.reference)).all()
        assert [(r.reference, r.score, r.answered_at) for r in rows] == [
            ("order:17", 3.0, later),
            ("order:18", 10.0, NOW),
        ]
        assert (rows[0].comment, rows[0].language, rows[0].kind) == (
            "The parcel was late.",
            "de",
            "nps",
        )


@pytest.mark.parametrize(
    ("survey", "score"),
    [
        ("nps", 11),
        ("nps", -1),
        ("nps", 9.5),
        ("nps", True),
        ("nps", "9"),
        ("nps", None),
        ("csat", 0),
        ("csat", 6),
        ("csat", 4.2),
    ],
)
def test_a_score_out_of_range_is_refused_and_nothing_is_stored(
    sessions: sessionmaker[Session], survey: str, score: Any
) -> None:
    with sessions() as session:
        customer_id = make.customer(session).id
        session.commit()
        with pytest.raises(service.SurveyProblem) as caught:
            service.answer(session, survey=survey, customer_id=customer_id, score=score, now=NOW)
        assert caught.value.details["field"] == "score"
        session.rollback()
        assert _responses(session) == 0


def test_an_earlier_answer_survives_a_bad_second_one(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        customer_id = make.customer(session).id
        session.commit()
        service.answer(session, survey="csat", customer_id=customer_id, score=4, now=NOW)
        with pytest.raises(service.SurveyProblem):
            service.answer(session, survey="csat", customer_id=customer_id, score=7, now=NOW)
        session.rollback()
        assert session.scalars(select(SurveyResponse.score)).all() == [4.0]


def test_a_closed_survey_takes_no_answers(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        customer_id = make.customer(session).id
        session.commit()
        service.ensure_survey(session, "nps")
        service.set_status(session, "nps", "closed")
        with pytest.raises(service.SurveyClosed):
            service.answer(session, survey="nps", customer_id=customer_id, score=8, now=NOW)
        session.rollback()
        assert _responses(session) == 0
        service.set_status(session, "nps", "active")
        service.answer(session, survey="nps", customer_id=customer_id, score=8, now=NOW)
        assert _responses(session) == 1


@pytest.mark.parametrize(
    ("answers", "score", "field"),
    [
        ({"same_day": [1, 5]}, None, "answers.gift_wrap"),  # a feature left out
        ({"same_day": [1, 5], "gift_wrap": [3, 3], "price": [1, 1]}, None, "answers.price"),
        ({"same_day": [0, 5], "gift_wrap": [3, 3]}, None, "answers.same_day"),
        ({"same_day": [1, 6], "gift_wrap": [3, 3]}, None, "answers.same_day"),
        ({"same_day": [1, 5, 3], "gift_wrap": [3, 3]}, None, "answers.same_day"),
        ({"same_day": [1, "5"], "gift_wrap": [3, 3]}, None, "answers.same_day"),
        ({"same_day": [1, 5], "gift_wrap": [3, 3]}, 7, "score"),
        (None, None, "answers"),
    ],
)
def test_a_kano_answer_needs_exactly_one_pair_per_feature(
    sessions: sessionmaker[Session], answers: Any, score: Any, field: str
) -> None:
    with sessions() as session:
        _kano(session)
        customer_id = make.customer(session).id
        session.commit()
        with pytest.raises(service.SurveyProblem) as caught:
            service.answer(
                session,
                survey="delivery",
                customer_id=customer_id,
                answers=answers,
                score=score,
                now=NOW,
            )
        assert caught.value.details["field"] == field
        session.rollback()
        assert _responses(session) == 0


def test_a_complete_kano_answer_is_stored(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _kano(session)
        customer_id = make.customer(session).id
        session.commit()
        stored = service.answer(
            session,
            survey="delivery",
            customer_id=customer_id,
            answers={"gift_wrap": [3, 3], "same_day": [1, 4]},
            now=NOW,
        )
        assert stored.score is None
    with sessions() as session:
        row = session.scalars(select(SurveyResponse)).one()
        assert row.answers == {"gift_wrap": [3, 3], "same_day": [1, 4]}
        assert row.kind == "kano"


def test_a_csat_answer_through_the_cases_link_lands_on_the_case(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions() as session:
        customer_id = make.customer(session).id
        other_id = make.customer(session).id
        case_id = case(session, customer_id).id
        session.commit()
        url = service.survey_link(
            session,
            survey="csat",
            customer_id=customer_id,
            reference=f"case:{case_id}",
            settings=settings,
        )
        token = url.rsplit("/s/", 1)[1]
        stored = service.answer_link(
            session, token=token, settings=settings, score=2, comment="Slow", now=NOW
        )
        assert stored.case_id == case_id
        again = NOW + timedelta(hours=3)
        service.answer_link(session, token=token, settings=settings, score=5, now=again)
        # someone else's case cannot be rated
        with pytest.raises(service.SurveyProblem) as caught:
            service.answer(
                session,
                survey="csat",
                customer_id=other_id,
                reference=f"case:{case_id}",
                score=1,
                now=NOW,
            )
        assert caught.value.details["field"] == "reference"
        session.rollback()
    with sessions() as session:
        found = session.get(Case, case_id)
        assert found is not None
        assert (found.csat_score, found.csat_answered_at) == (5, again)
        assert session.scalars(select(SurveyResponse.case_id)).all() == [case_id]


def test_links_expire_and_cannot_be_forged(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def signed(days_ago: float) -> str:
        """A link signed ``days_ago`` days ago: itsdangerous reads its clock in get_timestamp."""
        moment = int(time.time() - days_ago * 86_400)
        with monkeypatch.context() as patched:
            patched.setattr(TimestampSigner, "get_timestamp", lambda self: moment)
            url = links.survey_url(settings.public_url, settings.secret_key, "nps", 7, "order:1")
        return url.rsplit("/s/", 1)[1]

    fresh = signed(0)
    assert service.read_link(fresh, settings) == service.Invitation("nps", 7, "order:1")
    assert service.read_link(signed(29), settings).customer_id == 7
    with pytest.raises(links.ExpiredLink):
        service.read_link(signed(31), settings)
    payload, _, signature = fresh.partition(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    with pytest.raises(links.BadLink):
        service.read_link(tampered, settings)
    with pytest.raises(links.BadLink):
        service.read_link(fresh[:-3], settings)
    foreign = links.survey_url(
        "https://x", "another-secret-of-more-than-thirty-two-chars", "nps", 7
    )
    with pytest.raises(links.BadLink):
        service.read_link(foreign.rsplit("/s/", 1)[1], settings)


def test_answers_gathered_elsewhere_are_recorded_once_per_customer_and_reference(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        make.customer(session, external_id="K-77")
        session.commit()
        when = NOW - timedelta(days=10)
        first = service.record_answer(
            session,
            survey="nps",
            customer="K-77",
            reference="call:3",
            score=6,
            answered_at=when,
            now=NOW,
        )
        again = service.record_answer(
            session,
            survey="nps",
            customer="K-77",
            reference="call:3",
            score=6,
            answered_at=when,
            now=NOW,
        )
        assert (first.replaced, again.replaced, again.id) == (False, True, first.id)
        assert again.answered_at == when
        for bad in (NOW + timedelta(hours=1), when.replace(tzinfo=None)):
            with pytest.raises(service.SurveyProblem) as caught:
                service.record_answer(
                    session, survey="nps", customer="K-77", score=6, answered_at=bad, now=NOW
                )
            assert caught.value.details["field"] == "answered_at"
        with pytest.raises(NotFound):
            service.record_answer(session, survey="nps", customer="nobody", score=6, now=NOW)
        session.rollback()
        assert _responses(session) == 1
