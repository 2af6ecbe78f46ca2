"""What a contract's dates set in motion: the account manager's task before the notice
deadline (once, due on the right day, unassigned without a manager), the renewal notice to the
customer over a real SMTP server (once per term), and the cancellation's confirmation."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from engage.smtp_sink import running_sink
from patron.care.models import AccountAssignment, Task
from patron.engage import sending
from patron.engage.models import Message
from patron.subscriptions import notices
from patron.subscriptions.models import Subscription, SubscriptionChange
from subscriptions.shop import at, settings, subscription

SHOP = settings()
# a 12-month contract from 1 March 2026 that renews by 12 months with 30 days' notice:
# its term ends on 28 February 2027, the notice deadline is 29 January 2027
CONTRACT = {
    "started_on": date(2026, 3, 1),
    "minimum_term_months": 12,
    "renewal_months": 12,
    "notice_days": 30,
    "term_ends_on": date(2027, 2, 28),
}


def _tasks(sessions: sessionmaker[Session]) -> list[tuple[str | None, int | None, date, str]]:
    with sessions() as session:
        rows = session.scalars(select(Task).order_by(Task.id))
        return [(t.key, t.owner_id, t.due_on, t.title) for t in rows]


def test_the_account_manager_is_reminded_once_before_the_notice_deadline(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        manager = make.user(session, "account_manager")
    with sessions.begin() as session:
        product = make.product(session)
        managed = make.customer(session)
        session.add(
            AccountAssignment(customer_id=managed.id, manager_id=manager.id, source="manual")
        )
        kept = subscription(session, managed, [(product, 1, None)], key="KEY-ACCOUNT", **CONTRACT)
        alone = subscription(
            session, make.customer(session), [(product, 1, None)], key="SOLO", **CONTRACT
        )
        subscription(
            session,
            make.customer(session),
            [(product, 1, None)],
            key="LEAVING",
            status="cancelled",
            ends_on=date(2027, 2, 28),
            **CONTRACT,
        )
        ids = (kept.id, alone.id)
    with sessions() as session:
        # 14 days before 29 January is 15 January
        assert notices.remind_account_managers(session, settings=SHOP, now=at(2027, 1, 14, 23)) == 0
        assert notices.remind_account_managers(session, settings=SHOP, now=at(2027, 1, 15, 8)) == 2
        assert notices.remind_account_managers(session, settings=SHOP, now=at(2027, 1, 20, 8)) == 0
    deadline = "before the notice deadline 2027-01-29"
    assert _tasks(sessions) == [
        (
            f"subscription-notice:{ids[0]}:2027-02-28",
            manager.id,
            date(2027, 1, 15),
            f"Talk to the customer about subscription KEY-ACCOUNT {deadline}",
        ),
        (
            f"subscription-notice:{ids[1]}:2027-02-28",
            None,
            date(2027, 1, 15),
            f"Talk to the customer about subscription SOLO {deadline}",
        ),
    ]
    with sessions() as session:
        note = session.scalars(select(Task.note)).first()
        assert note is not None
        assert "not to hold the customer to the contract" in note
        reminded = session.scalars(
            select(Subscription.reminded_for).where(Subscription.id.in_(ids))
        )
        assert set(reminded) == {date(2027, 2, 28)}


def test_a_contract_first_seen_after_its_deadline_gets_no_task(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        subscription(
            session, make.customer(session), [(make.product(session), 1, None)], **CONTRACT
        )
    with sessions() as session:
        assert notices.remind_account_managers(session, settings=SHOP, now=at(2027, 1, 30, 8)) == 0
    assert _tasks(sessions) == []


def test_the_renewal_notice_reaches_the_customer_once_per_term(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        anna = make.customer(
            session, external_id="ANNA", name="Anna Berg", email="anna@example.org", language="de"
        )
        subscription(session, anna, [(product, 1, None)], key="S-000123", **CONTRACT)
        subscription(
            session,
            make.customer(session, email=None),
            [(product, 1, None)],
            key="NO-MAIL",
            **CONTRACT,
        )
    with running_sink() as sink:
        outgoing = settings(smtp_host=sink.host, smtp_port=sink.port)
        with sessions() as session:
            early = notices.send_renewal_notices(session, settings=outgoing, now=at(2027, 1, 28, 8))
            due = notices.send_renewal_notices(session, settings=outgoing, now=at(2027, 1, 29, 8))
            again = notices.send_renewal_notices(session, settings=outgoing, now=at(2027, 2, 1, 8))
        assert early == {"sent": 0, "unsent": 0}
        assert due == {"sent": 1, "unsent": 1}
        assert again == {"sent": 0, "unsent": 0}
        run = sending.send_due(sessions, outgoing, now_fn=lambda: at(2027, 1, 29, 8, 1))
        assert run.counts()["sent"] == 1
        [got] = sink.all()
    assert got.rcpt_tos == ("anna@example.org",)
    assert str(got.message["Subject"]) == (
        "Ihr Abonnement S-000123 verlängert sich nach dem 28. Februar 2027"
    )
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "29. Februar 2028" in text  # the next term ends on the leap day
    assert "bis zum 29. Januar 2027 kündigen" in " ".join(text.split())
    assert "https://shop.example/portal" in text
    with sessions() as session:
        notes = session.execute(
            select(Subscription.key, SubscriptionChange.details)
            .join(Subscription)
            .where(SubscriptionChange.kind == "renewal_notice")
            .order_by(Subscription.key)
        ).all()
    assert [(key, details["sent"]) for key, details in notes] == [
        ("NO-MAIL", False),
        ("S-000123", True),
    ]


def test_the_cancellation_is_confirmed_with_the_last_delivery(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        row = subscription(
            session,
            make.customer(session, language="en"),
            [(make.product(session), 1, None)],
            key="BYE",
            interval_unit="week",
            anchor_day=None,
            status="cancelled",
            ends_on=date(2026, 12, 20),
        )
        subscription_id = row.id
    with sessions() as session:
        row = session.get_one(Subscription, subscription_id)
        assert notices.last_delivery(session, row) == date(2026, 12, 15)
        assert notices.confirm_cancellation(session, row, settings=SHOP, now=at(2026, 12, 1, 9))
        assert notices.confirm_cancellation(session, row, settings=SHOP, now=at(2026, 12, 1, 9))
    with sessions() as session:
        [message] = session.scalars(select(Message)).all()
    assert (
        message.subject == "Cancellation confirmed: your subscription BYE ends on 20 December 2026"
    )
    assert "15 December 2026" in message.text
