"""Cases by e-mail, with real SMTP both ways: an agent's reply goes out through the engagement
sender to a real SMTP server (aiosmtpd), and customers' mail comes in through the inbound
listener ``patron worker`` runs — a new case, an answer filed into its case, a stranger's
address, a recipient it does not serve, and the same message delivered twice."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.cases.helpers import berlin, settings
from engage.smtp_sink import free_port, running_sink
from patron.care.cases import inbound, service
from patron.care.models import Case, CaseEntry
from patron.config import Settings
from patron.customers.models import Customer
from patron.engage import sending
from patron.errors import ConfigError

MONDAY = berlin(2026, 3, 2, 9, 0)
SERVICE = "service@shop.example"


@pytest.fixture
def listening(sessions: sessionmaker[Session]) -> Iterator[Settings]:
    """The inbound listener on a free port; the settings that name it."""
    chosen = settings(care_inbound_address=SERVICE, care_inbound_port=free_port())
    controller = inbound.start_listener(chosen, sessions)
    try:
        yield chosen
    finally:
        controller.stop()


def _mail(
    sender: str,
    subject: str,
    body: str,
    *,
    message_id: str,
    html: str | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = SERVICE
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    mail.set_content(body)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


def _deliver(chosen: Settings, mail: EmailMessage, to: str = SERVICE) -> None:
    assert chosen.care_inbound_port is not None
    with smtplib.SMTP(chosen.care_inbound_host, chosen.care_inbound_port, timeout=10) as client:
        client.send_message(mail, to_addrs=[to])


def _cases(sessions: sessionmaker[Session]) -> list[Case]:
    with sessions() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def _entries(sessions: sessionmaker[Session], case_id: int) -> list[tuple[str, str]]:
    with sessions() as session:
        rows = session.execute(
            select(CaseEntry.kind, CaseEntry.body)
            .where(CaseEntry.case_id == case_id)
            .order_by(CaseEntry.id)
        )
        return [(kind, body) for kind, body in rows]


def test_a_reply_goes_out_over_smtp_and_the_customers_answer_comes_back_into_the_case(
    sessions: sessionmaker[Session], listening: Settings
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", name="Anna Berg", email="anna@example.org")
    with running_sink() as sink:
        outgoing = settings(smtp_host=sink.host, smtp_port=sink.port)
        with sessions() as session:
            case_id = service.open_case(
                session,
                customer="ANNA",
                subject="Broken cup",
                description="It broke.",
                channel="phone",
                settings=outgoing,
                now=MONDAY,
            )[0].id
            service.reply(
                session,
                case_id=case_id,
                body="A new cup is on its way.",
                author="agent@shop.example",
                settings=outgoing,
                now=MONDAY,
                wait=True,
            )
        run = sending.send_due(sessions, outgoing, now_fn=lambda: MONDAY)
        assert run.counts()["sent"] == 1
        [got] = sink.all()
    assert got.rcpt_tos == ("anna@example.org",)
    subject = str(got.message["Subject"])
    assert f"[Case #{case_id}]" in subject
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "A new cup is on its way." in body.get_content()
    # Anna answers the e-mail, quoting it, as mail programs do
    answer = _mail(
        "Anna Berg <Anna@Example.org>",
        f"Re: {subject}",
        "Thank you, it arrived!\n\nOn Monday the shop wrote:\n> A new cup is on its way.\n",
        message_id="<answer-1@example.org>",
    )
    _deliver(listening, answer)
    assert len(_cases(sessions)) == 1
    assert _entries(sessions, case_id)[-2:] == [
        ("customer", "Thank you, it arrived!"),
        ("change", "status: waiting → in_progress"),
    ]
    assert _cases(sessions)[0].status == "in_progress"
    filed = _entries(sessions, case_id)
    _deliver(listening, answer)  # the same message again: filed once
    assert _entries(sessions, case_id) == filed


def test_a_new_mail_opens_a_case_for_a_new_customer_once(
    sessions: sessionmaker[Session], listening: Settings
) -> None:
    only_html = EmailMessage()
    only_html["From"] = "Ola Nordmann <ola@example.no>"
    only_html["To"] = SERVICE
    only_html["Subject"] = "Wrong size delivered"
    only_html["Message-ID"] = "<first@example.no>"
    only_html.set_content("<p>I ordered <b>M</b>, got XL.</p><p>Ola</p>", subtype="html")
    _deliver(listening, only_html)
    _deliver(listening, only_html)  # delivered again (a retry of the sending server)
    [opened] = _cases(sessions)
    assert (opened.channel, opened.category, opened.priority, opened.kind) == (
        "email",
        "other",
        "normal",
        "complaint",
    )
    assert opened.subject == "Wrong size delivered"
    assert opened.key == "<first@example.no>"
    [(kind, text)] = _entries(sessions, opened.id)
    assert kind == "customer"
    assert "I ordered M, got XL." in text
    assert "<b>" not in text
    with sessions() as session:
        customer = session.get_one(Customer, opened.customer_id)
        assert (customer.email, customer.name) == ("ola@example.no", "Ola Nordmann")
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_a_marker_of_someone_elses_case_opens_a_new_one(
    sessions: sessionmaker[Session], listening: Settings
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", email="anna@example.org")
        make.customer(session, external_id="BEN", email="ben@example.org")
    with sessions() as session:
        annas = service.open_case(
            session,
            customer="ANNA",
            subject="Late",
            description="Late.",
            settings=listening,
            now=MONDAY,
        )[0].id
    _deliver(
        listening,
        _mail("ben@example.org", f"Re: Late [Case #{annas}]", "Me too!", message_id="<b1@x>"),
    )
    cases = _cases(sessions)
    assert len(cases) == 2
    assert _entries(sessions, annas) == [("customer", "Late.")]
    assert cases[1].subject == f"Re: Late [Case #{annas}]"
    with sessions() as session:
        ben = session.scalar(select(Customer.id).where(Customer.external_id == "BEN"))
    assert cases[1].customer_id == ben


def test_mail_for_another_recipient_is_refused(
    sessions: sessionmaker[Session], listening: Settings
) -> None:
    mail = _mail("ola@example.no", "Hello", "Hi", message_id="<r@x>")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        _deliver(listening, mail, to="sales@shop.example")
    [(code, _)] = caught.value.recipients.values()
    assert code == 550
    assert _cases(sessions) == []


def test_a_message_without_sender_is_refused_for_good(
    sessions: sessionmaker[Session], listening: Settings
) -> None:
    assert listening.care_inbound_port is not None
    raw = b"To: service@shop.example\r\nSubject: hi\r\n\r\nno sender\r\n"
    with (
        smtplib.SMTP(listening.care_inbound_host, listening.care_inbound_port) as client,
        pytest.raises(smtplib.SMTPDataError) as caught,
    ):
        client.sendmail("bounce@x", [SERVICE], raw)
    assert caught.value.smtp_code == 550
    assert _cases(sessions) == []


def test_parse_prefers_text_and_drops_a_trailing_quote() -> None:
    mail = _mail(
        '"Berg, Anna" <anna@example.org>',
        "Re:  Broken   cup",
        "Still broken.\n\nAm Montag schrieb der Shop:\n> Sorry!\n> Bye\n",
        message_id="<p1@x>",
        html="<p>HTML version</p>",
    )
    found = inbound.parse(bytes(mail))
    assert (found.sender, found.sender_name, found.subject) == (
        "anna@example.org",
        "Berg, Anna",
        "Re: Broken cup",
    )
    assert found.text == "Still broken."
    assert found.message_id == "<p1@x>"
    no_id = bytes(mail).replace(b"Message-ID: <p1@x>\n", b"")
    assert inbound.parse(no_id).message_id.startswith("<sha256:")
    assert inbound.parse(no_id).message_id == inbound.parse(no_id).message_id


def test_a_closed_case_takes_no_more_mail(
    sessions: sessionmaker[Session], listening: Settings
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", email="anna@example.org")
    with sessions() as session:
        case_id = service.open_case(
            session,
            customer="ANNA",
            subject="Late",
            description="Late.",
            settings=listening,
            now=MONDAY,
        )[0].id
        service.change_status(
            session,
            case_id=case_id,
            status="closed",
            author="a",
            settings=listening,
            now=MONDAY + timedelta(hours=1),
        )
    _deliver(
        listening,
        _mail("anna@example.org", f"Re: Late [Case #{case_id}]", "Again!", message_id="<a2@x>"),
    )
    assert [c.status for c in _cases(sessions)] == ["closed", "new"]


def test_a_taken_port_or_no_address_is_a_clear_error(
    listening: Settings, sessions: sessionmaker[Session]
) -> None:
    with pytest.raises(ConfigError, match="cannot receive mail on") as taken:
        inbound.start_listener(listening, sessions)
    assert taken.value.details["setting"] == "PATRON_CARE_INBOUND_PORT"
    nowhere = settings(care_inbound_port=free_port())
    with pytest.raises(ConfigError, match="PATRON_CARE_INBOUND_ADDRESS"):
        inbound.start_listener(nowhere, sessions)
