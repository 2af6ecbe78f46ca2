"""Open and click tracking end to end: a marketing e-mail that ``send_due`` sends to a real SMTP
server carries tracked links and the open pixel, and following them through the app records
the click and the open on that message. Transactional e-mails, and every e-mail while
``track_messages`` is off, go out as the template rendered them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from engage.smtp_sink import Received, Sink, running_sink
from patron.config import Settings, load_settings
from patron.customers.models import Interaction
from patron.engage import links, messages, sending
from patron.engage.models import Message
from patron.outbox.models import OutboxEvent
from patron.web.app import create_app

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "the signing key of the tracking tests, long enough"
PUBLIC = "https://patron.shop.example"
TEA = "https://shop.example/tea?utm_source=news&x=1"  # written &amp; in the HTML
COFFEE = "http://shop.example/kaffee"
TEXT = f"Hallo Anna,\n\nTee ({TEA}) und Kaffee ({COFFEE})\n"


def body(unsubscribe: str) -> str:
    return (
        "<html><head><title>Neu</title></head><body>\n"
        "<p>Hallo Anna,</p>\n"
        '<p><a href="https://shop.example/tea?utm_source=news&amp;x=1">Tee</a> und '
        f"<a class='big' href='{COFFEE}'>Kaffee</a>,\n"
        '<a href="mailto:service@shop.example">Fragen?</a> <a href="#oben">nach oben</a></p>\n'
        f'<p style="font-size:12px"><a href="{unsubscribe}">abmelden</a></p>\n'
        "</body></html>\n"
    )


class _Tags(HTMLParser):
    """The <a> targets and <img> attributes of an HTML part, read with the standard parser."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        elif tag == "img":
            self.images.append(dict(attrs))


def tags(html: str) -> _Tags:
    found = _Tags()
    found.feed(html)
    found.close()
    return found


def parts(received: Received) -> tuple[str, str]:
    """The plain-text and HTML parts as the recipient reads them."""
    mail = received.message
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    return (
        str(plain.get_content()).replace("\r\n", "\n"),
        str(html.get_content()).replace("\r\n", "\n"),
    )


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as sink:
        yield sink


def settings_for(database_url: str, sink: Sink, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "secret_key": SECRET,
        "public_url": PUBLIC,
        "email_from": "Shop <shop@shop.example>",
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_security": "none",
    }
    return load_settings(**(values | more))


@pytest.fixture
def settings(database_url: str, sink: Sink) -> Settings:
    return settings_for(database_url, sink)


@pytest.fixture
def browser(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


def queue(sessions: sessionmaker[Session], *, purpose: str = "marketing") -> tuple[int, str]:
    """A customer with e-mail marketing consent and one message queued to them: its id and
    the HTML stored with it."""
    with sessions.begin() as session:
        anna = make.customer(session, email="anna@example.org")
        make.consent(session, anna, granted=True, recorded_at=T0 - timedelta(days=30))
        html = body(links.unsubscribe_url(PUBLIC, SECRET, anna.id, "email"))
        outgoing = messages.Outgoing(
            key=f"news:{anna.id}" if purpose == "marketing" else f"order:{anna.id}",
            customer_id=anna.id,
            channel="email",
            purpose=purpose,
            language="de",
            recipient="anna@example.org",
            subject="Neu im Laden",
            html=html,
            text=TEXT,
            send_after=T0,
            campaign_id=None,
        )
        [made] = messages.enqueue(session, [outgoing], now=T0 - timedelta(hours=1))
    return made, html


def send(sessions: sessionmaker[Session], settings: Settings) -> None:
    assert sending.send_due(sessions, settings, now_fn=lambda: T0).sent == 1


def stored(sessions: sessionmaker[Session], message_id: int) -> Message:
    with sessions() as session:
        return session.get_one(Message, message_id)


def topics(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))


