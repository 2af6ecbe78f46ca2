"""The sender on SQLite and PostgreSQL, against a real SMTP server (aiosmtpd) and a real HTTP
bridge: what is due goes once, what may no longer go is cancelled, refusals bounce or wait."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import factories as make
from engage.smtp_sink import Sink, running_sink
from patron.cli import app
from patron.config import Settings, load_settings
from patron.customers.models import Customer
from patron.engage import audience, messages, sending
from patron.engage.channels import Queued, Result, SmtpChannel, message_id
from patron.engage.models import Message, Suppression
from patron.outbox import retries
from patron.outbox.models import OutboxEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as sink:
        yield sink


def settings_for(sink: Sink | None, **more: Any) -> Settings:
    values: dict[str, Any] = {"email_from": "Shop <shop@shop.example>", "smtp_security": "none"}
    if sink is not None:
        values |= {"smtp_host": sink.host, "smtp_port": sink.port}
    return load_settings(**(values | more))


def person(session: Session, *, consent: bool = True, **fields: Any) -> Customer:
    customer = make.customer(session, **fields)
    if consent:
        make.consent(session, customer, granted=True, recorded_at=T0 - timedelta(days=30))
    return customer


def queue(
    session: Session,
    customer: Customer | None,
    *,
    key: str | None = None,
    purpose: str = "marketing",
    channel: str = "email",
    recipient: str | None = None,
    send_after: datetime = T0,
) -> int:
    """Queue one message the way campaigns and transactional sends do."""
    if recipient is None and customer is not None:
        recipient = customer.email if channel == "email" else customer.phone
    outgoing = messages.Outgoing(
        key=key or f"c1:{customer.id if customer else 0}:",
        customer_id=customer.id if customer else None,
        channel=channel,
        purpose=purpose,
        language="de",
        recipient=recipient or "",
        subject="Grüße",
        html="<p>Hallo</p>",
        text="Hallo",
        send_after=send_after,
        campaign_id=None,
    )
    [made] = messages.enqueue(session, [outgoing], now=T0 - timedelta(hours=1))
    return made


def message(sessions: sessionmaker[Session], message_id: int) -> Message:
    with sessions() as session:
        return session.get_one(Message, message_id)


def events(sessions: sessionmaker[Session], topic: str) -> list[dict[str, Any]]:
    with sessions() as session:
        query = select(OutboxEvent.payload).where(OutboxEvent.topic == topic)
        return list(session.scalars(query.order_by(OutboxEvent.id)))


def send(sessions: sessionmaker[Session], sink: Sink | None, clock: Clock, **more: Any) -> Any:
    return sending.send_due(sessions, settings_for(sink), now_fn=clock, **more)


# --- the plain path ----------------------------------------------------------------------------


def test_a_due_message_is_sent_once_and_recorded(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        anna = person(session, email="Anna@Example.org")
        made = queue(session, anna)
    run = send(sessions, sink, clock)
    assert run.counts() == {
        "sent": 1,
        "retried": 0,
        "bounced": 0,
        "dead": 0,
        "cancelled": 0,
        "unconfigured": 0,
    }
    row = message(sessions, made)
    assert (row.status, row.sent_at, row.attempts, row.locked_until) == ("sent", T0, 1, None)
    [got] = sink.all()
    assert got.rcpt_tos == ("Anna@Example.org",)
    assert got.message_id == message_id(row.key, "shop.example")
    [event] = events(sessions, "message.sent")
    assert event["message_id"] == made
    assert event["customer_id"] == anna.id
    assert event["sent_at"] == T0.isoformat()
    assert send(sessions, sink, clock).sent == 0
    assert len(sink.all()) == 1


def test_a_message_not_yet_due_waits_for_its_time(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = queue(session, person(session), send_after=T0 + timedelta(hours=2))
    assert send(sessions, sink, clock).sent == 0
    assert message(sessions, made).status == "queued"
    assert message(sessions, made).locked_until is None
    clock.advance(hours=2)
    assert send(sessions, sink, clock).sent == 1
    assert len(sink.all()) == 1


def test_a_batch_takes_the_oldest_due_first_over_one_connection(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = [
            queue(session, person(session), send_after=T0 - timedelta(minutes=n)) for n in range(5)
        ]
    one = settings_for(sink, send_connections=1)
    assert sending.send_due(sessions, one, now_fn=clock, batch=3).sent == 3
    assert sink.connections == 1
    with sessions() as session:
        sent = session.scalars(select(Message.id).where(Message.status == "sent")).all()
    assert sorted(sent) == sorted(made[2:])  # due 4, 3 and 2 minutes ago
    assert send(sessions, sink, clock, batch=3).sent == 2


# --- the check at send time --------------------------------------------------------------------


def test_consent_withdrawn_after_queueing_cancels_the_message(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        ben = person(session)
        made = queue(session, ben)
        make.consent(session, ben, granted=False, recorded_at=T0 - timedelta(minutes=5))
    run = send(sessions, sink, clock)
    assert (run.cancelled, run.sent) == (1, 0)
    row = message(sessions, made)
    assert row.status == "cancelled"
    assert "consent" in (row.last_error or "")
    assert row.locked_until is None
    assert sink.all() == []


def test_a_suppressed_address_gets_nothing_and_an_unsubscribed_one_only_transactional(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        bounced = person(session, email="gone@example.org")
        left = person(session, email="left@example.org")
        session.add(Suppression(channel="email", address="gone@example.org", reason="hard_bounce"))
        session.add(Suppression(channel="email", address="left@example.org", reason="unsubscribe"))
        to_bounced = queue(session, bounced, purpose="transactional", key="order:1")
        news_to_left = queue(session, left)
        receipt_to_left = queue(session, left, purpose="transactional", key="order:2")
        # a transactional message to an address without a customer is checked too
        stranger = queue(
            session, None, purpose="transactional", key="t:3", recipient="GONE@example.org"
        )
    run = send(sessions, sink, clock)
    assert (run.sent, run.cancelled) == (1, 3)
    assert message(sessions, to_bounced).last_error == "the address is suppressed (hard_bounce)"
    assert message(sessions, stranger).last_error == "the address is suppressed (hard_bounce)"
    assert message(sessions, news_to_left).last_error == "the customer unsubscribed from email"
    assert message(sessions, receipt_to_left).status == "sent"
    assert [r.rcpt_tos for r in sink.all()] == [("left@example.org",)]


def test_an_address_suppressed_as_an_erased_persons_hash_gets_nothing(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    """An erased person's suppressed address is kept only as its hash: the check at send time
    finds it so, also for a message to the address queued before the erasure."""
    with sessions.begin() as session:
        newcomer = person(session, email="Gone@Example.org")
        made = queue(session, newcomer, purpose="transactional", key="order:7")
        hashed = audience.erased_address("email", "gone@example.org")
        session.add(Suppression(channel="email", address=hashed, reason="hard_bounce"))
    run = send(sessions, sink, clock)
    assert (run.sent, run.cancelled) == (0, 1)
    assert message(sessions, made).last_error == "the address is suppressed (hard_bounce)"
    assert sink.all() == []


def test_an_address_changed_since_queueing_is_not_written_to(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        cleo = person(session, email="old@example.org")
        made = queue(session, cleo, purpose="transactional", key="order:9")
        cleo.email = "new@example.org"
    assert send(sessions, sink, clock).cancelled == 1
    assert "address changed" in (message(sessions, made).last_error or "")
    assert sink.all() == []


# --- refusals ----------------------------------------------------------------------------------


def test_a_hard_bounce_suppresses_the_address_and_tells_the_webhooks(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        dora = person(session, email="Dora@Example.org")
        made = queue(session, dora)
    sink.refuse("Dora@Example.org", "550 5.1.1 No such user")
    assert send(sessions, sink, clock).bounced == 1
    row = message(sessions, made)
    assert row.status == "bounced"
    assert row.last_error is not None
    assert "550 5.1.1 No such user" in row.last_error
    with sessions() as session:
        [suppression] = session.scalars(select(Suppression)).all()
    assert (suppression.channel, suppression.address) == ("email", "dora@example.org")
    assert suppression.reason == "hard_bounce"
    [event] = events(sessions, "message.bounced")
    assert event["message_id"] == made
    assert "550" in event["reason"]
    # the next message to that address is not even tried, also a transactional one
    with sessions.begin() as session:
        receipt = queue(
            session, session.get_one(Customer, dora.id), purpose="transactional", key="o:1"
        )
    assert send(sessions, sink, clock).cancelled == 1
    assert message(sessions, receipt).status == "cancelled"


def test_a_hard_bounce_turns_an_unsubscribe_into_a_suppression_of_everything(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        fay = person(session, email="fay@example.org")
        session.add(
            Suppression(
                channel="email", address="fay@example.org", reason="unsubscribe", note="footer"
            )
        )
        receipt = queue(session, fay, purpose="transactional", key="order:1")
    sink.refuse("fay@example.org", "550 5.1.1 No such user")
    assert send(sessions, sink, clock).bounced == 1
    assert message(sessions, receipt).status == "bounced"
    with sessions() as session:
        [suppression] = session.scalars(select(Suppression)).all()
    assert (suppression.address, suppression.reason) == ("fay@example.org", "hard_bounce")
    assert "550 5.1.1 No such user" in (suppression.note or "")
    # the address is gone: the next transactional message to it is not even tried
    with sessions.begin() as session:
        again = queue(
            session, session.get_one(Customer, fay.id), purpose="transactional", key="order:2"
        )
    assert send(sessions, sink, clock).cancelled == 1
    assert message(sessions, again).last_error == "the address is suppressed (hard_bounce)"
    assert len(sink.all()) == 0


def test_a_bounce_keeps_a_suppression_written_meanwhile(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = queue(session, person(session, email="erin@example.org"))
    sink.refuse("erin@example.org", "550 5.7.1 Refused")

    def complaint_arrives() -> None:  # after the claim's check, before the server's answer
        with sessions.begin() as session:
            session.add(
                Suppression(channel="email", address="erin@example.org", reason="complaint")
            )

    settings = settings_for(sink)
    channel = Meanwhile(SmtpChannel(settings), before=complaint_arrives)
    run = sending.send_due(sessions, settings, now_fn=clock, channels={"email": channel})
    assert run.bounced == 1
    assert message(sessions, made).status == "bounced"
    with sessions() as session:
        rows = session.scalars(select(Suppression)).all()
    assert [(r.address, r.reason) for r in rows] == [("erin@example.org", "complaint")]


def test_a_451_is_tried_again_after_the_back_off_then_sent(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = queue(session, person(session, email="fred@example.org"))
    sink.refuse("fred@example.org", "451 4.7.1 Greylisted, come back later", times=1)
    assert send(sessions, sink, clock).retried == 1
    row = message(sessions, made)
    assert (row.status, row.attempts, row.locked_until) == ("queued", 1, None)
    assert "451" in (row.last_error or "")
    first = retries.delay(1)
    assert T0 + first <= row.send_after <= T0 + first * 1.1
    assert send(sessions, sink, clock).counts()["sent"] == 0  # not due yet
    clock.advance(seconds=first.total_seconds() * 1.1 + 1)
    assert send(sessions, sink, clock).sent == 1
    row = message(sessions, made)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(sink.all()) == 1


def test_a_message_refused_for_now_every_time_is_given_up(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = queue(session, person(session, email="gus@example.org"))
    sink.refuse("gus@example.org", "452 4.2.2 Mailbox full")
    outcomes: Counter[str] = Counter()
    for _ in range(retries.MAX_ATTEMPTS):
        outcomes.update(send(sessions, sink, clock).counts())
        clock.advance(hours=7)
    assert (outcomes["retried"], outcomes["dead"]) == (retries.MAX_ATTEMPTS - 1, 1)
    row = message(sessions, made)
    assert (row.status, row.attempts) == ("dead", retries.MAX_ATTEMPTS)
    assert send(sessions, sink, clock).counts() == sending.SendRun().counts()


# --- channels not set up, and the webhook channel ----------------------------------------------


def test_without_a_channel_messages_stay_queued_and_are_counted(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    with sessions.begin() as session:
        hank = person(session, phone="+4917000000001")
        made = [queue(session, hank), queue(session, hank, channel="sms", key="s:1")]
    run = sending.send_due(sessions, settings_for(None), now_fn=clock)
    assert run.counts() == sending.SendRun(unconfigured=2).counts()
    for found in made:
        row = message(sessions, found)
        assert (row.status, row.attempts, row.locked_until) == ("queued", 0, None)


def test_sms_goes_to_the_webhook_bridge_and_email_to_smtp_in_one_run(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posted: list[bytes] = []

    class Bridge(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with sessions.begin() as session:
            ida = person(session, phone="+4917000000002")
            make.consent(
                session, ida, channel="sms", granted=True, recorded_at=T0 - timedelta(days=1)
            )
            texted = queue(session, ida, channel="sms", key="s:2")
            mailed = queue(session, ida)
            pushed = queue(session, ida, channel="push", key="p:1")  # no push consent
        settings = settings_for(
            sink,
            message_webhook_url=f"http://127.0.0.1:{server.server_address[1]}/in",
            message_webhook_secret="a webhook secret of this test run",
        )
        run = sending.send_due(sessions, settings, now_fn=clock)
    finally:
        server.shutdown()
        server.server_close()
    assert (run.sent, run.cancelled) == (2, 1)
    assert [message(sessions, m).status for m in (texted, mailed, pushed)] == [
        "sent",
        "sent",
        "cancelled",
    ]
    assert len(posted) == 1
    assert b'"to":"+4917000000002"' in posted[0]
    assert len(sink.all()) == 1


# --- crashes and leases ------------------------------------------------------------------------


class KilledAfterTheServerSaidYes(Exception):
    """Stands for SIGKILL at the worst instant: after the 250, before the row is marked."""


class Meanwhile:
    """The real SMTP channel, with something happening just before or after a send."""

    def __init__(
        self,
        channel: SmtpChannel,
        *,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        self.channel = channel
        self.timeout = channel.timeout
        self.before, self.after = before, after

    def __enter__(self) -> Meanwhile:
        self.channel.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.__exit__(*exc)

    def another(self) -> Meanwhile:
        return Meanwhile(self.channel.another(), before=self.before, after=self.after)

    def send(self, message: Queued, *, now: datetime) -> Result:
        if self.before is not None:
            self.before()
        result = self.channel.send(message, now=now)
        if self.after is not None:
            self.after()
        return result


def killed() -> None:
    raise KilledAfterTheServerSaidYes


def test_a_worker_killed_after_the_250_sends_once_more_with_the_same_message_id(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = queue(session, person(session, email="jo@example.org"))
    settings = settings_for(sink)
    dying = {"email": Meanwhile(SmtpChannel(settings), after=killed)}
    with pytest.raises(KilledAfterTheServerSaidYes):
        sending.send_due(sessions, settings, now_fn=clock, channels=dying)
    row = message(sessions, made)
    assert row.status == "queued"
    assert row.locked_until == T0 + sending.LEASE
    assert send(sessions, sink, clock).sent == 0  # the dead worker's lease still holds
    clock.advance(seconds=sending.LEASE.total_seconds())
    assert send(sessions, sink, clock).sent == 1
    first, again = sink.all()
    assert first.message_id == again.message_id  # a receiver that drops repeats sees one
    assert message(sessions, made).status == "sent"


def test_a_lease_too_short_for_another_send_hands_the_rest_back(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = [queue(session, person(session)) for _ in range(3)]
    channel = SmtpChannel(settings_for(sink), timeout=30)
    # a lease of 30 s with sends that may take 30 s: not even the first may start
    run = sending.send_due(
        sessions,
        settings_for(sink),
        now_fn=clock,
        channels={"email": channel},
        lease=timedelta(seconds=30),
    )
    assert run.sent == 0
    assert [message(sessions, m).locked_until for m in made] == [None, None, None]
    assert send(sessions, sink, clock).sent == 3


def test_the_worker_round_sends_batch_after_batch(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        for _ in range(5):
            queue(session, person(session))
    one = settings_for(sink, send_connections=1)
    run = sending.send_while_due(sessions, one, now_fn=clock, batch=2)
    assert run.sent == 5
    assert sink.connections == 3  # one connection per batch: 2 + 2 + 1


def test_a_batch_is_shared_by_the_configured_number_of_connections(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    with sessions.begin() as session:
        made = [queue(session, person(session)) for _ in range(8)]
    run = sending.send_due(sessions, settings_for(sink, send_connections=3), now_fn=clock)
    assert run.sent == 8
    assert sink.connections == 3
    received = sink.all()
    assert sorted(Counter(r.connection for r in received).values()) == [2, 3, 3]
    assert len({r.message_id for r in received}) == 8
    assert {message(sessions, m).status for m in made} == {"sent"}
    # fewer messages than connections: no idle connection is opened
    with sessions.begin() as session:
        queue(session, person(session))
    assert send(sessions, sink, clock).sent == 1
    assert sink.connections == 4


# --- the worker --------------------------------------------------------------------------------


def test_the_worker_sends_in_its_round(
    cli_env: str, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patron.db import make_engine, session_factory

    engine = make_engine(cli_env)
    try:
        with session_factory(engine).begin() as session:
            made = queue(session, person(session), send_after=T0)
    finally:
        engine.dispose()
    monkeypatch.setenv("PATRON_SMTP_HOST", sink.host)
    monkeypatch.setenv("PATRON_SMTP_PORT", str(sink.port))
    monkeypatch.setenv("PATRON_SMTP_SECURITY", "none")
    ran = CliRunner().invoke(app, ["worker", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "messages: 1 sent" in ran.output
    assert len(sink.all()) == 1
    engine = make_engine(cli_env)
    try:
        with session_factory(engine)() as session:
            assert session.get_one(Message, made).status == "sent"
    finally:
        engine.dispose()


def test_the_worker_queues_a_campaign_whose_time_has_come_and_sends_it_in_the_same_round(
    cli_env: str, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patron.db import make_engine, session_factory, utcnow
    from patron.engage import campaigns, library
    from patron.engage.schemas import CampaignCreate, VariantIn

    engine = make_engine(cli_env)
    try:
        with session_factory(engine)() as session:
            now = utcnow()
            people = [person(session, language="de") for _ in range(3)]
            library.install(session, now=now)
            session.commit()
            request = CampaignCreate(
                name="Newsletter",
                variants=[VariantIn(template="newsletter")],
                holdout_share=0.0,
                scheduled_at=now - timedelta(minutes=1),
            )
            campaigns.create(session, request, actor="test", now=now)
    finally:
        engine.dispose()
    monkeypatch.setenv("PATRON_SMTP_HOST", sink.host)
    monkeypatch.setenv("PATRON_SMTP_PORT", str(sink.port))
    monkeypatch.setenv("PATRON_SMTP_SECURITY", "none")
    monkeypatch.setenv("PATRON_CONTROL_SHARE", "0")
    monkeypatch.setenv("PATRON_QUIET_HOURS", "")  # the test runs at any hour
    ran = CliRunner().invoke(app, ["worker", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "campaigns: 1 campaigns, 3 queued" in ran.output
    assert "messages: 3 sent" in ran.output
    assert sorted(m.rcpt_tos[0] for m in sink.all()) == sorted(p.email for p in people)


def test_a_paused_campaigns_messages_wait_until_it_is_resumed(
    sessions: sessionmaker[Session], sink: Sink, clock: Clock
) -> None:
    from patron.engage import campaigns, library
    from patron.engage.schemas import CampaignCreate, VariantIn

    with sessions() as session:
        library.install(session, now=T0)
        session.commit()
        request = CampaignCreate(name="News", variants=[VariantIn(template="newsletter")])
        paused = campaigns.create(session, request, actor="test", now=T0).id
        going = campaigns.create(session, request, actor="test", now=T0).id
        for campaign_id in (paused, going):
            made = queue(session, person(session), key=f"c{campaign_id}:x:")
            session.execute(
                update(Message).where(Message.id == made).values(campaign_id=campaign_id)
            )
        session.commit()
        campaigns.schedule(session, paused, at=T0 + timedelta(days=1))
        campaigns.pause(session, paused)
    assert send(sessions, sink, clock).sent == 1
    [delivered] = sink.all()
    with sessions() as session:
        waiting = session.scalars(select(Message).where(Message.campaign_id == paused)).one()
        assert waiting.status == "queued"
        assert delivered.rcpt_tos != (waiting.recipient,)
        campaigns.resume(session, paused)
    assert send(sessions, sink, clock).sent == 1
    assert message(sessions, waiting.id).status == "sent"


# --- two workers -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_workers_never_send_the_same_message_twice(
    sessions: sessionmaker[Session], sink: Sink
) -> None:
    with sessions.begin() as session:
        made = [queue(session, person(session)) for _ in range(300)]
    settings = settings_for(sink)
    start = threading.Barrier(2)
    sent: dict[str, int] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait()
            total, deadline = 0, time.monotonic() + 60
            while time.monotonic() < deadline:
                run = sending.send_due(
                    sessions, settings, now_fn=lambda: datetime.now(UTC), batch=10
                )
                total += run.sent
                if run.handled == 0 and _queued(sessions) == 0:
                    break
            sent[name] = total
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)
    assert errors == []
    ids = Counter(r.message_id for r in sink.all())
    assert [m for m, times in ids.items() if times > 1] == []
    assert len(ids) == len(made) == sent["a"] + sent["b"]
    assert sent["a"] > 0
    assert sent["b"] > 0
    with sessions() as session:
        statuses = session.scalars(select(Message.status)).all()
    assert set(statuses) == {"sent"}


def _queued(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(Message.id).where(Message.status == "queued")).all())
