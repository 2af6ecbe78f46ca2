"""Events on the store (SQLite and PostgreSQL): guest lists from segments, invitations through
engagement that respect consent, RSVP links (accept, decline, capacity, expiry) and attendance
recorded as an interaction."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.accounts import shop
from patron.care.accounts import events
from patron.care.accounts.schemas import EventCreate, EventKind, EventStatus, EventUpdate
from patron.care.models import EventGuest
from patron.customers import service as customers
from patron.customers.models import Customer, Interaction
from patron.engage import holdout, links
from patron.engage.models import Campaign, Message
from patron.errors import PatronError

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
STARTS = datetime(2026, 9, 17, 8, 0, tzinfo=UTC)


@pytest.fixture
def config(database_url: str) -> shop.Settings:
    return shop.settings(
        database_url,
        control_share=0.0,
        secret_key="a-test-secret-of-more-than-thirty-two-characters",
        public_url="https://shop.example",
    )


def _event(sessions: sessionmaker[Session], **fields: object) -> str:
    values: dict[str, object] = {
        "key": "fair-2026",
        "name": "Autumn fair",
        "kind": EventKind.trade_fair,
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(hours=8),
        "place": "Hall 3",
        "segment": 'country = "NO"',
    }
    with sessions() as session:
        return events.create_event(
            session, EventCreate(**(values | fields)), actor="me", now=NOW
        ).key


def _people(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Norwegians with and without marketing consent, and a German."""
    with sessions.begin() as session:
        yes = make.customer(session, name="Kari Nordmann", country="NO", language="nb")
        withdrawn = make.customer(session, name="Ola", country="NO")
        never = make.customer(session, name="Per", country="NO")
        german = make.customer(session, name="Hans", country="DE", language="de")
        make.consent(session, yes, granted=True)
        make.consent(session, withdrawn, granted=True, recorded_at=make.at(1))
        make.consent(session, withdrawn, granted=False, recorded_at=make.at(2))
        make.consent(session, german, granted=True)
        return {"yes": yes.id, "withdrawn": withdrawn.id, "never": never.id, "german": german.id}


def _guests(sessions: sessionmaker[Session]) -> dict[int, EventGuest]:
    with sessions() as session:
        return {g.customer_id: g for g in session.scalars(select(EventGuest))}


