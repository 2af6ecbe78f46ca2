"""Signing in to the portal (SQLite and PostgreSQL): the link goes out by real SMTP (aiosmtpd),
works once and for a few minutes, is not used up by a mail scanner's GET; an unknown address
gets the same answer; the rate limit; the cookie's scope; staff and portal never share a
sign-in; CSRF; sign-out; an erased person's session stops working."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from engage.smtp_sink import running_sink
from patron.config import Settings
from patron.customers.models import Customer
from patron.db import utcnow
from patron.engage import sending
from patron.engage.models import Message
from patron.portal import access
from patron.portal.models import PortalLink, PortalSession
from patron.web.app import create_app
from portal.conftest import PHONE, form_token, portal_settings, sign_in

LINK = re.compile(r"https://shop\.example(/portal/sign-in/[A-Za-z0-9_-]+)")


def _customer(sessions: sessionmaker[Session], **fields: str) -> int:
    with sessions() as session:
        found = make.customer(session, **fields).id
        session.commit()
        return found


def _ask(client: TestClient, email: str) -> str:
    page = client.get("/portal/sign-in")
    assert page.status_code == 200
    answer = client.post(
        "/portal/sign-in", data={"csrf_token": form_token(page.text), "email": email}
    )
    assert answer.status_code == 200
    return answer.text


def _links(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(PortalLink)) or 0


def test_the_link_arrives_by_email_and_signs_in_once(
    engine: Engine, sessions: sessionmaker[Session], database_url: str
) -> None:
    _customer(sessions, external_id="ANNA", name="Anna Berg", email="anna@example.org")
    with running_sink() as sink:
        chosen = portal_settings(
            database_url, smtp_host=sink.host, smtp_port=sink.port, smtp_security="none"
        )
        app = create_app(chosen, engine=engine)
        with TestClient(app, headers=PHONE) as phone:
            answer = _ask(phone, "Anna@Example.org")  # the address in any case
            assert "Check your inbox" in answer
            assert "/portal/sign-in/" not in answer  # not outside the demo
            run = sending.send_due(sessions, chosen, now_fn=utcnow)
            assert run.counts()["sent"] == 1
            [mail] = sink.all()
            assert mail.rcpt_tos == ("anna@example.org",)
            assert str(mail.message["Subject"]) == "Your sign-in link for Fjord & Co"
            body = mail.message.get_body(preferencelist=("html",))
            assert body is not None
            found = LINK.search(html.unescape(body.get_content()))
            assert found, "the e-mail carries the link"
            path = found[1]
            # a mail scanner fetches the link: nothing is used up
            scanner = TestClient(app)
            assert scanner.get(path).status_code == 200
            page = phone.get(path)
            assert 'data-page="link-valid"' in page.text
            signed = phone.post(
                path, data={"csrf_token": form_token(page.text)}, follow_redirects=False
            )
            assert signed.status_code == 303
            assert signed.headers["location"] == "/portal"
            cookie = signed.headers["set-cookie"]
            assert cookie.startswith("patron_portal=")
            assert "HttpOnly" in cookie
            assert "Path=/portal" in cookie
            assert "samesite=lax" in cookie.lower()
            assert "Hallo Anna" not in phone.get("/portal").text  # no language: English
            assert "Hello Anna" in phone.get("/portal").text
            # the same link again: used
            other = TestClient(app, headers=PHONE)
            again = other.get(path)
            assert again.status_code == 410
            assert 'data-page="link-used"' in again.text
            reused = other.post(path, data={"csrf_token": form_token(again.text)})
            assert 'data-page="link-used"' in reused.text
            assert other.get("/portal", follow_redirects=False).status_code == 303


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    phone: TestClient, sessions: sessionmaker[Session]
) -> None:
    _customer(sessions, email="anna@example.org")
    known = _ask(phone, "anna@example.org")
    unknown = _ask(phone, "nobody@example.org")
    assert known.replace("anna@example.org", "X") == unknown.replace("nobody@example.org", "X")
    assert _links(sessions) == 1


def test_three_links_per_quarter_hour_then_silence(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    customer = _customer(sessions, email="anna@example.org")
    answers = [_ask(phone, "anna@example.org") for _ in range(5)]
    assert len(set(answers)) == 1  # the limit is not told apart either
    assert _links(sessions) == 3
    with sessions() as session:
        session.execute(update(PortalLink).values(created_at=utcnow() - timedelta(minutes=16)))
        session.commit()
        asked = access.ask_for_link(
            session, email="anna@example.org", settings=settings, now=utcnow()
        )
    assert asked.reason == "sent"
    assert _links(sessions) == 4
    with sessions() as session:
        assert {c for (c,) in session.execute(select(PortalLink.customer_id))} == {customer}


def test_an_expired_link_offers_a_new_one(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _customer(sessions, email="anna@example.org")
    with sessions() as session:
        asked = access.ask_for_link(
            session,
            email="anna@example.org",
            settings=settings,
            now=utcnow() - timedelta(minutes=settings.portal_link_minutes, seconds=1),
        )
    assert asked.url
    path = asked.url.removeprefix("https://shop.example")
    page = phone.get(path)
    assert page.status_code == 410
    assert 'data-page="link-expired"' in page.text
    assert 'action="/portal/sign-in"' in page.text  # a form for a new link
    assert phone.post(path, data={"csrf_token": form_token(page.text)}).status_code == 410
    assert phone.get("/portal/sign-in/not-a-token").status_code == 404


def test_in_the_demo_the_page_shows_the_link(
    engine: Engine, sessions: sessionmaker[Session], database_url: str
) -> None:
    _customer(sessions, email="anna@example.org")
    app = create_app(portal_settings(database_url, environment="demo"), engine=engine)
    with TestClient(app, headers=PHONE) as phone:
        answer = _ask(phone, "anna@example.org")
        assert "data-demo-link" in answer
        assert "Demo:" in answer
        path = LINK.search(answer)
        assert path
        page = phone.get(path[1])
        phone.post(path[1], data={"csrf_token": form_token(page.text)})
        assert phone.get("/portal", follow_redirects=False).status_code == 200
        # an unknown address shows no link, even in the demo
        assert "data-demo-link" not in _ask(phone, "nobody@example.org")


def test_forms_without_the_token_are_refused(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _customer(sessions, email="anna@example.org")
    refused = phone.post("/portal/sign-in", data={"email": "anna@example.org"})
    assert refused.status_code == 403
    assert 'data-error-code="auth.csrf"' in refused.text
    assert _links(sessions) == 0
    sign_in(phone, sessions, settings, "anna@example.org")
    for path, data in (
        ("/portal/data/consents/email", {"granted": "1"}),
        ("/portal/data/erasure", {"confirm": "yes"}),
        ("/portal/sign-out", {}),
        ("/portal/data/consents/email", {"granted": "1", "csrf_token": "forged"}),
    ):
        answer = phone.post(path, data=data)
        assert answer.status_code == 403, path
    # from another site, even with the token
    token = form_token(phone.get("/portal/data").text)
    other_site = phone.post(
        "/portal/data/consents/email",
        data={"granted": "1", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PortalSession)) == 1
    assert 'data-granted="no"' in phone.get("/portal/data").text


def test_staff_and_portal_never_share_a_sign_in(
    app: FastAPI, phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _customer(sessions, email="anna@example.org")
    staff = make.browser(app, sessions, "admin")
    # a staff sign-in is no portal sign-in
    assert staff.get("/portal", follow_redirects=False).status_code == 303
    # and the portal's cookie is no staff sign-in, nor sent outside /portal
    sign_in(phone, sessions, settings, "anna@example.org")
    cookie = next(c for c in phone.cookies.jar if c.name == "patron_portal")
    assert cookie.path == "/portal"
    overview = phone.get("/overview", follow_redirects=False)
    assert overview.status_code == 303
    assert overview.headers["location"].startswith("/sign-in")
    staff.close()


def test_sign_out_ends_the_session(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _customer(sessions, email="anna@example.org")
    sign_in(phone, sessions, settings, "anna@example.org")
    cookie = phone.cookies.get("patron_portal")
    token = form_token(phone.get("/portal").text)
    out = phone.post("/portal/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/portal/sign-in?out=1"
    assert 'data-page="sign-in"' in phone.get(out.headers["location"]).text
    phone.cookies.set("patron_portal", cookie or "", path="/portal")  # the old cookie, kept
    assert phone.get("/portal", follow_redirects=False).status_code == 303


def test_an_erased_persons_session_stops_working(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    customer = _customer(sessions, email="anna@example.org")
    sign_in(phone, sessions, settings, "anna@example.org")
    assert phone.get("/portal", follow_redirects=False).status_code == 200
    with sessions() as session:
        session.execute(update(Customer).where(Customer.id == customer).values(erased_at=utcnow()))
        session.commit()
    gone = phone.get("/portal", follow_redirects=False)
    assert gone.status_code == 303
    assert gone.headers["location"] == "/portal/sign-in"
    with sessions() as session:  # and an erased person gets no new link
        asked = access.ask_for_link(
            session, email="anna@example.org", settings=settings, now=utcnow()
        )
    assert asked.reason == "unknown"


def test_the_stylesheet_is_served_without_sign_in(phone: TestClient) -> None:
    css = phone.get("/portal/portal.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "--brand" in css.text


def test_no_link_goes_to_a_customer_whose_number_is_another_customers_id(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """Anna has no external id; the shop's customer "1"… is Ben. A link for Anna addressed as
    "1" would reach Ben's mailbox and let him into Anna's account: none is sent."""
    with sessions() as session:
        anna = make.customer(session, external_id=None, email="anna@example.org").id
        session.commit()
    _customer(sessions, external_id=str(anna), email="ben@example.org")
    with sessions() as session:
        asked = access.ask_for_link(
            session, email="anna@example.org", settings=settings, now=utcnow()
        )
        sent = session.scalar(select(func.count()).select_from(Message))
    assert asked.reason == "unreachable"
    assert asked.url is None
    assert sent == 0
