"""The customers' own pages, through the whole web app (SQLite and PostgreSQL): unsubscribe with
its RFC 8058 one-click POST, the double opt-in link, and the open and click tracking links."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import Settings, load_settings
from patron.customers import service as customers
from patron.customers.models import Consent, Interaction
from patron.db import utcnow
from patron.engage import consent, links, public
from patron.engage.messages import Outgoing, enqueue
from patron.engage.models import Message
from patron.outbox.models import OutboxEvent
from patron.web.app import create_app

SECRET = "a-test-secret-of-more-than-thirty-two-characters"
BROWSER = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        environment="test",
        secret_key=SECRET,
        shop_name="Fjord & Co",
        public_url="https://shop.example",
        language="en",
    )


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    return create_app(settings, engine=engine)


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers=BROWSER) as client:
        yield client


def _customer(sessions: sessionmaker[Session], **fields: Any) -> int:
    """A customer who agreed to e-mail marketing, with a queued newsletter."""
    with sessions.begin() as session:
        customer = make.customer(session, **fields)
        make.consent(session, customer, channel="email", purpose="marketing", granted=True)
        item = Outgoing(
            key=f"news:{customer.id}",
            customer_id=customer.id,
            channel="email",
            purpose="marketing",
            language="de",
            recipient=customer.email or "",
            subject="Neu",
            html="<p>Neu</p>",
            text="Neu\n",
            send_after=utcnow(),
        )
        enqueue(session, [item], now=utcnow())
        return customer.id


def _marketing_email(sessions: sessionmaker[Session], customer_id: int) -> bool | None:
    with sessions() as session:
        for state in customers.consent_state(session, customer_id=customer_id):
            if (state.channel, state.purpose) == ("email", "marketing"):
                return state.granted
    return None


def _withdrawals(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(Consent).where(Consent.granted.is_(False))
        return int(session.scalar(query) or 0)


def _news_status(sessions: sessionmaker[Session], customer_id: int) -> str:
    with sessions() as session:
        return session.scalars(
            select(Message.status).where(Message.key == f"news:{customer_id}")
        ).one()


def _text(page: str) -> str:
    return html.unescape(page)


def test_the_unsubscribe_page_asks_in_the_customers_language_and_changes_nothing(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    greta = _customer(sessions, email="Greta@Example.org", language="de")
    ola = _customer(sessions, email="ola@example.no", language="nb")
    page = browser.get(f"/u/{links.unsubscribe_token(SECRET, greta, 'email')}")
    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert "greta@example.org von den E-Mail-Newslettern von Fjord & Co abmelden?" in _text(
        page.text
    )
    assert 'method="post"' in page.text
    assert 'name="viewport"' in page.text  # phone-friendly
    assert page.headers["cache-control"].startswith("no-store")
    norwegian = browser.get(f"/u/{links.unsubscribe_token(SECRET, ola, 'email')}")
    assert "Vil du melde ola@example.no av nyhetsbrevene fra Fjord & Co via e-post?" in _text(
        norwegian.text
    )
    # a mail scanner that follows the link unsubscribes nobody
    assert _marketing_email(sessions, greta) is True
    assert _news_status(sessions, greta) == "queued"


def test_the_button_unsubscribes_at_once_and_a_second_time_changes_nothing(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    greta = _customer(sessions, email="greta@example.org", language="de")
    url = f"/u/{links.unsubscribe_token(SECRET, greta, 'email')}"
    done = browser.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "Sie sind abgemeldet" in done.text
    assert 'data-page="unsubscribed"' in done.text
    assert _marketing_email(sessions, greta) is False
    assert _news_status(sessions, greta) == "cancelled"
    again = browser.post(url)
    assert again.status_code == 200
    assert "bereits" in again.text
    assert _withdrawals(sessions) == 1
    asked_again = browser.get(url)
    assert 'method="post"' not in asked_again.text  # nothing left to do
    assert "bereits" in asked_again.text


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_one_click_post_without_cookies_or_csrf_token_unsubscribes(
    app: FastAPI, sessions: sessionmaker[Session], encoding: str
) -> None:
    """RFC 8058: the mail provider POSTs ``List-Unsubscribe=One-Click`` to the header's URL,
    with no cookies, no CSRF token, no Origin of ours, not asking for HTML."""
    anna = _customer(sessions, email="anna@example.org", language="en")
    url = f"/u/{links.unsubscribe_token(SECRET, anna, 'email')}"
    with TestClient(app, headers={"Accept": "*/*", "Origin": "https://mail.example"}) as provider:
        if encoding == "urlencoded":
            response = provider.post(url, data={"List-Unsubscribe": "One-Click"})
        else:
            response = provider.post(url, files={"List-Unsubscribe": (None, "One-Click")})
        assert not provider.cookies
    assert response.status_code == 200, response.text
    assert _marketing_email(sessions, anna) is False
    assert _news_status(sessions, anna) == "cancelled"
    with sessions() as session:
        source = session.scalars(select(Consent.source).where(Consent.granted.is_(False))).one()
    assert source == "unsubscribe_link"


def test_a_tampered_unsubscribe_link_is_a_clear_404(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    anna = _customer(sessions, email="anna@example.org")
    token = links.unsubscribe_token(SECRET, anna, "email")
    for method in ("GET", "POST"):
        response = browser.request(method, f"/u/{token[:-3]}abc")
        assert response.status_code == 404
        assert "This link does not work" in response.text
        assert 'data-error-code="engage.bad_link"' in response.text
    german = browser.get("/u/nonsense", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert "Dieser Link funktioniert nicht" in german.text
    assert _marketing_email(sessions, anna) is True


def test_the_opt_in_link_confirms_and_thanks(
    browser: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions.begin() as session:
        ola = make.customer(session, language="nb").id
    with sessions() as session:
        token = consent.request_opt_in(
            session, customer_id=ola, source="form", settings=settings, now=utcnow()
        )
    page = browser.get(f"/optin/{token}")
    assert page.status_code == 200
    assert "Takk!" in page.text
    assert "Du har bekreftet at Fjord & Co kan sende deg nyheter og tilbud via e-post." in _text(
        page.text
    )
    assert _marketing_email(sessions, ola) is True
    again = browser.get(f"/optin/{token}")
    assert again.status_code == 200
    assert 'data-page="optin-already"' in again.text
    unknown = browser.get(f"/optin/{token[:-4]}")
    assert unknown.status_code == 404
    assert 'data-error-code="consent.optin_unknown"' in unknown.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 1


def test_an_expired_opt_in_link_says_so(
    browser: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions.begin() as session:
        anna = make.customer(session).id
    with sessions() as session:
        token = consent.request_opt_in(
            session,
            customer_id=anna,
            source="form",
            settings=settings,
            now=utcnow() - consent.OPT_IN_VALID,
        )
    page = browser.get(f"/optin/{token}")
    assert page.status_code == 410
    assert "This link has expired" in page.text
    assert _marketing_email(sessions, anna) is None


def _sent(sessions: sessionmaker[Session], customer_id: int) -> int:
    with sessions.begin() as session:
        message = session.scalars(select(Message).where(Message.customer_id == customer_id)).one()
        message.status = "sent"
        return message.id


def test_the_open_pixel_is_an_uncached_transparent_gif_and_records_the_open(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    anna = _customer(sessions, email="anna@example.org")
    message_id = _sent(sessions, anna)
    url = links.open_url("", SECRET, message_id)
    for _ in range(2):
        response = browser.get(url, headers={"Accept": "image/*"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
        gif = response.content
        assert gif[:6] == b"GIF89a"
        assert (gif[6:8], gif[8:10]) == (b"\x01\x00", b"\x01\x00")  # 1 × 1
        extension = gif.index(b"!\xf9\x04")
        assert gif[extension + 3] & 1  # the graphic control extension's transparency flag
    with sessions() as session:
        assert session.get_one(Message, message_id).opened_at is not None
        kinds = list(session.scalars(select(Interaction.kind)))
    assert kinds == ["email_open"]


def test_a_bad_pixel_token_still_answers_the_gif_and_records_nothing(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    anna = _customer(sessions, email="anna@example.org")
    message_id = _sent(sessions, anna)
    token = links.open_url("", SECRET, message_id).removeprefix("/t/o/").removesuffix(".gif")
    bad = [
        links.open_url("", "another-secret", message_id),  # made with another key
        f"/t/o/{'A' if token[0] != 'A' else 'B'}{token[1:]}.gif",  # edited
        f"/t/o/{token[:3]}.gif",  # cut short
        links.click_url("", SECRET, message_id, "https://shop.example/").replace("/t/c/", "/t/o/")
        + ".gif",  # a click link's token
    ]
    for url in bad:
        response = browser.get(url, headers={"Accept": "image/*"})
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
        assert response.content == public.PIXEL
    with sessions() as session:
        assert session.get_one(Message, message_id).opened_at is None
        assert list(session.scalars(select(Interaction.kind))) == []
        assert "message.opened" not in set(session.scalars(select(OutboxEvent.topic)))


def test_a_tracked_link_records_the_click_and_redirects_with_303(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    anna = _customer(sessions, email="anna@example.org")
    message_id = _sent(sessions, anna)
    target = "https://shop.example/tea?utm_campaign=news&x=1"
    response = browser.get(links.click_url("", SECRET, message_id, target), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == target
    with sessions() as session:
        message = session.get_one(Message, message_id)
        assert message.clicked_at is not None
        assert message.opened_at is not None
    forged = links.click_url("", "another-secret", message_id, "https://evil.example/")
    refused = browser.get(forged, follow_redirects=False)
    assert refused.status_code == 404
    assert "location" not in refused.headers
