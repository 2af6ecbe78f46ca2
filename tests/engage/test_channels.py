"""The channels against real servers: e-mail to aiosmtpd (content, headers, one connection per
batch, AUTH, how refusals are classified), sms/push to a real local HTTP server (signed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.headerregistry import Address
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engage.smtp_sink import Sink, free_port, running_sink
from patron.config import Settings, load_settings
from patron.engage import links
from patron.engage.channels import (
    Outcome,
    Queued,
    SmtpChannel,
    WebhookChannel,
    configured,
    message_id,
)
from patron.outbox import signing

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
SECRET = "a webhook secret of this test run"
SHOP_FROM = "Café Müller <post@cafe-mueller.example>"

LETTER = Queued(
    id=7,
    key="c3:42:",
    channel="email",
    purpose="marketing",
    language="de",
    recipient="juergen@example.org",
    subject="Grüße von Café Müller – Ihr Gutschein über 10 € wartet",
    html="<p>Hallo Jürgen,</p>\n<p>schön, dass Sie da sind. Ihr Gutschein: <b>GRÜN-10</b></p>",
    text="Hallo Jürgen,\n\nschön, dass Sie da sind.\n.\nIhr Gutschein: GRÜN-10",
    campaign_id=3,
    customer_id=42,
    attempts=0,
)


def settings_for(sink: Sink | None, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "email_from": SHOP_FROM,
        "public_url": "https://patron.cafe-mueller.example",
        "secret_key": "the signing key of this test run",
        "smtp_security": "none",
    }
    if sink is not None:
        values |= {"smtp_host": sink.host, "smtp_port": sink.port}
    return load_settings(**(values | more))


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as sink:
        yield sink


def send_one(sink: Sink, message: Queued = LETTER, **settings: Any) -> Any:
    with SmtpChannel(settings_for(sink, **settings)) as channel:
        return channel.send(message, now=NOW)


# --- what an e-mail holds ----------------------------------------------------------------------


def test_an_email_has_a_text_and_an_html_part_in_utf8(sink: Sink) -> None:
    assert send_one(sink, track_messages=False).outcome is Outcome.sent  # the HTML as stored
    [got] = sink.all()
    mail = got.message
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == LETTER.text
    assert html.get_content().replace("\r\n", "\n") == LETTER.html
    assert got.raw.isascii()  # quoted-printable and encoded words: any server takes it
    assert b"\n." not in got.raw.replace(b"\r\n", b"\n").replace(b"\n.\n", b"")


def test_the_headers_name_sender_recipient_subject_date_and_language(sink: Sink) -> None:
    send_one(sink)
    [got] = sink.all()
    mail = got.message
    assert mail["Subject"] == LETTER.subject
    sender = mail["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Café Müller", "post@cafe-mueller.example")
    assert mail["To"].addresses == (Address(addr_spec="juergen@example.org"),)
    assert mail["Date"].datetime == NOW
    assert mail["Content-Language"] == "de"
    assert mail["MIME-Version"] == "1.0"
    assert got.mail_from == "post@cafe-mueller.example"
    assert got.rcpt_tos == ("juergen@example.org",)


def test_a_long_subject_is_folded_and_reads_back_the_same(sink: Sink) -> None:
    subject = "Für Sie ausgewählt: " + "Kaffee, Tee und Gebäck aus Jütland; " * 8
    send_one(sink, replace(LETTER, subject=subject))
    [got] = sink.all()
    head = got.raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert got.message["Subject"] == subject.strip()


def test_a_line_break_in_the_subject_cannot_add_a_header(sink: Sink) -> None:
    send_one(sink, replace(LETTER, subject="Hello\r\nBcc: someone@evil.example"))
    [got] = sink.all()
    assert got.message["Bcc"] is None
    assert got.message["Subject"] == "Hello Bcc: someone@evil.example"


def test_an_address_that_could_smuggle_a_command_is_refused_for_good(sink: Sink) -> None:
    result = send_one(sink, replace(LETTER, recipient="a@example.org>\r\nRCPT TO:<b@example.org"))
    assert result.outcome is Outcome.permanent
    assert sink.all() == []


def test_the_message_id_is_the_same_for_two_sends_of_the_same_row(sink: Sink) -> None:
    send_one(sink)
    send_one(sink)
    send_one(sink, replace(LETTER, key="c3:43:", customer_id=43))
    first, again, other = (r.message["Message-ID"] for r in sink.all())
    assert first == again == message_id(LETTER.key, "cafe-mueller.example")
    assert first.endswith("@cafe-mueller.example>")
    assert other != first
    assert "42" not in first.split("@")[0]  # no customer number in it


def test_marketing_carries_a_one_click_unsubscribe_link(sink: Sink) -> None:
    send_one(sink)
    mail = sink.all()[0].message
    url = links.unsubscribe_url(
        "https://patron.cafe-mueller.example", "the signing key of this test run", 42, "email"
    )
    assert mail["List-Unsubscribe"] == f"<{url}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = url.rsplit("/", 1)[1]
    assert links.read_unsubscribe("the signing key of this test run", token) == (42, "email")


def test_a_transactional_email_has_no_unsubscribe_link(sink: Sink) -> None:
    send_one(sink, replace(LETTER, purpose="transactional", key="order:1001"))
    mail = sink.all()[0].message
    assert mail["List-Unsubscribe"] is None
    assert mail["List-Unsubscribe-Post"] is None


def test_tracking_takes_the_quoted_web_links_of_a_tags_and_nothing_else(sink: Sink) -> None:
    html = (
        '<p><a title="1 > 0" href="https://shop.example/a?x=1&amp;y=2">a</a>\n'
        '<A CLASS=big HREF = "HTTPS://shop.example/B">b</A>\n'
        '<a data-href="https://data.example/" href="#top">c</a>\n'
        "<a href=https://unquoted.example/>d</a>\n"
        '<a href="https://patron.cafe-mueller.example/t/c/already">e</a>\n'
        '<area href="https://shop.example/map" alt="map">\n'
        "<a href=' https://shop.example/space '>f</a>\n"
        '<a href="ftp://files.example/">g</a></p>'
    )
    send_one(sink, replace(LETTER, html=html))
    sent = sink.all()[0].message.get_body(("html",))
    assert sent is not None
    got = str(sent.get_content()).replace("\r\n", "\n")
    tracked = [
        links.read_click("the signing key of this test run", token.split('"')[0].split("'")[0])
        for token in got.split("https://patron.cafe-mueller.example/t/c/")[1:]
        if not token.startswith("already")
    ]
    assert tracked == [
        (7, "https://shop.example/a?x=1&y=2"),
        (7, "https://shop.example/B"),
        (7, "https://shop.example/space"),
    ]
    for untouched in (
        'data-href="https://data.example/" href="#top"',
        "<a href=https://unquoted.example/>d</a>",
        '<a href="https://patron.cafe-mueller.example/t/c/already">e</a>',
        '<area href="https://shop.example/map" alt="map">',
        '<a href="ftp://files.example/">g</a>',
    ):
        assert untouched in got
    assert got.count("<img") == 1
    pixel = got.rpartition("</p>")[2]  # no </body>: the pixel goes at the end
    assert pixel.startswith('<img src="https://patron.cafe-mueller.example/t/o/')
    token = pixel.split("/t/o/")[1].split(".gif")[0]
    assert links.read_open("the signing key of this test run", token) == 7


# --- the connection ----------------------------------------------------------------------------


def test_a_batch_goes_over_one_connection_and_the_next_batch_over_another(sink: Sink) -> None:
    channel = SmtpChannel(settings_for(sink))
    with channel:
        for n in range(5):
            assert channel.send(replace(LETTER, key=f"k{n}"), now=NOW).outcome is Outcome.sent
    with channel:
        channel.send(replace(LETTER, key="k5"), now=NOW)
    assert sink.connections == 2
    assert [r.connection for r in sink.all()] == [1, 1, 1, 1, 1, 2]
    assert channel.connections == 2


def test_a_connection_the_server_dropped_is_opened_again_once(sink: Sink) -> None:
    with SmtpChannel(settings_for(sink)) as channel:
        assert channel.send(replace(LETTER, key="before"), now=NOW).outcome is Outcome.sent
        sink.drop_connections()
        assert channel.send(replace(LETTER, key="after"), now=NOW).outcome is Outcome.sent
    assert [r.connection for r in sink.all()] == [1, 2]


def test_auth_with_user_and_password() -> None:
    with running_sink(users={"shop": "s3cret"}) as sink:
        ok = send_one(sink, smtp_user="shop", smtp_password="s3cret")
        wrong = send_one(sink, smtp_user="shop", smtp_password="guess")
        anonymous = send_one(sink)
        assert ok.outcome is Outcome.sent
        assert [r.login for r in sink.all()] == ["shop"]
    assert wrong.outcome is Outcome.transient  # our setting is wrong, not the address
    assert "535" in wrong.detail
    assert anonymous.outcome is Outcome.transient
    assert "530" in anonymous.detail


def test_starttls_required_but_not_offered_is_transient(sink: Sink) -> None:
    result = send_one(sink, smtp_security="starttls")
    assert result.outcome is Outcome.transient
    assert "STARTTLS" in result.detail
    assert sink.all() == []


def test_a_failed_connection_is_tried_once_per_batch() -> None:
    closed = load_settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none")
    with SmtpChannel(closed) as channel:
        results = [channel.send(replace(LETTER, key=f"k{n}"), now=NOW) for n in range(3)]
    assert {r.outcome for r in results} == {Outcome.transient}
    assert "ConnectionRefusedError" in results[0].detail
    assert results[1].detail.endswith(results[0].detail)  # not tried again in this batch


# --- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "at", "outcome"),
    [
        ("550 5.1.1 No such user", "RCPT", Outcome.permanent),
        ("553 5.1.3 Bad address syntax", "RCPT", Outcome.permanent),
        ("451 4.3.0 Try again later", "RCPT", Outcome.transient),
        ("452 4.2.2 Mailbox full", "RCPT", Outcome.transient),
        ("554 5.7.1 Message refused", "DATA", Outcome.permanent),
        ("451 4.7.1 Greylisted", "DATA", Outcome.transient),
    ],
)
def test_refusals_are_permanent_on_5xx_and_transient_on_4xx(
    sink: Sink, reply: str, at: str, outcome: Outcome
) -> None:
    sink.refuse(LETTER.recipient, reply, at=at)
    with SmtpChannel(settings_for(sink)) as channel:
        result = channel.send(LETTER, now=NOW)
        other = channel.send(replace(LETTER, key="other", recipient="anna@example.org"), now=NOW)
    assert result.outcome is outcome
    assert reply.split()[0] in result.detail
    assert at in result.detail
    assert other.outcome is Outcome.sent  # the connection is fine for the next message
    assert [r.rcpt_tos for r in sink.all()] == [("anna@example.org",)]


# --- the webhook channel -----------------------------------------------------------------------


@dataclass
class Bridge:
    """A real HTTP server playing the sms/push provider's bridge."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def bridge() -> Iterator[Bridge]:
    bridge = Bridge()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            bridge.requests.append((dict(self.headers.items()), body))
            status = bridge.statuses.pop(0) if bridge.statuses else 202
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    bridge.url = f"http://127.0.0.1:{server.server_address[1]}/messages"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield bridge
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


