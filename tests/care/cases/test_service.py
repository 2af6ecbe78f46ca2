"""Cases on SQLite and PostgreSQL: deadlines fixed on opening in working hours (A-customers
faster), the status flow, replies and the CSAT survey as real queued e-mails, assignment, the
queue, and the worker's watch over the deadlines."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.cases.helpers import berlin, settings, snapshot
from patron.care.cases import notices, service
from patron.care.models import Case, CaseEntry
from patron.care.surveys import service as surveys
from patron.engage import links
from patron.engage.models import Message
from patron.errors import NotFound, PatronError
from patron.outbox.models import OutboxEvent

SETTINGS = settings()
# Monday 2 March 2026, 09:00 in Berlin (UTC+1): an office week of 08:00-17:00, Monday to Friday
MONDAY = berlin(2026, 3, 2, 9, 0)


def _open(session: Session, customer: str, **more: object) -> int:
    values: dict[str, object] = {
        "subject": "Parcel arrived damaged",
        "description": "The cup was broken when it arrived.",
        "category": "damaged",
        "channel": "phone",
        "settings": SETTINGS,
        "now": MONDAY,
    }
    made, created = service.open_case(session, customer=customer, **(values | more))  # type: ignore[arg-type]
    assert created
    return made.id


def _entries(session: Session, case_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(CaseEntry.kind, CaseEntry.body)
        .where(CaseEntry.case_id == case_id)
        .order_by(CaseEntry.id)
    )
    return [(kind, body) for kind, body in rows]


# --- opening -----------------------------------------------------------------------------------


def test_deadlines_count_working_hours_and_a_customers_get_half(
    sessions: sessionmaker[Session],
) -> None:
    friday = berlin(2026, 3, 6, 15, 0)  # two working hours before the weekend
    with sessions.begin() as session:
        top = make.customer(session, external_id="TOP")
        small = make.customer(session, external_id="SMALL")
        make.customer(session, external_id="NEW")
        # the newest snapshot counts: TOP was a C-customer once, is an A-customer now
        snapshot(session, MONDAY - timedelta(days=60), {top.id: {"abc": "C"}})
        snapshot(
            session, MONDAY - timedelta(days=3), {top.id: {"abc": "A"}, small.id: {"abc": "C"}}
        )
    with sessions() as session:
        opened = {
            key: service.open_case(
                session,
                customer=key,
                subject="Late delivery",
                description="Where is my parcel?",
                category="delivery",
                priority="normal",
                settings=SETTINGS,
                now=friday,
            )[0]
            for key in ("TOP", "SMALL", "NEW")
        }
    # normal priority: 4 / 20 working hours for A, 8 / 40 for everyone else (the built-in
    # policies); counted from Friday 15:00 with two hours left that day
    a, c, new = opened["TOP"], opened["SMALL"], opened["NEW"]
    assert (a.customer_class, c.customer_class, new.customer_class) == ("A", "C", None)
    assert a.first_response_due == berlin(2026, 3, 9, 10, 0)  # 2 h Fri + 2 h Mon
    assert a.resolution_due == berlin(2026, 3, 10, 17, 0)  # 2 + 9 Mon + 9 Tue
    assert c.first_response_due == berlin(2026, 3, 9, 14, 0)  # 2 h Fri + 6 h Mon
    assert c.resolution_due == berlin(2026, 3, 13, 10, 0)  # 2 + 4 × 9 + 2 h next Friday
    assert (new.first_response_due, new.resolution_due) == (c.first_response_due, c.resolution_due)
    assert a.sla_policy != c.sla_policy
    assert a.status == "new"
    assert [(e.kind, e.body) for e in a.entries] == [("customer", "Where is my parcel?")]


def test_a_case_links_an_order_of_its_customer_only(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="ANNA")
        ben = make.customer(session, external_id="BEN")
        make.order(session, anna, external_id="A-1")
        make.order(session, ben, external_id="B-1")
    with sessions() as session:
        case_id = _open(session, "ANNA", order="A-1")
        assert (
            service.detail(
                session, case_id=case_id, settings=SETTINGS, now=MONDAY
            ).order_external_id
            == "A-1"
        )
        with pytest.raises(PatronError) as caught:
            _open(session, "ANNA", order="B-1")
        assert caught.value.details["field"] == "order"
        with pytest.raises(NotFound):
            _open(session, "ANNA", order="NOPE")
        with pytest.raises(PatronError) as bad:
            _open(session, "ANNA", category="weather")
        assert bad.value.details["field"] == "category"
        with pytest.raises(NotFound):
            _open(session, "NOBODY")
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_the_same_idempotency_key_opens_one_case(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA")
    with sessions() as session:
        first, created = service.open_case(
            session,
            customer="ANNA",
            subject="S",
            description="D",
            key="shop-17",
            settings=SETTINGS,
            now=MONDAY,
        )
        again, created_again = service.open_case(
            session,
            customer="ANNA",
            subject="other",
            description="other",
            key="shop-17",
            settings=SETTINGS,
            now=MONDAY + timedelta(hours=1),
        )
        assert (created, created_again) == (True, False)
        assert again.id == first.id
        assert again.subject == "S"
        assert session.scalar(select(func.count()).select_from(Case)) == 1


# --- the status flow ---------------------------------------------------------------------------


def test_the_flow_refuses_a_move_it_does_not_allow_and_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", email=None)
    with sessions() as session:
        case_id = _open(session, "ANNA")
        later = MONDAY + timedelta(hours=1)
        service.change_status(
            session,
            case_id=case_id,
            status="in_progress",
            author="agent@shop.example",
            settings=SETTINGS,
            now=later,
        )
        service.resolve(
            session, case_id=case_id, author="agent@shop.example", settings=SETTINGS, now=later
        )
        before = _entries(session, case_id)
        with pytest.raises(PatronError) as caught:
            service.change_status(
                session, case_id=case_id, status="waiting", author="x", settings=SETTINGS, now=later
            )
        assert caught.value.code == "cases.transition"
        assert "from resolved to waiting" in caught.value.message
        assert caught.value.details["from"] == "resolved"
        assert caught.value.details["to"] == "waiting"
        assert _entries(session, case_id) == before
        # reopening a resolved case is allowed; it is no longer resolved
        reopened = service.change_status(
            session, case_id=case_id, status="in_progress", author="x", settings=SETTINGS, now=later
        )
        assert (reopened.status, reopened.resolved_at) == ("in_progress", None)
        closed = service.change_status(
            session, case_id=case_id, status="closed", author="x", settings=SETTINGS, now=later
        )
        assert closed.closed_at == later
        with pytest.raises(PatronError, match="from closed to in_progress; it is final"):
            service.change_status(
                session,
                case_id=case_id,
                status="in_progress",
                author="x",
                settings=SETTINGS,
                now=later,
            )
        session.rollback()
        assert session.get_one(Case, case_id).status == "closed"
        changes = [body for kind, body in _entries(session, case_id) if kind == "change"]
        assert "status: new → in_progress" in changes
        assert "status: resolved → in_progress" in changes
        assert changes[-1] == "status: in_progress → closed"


# --- replies and notes -------------------------------------------------------------------------


def test_a_reply_queues_an_email_with_the_case_marker_and_counts_as_first_response(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        make.customer(
            session, external_id="ANNA", name="Anna Berg", email="anna@example.org", language="de"
        )
    later = MONDAY + timedelta(hours=2)
    with sessions() as session:
        case_id = _open(session, "ANNA")
        note = service.add_note(
            session, case_id=case_id, body="Check the courier.", author="a@shop", now=later
        )
        assert note.kind == "note"
        entry = service.reply(
            session,
            case_id=case_id,
            body="We are sorry.\n\nA new cup is on its way.",
            author="agent@shop.example",
            settings=SETTINGS,
            now=later,
            wait=True,
        )
        message = session.scalar(select(Message).where(Message.key == f"t:case-reply:{entry.id}"))
        assert message is not None
        assert entry.message_id == message.id
        assert message.recipient == "anna@example.org"
        assert message.purpose == "transactional"
        assert notices.case_in_subject(message.subject) == case_id
        assert f"[Case #{case_id}]" in message.subject
        assert "Parcel arrived damaged" in message.subject
        assert "<p>We are sorry.</p>" in message.html
        assert "A new cup is on its way." in message.text
        assert message.text.startswith("Hallo Anna,")
        row = session.get_one(Case, case_id)
        assert (row.first_response_at, row.status) == (later, "waiting")
        # a second reply keeps the first response's time
        service.reply(
            session,
            case_id=case_id,
            body="Any news?",
            author="b",
            settings=SETTINGS,
            now=later + timedelta(hours=1),
            send=False,
        )
        session.refresh(row)
        assert row.first_response_at == later
        assert session.scalar(select(func.count()).select_from(Message)) == 1
        kinds = [kind for kind, _ in _entries(session, case_id)]
        assert kinds == ["customer", "note", "reply", "change", "reply"]


def test_a_reply_to_an_unreachable_customer_is_refused_and_records_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", email=None)
    with sessions() as session:
        case_id = _open(session, "ANNA")
        with pytest.raises(PatronError) as caught:
            service.reply(
                session, case_id=case_id, body="Hello", author="a", settings=SETTINGS, now=MONDAY
            )
        assert caught.value.code == "message.unreachable"
        assert _entries(session, case_id) == [("customer", "The cup was broken when it arrived.")]
        assert session.get_one(Case, case_id).first_response_at is None


# --- resolving ---------------------------------------------------------------------------------


def test_resolving_queues_the_csat_survey_whose_link_names_the_case(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="ANNA", email="anna@example.org", language="en")
        anna_id = anna.id
    later = MONDAY + timedelta(days=1)
    with sessions() as session:
        case_id = _open(session, "ANNA")
        resolved = service.resolve(
            session, case_id=case_id, author="a", settings=SETTINGS, now=later
        )
        assert (resolved.status, resolved.resolved_at) == ("resolved", later)
        message = session.scalar(select(Message).where(Message.key == f"t:case-csat:{case_id}"))
        assert message is not None
        assert f"[Case #{case_id}]" in message.subject
        urls = set(re.findall(r'href="([^"]+)"', message.html))
        scored = {u for u in urls if "score=" in u}
        assert len(scored) == 5
        token = re.search(r"/s/([^?&\"]+)", scored.pop())
        assert token is not None
        assert links.read_survey(SETTINGS.secret_key, token[1], max_age_days=30) == (
            "csat",
            anna_id,
            f"case:{case_id}",
        )
        # reopened and resolved again: the customer is asked once per case
        service.change_status(
            session, case_id=case_id, status="in_progress", author="a", settings=SETTINGS, now=later
        )
        service.resolve(session, case_id=case_id, author="a", settings=SETTINGS, now=later)
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_an_unreachable_customer_is_resolved_all_the_same(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", email=None)
    with sessions() as session:
        case_id = _open(session, "ANNA")
        resolved = service.resolve(
            session, case_id=case_id, author="a", settings=SETTINGS, now=MONDAY
        )
        assert resolved.status == "resolved"
        assert resolved.entries[-1].kind == "change"
        assert "survey could not be sent" in resolved.entries[-1].body
        assert session.scalar(select(func.count()).select_from(Message)) == 0
    with sessions() as session:  # committed
        assert session.get_one(Case, case_id).status == "resolved"


def test_the_customers_csat_answer_is_stored_on_the_case(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        anna_id = make.customer(session, external_id="ANNA").id
    with sessions() as session:
        case_id = _open(session, "ANNA")
        service.resolve(session, case_id=case_id, author="a", settings=SETTINGS, now=MONDAY)
        message = session.scalar(
            select(Message.html).where(Message.key == f"t:case-csat:{case_id}")
        )
        token = re.search(r"/s/([^?&\"]+)", message or "")
        assert token is not None
        # the customer clicks "4" in the e-mail: the survey page answers for the link's invitation
        surveys.answer_link(session, token=token[1], settings=SETTINGS, score=4, now=MONDAY)
        found = service.detail(session, case_id=case_id, settings=SETTINGS, now=MONDAY)
        assert found.csat_score == 4
        assert found.customer_id == anna_id


# --- assignment and the queue ------------------------------------------------------------------


def test_assignment_takes_agents_only_and_the_queue_sorts_by_the_next_deadline(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        agent = make.user(session, "service_agent")
        analyst = make.user(session, "analyst")
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA")
    with sessions() as session:
        # normal: first response in 8 working hours; urgent in 1; low in 16
        normal = _open(session, "ANNA", priority="normal")
        urgent = _open(session, "ANNA", priority="urgent")
        low = _open(session, "ANNA", priority="low", now=MONDAY - timedelta(days=7))
        answered = _open(session, "ANNA", priority="high", channel="phone")
        service.reply(
            session,
            case_id=answered,
            body="On it.",
            author="a",
            settings=SETTINGS,
            now=MONDAY,
            send=False,
        )
        done = _open(session, "ANNA")
        service.change_status(
            session, case_id=done, status="closed", author="a", settings=SETTINGS, now=MONDAY
        )
        with pytest.raises(PatronError) as caught:
            service.assign(
                session,
                case_id=normal,
                assignee_id=analyst.id,
                team=None,
                author="a",
                settings=SETTINGS,
                now=MONDAY,
            )
        assert caught.value.details["field"] == "assignee_id"
        for case_id in (normal, low):
            service.assign(
                session,
                case_id=case_id,
                assignee_id=agent.id,
                team="returns",
                author="a",
                settings=SETTINGS,
                now=MONDAY,
            )
        now = MONDAY + timedelta(minutes=30)
        everything = service.queue(session, settings=SETTINGS, now=now, view="all").data
        # due: low a week ago + 16 h (breached); urgent at 10:00 (at risk: 0.5 h left);
        # normal at 17:00 (ok: 7.5 h); answered: its resolution in 16 h (ok)
        assert [c.id for c in everything] == [low, urgent, normal, answered]
        states = {c.id: (c.due_state.value, c.working_hours_left) for c in everything}
        assert states[urgent] == ("at_risk", pytest.approx(0.5))
        assert states[normal] == ("ok", pytest.approx(7.5))
        assert states[low][0] == "breached"
        assert states[low][1] == pytest.approx(-(45 - 16 + 0.5))  # 5 × 9 h since Monday 09:00
        assert states[answered][0] == "ok"
        assert everything[3].due_at == everything[3].resolution_due
        mine = service.queue(session, settings=SETTINGS, now=now, view="mine", user_id=agent.id)
        assert [c.id for c in mine.data] == [low, normal]
        assert mine.data[0].assignee == agent.email
        team = service.queue(session, settings=SETTINGS, now=now, view="team", team="returns")
        assert team.count == 2
        unassigned = service.queue(session, settings=SETTINGS, now=now, view="unassigned")
        assert [c.id for c in unassigned.data] == [urgent, answered]


# --- the worker's watch ------------------------------------------------------------------------


def _events(session: Session) -> list[tuple[str, dict[str, object]]]:
    rows = session.execute(select(OutboxEvent.topic, OutboxEvent.payload).order_by(OutboxEvent.id))
    return [(topic, dict(payload)) for topic, payload in rows]


def test_the_watch_warns_and_records_a_breach_exactly_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA")
    with sessions() as session:
        case_id = _open(session, "ANNA")  # first response due Monday 17:00, warn from 15:00
    due = berlin(2026, 3, 2, 17, 0)

    def check(at: object) -> dict[str, int]:
        with sessions() as session:
            return service.check_deadlines(session, settings=SETTINGS, now=at)  # type: ignore[arg-type]

    assert check(berlin(2026, 3, 2, 14, 59)) == {"warnings": 0, "breaches": 0}
    assert check(berlin(2026, 3, 2, 15, 0)) == {"warnings": 1, "breaches": 0}
    assert check(berlin(2026, 3, 2, 16, 0)) == {"warnings": 0, "breaches": 0}
    assert check(due) == {"warnings": 0, "breaches": 1}
    assert check(due + timedelta(hours=1)) == {"warnings": 0, "breaches": 0}
    with sessions() as session:
        row = session.get_one(Case, case_id)
        assert row.first_response_warned_at == berlin(2026, 3, 2, 15, 0)
        assert row.first_response_breached_at == due
        assert row.resolution_warned_at is None
        events = _events(session)
    assert [topic for topic, _ in events] == ["case.sla_warning", "case.sla_breached"]
    for _, payload in events:
        assert payload["case_id"] == case_id
        assert payload["deadline"] == "first_response"
        assert payload["due"] == due.isoformat()
    # resolution: 40 working hours from Monday 09:00 end on Friday 13:00
    resolution_due = berlin(2026, 3, 6, 13, 0)
    assert check(resolution_due + timedelta(minutes=1)) == {"warnings": 0, "breaches": 1}
    with sessions() as session:
        assert session.get_one(Case, case_id).resolution_warned_at is None  # passed unseen
        assert [t for t, _ in _events(session)][-1] == "case.sla_breached"
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 3


def test_the_watch_leaves_answered_and_resolved_cases_alone(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA")
    with sessions() as session:
        answered = _open(session, "ANNA")
        service.reply(
            session,
            case_id=answered,
            body="Hi",
            author="a",
            settings=SETTINGS,
            now=MONDAY,
            send=False,
        )
        resolved = _open(session, "ANNA")
        service.change_status(
            session, case_id=resolved, status="closed", author="a", settings=SETTINGS, now=MONDAY
        )
        counts = service.check_deadlines(session, settings=SETTINGS, now=berlin(2026, 3, 2, 17, 30))
        assert counts == {"warnings": 0, "breaches": 0}
        assert _events(session) == []