def interactions(sessions: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with sessions() as session:
        query = select(Interaction.kind, Interaction.note).order_by(Interaction.id)
        return [(kind, note) for kind, note in session.execute(query)]


# --- what the e-mail carries -------------------------------------------------------------------


def test_a_marketing_email_has_its_web_links_tracked_and_the_open_pixel(
    sessions: sessionmaker[Session], sink: Sink, settings: Settings
) -> None:
    made, html = queue(sessions)
    send(sessions, settings)
    [received] = sink.all()
    plain, sent_html = parts(received)
    found = tags(sent_html)
    unsubscribe = tags(html).hrefs[-1]
    assert unsubscribe.startswith(f"{PUBLIC}/u/")
    tea, coffee, mail, top, unsubscribed = found.hrefs
    for link, target in ((tea, TEA), (coffee, COFFEE)):
        assert link.startswith(f"{PUBLIC}/t/c/")
        assert links.read_click(SECRET, link.removeprefix(f"{PUBLIC}/t/c/")) == (made, target)
    assert (mail, top) == ("mailto:service@shop.example", "#oben")
    assert unsubscribed == unsubscribe  # the unsubscribe link is never tracked
    [pixel] = found.images
    assert (pixel["width"], pixel["height"], pixel["alt"]) == ("1", "1", "")
    source = pixel["src"] or ""
    assert source.startswith(f"{PUBLIC}/t/o/")
    assert source.endswith(".gif")
    assert links.read_open(SECRET, source.removeprefix(f"{PUBLIC}/t/o/")[:-4]) == made
    assert sent_html.index("<img") < sent_html.index("</body>")
    assert sent_html.count("</body>") == 1
    assert plain == TEXT  # the plain-text part keeps its links
    assert stored(sessions, made).html == html  # the row keeps what the template rendered


def test_following_a_tracked_link_records_the_click_on_that_message(
    sessions: sessionmaker[Session], sink: Sink, settings: Settings, browser: TestClient
) -> None:
    made, _ = queue(sessions)
    send(sessions, settings)
    tea = tags(parts(sink.all()[0])[1]).hrefs[0]
    response = browser.get(tea.removeprefix(PUBLIC), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == TEA
    row = stored(sessions, made)
    assert row.clicked_at is not None
    assert row.opened_at is not None  # a click is an open too: images are often blocked
    assert interactions(sessions) == [("email_open", None), ("email_click", TEA)]
    assert topics(sessions)[-2:] == ["message.opened", "message.clicked"]


def test_fetching_the_pixel_records_the_open(
    sessions: sessionmaker[Session], sink: Sink, settings: Settings, browser: TestClient
) -> None:
    made, _ = queue(sessions)
    send(sessions, settings)
    [pixel] = tags(parts(sink.all()[0])[1]).images
    assert stored(sessions, made).opened_at is None
    response = browser.get((pixel["src"] or "").removeprefix(PUBLIC))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    row = stored(sessions, made)
    assert row.opened_at is not None
    assert row.clicked_at is None
    assert interactions(sessions) == [("email_open", None)]


def test_a_transactional_email_is_not_tracked(
    sessions: sessionmaker[Session], sink: Sink, settings: Settings
) -> None:
    made, html = queue(sessions, purpose="transactional")
    send(sessions, settings)
    plain, sent_html = parts(sink.all()[0])
    assert sent_html == html
    assert tags(sent_html).images == []
    assert "/t/" not in sent_html
    assert plain == TEXT
    assert stored(sessions, made).html == html


def test_with_tracking_off_a_marketing_email_goes_as_rendered(
    sessions: sessionmaker[Session], sink: Sink, database_url: str
) -> None:
    off = settings_for(database_url, sink, track_messages=False)
    _, html = queue(sessions)
    send(sessions, off)
    sent_html = parts(sink.all()[0])[1]
    assert sent_html == html
    assert "/t/" not in sent_html


def test_the_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("PATRON_TRACK_MESSAGES", raising=False)
    assert load_settings().track_messages is True
    monkeypatch.setenv("PATRON_TRACK_MESSAGES", "false")
    assert load_settings().track_messages is False


# --- the signed tokens -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("salt", "value"),
    [
        (links.UNSUBSCRIBE, [42, "email"]),
        (links.OPEN, 7),
        (links.CLICK, [7, TEA]),
        (links.CLICK, [7, "https://shop.example/" + "tee-und-kaffee/" * 30]),
        (links.CLICK, [7, "https://shop.example/smørbrød?für=Jürgen"]),
    ],
)
def test_the_tokens_are_itsdangerous_tokens_read_back_by_its_serializer(
    salt: str, value: object
) -> None:
    token = links._dumps(SECRET, salt, value)
    assert URLSafeSerializer(SECRET, salt=salt).loads(token) == value
    assert links._dumps(SECRET, salt, value) == token  # deterministic
    with pytest.raises(links.BadLink):
        links._load("another secret", salt, token)
    with pytest.raises(links.BadLink):
        links._load(SECRET, "another kind of link", token)


def test_a_compressed_token_made_by_the_plain_serializer_is_still_read() -> None:
    target = "https://shop.example/" + "tee-und-kaffee/" * 30
    token = URLSafeSerializer(SECRET, salt=links.CLICK).dumps([7, target])
    assert token.startswith(".")  # the serializer compressed it
    assert links.read_click(SECRET, token) == (7, target)
