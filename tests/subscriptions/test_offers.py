"""Offering a subscription to analytics' candidates: the rhythm a person would choose, the
candidates (not those who subscribe already, not the erased), the offer through engagement's
consent, control group and holdout with the message in the customer's language, no second
offer within 90 days, and what the offers brought."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.cases.helpers import snapshot
from patron.customers.models import Customer, Product
from patron.engage import holdout
from patron.engage.models import Campaign, CampaignMember, Message
from patron.errors import NotFound
from patron.subscriptions import offers
from patron.subscriptions.offers import OfferIn, interval_words, percent_words, suggest_rhythm
from subscriptions.shop import settings, subscription

NOW = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)
SETTINGS = settings(control_share=0.0)


@pytest.mark.parametrize(
    ("days", "unit", "count"),
    [
        (1, "day", 1),
        (6, "week", 1),
        (7, "week", 1),
        (8, "week", 1),
        (10, "day", 10),
        (13.6, "week", 2),
        (14, "week", 2),
        (21, "week", 3),
        (28, "week", 4),
        (28.3, "week", 4),  # 2.1 days from a month: still four weeks
        (29, "month", 1),
        (30.5, "month", 1),
        (32, "month", 1),
        (33, "day", 33),  # 2.6 days from a month, 2 from five weeks
        (35, "week", 5),
        (45, "day", 45),
        (60, "month", 2),
        (63, "month", 2),
        (90, "month", 3),
        (100, "day", 100),
        (365, "month", 12),
        (400, "month", 12),  # at most a year's rhythm
    ],
)
def test_the_suggested_rhythm_is_one_a_person_would_choose(
    days: float, unit: str, count: int
) -> None:
    rhythm = suggest_rhythm(days)
    assert (rhythm.unit, rhythm.count) == (unit, count)


def test_a_rhythm_and_a_discount_in_words() -> None:
    weeks, month = suggest_rhythm(28), suggest_rhythm(30)
    assert [interval_words(weeks, lang) for lang in ("de", "en", "nb")] == [
        "alle 4 Wochen",
        "every 4 weeks",
        "hver 4. uke",
    ]
    assert [interval_words(month, lang) for lang in ("de", "en", "nb")] == [
        "jeden Monat",
        "every month",
        "hver måned",
    ]
    assert interval_words(suggest_rhythm(45), "de") == "alle 45 Tage"
    assert interval_words(suggest_rhythm(1), "nb") == "hver dag"
    assert percent_words(Decimal("10.00"), "de") == "10 %"
    assert percent_words(Decimal("12.50"), "en") == "12.5%"
    assert percent_words(Decimal("12.5"), "nb") == "12,5 %"


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Regular buyers: ANNA (espresso every 28.3 days, German), BEN (espresso, 30.5 days,
    English), CARL (tea, 14 days, no consent), DORA (subscribes already), EVE (erased), FRED
    (offered ten days ago); GUS buys irregularly."""
    with sessions() as session:
        espresso = make.product(session, sku="ESP-1000", name="Espresso beans 1 kg")
        tea = make.product(session, sku="TEA-100", name="Green tea 100 g")
        people = {
            "ANNA": make.customer(session, external_id="ANNA", language="de"),
            "BEN": make.customer(session, external_id="BEN", language="en"),
            "CARL": make.customer(session, external_id="CARL", language="nb"),
            "DORA": make.customer(session, external_id="DORA"),
            "EVE": make.customer(session, external_id="EVE", erased_at=NOW - timedelta(days=3)),
            "FRED": make.customer(session, external_id="FRED", language="en"),
            "GUS": make.customer(session, external_id="GUS"),
        }
        for name in ("ANNA", "BEN", "DORA", "EVE", "FRED", "GUS"):
            make.consent(session, people[name])
        subscription(session, people["DORA"], [(espresso, 1, None)])
        regular = {
            "ANNA": ("ESP-1000", 28.3),
            "BEN": ("ESP-1000", 30.5),
            "CARL": ("TEA-100", 14.0),
            "DORA": ("ESP-1000", 45.0),
            "EVE": ("ESP-1000", 30.0),
            "FRED": ("ESP-1000", 30.0),
        }
        scores = {
            c.id: {
                "subscription_product": regular[n][0],
                "subscription_interval_days": regular[n][1],
            }
            if n in regular
            else {"clv": 10.0}
            for n, c in people.items()
        }
        snapshot(session, NOW - timedelta(days=1), scores)
        earlier = Campaign(
            key="subscription-offer-20270305-090000-1",
            name="Subscription offer: espresso",
            kind="one_off",
            status="done",
            channel="email",
            purpose="marketing",
            segment=f"id in ({people['FRED'].id})",
            variants=[{"name": "A", "template": "subscription_offer", "weight": 1.0}],
            holdout_share=0.0,
            settings={},
            created_at=NOW - timedelta(days=10),
        )
        session.add(earlier)
        session.flush()
        session.add(
            CampaignMember(
                campaign_id=earlier.id,
                customer_id=people["FRED"].id,
                group="A",
                assigned_at=NOW - timedelta(days=10),
            )
        )
        assert tea.id
        session.commit()
        return {name: c.id for name, c in people.items()}


