"""Consent and trust on the store (SQLite and PostgreSQL): a withdrawal stops queued marketing at
once, double opt-in, unsubscribe links, the suppression list, and open and click tracking."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import Settings, load_settings
from patron.customers import service as customers
from patron.customers.models import Consent, Interaction
from patron.engage import audience, consent, links
from patron.engage.messages import Outgoing, enqueue
from patron.engage.models import ConsentRequest, Message, Suppression
from patron.errors import PatronError
from patron.outbox.models import OutboxEvent

NOW = make.at(10)
SECRET = "a-test-secret-of-more-than-thirty-two-characters"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        environment="test",
        secret_key=SECRET,
        shop_name="Fjord & Co",
        public_url="https://shop.example/",
        language="en",
    )


def _customer(
    sessions: sessionmaker[Session], *, consent_to: tuple[str, ...] = (), **fields: Any
) -> int:
    """A customer who agreed to marketing on the given channels at T0."""
    with sessions.begin() as session:
        customer = make.customer(session, **fields)
        for channel in consent_to:
            make.consent(session, customer, channel=channel, purpose="marketing", granted=True)
        return customer.id


def _queue(
    sessions: sessionmaker[Session],
    customer_id: int | None,
    key: str,
    *,
    channel: str = "email",
    purpose: str = "marketing",
    recipient: str = "someone@example.org",
) -> int:
    item = Outgoing(
        key=key,
        customer_id=customer_id,
        channel=channel,
        purpose=purpose,
        language="en",
        recipient=recipient,
        subject="Hello",
        html="<p>Hello</p>",
        text="Hello\n",
        send_after=make.at(1),
    )
    with sessions.begin() as session:
        return enqueue(session, [item], now=make.at(1))[0]


def _statuses(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    with sessions() as session:
        rows = session.execute(select(Message.key, Message.status, Message.last_error))
        return {key: (status, error) for key, status, error in rows}


def _events(sessions: sessionmaker[Session], topic: str) -> list[dict[str, Any]]:
    with sessions() as session:
        query = select(OutboxEvent.payload).where(OutboxEvent.topic == topic)
        return list(session.scalars(query.order_by(OutboxEvent.id)))


def _count(sessions: sessionmaker[Session], model: type[Any], *where: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _marketing_email(sessions: sessionmaker[Session], customer_id: int) -> bool | None:
    with sessions() as session:
        for state in customers.consent_state(session, customer_id=customer_id):
            if (state.channel, state.purpose) == ("email", "marketing"):
                return state.granted
    return None


# --- consent changes ---------------------------------------------------------------------------


def test_a_withdrawal_cancels_queued_marketing_on_its_channel_at_once_and_nothing_else(
    sessions: sessionmaker[Session],
) -> None:
    anna = _customer(sessions, consent_to=("email", "sms"))
    ben = _customer(sessions, consent_to=("email",))
    _queue(sessions, anna, "news")
    _queue(sessions, anna, "receipt", purpose="transactional")
    _queue(sessions, anna, "sms-news", channel="sms", recipient="+4790000000")
    _queue(sessions, ben, "ben-news")
    sent = _queue(sessions, anna, "old-news")
    with sessions.begin() as session:
        session.get_one(Message, sent).status = "sent"

    with sessions() as session:
        change = consent.record_consent(
            session,
            customer_id=anna,
            channel="email",
            purpose="marketing",
            granted=False,
            source="hotline",
            now=NOW,
        )

    assert change.cancelled_messages == 1
    assert _statuses(sessions) == {
        "news": ("cancelled", "consent withdrawn"),
        "receipt": ("queued", None),
        "sms-news": ("queued", None),
        "ben-news": ("queued", None),
        "old-news": ("sent", None),
    }
    assert _marketing_email(sessions, anna) is False
    [event] = _events(sessions, "consent.changed")
    assert event["customer_id"] == anna
    assert (event["channel"], event["purpose"], event["granted"]) == ("email", "marketing", False)
    assert event["source"] == "hotline"
    assert event["cancelled_messages"] == 1
    assert datetime.fromisoformat(event["recorded_at"]) == NOW
    with sessions() as session:
        assert anna not in audience.reachable(session, channel="email", purpose="marketing")
        assert anna in audience.reachable(session, channel="email", purpose="transactional")


def test_granting_and_other_purposes_cancel_nothing(sessions: sessionmaker[Session]) -> None:
    anna = _customer(sessions)
    _queue(sessions, anna, "news")
    with sessions() as session:
        for purpose, granted in (("marketing", True), ("surveys", False), ("profiling", False)):
            change = consent.record_consent(
                session,
                customer_id=anna,
                channel="email",
                purpose=purpose,
                granted=granted,
                source="checkout",
                now=NOW,
            )
            assert change.cancelled_messages == 0
    assert _statuses(sessions) == {"news": ("queued", None)}
    assert len(_events(sessions, "consent.changed")) == 3


@pytest.mark.parametrize(
    ("channel", "purpose", "source"),
    [("fax", "marketing", "hotline"), ("email", "spam", "hotline"), ("email", "marketing", " ")],
)
def test_an_unknown_channel_purpose_or_empty_source_is_refused_and_changes_nothing(
    sessions: sessionmaker[Session], channel: str, purpose: str, source: str
) -> None:
    anna = _customer(sessions, consent_to=("email",))
    _queue(sessions, anna, "news")
    with sessions() as session, pytest.raises(PatronError) as raised:
        consent.record_consent(
            session,
            customer_id=anna,
            channel=channel,
            purpose=purpose,
            granted=False,
            source=source,
            now=NOW,
        )
    assert raised.value.code == "consent.invalid"
    assert _count(sessions, Consent) == 1
    assert _statuses(sessions) == {"news": ("queued", None)}
    assert _events(sessions, "consent.changed") == []


def test_consent_of_an_unknown_customer_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(PatronError) as raised:
        consent.record_consent(
            session,
            customer_id=999,
            channel="email",
            purpose="marketing",
            granted=True,
            source="x",
            now=NOW,
        )
    assert raised.value.code == "customers.not_found"


# --- double opt-in ---------------------------------------------------------------------------


def test_an_opt_in_request_queues_a_transactional_email_holding_the_link(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    greta = _customer(sessions, name="Greta", email=" Greta@Example.ORG ", language="de-AT")
    with sessions() as session:
        token = consent.request_opt_in(
            session, customer_id=greta, source="newsletter form", settings=settings, now=NOW
        )
    link = f"https://shop.example/optin/{token}"
    with sessions() as session:
        request = session.scalars(select(ConsentRequest)).one()
        message = session.scalars(select(Message)).one()
    assert message.key == f"optin:{request.id}"
    assert (message.channel, message.purpose, message.status) == (
        "email",
        "transactional",
        "queued",
    )
    assert message.recipient == "greta@example.org"
    assert message.language == "de"
    assert message.subject == "Bitte bestätigen: Neuigkeiten und Angebote von Fjord & Co"
    assert f'href="{link}"' in message.html
    assert "Fjord &amp; Co" in message.html
    assert "Hallo Greta" in message.html
    assert link in message.text
    assert message.send_after == NOW
    # only the token's hash is stored, so the database alone confirms nothing
    assert request.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert request.expires_at == NOW + consent.OPT_IN_VALID
    assert (request.channel, request.purpose, request.source) == (
        "email",
        "marketing",
        "newsletter form",
    )
    assert _marketing_email(sessions, greta) is None  # nothing granted before the click


def test_an_opt_in_speaks_norwegian_and_falls_back_to_the_shops_language(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    ola = _customer(sessions, language="nb")
    pierre = _customer(sessions, language="fr")
    with sessions() as session:
        for who in (ola, pierre):
            consent.request_opt_in(session, customer_id=who, source="x", settings=settings, now=NOW)
        rows = session.execute(select(Message.customer_id, Message.subject))
        subjects = dict(rows.all())
    assert subjects[ola] == "Bekreft: nyheter og tilbud fra Fjord & Co"
    assert subjects[pierre] == "Please confirm: news and offers from Fjord & Co"


def test_following_the_link_grants_consent_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    anna = _customer(sessions)
    with sessions() as session:
        token = consent.request_opt_in(
            session, customer_id=anna, source="form", settings=settings, now=NOW
        )
    later = make.at(12)
    with sessions() as session:
        first = consent.confirm_opt_in(session, token=token, now=later)
    with sessions() as session:
        second = consent.confirm_opt_in(session, token=token, now=make.at(13))
    assert (first.customer_id, first.channel, first.purpose, first.already) == (
        anna,
        "email",
        "marketing",
        False,
    )
    assert second.already is True
    with sessions() as session:
        [state] = customers.consent_state(session, customer_id=anna)
        request = session.scalars(select(ConsentRequest)).one()
        assert anna in audience.reachable(session, channel="email", purpose="marketing")
    assert (state.granted, state.source, state.recorded_at) == (True, "double_opt_in", later)
    assert request.confirmed_at == later
    assert _count(sessions, Consent) == 1
    assert len(_events(sessions, "consent.changed")) == 1


def test_expired_and_unknown_links_confirm_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    anna = _customer(sessions)
    with sessions() as session:
        token = consent.request_opt_in(
            session, customer_id=anna, source="form", settings=settings, now=NOW
        )
    with sessions() as session, pytest.raises(PatronError) as expired:
        consent.confirm_opt_in(session, token=token, now=NOW + consent.OPT_IN_VALID)
    assert (expired.value.code, expired.value.status) == ("consent.optin_expired", 410)
    for wrong in (token[:-1], "", token + "x"):
        with sessions() as session, pytest.raises(PatronError) as unknown:
            consent.confirm_opt_in(session, token=wrong, now=make.at(11))
        assert (unknown.value.code, unknown.value.status) == ("consent.optin_unknown", 404)
    assert _count(sessions, Consent) == 0
    with sessions() as session:
        assert session.scalars(select(ConsentRequest.confirmed_at)).one() is None


def test_an_opt_in_needs_an_email_address_that_is_not_blocked(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    nomail = _customer(sessions, email=None)
    bounced = _customer(sessions, email="gone@example.org")
    with sessions() as session:
        consent.suppress(
            session, channel="email", address="GONE@example.org", reason="hard_bounce", now=NOW
        )
    for who, code in ((nomail, "consent.no_address"), (bounced, "consent.address_suppressed")):
        with sessions() as session, pytest.raises(PatronError) as raised:
            consent.request_opt_in(session, customer_id=who, source="x", settings=settings, now=NOW)
        assert (raised.value.code, raised.value.status) == (code, 409)
    assert _count(sessions, ConsentRequest) == 0
    assert _count(sessions, Message) == 0


# --- unsubscribe -------------------------------------------------------------------------------


def test_unsubscribing_twice_records_one_withdrawal_and_cancels_queued_marketing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    anna = _customer(sessions, consent_to=("email",), email="Anna@Example.org", language="de")
    _queue(sessions, anna, "news")
    _queue(sessions, anna, "receipt", purpose="transactional")
    token = links.unsubscribe_token(SECRET, anna, "email")
    with sessions() as session:
        before = consent.unsubscribe_target(session, token=token, settings=settings)
    assert (before.address, before.language, before.already) == ("anna@example.org", "de", False)

    with sessions() as session:
        first = consent.unsubscribe(session, token=token, settings=settings, now=NOW)
    with sessions() as session:
        second = consent.unsubscribe(session, token=token, settings=settings, now=make.at(11))
    assert (first.already, second.already) == (False, True)
    assert _statuses(sessions) == {
        "news": ("cancelled", "consent withdrawn"),
        "receipt": ("queued", None),
    }
    assert _count(sessions, Consent, Consent.granted.is_(False)) == 1
    with sessions() as session:
        withdrawal = session.scalars(select(Consent).where(Consent.granted.is_(False))).one()
        assert consent.unsubscribe_target(session, token=token, settings=settings).already
    assert (withdrawal.source, withdrawal.recorded_at) == ("unsubscribe_link", NOW)
    assert len(_events(sessions, "consent.changed")) == 1


def test_unsubscribing_someone_who_never_agreed_records_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    dora = _customer(sessions)
    token = links.unsubscribe_token(SECRET, dora, "email")
    with sessions() as session:
        assert consent.unsubscribe_target(session, token=token, settings=settings).already
        assert consent.unsubscribe(session, token=token, settings=settings, now=NOW).already
    assert _count(sessions, Consent) == 0
    assert _events(sessions, "consent.changed") == []


def test_two_unsubscribes_at_once_record_one_withdrawal(
    engine: Engine, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """A double click (or a mail provider's one-click and the customer's own): the customer's
    row lock makes the second read the first's withdrawal. Ten races, so a missing lock shows."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    rounds = 10
    people = [_customer(sessions, consent_to=("email",)) for _ in range(rounds)]
    answers: list[list[bool]] = []
    for person in people:
        token = links.unsubscribe_token(SECRET, person, "email")
        start = threading.Barrier(2)
        found: list[bool] = []

        def click(
            token: str = token, start: threading.Barrier = start, found: list[bool] = found
        ) -> None:
            with sessions() as session:
                start.wait()
                done = consent.unsubscribe(session, token=token, settings=settings, now=NOW)
                found.append(done.already)

        threads = [threading.Thread(target=click) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answers.append(sorted(found))
    assert answers == [[False, True]] * rounds
    assert _count(sessions, Consent, Consent.granted.is_(False)) == rounds


def test_a_link_not_made_here_or_for_a_gone_customer_unsubscribes_nobody(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    anna = _customer(sessions, consent_to=("email",))
    token = links.unsubscribe_token(SECRET, anna, "email")
    forged = links.unsubscribe_token("another-shops-secret", anna, "email")
    gone = links.unsubscribe_token(SECRET, anna + 1000, "email")
    for wrong in (forged, token[:-2], gone):
        with sessions() as session, pytest.raises(links.BadLink) as raised:
            consent.unsubscribe(session, token=wrong, settings=settings, now=NOW)
        assert (raised.value.code, raised.value.status) == ("engage.bad_link", 404)
    assert _marketing_email(sessions, anna) is True


# --- the suppression list ---------------------------------------------------------------------


def test_suppressing_an_address_cancels_what_is_queued_to_it(
    sessions: sessionmaker[Session],
) -> None:
    anna = _customer(sessions, consent_to=("email",), email="anna@example.org")
    _queue(sessions, anna, "news", recipient="Anna@Example.org")
    _queue(sessions, anna, "receipt", purpose="transactional", recipient="anna@example.org ")
    _queue(sessions, None, "other", recipient="bob@example.org")
    _queue(sessions, None, "bob-receipt", purpose="transactional", recipient="bob@example.org")

    with sessions() as session:
        bounced = consent.suppress(
            session,
            channel="email",
            address="  ANNA@example.ORG ",
            reason="hard_bounce",
            note="550 no such user",
            now=NOW,
        )
        unsubscribed = consent.suppress(
            session, channel="email", address="bob@example.org", reason="unsubscribe", now=NOW
        )
    assert bounced.suppression.address == "anna@example.org"
    assert (bounced.suppression.reason, bounced.cancelled_messages) == ("hard_bounce", 2)
    assert unsubscribed.cancelled_messages == 1
    assert _statuses(sessions) == {
        "news": ("cancelled", "address suppressed (hard_bounce)"),
        "receipt": ("cancelled", "address suppressed (hard_bounce)"),
        "other": ("cancelled", "address suppressed (unsubscribe)"),
        "bob-receipt": ("queued", None),
    }
    with sessions() as session:
        assert anna not in audience.reachable(session, channel="email", purpose="transactional")


def test_suppressing_again_updates_but_an_unsubscribe_never_weakens_a_block(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        consent.suppress(
            session, channel="email", address="a@example.org", reason="complaint", now=NOW
        )
        again = consent.suppress(
            session,
            channel="email",
            address="A@example.org",
            reason="unsubscribe",
            note="list import",
            now=make.at(11),
        )
        manual = consent.suppress(
            session, channel="sms", address=" +4790000000 ", reason="unsubscribe", now=NOW
        )
        stronger = consent.suppress(
            session, channel="sms", address="+4790000000", reason="manual", now=NOW
        )
    assert (again.suppression.reason, again.suppression.note) == ("complaint", "list import")
    assert (manual.suppression.reason, stronger.suppression.reason) == ("unsubscribe", "manual")
    assert _count(sessions, Suppression) == 2


def test_the_suppression_list_pages_filters_and_forgets(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        for n in range(3):
            consent.suppress(
                session,
                channel="email",
                address=f"p{n}@example.org",
                reason="manual",
                now=make.at(n),
            )
        consent.suppress(session, channel="sms", address="+4711111111", reason="manual", now=NOW)
        everything = consent.suppressions(session)
        emails = consent.suppressions(session, channel="email", limit=2)
        consent.unsuppress(session, channel="email", address=" P1@example.org")
        left = consent.suppressions(session, channel="email")
        with pytest.raises(PatronError) as missing:
            consent.unsuppress(session, channel="email", address="p1@example.org")
        with pytest.raises(PatronError) as bad:
            consent.suppress(
                session, channel="email", address="no-at-sign", reason="manual", now=NOW
            )
        with pytest.raises(PatronError) as reason:
            consent.suppress(
                session, channel="email", address="x@example.org", reason="bored", now=NOW
            )
    assert everything.count == 4
    assert [row.address for row in everything.data] == [
        "+4711111111",
        "p2@example.org",
        "p1@example.org",
        "p0@example.org",
    ]
    assert (emails.count, [row.address for row in emails.data]) == (
        3,
        ["p2@example.org", "p1@example.org"],
    )
    assert [row.address for row in left.data] == ["p2@example.org", "p0@example.org"]
    assert (missing.value.code, missing.value.status) == ("suppressions.not_found", 404)
    assert bad.value.code == reason.value.code == "consent.invalid"


# --- open and click tracking -----------------------------------------------------------------


def _sent(sessions: sessionmaker[Session], customer_id: int | None, key: str) -> int:
    message_id = _queue(sessions, customer_id, key)
    with sessions.begin() as session:
        session.get_one(Message, message_id).status = "sent"
    return message_id


def _open_token(message_id: int) -> str:
    return links.open_url("", SECRET, message_id).removeprefix("/t/o/").removesuffix(".gif")


def _click_token(message_id: int, target: str) -> str:
    return links.click_url("", SECRET, message_id, target).removeprefix("/t/c/")


def test_an_open_is_recorded_the_first_time_only(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    anna = _customer(sessions)
    message_id = _sent(sessions, anna, "news")
    with sessions() as session:
        first = consent.record_open(
            session, token=_open_token(message_id), settings=settings, now=NOW
        )
        again = consent.record_open(
            session, token=_open_token(message_id), settings=settings, now=make.at(11)
        )
    assert (first, again) == (True, False)
    with sessions() as session:
        message = session.get_one(Message, message_id)
        interactions = session.scalars(select(Interaction)).all()
    assert (message.opened_at, message.clicked_at) == (NOW, None)
    assert [(i.customer_id, i.kind, i.occurred_at) for i in interactions] == [
        (anna, "email_open", NOW)
    ]
    assert interactions[0].payload == {"message_id": message_id, "campaign_id": None}
    [event] = _events(sessions, "message.opened")
    assert (event["message_id"], event["customer_id"]) == (message_id, anna)


def test_a_click_is_recorded_once_and_implies_an_open(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    anna = _customer(sessions)
    message_id = _sent(sessions, anna, "news")
    target = "https://shop.example/tea?utm=news"
    token = _click_token(message_id, target)
    with sessions() as session:
        assert consent.record_click(session, token=token, settings=settings, now=NOW) == target
        assert (
            consent.record_click(session, token=token, settings=settings, now=make.at(11)) == target
        )
        consent.record_open(
            session, token=_open_token(message_id), settings=settings, now=make.at(12)
        )
    with sessions() as session:
        message = session.get_one(Message, message_id)
        kinds = session.execute(
            select(Interaction.kind, Interaction.note).order_by(Interaction.id)
        ).all()
    assert (message.opened_at, message.clicked_at) == (NOW, NOW)
    assert sorted(kinds) == [("email_click", target), ("email_open", None)]
    assert len(_events(sessions, "message.opened")) == 1
    [clicked] = _events(sessions, "message.clicked")
    assert (clicked["message_id"], clicked["url"]) == (message_id, target)


def test_tracking_a_forged_link_records_nothing_and_a_deleted_message_still_forwards(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    anna = _customer(sessions)
    message_id = _sent(sessions, anna, "news")
    forged = (
        links.open_url("", "another-secret", message_id).removeprefix("/t/o/").removesuffix(".gif")
    )
    with sessions() as session, pytest.raises(links.BadLink):
        consent.record_open(session, token=forged, settings=settings, now=NOW)
    with sessions() as session:
        target = consent.record_click(
            session,
            token=_click_token(message_id + 99, "https://shop.example/"),
            settings=settings,
            now=NOW,
        )
    assert target == "https://shop.example/"
    assert _count(sessions, Interaction) == 0
    assert _events(sessions, "message.opened") == _events(sessions, "message.clicked") == []
