"""Time travel: expiry, vesting and tier downgrades as the clock moves, each job idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from loyalty.shop import T0, demo_document, purchase, spec_with
from patron.loyalty import reading, service, setup, upkeep
from patron.loyalty.models import Account
from patron.loyalty.programme import read_spec
from patron.loyalty.schemas import RedeemIn
from patron.outbox.models import OutboxEvent


def _buy(session: Session, customer: str, order: str, amount: str, at: datetime) -> None:
    service.record_purchase(
        session,
        programme_code="club",
        key=f"{customer}:{order}",
        purchase=purchase(customer, f"{customer}-{order}", amount),
        actor=None,
        now=at,
    )


def _topic_count(session: Session, topic: str) -> int:
    return len(list(session.scalars(select(OutboxEvent.id).where(OutboxEvent.topic == topic))))


def _balance(session: Session, customer: str, at: datetime):  # type: ignore[no-untyped-def]
    return reading.balance(session, programme_code="club", customer=customer, now=at)


def test_points_expire_24_months_after_they_vest_once(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, "C1", "O1", "100", T0)  # 200 points, vest T0 + 14 days, expire 24 months on
        _buy(session, "C1", "O2", "50", T0 + timedelta(days=400))  # 50, expiring later
        due = datetime(2028, 3, 16, 10, 0, tzinfo=UTC)
        just_before = due - timedelta(minutes=1)
        assert upkeep.expire_due(session, as_of=just_before) == {"members": 0, "points_expired": 0}
        assert _balance(session, "C1", just_before).expiring == [
            {"date": "2028-03-16", "points": 200}
        ]
        assert upkeep.expire_due(session, as_of=due) == {"members": 1, "points_expired": 200}
        assert upkeep.expire_due(session, as_of=due) == {"members": 0, "points_expired": 0}
        assert upkeep.expire_due(session, as_of=due + timedelta(days=1)) == {
            "members": 0,
            "points_expired": 0,
        }
        now = _balance(session, "C1", due)
        assert (now.balance, now.available) == (50, 50)
        assert _topic_count(session, "points.expired") == 1
        assert upkeep.verify(session) == []


def test_a_december_purchase_under_end_of_year_expiry_keeps_its_points_into_the_next_year(
    sessions: sessionmaker[Session],
) -> None:
    from patron.customers.models import Customer

    spec = spec_with(lots={"vesting_days": 14, "expiry": {"policy": "end_of_year", "years": 0}})
    with sessions() as session:
        session.add(Customer(external_id="C1", name="One"))
        session.commit()
        setup.set_up(session, spec=spec, actor="test", now=T0)
        december = datetime(2026, 12, 20, 12, tzinfo=UTC)
        _buy(session, "C1", "O1", "100", december)  # vests 3 Jan 2027: expires when 2027 ends
        lots = reading.statement(session, programme_code="club", customer="C1").lots
        assert {lot.expires_at for lot in lots} == {datetime(2028, 1, 1, tzinfo=UTC)}
        assert upkeep.expire_due(session, as_of=datetime(2027, 12, 31, tzinfo=UTC)) == {
            "members": 0,
            "points_expired": 0,
        }


def test_redeemed_points_do_not_expire_and_soonest_expiring_go_first(
    shop: sessionmaker[Session],
) -> None:
    with shop() as session:
        _buy(session, "C2", "O1", "400", T0)  # 500 points, expire 2028-03-02
        _buy(session, "C2", "O2", "600", T0 + timedelta(days=200))  # 600 × 1.25 = 750 (Silver)
        service.redeem(
            session,
            programme_code="club",
            key="r",
            request=RedeemIn(customer="C2", reward="voucher-5"),
            actor=None,
            now=T0 + timedelta(days=300),
        )
        statement = reading.statement(session, programme_code="club", customer="C2")
        assert [lot.remaining for lot in statement.lots] == [0, 0, 750]  # O1's lots went first
        gone = upkeep.expire_due(session, as_of=datetime(2028, 3, 2, 10, tzinfo=UTC))
        assert gone == {"members": 0, "points_expired": 0}


def test_end_of_year_expiry(sessions: sessionmaker[Session]) -> None:
    from patron.customers.models import Customer

    spec = spec_with(lots={"vesting_days": 0, "expiry": {"policy": "end_of_year", "years": 1}})
    with sessions() as session:
        session.add(Customer(external_id="C1", name="One"))
        session.commit()
        setup.set_up(session, spec=spec, actor="test", now=T0)
        _buy(session, "C1", "O1", "100", T0)  # 2026: expire when 2027 ends
        new_year = datetime(2028, 1, 1, tzinfo=UTC)
        assert (
            upkeep.expire_due(session, as_of=new_year - timedelta(seconds=1))["points_expired"] == 0
        )
        assert upkeep.expire_due(session, as_of=new_year)["points_expired"] == 200


def test_points_vest_after_the_return_window_and_are_announced_once(
    shop: sessionmaker[Session],
) -> None:
    with shop() as session:
        _buy(session, "C3", "O1", "100", T0)
        day13 = T0 + timedelta(days=13)
        assert _balance(session, "C3", day13).available == 0
        assert upkeep.vest_due(session, as_of=day13) == {"lots_vested": 0}
        day14 = T0 + timedelta(days=14)
        assert _balance(session, "C3", day14).available == 200
        assert upkeep.vest_due(session, as_of=day14) == {"lots_vested": 2}
        assert upkeep.vest_due(session, as_of=day14 + timedelta(days=1)) == {"lots_vested": 0}
        assert _topic_count(session, "points.vested") == 2


def test_a_tier_is_kept_through_the_grace_period_then_downgraded(
    shop: sessionmaker[Session],
) -> None:
    with shop() as session:
        _buy(session, "C4", "O1", "500", T0)  # 600 points in 12 months: Silver
        account = session.scalar(select(Account).where(Account.customer_id == 4))
        assert account is not None
        assert account.tier == "silver"
        months_11 = T0 + timedelta(days=330)
        assert upkeep.review_tiers(session, as_of=months_11) == {
            "tiers_changed": 0,
            "grace_started": 0,
        }
        out_of_window = datetime(2027, 3, 3, tzinfo=UTC)  # the purchase left the 12-month window
        assert upkeep.review_tiers(session, as_of=out_of_window)["grace_started"] == 1
        assert upkeep.review_tiers(session, as_of=out_of_window)["grace_started"] == 0
        session.refresh(account)
        assert account.tier == "silver"
        assert account.tier_review_at == out_of_window + timedelta(days=90)
        progress = reading.progress(
            session, programme_code="club", customer="C4", now=out_of_window
        )
        assert progress.keep_until == out_of_window + timedelta(days=90)
        assert progress.needed_to_keep == 500
        still = out_of_window + timedelta(days=89)
        assert upkeep.review_tiers(session, as_of=still)["tiers_changed"] == 0
        ended = out_of_window + timedelta(days=90)
        assert upkeep.review_tiers(session, as_of=ended) == {"tiers_changed": 1, "grace_started": 0}
        session.refresh(account)
        assert (account.tier, account.tier_review_at) == ("bronze", None)
        assert _topic_count(session, "tier.changed") == 1


def test_requalifying_in_the_grace_period_keeps_the_tier(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, "C5", "O1", "500", T0)
        lapsed = datetime(2027, 3, 3, tzinfo=UTC)
        upkeep.review_tiers(session, as_of=lapsed)
        _buy(session, "C5", "O2", "450", lapsed + timedelta(days=10))  # 450 × 1.25 = 562 ≥ 500
        account = session.scalar(select(Account).where(Account.customer_id == 5))
        assert account is not None
        assert (account.tier, account.tier_review_at) == ("silver", None)
        assert (
            upkeep.review_tiers(session, as_of=lapsed + timedelta(days=200))["tiers_changed"] == 0
        )


def test_run_all_twice_changes_nothing(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        for i in range(1, 6):
            _buy(session, f"C{i}", "O1", str(100 * i), T0 + timedelta(hours=i))
        far = T0 + timedelta(days=900)
        first = upkeep.run_all(session, as_of=far)
        assert first["points_expired"] > 0
        assert first["lots_vested"] > 0
        events = len(list(session.scalars(select(OutboxEvent.id))))
        second = upkeep.run_all(session, as_of=far)
        assert all(value == 0 for value in second.values()), second
        assert len(list(session.scalars(select(OutboxEvent.id)))) == events
        assert upkeep.verify(session) == []


def test_a_programme_changed_by_setup_is_audited(shop: sessionmaker[Session]) -> None:
    document = demo_document()
    document["earning"] = document["earning"] | {"points_per_unit": "2"}
    document["rewards"] = document["rewards"][:2]
    with shop() as session:
        result = setup.set_up(session, spec=read_spec(document), actor="ops@example.com", now=T0)
        assert "settings changed: settings" in result["changes"]
        assert "reward gift-wrap withdrawn" in result["changes"]
        log = setup.audit_log(session, programme_code="club")
        assert {record.action for record in log} >= {"programme.changed", "reward.withdrawn"}
        assert log[0].actor == "ops@example.com"
