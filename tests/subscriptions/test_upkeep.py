"""The worker's whole subscription round: what it does in order, renewals of terms nobody
cancelled, open-ended contracts after their minimum term, and a quiet round that reports nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.outbox.models import OutboxEvent
from patron.subscriptions import contracts, upkeep
from patron.subscriptions.models import Subscription, SubscriptionChange, SubscriptionDelivery
from subscriptions.shop import at, settings, subscription

SHOP = settings()


def _term(sessions: sessionmaker[Session], key: str) -> date | None:
    with sessions() as session:
        return session.scalar(select(Subscription.term_ends_on).where(Subscription.key == key))


def test_a_term_nobody_cancelled_renews_the_day_after_it_ends(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        customer = make.customer(session)
        subscription(
            session,
            customer,
            [(product, 1, None)],
            key="RENEW",
            minimum_term_months=12,
            renewal_months=12,
            notice_days=30,
            started_on=date(2026, 3, 15),
            term_ends_on=date(2027, 3, 14),
        )
        subscription(
            session,
            customer,
            [(product, 1, None)],
            key="RUN-ON",
            minimum_term_months=6,
            renewal_months=0,
            term_ends_on=date(2027, 3, 14),
        )
        subscription(
            session,
            customer,
            [(product, 1, None)],
            key="CANCELLED",
            status="cancelled",
            minimum_term_months=12,
            renewal_months=12,
            term_ends_on=date(2027, 3, 14),
            ends_on=date(2027, 3, 14),
        )
    with sessions() as session:
        on_the_last_day = contracts.renew_due(session, settings=SHOP, now=at(2027, 3, 14, 23, 50))
        assert on_the_last_day == {"renewed": 0, "open_ended": 0}
        assert contracts.renew_due(session, settings=SHOP, now=at(2027, 3, 15, 0, 10)) == {
            "renewed": 1,
            "open_ended": 1,
        }
        assert contracts.renew_due(session, settings=SHOP, now=at(2027, 3, 15, 9)) == {
            "renewed": 0,
            "open_ended": 0,
        }
    assert _term(sessions, "RENEW") == date(2028, 3, 14)
    assert _term(sessions, "RUN-ON") is None
    assert _term(sessions, "CANCELLED") == date(2027, 3, 14)
    with sessions() as session:
        changes = session.execute(
            select(Subscription.key, SubscriptionChange.details)
            .join(Subscription)
            .where(SubscriptionChange.kind == "renewed")
            .order_by(Subscription.key)
        ).all()
        topics = list(session.scalars(select(OutboxEvent.topic)))
    assert changes == [
        ("RENEW", {"term_ended_on": "2027-03-14", "term_ends_on": "2028-03-14"}),
        ("RUN-ON", {"term_ended_on": "2027-03-14", "term_ends_on": None}),
    ]
    assert topics == ["subscription.renewed", "subscription.renewed"]


def test_one_round_resumes_announces_links_renews_ends_and_reminds(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        product = make.product(session)
        anna = make.customer(session)
        subscription(session, anna, [(product, 1, None)], key="DUE")
        subscription(
            session,
            anna,
            [(product, 1, None)],
            key="PAUSED",
            status="paused",
            next_due=date(2026, 11, 1),
            paused_until=date(2026, 12, 1),
        )
        subscription(
            session,
            anna,
            [(product, 1, None)],
            key="ENDING",
            status="cancelled",
            next_due=date(2026, 12, 15),
            ends_on=date(2026, 11, 30),
        )
        subscription(
            session,
            anna,
            [(product, 1, None)],
            key="TERM",
            next_due=date(2026, 12, 20),
            minimum_term_months=12,
            renewal_months=12,
            notice_days=30,
            term_ends_on=date(2026, 11, 30),
        )
        make.order(session, anna, external_id="SO-1", subscription_ref="DUE/2026-12-01")
    with sessions() as session:
        first = upkeep.run_due(session, settings=SHOP, now=at(2026, 12, 1, 8))
        again = upkeep.run_due(session, settings=SHOP, now=at(2026, 12, 1, 8, 5))
    assert first == {
        "resumed": 1,
        "announced": 2,
        "fulfilled": 1,
        "renewed": 1,
        "ended": 1,
    }
    assert again == {}
    with sessions() as session:
        linked = session.execute(
            select(SubscriptionDelivery.reference, SubscriptionDelivery.status).order_by(
                SubscriptionDelivery.reference
            )
        ).all()
    assert linked == [("DUE/2026-12-01", "fulfilled"), ("PAUSED/2026-12-01", "announced")]
