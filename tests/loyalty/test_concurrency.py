"""Concurrent bookings on the real PostgreSQL server (and on SQLite, whose writers queue): the
account lock keeps every balance check true, idempotency keys hold under races, and the ledger
verifies clean after a storm."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from loyalty.shop import T0, demo_document, purchase
from patron.customers.models import Customer
from patron.db import make_engine, session_factory
from patron.errors import PatronError
from patron.loyalty import reading, service, setup, upkeep
from patron.loyalty.models import Entry
from patron.loyalty.programme import read_spec
from patron.loyalty.schemas import RedeemIn, ReturnIn

CLIENTS = 50
VESTED = T0 + timedelta(days=15)


@pytest.fixture
def pg_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=CLIENTS, max_overflow=10)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_shop(pg_engine: Engine) -> sessionmaker[Session]:
    sessions = session_factory(pg_engine)
    with sessions() as session:
        session.add_all(Customer(external_id=f"C{i}", name=f"Customer {i}") for i in range(1, 21))
        session.commit()
        setup.set_up(session, spec=read_spec(demo_document()), actor="test", now=T0)
    return sessions


def _at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` for i in range(count) in ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return call(i)
        except PatronError as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_clients_redeem_a_balance_that_covers_ten(pg_shop: sessionmaker[Session]) -> None:
    with pg_shop() as session:
        # 900 + 100 bonus = 1,000 points: ten redemptions of 100
        service.record_purchase(
            session,
            programme_code="club",
            key="buy",
            purchase=purchase("C1", "O1", "900"),
            actor=None,
            now=T0,
        )

    def redeem(i: int) -> Any:
        with pg_shop() as session:
            return service.redeem(
                session,
                programme_code="club",
                key=f"redeem-{i}",
                request=RedeemIn(customer="C1", points=100, order=f"S{i}"),
                actor=None,
                now=VESTED,
            )

    results = _at_once(CLIENTS, redeem)
    outcomes = Counter(
        "ok" if isinstance(r, service.Booked) else getattr(r, "code", repr(r)) for r in results
    )
    assert outcomes == {"ok": 10, "points.insufficient": 40}
    with pg_shop() as session:
        assert (
            reading.balance(session, programme_code="club", customer="C1", now=VESTED).balance == 0
        )
        entries = session.scalar(select(func.count()).select_from(Entry))

    again = _at_once(CLIENTS, redeem)
    for first, second in zip(results, again, strict=True):
        if isinstance(first, service.Booked):
            assert isinstance(second, service.Booked)
            assert second.replayed
            assert second.booking == first.booking
        else:
            assert getattr(second, "code", None) == "points.insufficient"
    with pg_shop() as session:
        assert session.scalar(select(func.count()).select_from(Entry)) == entries
        assert upkeep.verify(session) == []


def test_one_key_sent_by_many_clients_books_once(pg_shop: sessionmaker[Session]) -> None:
    def buy(_i: int) -> Any:
        with pg_shop() as session:
            return service.record_purchase(
                session,
                programme_code="club",
                key="the-same-key",
                purchase=purchase("C2", "O1", "42"),
                actor=None,
                now=T0,
            )

    results = _at_once(20, buy)
    assert all(isinstance(r, service.Booked) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert len({r.booking.event_id for r in results}) == 1
    with pg_shop() as session:
        assert reading.balance(session, programme_code="club", customer="C2", now=T0).balance == 142


def test_a_thousand_mixed_concurrent_calls_leave_a_sound_ledger(
    pg_shop: sessionmaker[Session],
) -> None:
    """Purchases, returns and redemptions of 20 members, 16 at a time, in random order."""
    rng = random.Random(7)
    calls: list[tuple[str, str, int]] = []
    for n in range(1000):
        customer = f"C{rng.randint(1, 20)}"
        calls.append((rng.choice(("buy", "buy", "redeem", "return")), customer, n))
    bought: dict[str, list[str]] = {}
    lock = threading.Lock()

    def call(i: int) -> Any:
        kind, customer, n = calls[i]
        at = VESTED + timedelta(seconds=n)
        with pg_shop() as session:
            if kind == "buy":
                amount = str(Decimal(rng.randint(5, 300)))
                booked = service.record_purchase(
                    session,
                    programme_code="club",
                    key=f"k{n}",
                    purchase=purchase(customer, f"O{n}", amount),
                    actor=None,
                    now=at - timedelta(days=15),  # already vested by the time of the others
                )
                with lock:
                    bought.setdefault(customer, []).append(f"O{n}")
                return booked
            if kind == "redeem":
                return service.redeem(
                    session,
                    programme_code="club",
                    key=f"k{n}",
                    request=RedeemIn(customer=customer, points=rng.randint(1, 150), order=f"S{n}"),
                    actor=None,
                    now=at,
                )
            with lock:
                orders = list(bought.get(customer, []))
            if not orders:
                return None
            return service.record_return(
                session,
                programme_code="club",
                key=f"k{n}",
                returned=ReturnIn(
                    customer=customer, order=rng.choice(orders), share=Decimal("0.25")
                ),
                actor=None,
                now=at,
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: _guard(call, i), range(len(calls))))
    kinds = Counter(type(r).__name__ if not isinstance(r, PatronError) else r.code for r in results)
    assert kinds["Booked"] >= 500, kinds
    unexpected = {
        k
        for k in kinds
        if k
        not in {
            "Booked",
            "NoneType",
            "points.insufficient",
            "points.over_returned",
            "points.out_of_order",
            "loyalty.not_a_member",
        }
    }
    assert not unexpected, kinds
    with pg_shop() as session:
        assert upkeep.verify(session) == []


def _guard(call: Callable[[int], Any], i: int) -> Any:
    try:
        return call(i)
    except PatronError as error:
        return error