SMS = replace(
    LETTER, id=8, key="c4:42:", channel="sms", recipient="+4917012345678", subject="", text="Hej!"
)


def test_an_sms_is_posted_signed_with_its_key(bridge: Bridge) -> None:
    with WebhookChannel(bridge.url, SECRET) as channel:
        result = channel.send(SMS, now=NOW)
    assert (result.outcome, result.detail) == (Outcome.sent, "HTTP 202")
    [(headers, body)] = bridge.requests
    assert signing.verify(SECRET, headers[signing.HEADER], body, now=NOW)
    assert not signing.verify("another secret entirely", headers[signing.HEADER], body, now=NOW)
    assert headers["Patron-Message"] == "c4:42:"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "id": 8,
        "key": "c4:42:",
        "channel": "sms",
        "to": "+4917012345678",
        "language": "de",
        "subject": "",
        "text": "Hej!",
        "campaign_id": 3,
        "customer_id": 42,
    }


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.sent),
        (400, Outcome.permanent),
        (410, Outcome.permanent),
        (422, Outcome.permanent),
        (401, Outcome.transient),  # our secret is wrong: not the number's fault
        (408, Outcome.transient),
        (429, Outcome.transient),
        (500, Outcome.transient),
        (503, Outcome.transient),
    ],
)
def test_the_bridge_answer_decides(bridge: Bridge, status: int, outcome: Outcome) -> None:
    bridge.statuses.append(status)
    with WebhookChannel(bridge.url, SECRET) as channel:
        assert channel.send(SMS, now=NOW).outcome is outcome


def test_no_bridge_listening_is_transient() -> None:
    with WebhookChannel(f"http://127.0.0.1:{free_port()}/messages", SECRET) as channel:
        result = channel.send(SMS, now=NOW)
    assert result.outcome is Outcome.transient
    assert "Connection refused" in result.detail or "ConnectionRefused" in result.detail


def test_only_configured_channels_are_used() -> None:
    assert configured(settings_for(None)) == {}
    assert set(configured(settings_for(None, smtp_host="mail.example"))) == {"email"}
    webhook = {"message_webhook_url": "https://sms.example/in"}
    assert configured(settings_for(None, **webhook)) == {}  # no secret: nothing unsigned goes out
    both = configured(
        settings_for(None, smtp_host="mail.example", message_webhook_secret=SECRET, **webhook)
    )
    assert set(both) == {"email", "sms", "push"}