def test_candidates_leave_out_subscribers_and_the_erased(
    sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    with sessions() as session:
        found = {c.customer: c for c in offers.candidates(session, now=NOW)}
    assert sorted(found) == ["ANNA", "BEN", "CARL", "FRED"]
    assert (found["ANNA"].product, found["ANNA"].unit, found["ANNA"].count) == (
        "Espresso beans 1 kg",
        "week",
        4,
    )
    assert (found["CARL"].sku, found["CARL"].unit, found["CARL"].count) == ("TEA-100", "week", 2)
    assert found["BEN"].offered_at is None
    assert found["FRED"].offered_at is not None


def test_one_customer_is_offered_their_product_in_their_rhythm_and_language(
    sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    request = OfferIn(
        customer="ANNA",
        discount_percent=Decimal("10"),
        benefit="kostenlose Lieferung",
        url="https://shop.example/abo",
    )
    with sessions() as session:
        done = offers.offer(session, request, settings=SETTINGS, actor="user:1", now=NOW)
    assert (done.candidates, done.queued, done.holdout, done.unreachable) == (1, 1, 0, 0)
    assert len(done.campaigns) == 1
    with sessions() as session:
        message = session.scalars(select(Message)).one()
        campaign = session.scalars(select(Campaign).where(Campaign.key == done.campaigns[0])).one()
    assert message.customer_id == shop["ANNA"]
    assert message.purpose == "marketing"
    assert message.language == "de"
    assert message.subject == "Espresso beans 1 kg im Abo – alle 4 Wochen geliefert"
    assert "sparen Sie 10 % auf jede Lieferung" in message.html
    assert "kostenlose Lieferung" in message.html
    assert 'href="https://shop.example/abo"' in message.html
    assert "/u/" in message.html  # the unsubscribe link of marketing
    assert campaign.settings["offer_sku"] == "ESP-1000"
    assert (campaign.settings["offer_unit"], campaign.settings["offer_count"]) == ("week", 4)
    assert campaign.holdout_share == 0.0
    with sessions() as session, pytest.raises(offers.OfferedRecently, match="90 days"):
        offers.offer(session, OfferIn(customer="ANNA"), settings=SETTINGS, actor=None, now=NOW)


def test_a_customer_who_is_no_candidate_or_unknown_is_refused(
    sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    with sessions() as session:
        with pytest.raises(offers.NotCandidate, match="no subscription candidate"):
            offers.offer(session, OfferIn(customer="DORA"), settings=SETTINGS, actor=None, now=NOW)
        with pytest.raises(NotFound, match="NOBODY"):
            offers.offer(
                session, OfferIn(customer="NOBODY"), settings=SETTINGS, actor=None, now=NOW
            )
        assert session.scalars(select(Message)).all() == []


def test_every_candidate_through_consent_holdout_and_no_second_offer(
    sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    with sessions() as session:
        done = offers.offer(session, OfferIn(), settings=SETTINGS, actor="user:1", now=NOW)
    # ANNA, BEN, CARL, FRED are candidates; FRED was offered ten days ago; CARL has no consent
    assert done.candidates == 4
    assert done.offered_recently == 1
    assert done.unreachable == 1
    assert done.queued + done.holdout == 2  # ANNA (every 4 weeks) and BEN (every month)
    assert len(done.campaigns) == 2  # espresso every 4 weeks, every month; none for CARL
    with sessions() as session:
        members = dict(
            session.execute(
                select(CampaignMember.customer_id, CampaignMember.group).where(
                    CampaignMember.campaign_id.in_(
                        select(Campaign.id).where(Campaign.key.in_(done.campaigns))
                    )
                )
            ).all()
        )
        sent = {m.customer_id: m for m in session.scalars(select(Message))}
        held = {c for c, g in members.items() if g == holdout.HOLDOUT}
        holdout_shares = {
            c.holdout_share
            for c in session.scalars(select(Campaign).where(Campaign.key.in_(done.campaigns)))
        }
    assert set(members) == {shop["ANNA"], shop["BEN"]}
    assert set(sent) == {shop["ANNA"], shop["BEN"]} - held
    assert holdout_shares == {0.1}
    if shop["BEN"] in sent:
        assert sent[shop["BEN"]].subject.endswith("delivered every month")
    with sessions() as session:  # at once again: everyone was offered just now
        again = offers.offer(session, OfferIn(), settings=SETTINGS, actor=None, now=NOW)
    # ANNA and BEN (held out or not) and FRED were offered; CARL is still unreachable
    assert (again.offered_recently, again.unreachable, again.queued) == (3, 1, 0)
    assert again.campaigns == []


def test_the_control_group_gets_no_offer(
    sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    site = settings(control_share=0.5)
    ids = np.array([shop["ANNA"], shop["BEN"]], dtype=np.int64)
    controlled = {
        int(i)
        for i, out in zip(ids, holdout.control_group_mask(ids, share=0.5), strict=True)
        if out
    }
    with sessions() as session:
        done = offers.offer(session, OfferIn(), settings=site, actor=None, now=NOW)
        sent = {m.customer_id for m in session.scalars(select(Message))}
    assert done.control_group == len(controlled)
    assert not sent & controlled


def test_results_count_who_subscribed_after_an_offer(
    sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    with sessions() as session:
        offers.offer(session, OfferIn(customer="BEN"), settings=SETTINGS, actor=None, now=NOW)
    with sessions() as session:
        ben = session.get_one(Customer, shop["BEN"])
        fred = session.get_one(Customer, shop["FRED"])
        espresso = session.scalars(select(Product).where(Product.sku == "ESP-1000")).one()
        subscription(
            session, ben, [(espresso, 1, None)], source="offer", created_at=NOW + timedelta(days=2)
        )
        # FRED subscribed before his offer: not thanks to it
        subscription(session, fred, [(espresso, 1, None)], created_at=NOW - timedelta(days=20))
        session.commit()
        found = offers.results(session)
    assert found.campaigns == 2  # FRED's earlier one and BEN's
    assert (found.offered, found.offered_subscribed) == (2, 1)
    assert (found.holdout, found.holdout_subscribed) == (0, 0)
    assert found.from_offers == 1


def test_no_snapshot_no_candidates(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert offers.candidates(session, now=NOW) == []
        done = offers.offer(session, OfferIn(), settings=SETTINGS, actor=None, now=NOW)
    assert (done.candidates, done.queued, done.campaigns) == (0, 0, [])
