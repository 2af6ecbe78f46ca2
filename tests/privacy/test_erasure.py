"""Erasure leaves no personal data anywhere (the whole store searched afterwards), keeps the
books (order totals, points balances) and leaves other customers exactly as they were."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Consent, Customer, OrderLine
from patron.engage import audience
from patron.engage.models import Suppression
from patron.loyalty.models import Account, Entry
from patron.privacy import service
from patron.subscriptions.models import Subscription
from privacy import people


def _totals(session: Session) -> dict[int, Decimal]:
    query = select(OrderLine.order_id, func.sum(OrderLine.amount)).group_by(OrderLine.order_id)
    return {order: Decimal(total) for order, total in session.execute(query)}


def _balances(session: Session) -> dict[int, tuple[int, int]]:
    query = select(Entry.account_id, func.sum(Entry.amount)).group_by(Entry.account_id)
    sums = {account: int(total) for account, total in session.execute(query)}
    return {a.customer_id: (a.balance, int(sums[a.id])) for a in session.scalars(select(Account))}


def _rows_of(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row that refers to the customer, as it is stored."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for table in people.tables():
        keys = people.referring(session, customer_id).get(table.name, set())
        columns = table.primary_key.columns
        for row in people.rows(session, table):
            if tuple(row[c.name] for c in columns) in keys:
                found[table.name].append(row)
    return dict(found)


def test_erasure_leaves_no_personal_data_and_keeps_the_books(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        built = people.build(session)
        assert people.traces(session, people.EMAIL, people.NAME, people.PHONE)  # it was there
        totals, balances = _totals(session), _balances(session)
        bo = _rows_of(session, built.other)
        asked = service.request_erasure(session, built.person, source="portal", now=people.NOW)
        done = service.approve(session, asked.id, user_id=None, now=people.NOW)

    with sessions() as session:
        assert people.traces(session, people.EMAIL, people.NAME, people.PHONE) == []
        assert people.exact(session, "P-1") == []  # nor the shop's key for her
        assert _totals(session) == totals
        assert _balances(session) == balances
        assert _rows_of(session, built.other) == bo
        customer = session.get(Customer, built.person)
        assert customer is not None
        assert customer.erased_at == people.NOW
        assert (customer.name, customer.email, customer.phone, customer.birthday) == (None,) * 4
        assert (customer.external_id, customer.city) == (None, None)
        subscription = session.scalar(
            select(Subscription).where(Subscription.customer_id == built.person)
        )
        assert subscription is not None
        assert subscription.status == "cancelled"
        hashed = audience.erased_address("email", people.EMAIL.lower())
        assert session.scalars(select(Suppression.address)).all() == [hashed]
    assert done.status == "done"
    assert done.summary is not None
    assert done.summary["safety_net"] == {}, "a column the specific steps missed"
    assert done.summary["left_elsewhere"] == {}
    assert done.summary["deleted"] == {
        "account_assignments": 1,
        "consent_requests": 1,
        "portal_links": 1,
        "portal_sessions": 1,
    }
    assert done.summary["anonymised"]["case_entries"] == 2
    assert done.summary["suppressions"] == 1
    assert done.summary["subscriptions"] == 1


def test_the_suppressed_address_stays_blocked_when_it_comes_back(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        built = people.build(session)
        service.erase_now(session, built.person, user_id=None, now=people.NOW)
        again = Customer(external_id="P-9", name="Ingrid again", email=people.EMAIL)
        fresh = Customer(external_id="P-10", name="Someone new", email="new@example.no")
        session.add_all([again, fresh])
        session.flush()
        for customer in (again, fresh):
            session.add(
                Consent(
                    customer_id=customer.id,
                    channel="email",
                    purpose="marketing",
                    granted=True,
                    source="test",
                    recorded_at=people.NOW,
                )
            )
        session.commit()
        reachable = audience.reachable(
            session, channel="email", purpose="marketing", among=[again.id, fresh.id]
        )
        transactional = audience.reachable(
            session, channel="email", purpose="transactional", among=[again.id]
        )
    # her address was on the list for an unsubscribe: no marketing, service mail still allowed
    assert set(reachable) == {fresh.id}
    assert transactional == {again.id: people.EMAIL.lower()}


def test_the_safety_net_catches_what_no_column_marks_and_spares_namesakes(
    sessions: sessionmaker[Session],
) -> None:
    from patron.customers.models import ImportRun

    with sessions() as session:
        built = people.build(session)
        namesake = Customer(external_id="P-3", name=people.NAME, email="other.ingrid@example.no")
        run = ImportRun(
            kind="customers",
            file_name="crm.csv",
            layout="patron",
            started_at=people.NOW,
            finished_at=people.NOW,
            summary={"rejected": [{"row": 4, "email": people.EMAIL, "why": "bad phone"}]},
        )
        session.add_all([namesake, run])
        session.commit()
        done = service.erase_now(session, built.person, user_id=None, now=people.NOW)
        session.refresh(run)
        assert people.EMAIL not in str(run.summary)
        assert session.get(Customer, namesake.id).name == people.NAME  # type: ignore[union-attr]
    assert done.summary is not None
    assert done.summary["safety_net"] == {"import_runs.summary": 1}
    assert done.summary["left_elsewhere"] == {"customers.name": 1}


@pytest.mark.parametrize("twice", [False, True])
def test_erasing_again_changes_nothing(sessions: sessionmaker[Session], twice: bool) -> None:
    with sessions() as session:
        built = people.build(session)
        first = service.erase_now(session, built.person, user_id=None, now=people.NOW)
        before = _rows_of(session, built.person)
        if twice:
            again = service.erase_now(session, built.person, user_id=None, now=people.NOW)
            assert again == first
        assert _rows_of(session, built.person) == before


def test_an_erased_person_is_reached_on_no_channel(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        built = people.build(session)
        for channel in ("email", "push"):
            session.add(
                Consent(
                    customer_id=built.person,
                    channel=channel,
                    purpose="marketing",
                    granted=True,
                    source="test",
                    recorded_at=people.NOW,
                )
            )
        session.commit()
        before = audience.reachable(session, channel="push", purpose="marketing")
        service.erase_now(session, built.person, user_id=None, now=people.NOW)
        for channel in ("email", "sms", "push"):
            for purpose in ("marketing", "transactional"):
                found = audience.reachable(session, channel=channel, purpose=purpose)
                assert built.person not in found, (channel, purpose)
    assert built.person in before


def test_a_table_patron_never_heard_of_is_exported_and_scrubbed(
    sessions: sessionmaker[Session],
) -> None:
    """A newer area's table (here made by hand, unknown to the models): reflected, walked
    through its foreign key, exported, and cleaned by the safety net."""
    from sqlalchemy import text

    from patron.privacy.export import person_data

    with sessions() as session:
        built = people.build(session)
        session.execute(
            text(
                "CREATE TABLE hand_notes (id INTEGER PRIMARY KEY, customer_id INTEGER "
                "REFERENCES customers (id), body VARCHAR(500))"
            )
        )
        session.execute(
            text("INSERT INTO hand_notes VALUES (1, :c, :b), (2, :o, 'about Bo')"),
            {"c": built.person, "o": built.other, "b": f"{people.NAME} wrote from {people.EMAIL}"},
        )
        session.commit()
        try:
            exported = person_data(session, built.person, now=people.NOW)
            done = service.erase_now(session, built.person, user_id=None, now=people.NOW)
            left = session.execute(text("SELECT id, body FROM hand_notes ORDER BY id")).all()
        finally:
            session.rollback()
            session.execute(text("DROP TABLE hand_notes"))
            session.commit()
    assert exported["tables"]["hand_notes"] == [
        {"id": 1, "customer_id": built.person, "body": f"{people.NAME} wrote from {people.EMAIL}"}
    ]
    assert done.summary is not None
    assert done.summary["safety_net"] == {"hand_notes.body": 1}
    assert [tuple(row) for row in left] == [(1, "[erased] wrote from [erased]"), (2, "about Bo")]
