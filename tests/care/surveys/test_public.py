"""The customers' answer page through the whole app (SQLite and PostgreSQL): no sign-in, the
customer's language, a score chosen from the link, the answer stored (and changed), and pages
that say why a link does not work."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.surveys.conftest import NOW, case
from care.surveys.test_service import FEATURES
from patron.care.models import Case, SurveyResponse
from patron.care.surveys import kano, service
from patron.config import Settings
from patron.engage import links


def _customer(sessions: sessionmaker[Session], **fields: Any) -> int:
    with sessions() as session:
        found = make.customer(session, **fields).id
        session.commit()
        return found


def _path(settings: Settings, survey: str, customer_id: int, reference: str = "") -> str:
    url = links.survey_url(settings.public_url, settings.secret_key, survey, customer_id, reference)
    assert url.startswith(settings.public_url)
    return url[len(settings.public_url) :]


def _checked(page: str) -> list[str]:
    return re.findall(r'data-(?:score|kano)="([^"]+)" checked', page)


def _answers(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        return [
            (r.customer_id, r.reference, r.score, r.answers, r.comment, r.language)
            for r in session.scalars(select(SurveyResponse).order_by(SurveyResponse.id))
        ]


def test_a_german_customer_answers_nps_on_the_phone(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    customer_id = _customer(sessions, language="de")
    path = _path(settings, "nps", customer_id, "order:O-17")
    page = phone.get(path)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in text
    assert '<html lang="de">' in text
    assert "Wie wahrscheinlich ist es, dass Sie Fjord & Co einem Freund" in text
    assert re.findall(r'data-score="(\d+)"', text) == [str(n) for n in range(11)]
    assert _checked(text) == []
    assert "csrf_token" not in text  # the token in the address is the credential
    # the feedback e-mail links each number: the one clicked is chosen
    chosen = phone.get(path + "?score=9&order=O-17")
    assert _checked(chosen.text) == ["9"]
    assert _checked(phone.get(path + "?score=42").text) == []

    missing = phone.post(path, data={"comment": "Schnell!"})
    assert missing.status_code == 422
    assert "Bitte wählen Sie eine Zahl aus." in missing.text
    assert "Schnell!" in missing.text  # what was typed is kept
    assert _answers(sessions) == []

    done = phone.post(path, data={"score": "9", "comment": "Schnell!"})
    assert done.status_code == 200
    assert 'data-page="survey-thanks"' in done.text
    assert "Vielen Dank!" in done.text
    assert _answers(sessions) == [(customer_id, "order:O-17", 9.0, {}, "Schnell!", "de")]

    again = phone.get(path)
    assert "data-previous" in again.text
    assert _checked(again.text) == ["9"]
    phone.post(path, data={"score": "6"})
    assert [a[2] for a in _answers(sessions)] == [6.0]


def test_a_norwegian_customer_rates_a_case(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    customer_id = _customer(sessions, language="nb-NO")
    with sessions() as session:
        case_id = case(session, customer_id, category="returns").id
        session.commit()
    path = _path(settings, "csat", customer_id, f"case:{case_id}")
    page = phone.get(path)
    assert '<html lang="nb">' in page.text
    assert "Hvor fornøyd er du med hvordan vi løste saken din?" in page.text
    assert "Svært fornøyd" in page.text
    assert sorted(re.findall(r'data-score="(\d)"', page.text)) == ["1", "2", "3", "4", "5"]
    bad = phone.post(path, data={"score": "6"})  # not offered: a hand-made request
    assert bad.status_code == 422
    assert "Velg et tall." in bad.text
    done = phone.post(path, data={"score": "2"})
    assert "Takk!" in done.text
    with sessions() as session:
        found = session.get(Case, case_id)
        assert found is not None
        assert found.csat_score == 2
        assert found.csat_answered_at is not None


def test_an_english_customer_answers_a_kano_survey(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    customer_id = _customer(sessions, language="en")
    with sessions() as session:
        service.create_survey(
            session, key="delivery", name="Delivery", kind="kano", features=FEATURES, now=NOW
        )
    path = _path(settings, "delivery", customer_id)
    page = phone.get(path + "?score=3")  # a score means nothing to a Kano survey
    assert page.status_code == 200
    assert _checked(page.text) == []
    assert "We deliver the same day." in page.text
    for label in kano.ANSWER_LABELS["en"].values():
        assert page.text.count(label) == 2 * len(FEATURES)
    half = {"f:same_day": "1", "d:same_day": "5", "f:gift_wrap": "3"}
    refused = phone.post(path, data=half)
    assert refused.status_code == 422
    assert "Please answer both questions for every point." in refused.text
    assert sorted(_checked(refused.text)) == ["same_day:d:5", "same_day:f:1"]
    assert _answers(sessions) == []
    phone.post(path, data=half | {"d:gift_wrap": "3"})
    assert _answers(sessions) == [
        (customer_id, "", None, {"same_day": [1, 5], "gift_wrap": [3, 3]}, None, "en")
    ]


def test_a_link_that_does_not_work_says_why(
    phone: TestClient,
    sessions: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer_id = _customer(sessions, language="de")
    old = int(time.time() - 31 * 86_400)
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: old)
        expired = _path(settings, "nps", customer_id)
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    page = phone.get(expired, headers=german)
    assert page.status_code == 410
    assert 'data-page="survey-expired"' in page.text
    assert "Dieser Link ist abgelaufen" in page.text
    assert phone.post(expired, data={"score": "9"}).status_code == 410

    broken = _path(settings, "nps", customer_id)[:-4]
    page = phone.get(broken, headers={"Accept-Language": "nb"})
    assert page.status_code == 404
    assert "Denne lenken virker ikke" in page.text
    assert phone.post(broken, data={"score": "9"}).status_code == 404
    unknown = phone.get(_path(settings, "no-such-survey", customer_id))
    assert unknown.status_code == 404

    with sessions() as session:
        service.ensure_survey(session, "nps")
        service.set_status(session, "nps", "closed")
    closed = _path(settings, "nps", customer_id)
    page = phone.get(closed)
    assert page.status_code == 410
    assert "Die Umfrage ist beendet" in page.text
    assert phone.post(closed, data={"score": "9"}).status_code == 410
    assert _answers(sessions) == []
