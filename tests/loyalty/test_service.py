"""The booking use cases on a real store (SQLite and PostgreSQL): idempotency, returns, rewards,
vouchers, bonuses, caps, tiers, webhooks, and that a refused request leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from loyalty.shop import T0, purchase
from patron.errors import Conflict, NotFound, PatronError
from patron.loyalty import reading, service, upkeep
from patron.loyalty.ledger import InsufficientPoints, LedgerError
from patron.loyalty.models import Account, AuditRecord, Entry, Event, Lot
from patron.loyalty.schemas import (
    AdjustIn,
    EventIn,
    PurchaseIn,
    PurchaseLineIn,
    RedeemIn,
    ReturnIn,
    ReturnLineIn,
    VoucherCheckIn,
    VoucherConsumeIn,
)
from patron.loyalty.service import IdempotencyMismatch
from patron.outbox.models import OutboxEvent

VESTED = T0 + timedelta(days=15)


def _buy(session: Session, p: PurchaseIn, key: str, at=T0):  # type: ignore[no-untyped-def]
    return service.record_purchase(
        session, programme_code="club", key=key, purchase=p, actor=None, now=at
    )


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _topics(session: Session) -> list[str]:
    return list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))


def test_a_purchase_earns_pending_points_with_the_first_purchase_bonus(
    shop: sessionmaker[Session],
) -> None:
    with shop() as session:
        booked = _buy(session, purchase("C1", "O1", "120.50", "9.99"), "k1")
        assert not booked.replayed
        # floor(130.49) = 130 points + 100 first-purchase bonus, pending for the return window
        assert booked.booking.points == 230
        assert booked.booking.balance.balance == 230
        assert booked.booking.balance.available == 0
        assert booked.booking.balance.pending == 230
        assert (
            reading.balance(session, programme_code="club", customer="C1", now=VESTED).available
            == 230
        )
        assert _topics(session) == ["member.enrolled", "points.earned"]
        second = _buy(session, purchase("C1", "O2", "10.00"), "k2", at=T0 + timedelta(days=1))
        assert second.booking.points == 10  # no second bonus


def test_coffee_earns_double_and_shipping_nothing(shop: sessionmaker[Session]) -> None:
    lines = [
        PurchaseLineIn(amount=Decimal("20.00"), category="Coffee"),
        PurchaseLineIn(amount=Decimal("4.90"), kind="shipping"),
    ]
    with shop() as session:
        p = PurchaseIn(customer="C2", order="O1", currency="EUR", lines=lines)
        assert _buy(session, p, "k").booking.points == 40 + 100


def test_a_repeated_key_returns_the_first_answer_and_changes_nothing(
    shop: sessionmaker[Session],
) -> None:
    with shop() as session:
        first = _buy(session, purchase("C1", "O1", "50"), "key-1")
        entries, events = _count(session, Entry), _count(session, Event)
        again = _buy(session, purchase("C1", "O1", "50"), "key-1", at=T0 + timedelta(hours=1))
        assert again.replayed
        assert again.booking == first.booking
        assert (_count(session, Entry), _count(session, Event)) == (entries, events)
        with pytest.raises(IdempotencyMismatch) as refused:
            _buy(session, purchase("C1", "O1", "60"), "key-1")
        assert refused.value.code == "idempotency.mismatch"
        with pytest.raises(Conflict) as duplicate:
            _buy(session, purchase("C1", "O1", "50"), "key-2")
        assert duplicate.value.code == "loyalty.duplicate_order"
        assert (_count(session, Entry), _count(session, Event)) == (entries, events)


def test_refused_input_leaves_the_store_as_it_was(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, purchase("C1", "O1", "50"), "k1")
        before = (_count(session, Entry), _count(session, Event), _count(session, OutboxEvent))
        wrong_currency = purchase("C1", "O2", "50").model_copy(update={"currency": "NOK"})
        with pytest.raises(PatronError, match="counts in EUR"):
            _buy(session, wrong_currency, "k2")
        negative = PurchaseIn(
            customer="C1",
            order="O3",
            currency="EUR",
            lines=[PurchaseLineIn(amount=Decimal("10")), PurchaseLineIn(amount=Decimal("-5"))],
        )
        with pytest.raises(PatronError, match="line"):
            _buy(session, negative, "k3")
        with pytest.raises(NotFound):
            _buy(session, purchase("nobody", "O4", "50"), "k4")
        after = (_count(session, Entry), _count(session, Event), _count(session, OutboxEvent))
        assert after == before
        assert upkeep.verify(session) == []


def test_returns_take_back_exactly_what_the_purchase_earned(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, purchase("C3", "O0", "200"), "k0")  # 300 points with the bonus
        booked = _buy(
            session, purchase("C3", "O1", "33.00", "10.00"), "k1", at=T0 + timedelta(days=1)
        )
        assert booked.booking.points == 43
        back = service.record_return(
            session,
            programme_code="club",
            key="r1",
            returned=ReturnIn(
                customer="C3", order="O1", lines=[ReturnLineIn(line=0, share=Decimal("0.5"))]
            ),
            actor=None,
            now=T0 + timedelta(days=2),
        )
        assert back.booking.points == -16  # floor(43 × 16.5/43)
        rest = service.record_return(
            session,
            programme_code="club",
            key="r2",
            returned=ReturnIn(
                customer="C3",
                order="O1",
                lines=[ReturnLineIn(line=0, share=Decimal("0.5")), ReturnLineIn(line=1)],
            ),
            actor=None,
            now=T0 + timedelta(days=3),
        )
        # the remaining 26.5/43 of the order: the whole purchase is now back, its 43 points too
        assert back.booking.points + rest.booking.points == -43
        assert rest.booking.balance.balance == 300
        with pytest.raises(LedgerError) as over:
            service.record_return(
                session,
                programme_code="club",
                key="r3",
                returned=ReturnIn(customer="C3", order="O1", share=Decimal("0.5")),
                actor=None,
                now=T0 + timedelta(days=4),
            )
        assert over.value.code == "points.over_returned"
        assert upkeep.verify(session) == []


def test_a_return_of_spent_points_shows_debt_paid_off_by_the_next_points(
    shop: sessionmaker[Session],
) -> None:
    with shop() as session:
        _buy(session, purchase("C4", "O1", "450"), "k1")  # 550 points
        service.redeem(
            session,
            programme_code="club",
            key="r1",
            request=RedeemIn(customer="C4", reward="voucher-5"),
            actor=None,
            now=VESTED,
        )
        back = service.record_return(
            session,
            programme_code="club",
            key="ret",
            returned=ReturnIn(customer="C4", order="O1", share=Decimal(1)),
            actor=None,
            now=VESTED + timedelta(days=1),
        )
        assert back.booking.points == -550
        assert back.booking.balance.balance == -500
        assert back.booking.balance.debt == 500
        assert back.booking.balance.available == -500
        assert any("debt" in reason for reason in back.booking.reasons)
        later = _buy(session, purchase("C4", "O2", "600"), "k2", at=VESTED + timedelta(days=2))
        # still Silver (the return started the grace period): 600 × 1.25 = 750, less the 500 owed
        assert later.booking.balance.debt == 0
        assert later.booking.balance.balance == 250
        assert upkeep.verify(session) == []


def test_rewards_check_points_limits_stock_and_tier(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, purchase("C5", "O1", "1900"), "k1")  # 2,000 points: Gold at once
        account = session.scalar(select(Account).where(Account.customer_id == 5))
        assert account is not None
        assert account.tier == "gold"

        def redeem(reward: str, key: str):  # type: ignore[no-untyped-def]
            return service.redeem(
                session,
                programme_code="club",
                key=key,
                request=RedeemIn(customer="C5", reward=reward),
                actor=None,
                now=VESTED,
            )

        cups = redeem("espresso-cups", "a")
        assert cups.booking.points == -900
        assert cups.booking.voucher is not None
        assert cups.booking.voucher.kind == "free_product"
        with pytest.raises(Conflict) as limit:
            redeem("espresso-cups", "b")
        assert limit.value.code == "loyalty.limit_reached"
        with pytest.raises(InsufficientPoints):
            redeem("tasting", "c")  # 2,500 points, 1,100 left
        with pytest.raises(NotFound):
            redeem("no-such-reward", "d")
        assert "reward.redeemed" in _topics(session)
    with shop() as session:
        _buy(session, purchase("C6", "O9", "1300"), "k6")  # 1,400 points: Silver
        with pytest.raises(Conflict) as tier:
            service.redeem(
                session,
                programme_code="club",
                key="t",
                request=RedeemIn(customer="C6", reward="tasting"),
                actor=None,
                now=VESTED,
            )
        assert tier.value.code == "loyalty.tier_required"


def test_tier_upgrades_at_once_and_the_webhook_is_queued(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        first = _buy(session, purchase("C7", "O1", "300"), "k1")  # 400 points: Bronze
        assert first.booking.balance.tier is not None
        assert first.booking.balance.tier.code == "bronze"
        up = _buy(session, purchase("C7", "O2", "150"), "k2", at=T0 + timedelta(days=1))
        assert up.booking.tier_changed == {"from": "bronze", "to": "silver"}
        assert up.booking.balance.tier is not None
        assert up.booking.balance.tier.code == "silver"
        assert _topics(session).count("tier.changed") == 1  # bronze → silver (joining is enrolment)
        # Silver earns 1.25×: floor(100 × 1.25)
        assert (
            _buy(
                session, purchase("C7", "O3", "100"), "k3", at=T0 + timedelta(days=2)
            ).booking.points
            == 125
        )


def test_bonus_events_and_referrals(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        review = service.record_event(
            session,
            programme_code="club",
            key="e1",
            happened=EventIn(customer="C8", type="review", reference="REV-1"),
            actor=None,
            now=T0,
        )
        assert review.booking.points == 20
        assert review.booking.balance.available == 20  # bonuses vest at once
        with pytest.raises(Conflict):
            service.record_event(
                session,
                programme_code="club",
                key="e2",
                happened=EventIn(customer="C8", type="review", reference="REV-1"),
                actor=None,
                now=T0,
            )
        with pytest.raises(PatronError) as unknown:
            service.record_event(
                session,
                programme_code="club",
                key="e3",
                happened=EventIn(customer="C8", type="selfie", reference="S"),
                actor=None,
                now=T0,
            )
        assert unknown.value.code == "loyalty.unknown_event"
        _buy(
            session, purchase("C9", "O1", "10", referred_by="C8"), "k1", at=T0 + timedelta(hours=1)
        )
        referrer = reading.balance(session, programme_code="club", customer="C8", now=VESTED)
        assert referrer.balance == 220
        # only a first purchase pays the referral
        _buy(
            session, purchase("C9", "O2", "10", referred_by="C8"), "k2", at=T0 + timedelta(hours=2)
        )
        assert (
            reading.balance(session, programme_code="club", customer="C8", now=VESTED).balance
            == 220
        )
        assert upkeep.verify(session) == []


def test_adjustments_are_audited_and_cannot_overdraw(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        service.adjust(
            session,
            programme_code="club",
            key="a1",
            request=AdjustIn(customer="C10", points=50, reason="goodwill for a late parcel"),
            actor="agent@example.com",
            now=T0,
        )
        with pytest.raises(InsufficientPoints):
            service.adjust(
                session,
                programme_code="club",
                key="a2",
                request=AdjustIn(customer="C10", points=-80, reason="booked twice"),
                actor="agent@example.com",
                now=T0,
            )
        taken = service.adjust(
            session,
            programme_code="club",
            key="a3",
            request=AdjustIn(
                customer="C10", points=-80, reason="booked twice", allow_negative=True
            ),
            actor="agent@example.com",
            now=T0,
        )
        assert taken.booking.balance.balance == -30
        assert taken.booking.balance.debt == 30
        audited = session.scalars(
            select(AuditRecord.action).where(AuditRecord.action == "points.adjusted")
        )
        assert len(list(audited)) == 2
        actors = set(session.scalars(select(Entry.actor).where(Entry.kind == "adjust")))
        assert actors == {"agent@example.com"}


def test_the_monthly_cap(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, purchase("C11", "O1", "4000"), "k1")  # 4,000 + 100 bonus (not capped)
        capped = _buy(session, purchase("C11", "O2", "3000"), "k2", at=T0 + timedelta(days=1))
        # VIP by now (4,100 points): 2× of 3,000 would be 6,000, but only 1,000 are left this month
        assert capped.booking.points == 1000
        next_month = _buy(session, purchase("C11", "O3", "100"), "k3", at=T0 + timedelta(days=31))
        assert next_month.booking.points == 200


def test_vouchers_validate_and_are_used_once(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, purchase("C12", "O1", "500"), "k1")
        redeemed = service.redeem(
            session,
            programme_code="club",
            key="v",
            request=RedeemIn(customer="C12", reward="voucher-5"),
            actor=None,
            now=VESTED,
        )
        assert redeemed.booking.voucher is not None
        code = redeemed.booking.voucher.code
        small = VoucherCheckIn(order_total=Decimal("10"), currency="EUR", customer="C12")
        checked = service.check_voucher(
            session, programme_code="club", code=code, request=small, now=VESTED
        )
        assert (checked.valid, checked.reason) == (False, "voucher.minimum_order")
        other = VoucherCheckIn(order_total=Decimal("30"), currency="EUR", customer="C13")
        checked = service.check_voucher(
            session, programme_code="club", code=code, request=other, now=VESTED
        )
        assert checked.reason == "voucher.other_customer"
        order = VoucherConsumeIn(
            order_total=Decimal("30"), currency="EUR", customer="C12", order="S1"
        )
        used, replayed = service.consume_voucher(
            session, programme_code="club", code=code, key="use-1", request=order, now=VESTED
        )
        assert used.valid
        assert used.discount == Decimal("5")
        assert not replayed
        again, replayed = service.consume_voucher(
            session, programme_code="club", code=code, key="use-1", request=order, now=VESTED
        )
        assert replayed
        assert again == used
        refused, _ = service.consume_voucher(
            session, programme_code="club", code=code, key="use-2", request=order, now=VESTED
        )
        assert refused.reason == "voucher.used"
        late = service.check_voucher(
            session,
            programme_code="club",
            code=code.lower(),
            request=small,
            now=VESTED + timedelta(days=400),
        )
        assert late.reason == "voucher.expired"
        assert upkeep.verify(session) == []


def test_verify_finds_a_tampered_balance(shop: sessionmaker[Session]) -> None:
    with shop() as session:
        _buy(session, purchase("C14", "O1", "50"), "k1")
        assert upkeep.verify(session) == []
        session.execute(update(Account).values(balance=Account.balance + 5))
        session.execute(update(Lot).where(Lot.number == 1).values(remaining=Lot.remaining - 1))
        session.commit()
        problems = [p.problem for p in upkeep.verify(session)]
        assert any("cached balance" in p for p in problems)
        assert any("lot 1 stores" in p for p in problems)


def test_check_constraints_back_up_the_ledger(shop: sessionmaker[Session]) -> None:
    from sqlalchemy.exc import IntegrityError

    with shop() as session:
        _buy(session, purchase("C15", "O1", "50"), "k1")
        for statement in (
            update(Lot).values(remaining=Lot.amount + 1),
            update(Account).values(balance=-1, debt=0),
            update(Entry).where(Entry.kind == "earn").values(amount=-5),
        ):
            with pytest.raises(IntegrityError):
                session.execute(statement)
            session.rollback()


def test_a_purchase_may_not_mint_more_points_than_one_booking_moves(
    sessions: sessionmaker[Session],
) -> None:
    from loyalty.shop import demo_document, spec_with
    from patron.customers.models import Customer
    from patron.loyalty import setup

    uncapped = spec_with(earning=demo_document()["earning"] | {"cap": None})
    with sessions() as session:
        session.add(Customer(external_id="BIG", name="Typo"))
        session.commit()
        setup.set_up(session, spec=uncapped, actor="test", now=T0)
        with pytest.raises(PatronError) as refused:
            _buy(session, purchase("BIG", "O1", "250000000.00"), "k")
        assert refused.value.code == "loyalty.too_many_points"
        assert _count(session, Entry) == 0
