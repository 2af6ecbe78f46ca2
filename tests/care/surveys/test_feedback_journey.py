"""The feedback journey with a survey key: each customer's e-mail carries a personal, signed
link to the survey for their order, the link opens the answer page (which makes the built-in
survey on first use), and the shipped invitation template renders in every language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.surveys.conftest import NOW
from patron.care.models import SurveyResponse
from patron.care.surveys import service
from patron.config import Settings
from patron.engage import context, journeys, library, triggers
from patron.engage.rendering import LANGUAGES, render


def test_the_feedback_journey_links_each_customer_to_the_survey(
    sessions: sessionmaker[Session], settings: Settings, phone: TestClient
) -> None:
    with sessions() as session:
        customer = make.customer(session, language="nb")
        make.order(
            session,
            customer,
            external_id="O-4711",
            status="completed",
            placed_at=NOW - timedelta(days=7, hours=1),
        )
        session.commit()
        due = triggers.due(session, "feedback", {"survey": "nps"}, now=NOW, site=settings)
        assert [o.customer_id for o in due] == [customer.id]
        url = due[0].context["survey_url"]
        with pytest.raises(journeys.JourneyProblem) as caught:
            triggers.due(session, "feedback", {"survey": "nps"}, now=NOW)  # nothing to sign with
        assert caught.value.details["field"] == "settings.survey"
        shared = triggers.due(session, "feedback", {"survey_url": "https://s.example/x"}, now=NOW)
        assert shared[0].context["survey_url"] == "https://s.example/x"
    token = url.removeprefix(f"{settings.public_url}/s/")
    assert service.read_link(token, settings) == service.Invitation(
        "nps", customer.id, "order:O-4711"
    )
    # the e-mail links each score: ?score=N&order=…
    page = phone.get(f"/s/{token}?score=10&order=O-4711")
    assert page.status_code == 200
    assert 'data-score="10" checked' in page.text
    assert "Hvor sannsynlig er det" in page.text
    assert phone.post(f"/s/{token}", data={"score": "10"}).status_code == 200
    with sessions() as session:
        stored = session.scalars(select(SurveyResponse)).one()
        assert (stored.customer_id, stored.reference, stored.score) == (
            customer.id,
            "order:O-4711",
            10.0,
        )


def test_a_wrong_survey_setting_is_refused() -> None:
    with pytest.raises(journeys.JourneyProblem) as caught:
        journeys.settings_for("feedback", {"survey": "Not a key"})
    assert caught.value.details["field"] == "settings.survey"
    assert journeys.settings_for("feedback", {"survey": "nps"})["survey"] == "nps"
    assert journeys.settings_for("feedback")["survey"] is None


def test_the_invitation_template_renders_in_every_language(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    shipped = {s.key: s for s in library.shipped()}["survey_invitation"]
    assert shipped.purpose == "transactional"
    with sessions() as session:
        customer_id = make.customer(session, name="Kari Nordmann", kind="person").id
        for language in LANGUAGES:
            values = context.contexts(
                session,
                [customer_id],
                needs=context.needs(shipped.template),
                settings=settings,
                now=NOW,
                channel="email",
                purpose="transactional",
                languages=(language,),
            )[customer_id]
            assert "unsubscribe_url" not in values  # no offer, no marketing
            bare = render(shipped.template, values, language=language)
            assert "{" not in bare.text
            assert "None" not in bare.text
            with_link = render(
                shipped.template,
                values | {"survey_url": "https://shop.example/s/abc", "survey_kind": "csat"},
                language=language,
            )
            assert 'href="https://shop.example/s/abc"' in with_link.html
            assert "Fjord &amp; Co" in with_link.html or "Fjord & Co" in with_link.html
        session.rollback()
