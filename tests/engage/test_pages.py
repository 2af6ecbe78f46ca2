"""The engagement pages as signed-in staff see them, without a browser: segments with a live
count, the template library with saving (and refusing what cannot render), campaigns created,
switched on, run, paused, resumed and cancelled from their forms, the next best action and the
newest messages on the customer 360; who may post, German for a German user, and the area's
entry in the navigation with its tabs.

Every figure a page shows is checked against what the test made or what the store holds.
"""

from __future__ import annotations

import html as htmllib
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from engage.test_actions import snapshot
from patron.config import load_settings
from patron.db import utcnow
from patron.engage import actions, campaigns, library
from patron.engage.models import Campaign, CampaignMember, Message, MessageTemplate
from patron.engage.schemas import CampaignCreate, VariantIn
from patron.web.app import create_app

SETTINGS = load_settings(environment="test")
SAMPLE_ROW = re.compile(r'<tr><td><a href="/customers/(\d+)">')


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def marketer(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with make.browser(app, sessions, "marketer", email="marketer@example.com") as browser:
        yield browser


@pytest.fixture
def installed(sessions: sessionmaker[Session]) -> None:
    """The shipped template library in the store, as ``patron campaign templates`` puts it."""
    with sessions.begin() as session:
        library.install(session, now=utcnow())


def _page(browser: TestClient, path: str, **params: str) -> str:
    response = browser.get(path, params=params) if params else browser.get(path)
    assert response.status_code == 200, response.text
    return htmllib.unescape(response.text)


def _between(html: str, start: str, end: str = "</section>") -> str:
    assert start in html, start
    return html.split(start, 1)[1].split(end, 1)[0]


def _post(browser: TestClient, path: str, **form: str) -> Response:
    """Post a form with the session's CSRF token (read from a page, as a browser has it)."""
    token = make.csrf_token(browser.get("/segments").text)
    return browser.post(path, data={"csrf_token": token, **form}, follow_redirects=False)


def _redirected(response: Response, browser: TestClient) -> tuple[str, str]:
    """Where a form's answer sends the browser, and the page there."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    return location, _page(browser, location)


def _status(sessions: sessionmaker[Session], campaign_id: int) -> str:
    with sessions() as session:
        return session.get_one(Campaign, campaign_id).status


def _campaigns(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Campaign)) or 0


def _template(sessions: sessionmaker[Session], key: str) -> dict[str, Any]:
    with sessions() as session:
        row = session.scalars(select(MessageTemplate).where(MessageTemplate.key == key)).one()
        return {
            "name": row.name,
            "subjects": dict(row.subjects),
            "bodies": dict(row.bodies),
            "updated_at": row.updated_at,
        }


def _actions(page: str) -> list[str]:
    """The buttons a campaign's page offers, in order."""
    return re.findall(r'data-action="(\w+)"', _between(page, 'data-testid="actions"', "</div>"))


def _stripped(texts: dict[str, str]) -> dict[str, str]:
    return {language: text.strip() for language, text in texts.items()}


# --- segments --------------------------------------------------------------------------------


def test_a_segment_shows_its_live_count_and_sample_or_where_it_is_wrong(
    marketer: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        wanted = []
        for i in range(12):  # Norwegian: 8 agreed to e-mail, one of them took it back since
            person = make.customer(session, language="nb", country="Norway")
            if i % 3:
                make.consent(session, person, recorded_at=make.at(1))
                if i == 1:
                    make.consent(session, person, granted=False, recorded_at=make.at(2))
                else:
                    wanted.append(person.id)
        for _ in range(4):  # German, all agreed: outside the segment
            make.consent(session, make.customer(session, language="de"), recorded_at=make.at(1))
    assert len(wanted) == 7

    form = _page(marketer, "/segments")
    assert 'data-testid="segment-form"' in form
    assert re.search(r'<textarea id="segment-text" name="q"[^>]*></textarea>', form)
    assert 'data-testid="segment-result"' not in form
    assert 'data-testid="segment-error"' not in form
    assert "<code>consent.email</code>" in form  # the fields a segment may name
    assert "<code>p_alive</code>" in form

    q = 'language = "nb" and consent.email'
    page = _page(marketer, "/segments", q=q)
    assert f"{q}</textarea>" in page  # the text stays in the form
    result = _between(page, 'data-testid="segment-result"')
    assert _between(result, 'data-testid="segment-count">', "<") == str(len(wanted))
    assert [int(i) for i in SAMPLE_ROW.findall(result)] == sorted(wanted)
    assert "patron analyze" in result  # no scores yet, and the page says so
    assert 'data-testid="segment-error"' not in page

    nobody = _page(marketer, "/segments", q='language = "sv"')
    assert _between(nobody, 'data-testid="segment-count">', "<") == "0"
    assert SAMPLE_ROW.findall(_between(nobody, 'data-testid="segment-result"')) == []

    wrong = 'country = "Norway" and lang = "nb"'
    page = _page(marketer, "/segments", q=wrong)
    problem = _between(page, 'data-testid="segment-error"')
    assert "column 24: unknown field 'lang'; did you mean language?" in problem
    pointer = _between(problem, '<pre class="pointer">', "</pre>")
    assert pointer == f"{wrong}\n{' ' * 23}^"
    assert wrong[pointer.splitlines()[1].index("^") :].startswith("lang ")
    assert 'data-testid="segment-result"' not in page


# --- templates -------------------------------------------------------------------------------


def test_the_library_is_listed_and_a_template_shown_with_a_preview(
    marketer: TestClient, sessions: sessionmaker[Session]
) -> None:
    empty = _page(marketer, "/templates")
    assert "patron campaign templates" in empty
    assert "data-template=" not in empty
    with sessions.begin() as session:
        library.install(session, now=utcnow())
        make.customer(session, external_id="NORA", name="Nora Lie", language="nb")

    listed = _page(marketer, "/templates")
    shipped = library.shipped()
    assert len(shipped) >= 10
    assert re.findall(r'<tr data-template="([^"]+)">', listed) == sorted(t.key for t in shipped)
    for item in shipped:
        row = _between(listed, f'<tr data-template="{item.key}">', "</tr>")
        assert f'<a href="/templates/{item.key}">{item.name}</a>' in row
        assert "shipped" in row
        assert "de, en, nb" in row
        assert ("marketing" if item.purpose == "marketing" else "service") in row

    newsletter = next(t for t in shipped if t.key == "newsletter")
    page = _page(marketer, "/templates/newsletter")
    assert f"<h1>{newsletter.name}</h1>" in page
    form = _between(page, 'data-testid="template-form"', "</form>")
    for language in ("de", "en", "nb"):
        subject = newsletter.template.subjects[language]
        assert f'name="subject_{language}" value="{subject}"' in form
        assert newsletter.template.bodies[language].strip() in form
    assert 'data-testid="preview"' not in page

    preview = _between(
        _page(marketer, "/templates/newsletter", customer="NORA"), 'data-testid="preview"'
    )
    assert f"<h2>Nytt fra {SETTINGS.shop_name}</h2>" in preview  # in the customer's language
    assert "Language: nb" in preview
    unknown = _page(marketer, "/templates/newsletter", customer="NOBODY")
    assert 'data-testid="preview"' not in unknown
    assert "NOBODY" in _between(unknown, '<p class="error" role="alert">', "</p>")
    assert marketer.get("/templates/no-such-template").status_code == 404


def test_saving_a_template_stores_it_and_one_that_cannot_render_is_refused(
    marketer: TestClient, sessions: sessionmaker[Session], installed: None
) -> None:
    before = _template(sessions, "newsletter")
    form = {f"subject_{lang}": s for lang, s in before["subjects"].items()}
    form |= {f"body_{lang}": b for lang, b in before["bodies"].items()}
    changed = form | {
        "name": "Monthly letter",
        "subject_en": "This month at {{ shop.name }}",
        "body_en": "<p>{{ salutation }},</p>\n<p>Our news.</p>",
    }
    location, page = _redirected(_post(marketer, "/templates/newsletter/save", **changed), marketer)
    assert location == "/templates/newsletter?done=saved"
    assert "The template was saved." in _between(page, 'data-testid="done">', "</p>")
    after = _template(sessions, "newsletter")
    assert after["name"] == "Monthly letter"
    # what the form sent, each text without surrounding blanks
    assert after["subjects"] == _stripped(before["subjects"]) | {
        "en": "This month at {{ shop.name }}"
    }
    assert after["bodies"] == _stripped(before["bodies"]) | {
        "en": "<p>{{ salutation }},</p>\n<p>Our news.</p>"
    }
    assert "<h1>Monthly letter</h1>" in page
    listed = _page(marketer, "/templates")
    assert '<a href="/templates/newsletter">Monthly letter</a>' in listed

    broken = changed | {"body_de": "<p>Hallo</p>\n{% if customer %}\n<p>x</p>", "name": "Oops"}
    response = _post(marketer, "/templates/newsletter/save", **broken)
    assert response.status_code == 422
    page = htmllib.unescape(response.text)
    problem = _between(page, 'data-testid="template-error"')
    assert "Not saved" in problem
    assert "Template 'newsletter' line 2: Unexpected end of template" in problem
    # the form keeps what was typed, so it can be corrected
    assert "{% if customer %}\n<p>x</p></textarea>" in page
    assert 'name="name" value="Oops"' in page
    assert _template(sessions, "newsletter") == after  # nothing stored

    forbidden = changed | {"body_nb": "<p>Hei</p>\n<p>{{ salutation.__class__.__mro__ }}</p>"}
    response = _post(marketer, "/templates/newsletter/save", **forbidden)
    assert response.status_code == 422
    problem = _between(htmllib.unescape(response.text), 'data-testid="template-error"')
    assert "Template 'newsletter' (nb): access to attribute '__class__'" in problem
    assert "is unsafe" in problem
    assert _template(sessions, "newsletter") == after

    lonely = changed | {"subject_nb": ""}  # a body without its subject
    response = _post(marketer, "/templates/newsletter/save", **lonely)
    assert response.status_code == 422
    assert "language 'nb' has a subject or a body but not both" in htmllib.unescape(response.text)
    assert _template(sessions, "newsletter") == after


def test_a_misspelt_variable_in_a_body_is_refused(
    marketer: TestClient, sessions: sessionmaker[Session], installed: None
) -> None:
    before = _template(sessions, "newsletter")
    typo = {"subject_en": "News", "body_en": "<p>{{ custmer.name }}</p>"}
    response = _post(marketer, "/templates/newsletter/save", **typo)
    assert response.status_code == 422
    assert "custmer" in _between(htmllib.unescape(response.text), 'data-testid="template-error"')
    assert _template(sessions, "newsletter") == before


# --- campaigns -------------------------------------------------------------------------------


def test_a_one_off_campaign_is_created_from_the_form_and_listed(
    marketer: TestClient, sessions: sessionmaker[Session], installed: None
) -> None:
    listed = _page(marketer, "/campaigns")
    assert "No campaigns yet." in listed
    assert 'data-testid="new-campaign"' in listed
    assert '<option value="newsletter" selected>' in listed

    response = _post(
        marketer,
        "/campaigns/new",
        name="Spring letter",
        template="newsletter",
        segment=' language = "de" ',
        holdout="20",
        window="14",
    )
    location, page = _redirected(response, marketer)
    found = re.fullmatch(r"/campaigns/(\d+)\?done=created", location)
    assert found is not None
    draft = int(found[1])
    with sessions() as session:
        row = session.get_one(Campaign, draft)
        assert (row.name, row.kind, row.status, row.journey) == (
            "Spring letter",
            "one_off",
            "draft",
            None,
        )
        assert row.segment == 'language = "de"'
        assert [(v["name"], v["template"]) for v in row.variants] == [("A", "newsletter")]
        assert row.holdout_share == pytest.approx(0.2)
        assert row.window_days == 14
        assert row.scheduled_at is None
        assert row.created_by == "marketer@example.com"
        assert row.purpose == "marketing"
    assert "The campaign was created." in _between(page, 'data-testid="done">', "</p>")
    assert "<h1>Spring letter</h1>" in page
    assert _between(page, 'data-testid="status">', "<") == "draft"
    assert '<code>language = "de"</code>' in page
    assert 'A: <a href="/templates/newsletter">newsletter</a>' in page
    assert "<dd>20%</dd>" in page
    assert "<dd>14</dd>" in page
    assert _actions(page) == ["schedule", "run", "cancel"]  # what a draft can do

    response = _post(
        marketer,
        "/campaigns/new",
        name="Invitation test",
        template="newsletter",
        template_b="event_invitation",
        at="2030-01-02T09:30",
        invitation="true",
    )
    location, page = _redirected(response, marketer)
    scheduled = int(location.split("/")[2].split("?")[0])
    with sessions() as session:
        row = session.get_one(Campaign, scheduled)
        assert row.status == "scheduled"
        assert row.scheduled_at is not None
        assert row.scheduled_at.astimezone(UTC) == datetime(2030, 1, 2, 9, 30, tzinfo=UTC)
        assert row.journey == "event_invitation"
        assert row.segment is None
        assert row.holdout_share == pytest.approx(0.1)  # the form's defaults
        assert row.window_days == 30
        assert [(v["name"], v["template"]) for v in row.variants] == [
            ("A", "newsletter"),
            ("B", "event_invitation"),
        ]
    assert _between(page, 'data-testid="status">', "<") == "scheduled"
    assert "<code>everyone</code>" in page

    listed = _page(marketer, "/campaigns")
    rows = re.findall(r'<tr data-campaign="(\d+)">', listed)
    assert rows == [str(scheduled), str(draft)]  # the newest first
    spring = _between(listed, f'<tr data-campaign="{draft}">', "</tr>")
    assert f'<a href="/campaigns/{draft}">Spring letter</a>' in spring
    assert "<td>one-off</td>" in spring
    assert "<td>draft</td>" in spring
    invitation = _between(listed, f'<tr data-campaign="{scheduled}">', "</tr>")
    assert "<td>event_invitation</td>" in invitation
    assert "<td>scheduled</td>" in invitation


BAD_CAMPAIGNS = {
    "segment": ({"segment": 'language = "de" and'}, "column 20: the expression ends too early"),
    "template": ({"template": "no-such-template"}, "no template 'no-such-template'"),
    "name": ({"name": "   "}, "name: String should have at least 1 character"),
    "time": ({"at": "next Tuesday"}, "Invalid isoformat string: 'next Tuesday'"),
}


def test_bad_input_for_a_new_campaign_is_refused_and_nothing_is_created(
    marketer: TestClient, sessions: sessionmaker[Session], installed: None
) -> None:
    for case, (form, message) in BAD_CAMPAIGNS.items():
        wanted = {"name": "Broken", "template": "newsletter"} | form
        location, page = _redirected(_post(marketer, "/campaigns/new", **wanted), marketer)
        assert location.startswith("/campaigns?error="), case
        assert message in _between(page, 'data-testid="error">', "</p>"), case
        assert "No campaigns yet." in page
    # a number outside the form's range does not reach the page's code: the request is refused
    response = _post(
        marketer, "/campaigns/new", name="Broken", template="newsletter", holdout="150"
    )
    assert response.status_code == 422
    assert "holdout" in response.text
    assert _campaigns(sessions) == 0


def test_a_journey_is_switched_on_once(
    marketer: TestClient, sessions: sessionmaker[Session], installed: None
) -> None:
    listed = _page(marketer, "/campaigns")
    journeys = re.findall(r'<li data-journey="(\w+)">', listed)
    assert "thank_you" in journeys
    assert "event_invitation" not in journeys  # a one-off's option, not a journey
    assert 'action="/campaigns/journeys/thank_you/enable"' in listed

    location, page = _redirected(_post(marketer, "/campaigns/journeys/thank_you/enable"), marketer)
    found = re.fullmatch(r"/campaigns/(\d+)\?done=enabled", location)
    assert found is not None
    journey = int(found[1])
    with sessions() as session:
        row = session.get_one(Campaign, journey)
        assert (row.kind, row.journey, row.status) == ("journey", "thank_you", "active")
        assert row.created_by == "marketer@example.com"
    assert "The journey is switched on" in _between(page, 'data-testid="done">', "</p>")
    assert _between(page, 'data-testid="status">', "<") == "active"

    listed = _page(marketer, "/campaigns")
    item = _between(listed, '<li data-journey="thank_you">', "</li>")
    assert f'<a href="/campaigns/{journey}">active</a>' in item
    assert "enable" not in item

    location, page = _redirected(_post(marketer, "/campaigns/journeys/thank_you/enable"), marketer)
    assert location.startswith("/campaigns?error=")
    error = _between(page, 'data-testid="error">', "</p>")
    assert f"the journey 'thank_you' is enabled already (campaign {journey})" in error
    for key in ("event_invitation", "no_such_journey"):
        _location, page = _redirected(
            _post(marketer, f"/campaigns/journeys/{key}/enable"), marketer
        )
        assert f"unknown journey '{key}'" in _between(page, 'data-testid="error">', "</p>")
    assert _campaigns(sessions) == 1


def test_a_draft_is_scheduled_from_its_page_in_the_shops_time(
    marketer: TestClient, sessions: sessionmaker[Session], installed: None
) -> None:
    created = _post(marketer, "/campaigns/new", name="Later", template="newsletter")
    campaign_id = int(created.headers["location"].split("/")[2].split("?")[0])
    page = _page(marketer, f"/campaigns/{campaign_id}")
    assert _actions(page) == ["schedule", "run", "cancel"]
    location, page = _redirected(
        _post(marketer, f"/campaigns/{campaign_id}/schedule", at=""), marketer
    )
    assert "say when the campaign should go out" in _between(page, 'data-testid="error">', "</p>")
    assert _status(sessions, campaign_id) == "draft"
    location, page = _redirected(
        _post(marketer, f"/campaigns/{campaign_id}/schedule", at="2030-05-04T08:15"), marketer
    )
    assert location == f"/campaigns/{campaign_id}?done=schedule"
    assert "The campaign is scheduled" in _between(page, 'data-testid="done">', "</p>")
    with sessions() as session:
        row = session.get_one(Campaign, campaign_id)
        assert row.status == "scheduled"
        assert row.scheduled_at is not None
        assert row.scheduled_at.astimezone(UTC) == datetime(2030, 5, 4, 8, 15, tzinfo=UTC)
    assert "schedule" not in _actions(page)  # scheduled: run, pause or cancel
    _post(marketer, f"/campaigns/{campaign_id}/run")
    _post(marketer, f"/campaigns/{campaign_id}/pause")
    page = _page(marketer, f"/campaigns/{campaign_id}")
    assert _actions(page) == ["resume", "cancel"]  # it ran: never scheduled or run again


def test_a_campaign_runs_pauses_resumes_and_cancels_from_its_page(
    marketer: TestClient, sessions: sessionmaker[Session], installed: None
) -> None:
    with sessions.begin() as session:
        for i in range(30):
            person = make.customer(session, language="de" if i % 2 else "en")
            if i % 3:
                make.consent(session, person, recorded_at=make.at(1))
    created = _post(
        marketer,
        "/campaigns/new",
        name="Autumn",
        template="newsletter",
        holdout="40",
        at=(utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
    )
    campaign_id = int(created.headers["location"].split("/")[2].split("?")[0])
    assert _status(sessions, campaign_id) == "scheduled"
    steps = [
        ("resume", None, "scheduled", "campaign {id} is scheduled; it cannot be resumed"),
        ("pause", "The campaign is paused", "paused", None),
        ("pause", None, "paused", "campaign {id} is paused; it cannot be paused"),
        ("run", None, "paused", "campaign {id} is paused; it does not run"),
        ("resume", "The campaign is resumed", "scheduled", None),
        ("run", "The campaign ran", "done", None),
        ("resume", None, "done", "campaign {id} is done; it cannot be resumed"),
    ]
    for action, done, status, error in steps:
        location, page = _redirected(
            _post(marketer, f"/campaigns/{campaign_id}/{action}"), marketer
        )
        assert _status(sessions, campaign_id) == status, action
        assert _between(page, 'data-testid="status">', "<") == status
        if done is not None:
            assert location == f"/campaigns/{campaign_id}?done={action}"
            assert done in _between(page, 'data-testid="done">', "</p>")
            assert 'data-testid="error"' not in page
        else:
            assert error is not None
            assert location.startswith(f"/campaigns/{campaign_id}?error=")
            assert error.format(id=campaign_id) in _between(page, 'data-testid="error">', "</p>")

    with sessions() as session:
        groups = Counter(
            session.scalars(
                select(CampaignMember.group).where(CampaignMember.campaign_id == campaign_id)
            )
        )
        statuses = Counter(
            session.scalars(select(Message.status).where(Message.campaign_id == campaign_id))
        )
        recipients = set(
            session.scalars(select(Message.recipient).where(Message.campaign_id == campaign_id))
        )
    assert groups["A"] > 0
    assert groups["holdout"] > 0
    assert sum(statuses.values()) == groups["A"]

    page = _page(marketer, f"/campaigns/{campaign_id}")
    counts = _between(page, 'data-testid="counts"', "</dl>")
    assert f"<dt>Members</dt><dd>{groups.total()}</dd>" in counts
    assert f'<dd data-count="group:A">{groups["A"]}</dd>' in counts
    assert f'<dd data-count="group:holdout">{groups["holdout"]}</dd>' in counts
    for status, n in statuses.items():
        assert f'<dd data-count="{status}">{n}</dd>' in counts
    shown = re.findall(
        r'<a href="/customers/\d+">([^<]+)</a>', _between(page, 'data-testid="messages"')
    )
    assert len(shown) == min(20, groups["A"])
    assert set(shown) <= recipients
    assert _actions(page) == ["pause", "cancel"]  # what it can still do once it ran

    listed = _page(marketer, "/campaigns")
    row = _between(listed, f'<tr data-campaign="{campaign_id}">', "</tr>")
    figures = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert figures == [
        str(groups.total()),
        str(groups["holdout"]),
        str(statuses.get("sent", 0)),
        str(statuses.get("queued", 0)),
    ]

    location, page = _redirected(_post(marketer, f"/campaigns/{campaign_id}/cancel"), marketer)
    assert location == f"/campaigns/{campaign_id}?done=cancel"
    assert _status(sessions, campaign_id) == "cancelled"
    with sessions() as session:
        left = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.campaign_id == campaign_id, Message.status == "queued")
        )
    assert left == 0
    assert 'data-testid="actions"' not in page  # nothing left to do

    assert _post(marketer, f"/campaigns/{campaign_id}/explode").status_code == 404
    assert (
        _post(marketer, "/campaigns/999999/pause")
        .headers["location"]
        .startswith("/campaigns/999999?error=")
    )
    assert marketer.get("/campaigns/999999").status_code == 404


# --- the customer 360 ------------------------------------------------------------------------


def test_the_360_shows_the_next_best_action_and_the_newest_messages(
    app: FastAPI, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    now = utcnow()
    with sessions.begin() as session:
        fading = make.customer(session, external_id="FADE", language="de")
        make.consent(session, fading, recorded_at=make.at(1))
        quiet = make.customer(session, external_id="QUIET")  # no consent at all
        campaign = Campaign(
            key="letter",
            name="Letter",
            kind="one_off",
            status="done",
            variants=[{"name": "A", "template": "newsletter"}],
            created_at=now,
            updated_at=now,
        )
        session.add(campaign)
        session.flush()
        for n in range(7):
            session.add(
                Message(
                    key=f"m{n}",
                    campaign_id=campaign.id if n % 2 else None,
                    customer_id=fading.id,
                    channel="email",
                    purpose="marketing",
                    language="de",
                    recipient=fading.email,
                    subject=f"Letter number {n}",
                    html="h",
                    text="t",
                    status="sent" if n < 6 else "queued",
                    attempts=1,
                    send_after=now - timedelta(days=10 - n),
                    sent_at=now - timedelta(days=10 - n) if n < 6 else None,
                )
            )
        ids = {"FADE": fading.id, "QUIET": quiet.id}
        campaign_id = campaign.id
    snapshot(engine, {ids["FADE"]: {"abc": "A", "p_alive": 0.2, "lifecycle_phase": "commitment"}})
    with sessions() as session:
        expected = {key: actions.for_customer(session, i) for key, i in ids.items()}
    assert expected["FADE"].code == "personal_call"
    assert expected["QUIET"].code == "none"

    with make.browser(app, sessions, "account_manager") as manager:
        page = _page(manager, "/customers/FADE")
        section = _between(page, 'data-section="engagement"')
        action = _between(section, 'data-testid="next-best-action"', "</p>")
        assert f'data-action="{expected["FADE"].code}"' in action
        assert f"<strong>{expected['FADE'].label}</strong> — {expected['FADE'].reason}" in action
        subjects = re.findall(
            r"Letter number (\d)", _between(section, 'data-testid="customer-messages"')
        )
        assert subjects == ["6", "5", "4", "3", "2"]  # the newest five, newest first
        rows = re.findall(r"<tr>(.*?)</tr>", _between(section, "<tbody>", "</tbody>"), re.S)
        assert f'<a href="/campaigns/{campaign_id}">Letter number 5</a>' in rows[1]
        assert "<td>Letter number 4</td>" in rows[2]  # no campaign: no link
        assert "<td>queued</td>" in rows[0]
        assert "<td>sent</td>" in rows[1]

        quiet_page = _page(manager, "/customers/QUIET")
        section = _between(quiet_page, 'data-section="engagement"')
        assert 'data-action="none"' in section
        assert expected["QUIET"].reason in section
        assert "No messages yet." in section

    with make.browser(app, sessions, "service_agent") as agent:  # no campaigns:read
        page = _page(agent, "/customers/FADE")
        assert 'data-section="engagement"' not in page
        assert "Letter number" not in page


# --- who may, and in which language ----------------------------------------------------------


def test_without_campaigns_write_nothing_can_be_posted(
    app: FastAPI, sessions: sessionmaker[Session], installed: None
) -> None:
    with sessions() as session:
        request = CampaignCreate(name="Kept", variants=[VariantIn(template="newsletter")])
        campaign_id = campaigns.create(session, request, actor="t", now=utcnow()).id
    before = _template(sessions, "newsletter")
    with make.browser(app, sessions, "analyst") as analyst:
        listed = _page(analyst, "/campaigns")
        assert 'data-testid="new-campaign"' not in listed
        assert "/enable" not in listed
        page = _page(analyst, f"/campaigns/{campaign_id}")
        assert 'data-testid="actions"' not in page
        assert 'type="submit" class="button primary">Save' not in _page(
            analyst, "/templates/newsletter"
        )
        for path, form in (
            ("/campaigns/new", {"name": "Sneaky", "template": "newsletter"}),
            (f"/campaigns/{campaign_id}/cancel", {}),
            ("/campaigns/journeys/thank_you/enable", {}),
            ("/templates/newsletter/save", {"name": "Sneaky", "subject_en": "x", "body_en": "x"}),
        ):
            response = _post(analyst, path, **form)
            assert response.status_code == 403, path
            assert 'data-error-code="auth.forbidden"' in response.text
    assert _campaigns(sessions) == 1
    assert _status(sessions, campaign_id) == "draft"
    assert _template(sessions, "newsletter") == before

    with make.browser(app, sessions, "service_agent") as agent:  # not even campaigns:read
        for path in ("/segments", "/templates", "/campaigns", f"/campaigns/{campaign_id}"):
            assert agent.get(path).status_code == 403, path


def test_in_german_for_a_german_user(
    app: FastAPI, sessions: sessionmaker[Session], installed: None
) -> None:
    with sessions.begin() as session:
        for _ in range(3):
            make.customer(session, language="nb")
    with make.browser(app, sessions, "marketer", language="de") as browser:
        page = _page(browser, "/segments", q='language = "nb"')
        assert "<h1>Segmente</h1>" in page
        assert '<span data-testid="segment-count">3</span> Kunden' in page
        assert "Zählen" in page
        wrong = _page(browser, "/segments", q="language =")
        assert "Das Segment enthält einen Fehler" in wrong
        listed = _page(browser, "/campaigns")
        assert "<h1>Kampagnen</h1>" in listed
        assert "Neue Kampagne" in listed
        assert "New campaign" not in listed
        assert "Segments" not in page


# --- navigation --------------------------------------------------------------------------------


def test_the_area_is_marked_in_the_navigation_and_its_tabs(
    marketer: TestClient, installed: None
) -> None:
    tabs = ("/campaigns", "/segments", "/templates", "/experiments")
    for path in tabs:
        page = _page(marketer, path)
        nav = _between(page, '<nav class="mainnav"', "</nav>")
        assert re.findall(r'href="([^"]+)" aria-current="page"', nav) == ["/campaigns"], path
        marked = re.findall(
            r'<a href="([^"]+)" aria-current="page">',
            _between(page, 'data-testid="engage-tabs"', "</nav>"),
        )
        assert marked == [path]
        assert re.findall(
            r'<a href="(/\w+)"', _between(page, 'data-testid="engage-tabs"', "</nav>")
        ) == list(tabs)
    page = _page(marketer, "/templates/newsletter")  # a page within the area, without tabs
    nav = _between(page, '<nav class="mainnav"', "</nav>")
    assert re.findall(r'href="([^"]+)" aria-current="page"', nav) == ["/campaigns"]