def test_a_segment_builds_the_guest_list_and_single_guests_come_and_go(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    people = _people(sessions)
    key = _event(sessions)
    with sessions() as session:
        built = events.add_guests(session, key)  # the event's own segment
        assert (built.added, built.guests) == (3, 3)
        again = events.add_guests(session, key, segment='country = "NO"')
        assert (again.added, again.guests) == (0, 3)
        one = events.add_guests(session, key, customer_keys=[str(people["german"])])
        assert (one.added, one.guests) == (1, 4)
        gone = events.remove_guests(session, key, customer_keys=[str(people["never"])])
        assert (gone.removed, gone.guests) == (1, 3)
        with pytest.raises(PatronError) as bad:
            events.add_guests(session, key, segment="country = ")
        assert bad.value.code == "segment.invalid"
        with pytest.raises(PatronError) as unknown:
            events.add_guests(session, "no-such-event")
        assert unknown.value.code == "events.not_found"
    assert set(_guests(sessions)) == {people["yes"], people["withdrawn"], people["german"]}


def test_an_event_is_checked_when_made(sessions: sessionmaker[Session]) -> None:
    _event(sessions)
    with sessions() as session:
        for fields, code in (
            ({}, "events.exists"),
            ({"key": "other", "segment": "nonsense ="}, "segment.invalid"),
            ({"key": "other", "ends_at": STARTS - timedelta(hours=1)}, "events.invalid"),
        ):
            with pytest.raises(PatronError) as refused:
                events.create_event(
                    session,
                    EventCreate(
                        **(
                            {"key": "fair-2026", "name": "x", "starts_at": STARTS} | fields  # type: ignore[arg-type]
                        )
                    ),
                    actor=None,
                    now=NOW,
                )
            assert refused.value.code == code


def test_invitations_go_only_to_guests_with_consent_each_with_a_personal_rsvp_link(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    people = _people(sessions)
    key = _event(sessions)
    with sessions() as session:
        events.add_guests(session, key)
        run = events.invite(session, key, settings=config, actor="me", now=NOW)
    assert run.invited == 1
    assert {(u.customer_id, u.reason) for u in run.not_reachable} == {
        (people["withdrawn"], "consent"),
        (people["never"], "consent"),
    }
    assert run.campaigns == ["event-fair-2026-1"]
    with sessions() as session:
        sent = list(session.scalars(select(Message)))
        campaign = session.scalar(select(Campaign))
        assert campaign is not None
        assert (campaign.journey, campaign.purpose, campaign.holdout_share) == (
            "event_invitation",
            "marketing",
            0.0,
        )
    assert [m.customer_id for m in sent] == [people["yes"]]
    message = sent[0]
    assert message.language == "nb"
    assert "Autumn fair" in message.subject
    found = re.search(r'href="https://shop\.example/r/([^"]+)"', message.html)
    assert found is not None
    assert links.read_rsvp(config.secret_key, found[1], max_age_days=1) == (key, people["yes"])
    guests = _guests(sessions)
    assert guests[people["yes"]].invited_at == NOW
    assert guests[people["yes"]].message_id == message.id
    assert guests[people["withdrawn"]].invited_at is None
    # a second run invites nobody twice; a guest who agrees later is invited then
    with sessions.begin() as session:
        make.consent(session, session.get(Customer, people["never"]), granted=True, recorded_at=NOW)
    with sessions() as session:
        later = events.invite(
            session, key, settings=config, actor="me", now=NOW + timedelta(hours=1)
        )
        detail = events.detail(session, key, settings=config)
    assert (later.invited, later.already) == (1, 1)
    assert [u.customer_id for u in later.not_reachable] == [people["withdrawn"]]
    assert later.campaigns == ["event-fair-2026-2"]
    assert detail.event.counts is not None
    assert (detail.event.counts.guests, detail.event.counts.invited) == (3, 2)
    assert detail.event.status == EventStatus.invited
    waiting = {
        g.customer_id: (g.reachable, g.reason) for g in detail.guests if g.invited_at is None
    }
    assert waiting == {people["withdrawn"]: (False, "consent")}


def test_the_global_control_group_gets_no_invitation(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    config = shop.settings(database_url, control_share=0.5)
    with sessions.begin() as session:
        ids = []
        for _ in range(12):
            person = make.customer(session, country="NO")
            make.consent(session, person, granted=True)
            ids.append(person.id)
    held = holdout.control_group_mask(np.array(ids), share=0.5)
    expected_out = {c for c, out in zip(ids, held, strict=True) if out}
    assert 0 < len(expected_out) < len(ids)  # the draw splits this group (a fixed hash)
    key = _event(sessions)
    with sessions() as session:
        events.add_guests(session, key)
        run = events.invite(session, key, settings=config, actor=None, now=NOW)
        sent = set(session.scalars(select(Message.customer_id)))
    assert {u.customer_id for u in run.not_reachable if u.reason == "control_group"} == expected_out
    assert sent == set(ids) - expected_out


def _token(config: shop.Settings, key: str, customer_id: int) -> str:
    return links.rsvp_url("", config.secret_key, key, customer_id).removeprefix("/r/")


def test_a_guest_accepts_declines_and_changes_their_mind_within_capacity(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    people = _people(sessions)
    key = _event(sessions, capacity=4)
    with sessions() as session:
        events.add_guests(session, key)
        yes = events.respond(
            session,
            token=_token(config, key, people["yes"]),
            accept=True,
            companions=2,
            settings=config,
            now=NOW,
        )
        assert (yes.rsvp, yes.companions, yes.language) == ("accepted", 2, "nb")
        # 3 of 4 places are taken: one more with a companion does not fit
        with pytest.raises(PatronError) as full:
            events.respond(
                session,
                token=_token(config, key, people["never"]),
                accept=True,
                companions=1,
                settings=config,
                now=NOW,
            )
        assert full.value.code == "events.full"
        assert full.value.details == {"left": 1}
        alone = events.respond(
            session,
            token=_token(config, key, people["never"]),
            accept=True,
            companions=0,
            settings=config,
            now=NOW,
        )
        assert alone.rsvp == "accepted"
        # the first guest changes their mind: a place each for the others again
        no = events.respond(
            session,
            token=_token(config, key, people["yes"]),
            accept=False,
            companions=2,
            settings=config,
            now=NOW + timedelta(days=1),
        )
        assert (no.rsvp, no.companions) == ("declined", 0)
        counts = events.public(session, events.get_event(session, key)).counts
    assert counts is not None
    assert (counts.accepted, counts.declined, counts.no_answer, counts.expected) == (1, 1, 1, 1)
    guest = _guests(sessions)[people["yes"]]
    assert guest.responded_at == NOW + timedelta(days=1)


def test_an_rsvp_link_is_refused_when_forged_off_the_list_cancelled_or_over(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    people = _people(sessions)
    key = _event(sessions)
    with sessions() as session:
        events.add_guests(session, key)

        def answer(token: str, now: datetime = NOW) -> str:
            with pytest.raises(PatronError) as refused:
                events.respond(
                    session, token=token, accept=True, companions=0, settings=config, now=now
                )
            session.rollback()
            return refused.value.code

        good = _token(config, key, people["yes"])
        assert answer(good[:-3] + "abc") == "engage.bad_link"
        assert answer(_token(config, key, people["german"])) == "engage.bad_link"  # not a guest
        assert answer(good, now=STARTS + timedelta(hours=8)) == "engage.expired_link"
        assert answer(_token(config, "other-event", people["yes"])) == "engage.bad_link"
        events.update_event(session, key, EventUpdate(status=EventStatus.cancelled))
        assert answer(good) == "events.cancelled"
    assert _guests(sessions)[people["yes"]].rsvp == "none"


def test_attendance_is_recorded_once_as_an_interaction_on_the_timeline(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    people = _people(sessions)
    key = _event(sessions)
    with sessions() as session:
        events.add_guests(session, key)
        first = events.mark_attended(
            session,
            key,
            customer_keys=[str(people["yes"]), str(people["german"])],  # the German walked in
            actor="me",
            now=STARTS,
        )
        again = events.mark_attended(
            session, key, customer_keys=[str(people["yes"])], actor="me", now=STARTS
        )
        overview = customers.customer_overview(session, customer_id=people["yes"])
        counts = events.public(session, events.get_event(session, key)).counts
    assert (first.recorded, first.already, again.recorded, again.already) == (2, 0, 0, 1)
    assert counts is not None
    assert (counts.guests, counts.attended) == (4, 2)
    with sessions() as session:
        rows = session.scalars(select(Interaction).order_by(Interaction.customer_id)).all()
        assert [(i.customer_id, i.kind, i.payload["event"]) for i in rows if i.payload] == [
            (people["yes"], "event_attendance", key),
            (people["german"], "event_attendance", key),
        ]
    timeline = [e for e in overview.timeline if e.kind == "interaction"]
    assert [(e.interaction.kind, e.at) for e in timeline if e.interaction] == [
        ("event_attendance", STARTS)
    ]
