"""The demo shop's loyalty club: the programme set up, members' history booked, the ledger sound."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from patron.cli import app
from patron.customers.models import Order
from patron.db import session_factory
from patron.demo import loyalty, service
from patron.demo.loyalty import LoyaltySummary
from patron.loyalty import reading, setup, upkeep
from patron.loyalty.models import Account, Entry, Event, Lot

SIZE = 300
SEED = 8
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # the day after the demo's last order


@pytest.fixture
def club(engine: Engine) -> LoyaltySummary:
    service.generate(engine, customers=SIZE, seed=SEED)
    return loyalty.build(session_factory(engine), seed=SEED, now=NOW)


def test_members_have_their_orders_returns_reviews_and_rewards(
    engine: Engine, club: LoyaltySummary
) -> None:
    with Session(engine) as session:
        members = session.scalars(select(Account.customer_id)).all()
        orders = session.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id.in_(members))
        )
        shop_orders = session.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id.is_not(None))
        )
        operations = Counter(session.scalars(select(Event.operation)))
        kinds = Counter(session.scalars(select(Entry.kind)))
        tiers = Counter(session.scalars(select(Account.tier)))
        per_member = Counter(session.scalars(select(Lot.account_id)))
    assert len(members) == club.members > 5
    # a sample of about a tenth of the orders, every order of each member drawn
    assert orders == club.purchases == operations["purchase"]
    assert 0.05 * shop_orders < club.purchases <= round(loyalty.ORDER_SHARE * shop_orders)
    assert operations["return"] == club.returns > 0
    assert operations["event"] == club.reviews > 0
    assert operations["reward"] == club.redemptions > 0
    assert kinds["earn"] > club.purchases  # first-purchase bonuses and reviews on top
    assert kinds["reverse"] > 0
    assert kinds["expire"] > 0  # three years of history, points expire after two
    assert set(tiers) <= {"bronze", "silver", "gold", "vip"}  # every member has a tier
    assert max(per_member.values()) > 3


def test_the_programme_is_the_demo_file_and_the_ledger_sound(
    engine: Engine, club: LoyaltySummary
) -> None:
    with Session(engine) as session:
        ((row, spec),) = setup.programmes(session)
        rewards = [
            reward.code
            for reward in reading.rewards(session, programme_code="club", customer=None, now=NOW)
        ]
    demo = loyalty.read_programme()
    assert spec == demo.model_copy(update={"rewards": ()})  # rewards: a table of their own
    assert sorted(rewards) == sorted(reward.code for reward in demo.rewards)
    assert club.programme == row.code == "club"
    assert row.created_at < NOW
    with Session(engine) as session:
        assert upkeep.verify(session) == []
        assert upkeep.run_all(session, as_of=NOW) == {
            "lots_vested": 0,
            "members": 0,
            "points_expired": 0,
            "tiers_changed": 0,
            "grace_started": 0,
        }
        unvested = select(func.count()).select_from(Lot).where(Lot.vested_at.is_(None))
        assert session.scalar(unvested.where(Lot.available_from <= NOW)) == 0


def test_the_same_seed_books_the_same_history(engine: Engine, club: LoyaltySummary) -> None:
    def history(session: Session) -> list[tuple[object, ...]]:
        rows = session.execute(
            select(Event.key, Event.points, Event.at).order_by(Event.at, Event.key)
        )
        return [tuple(row) for row in rows]

    with Session(engine) as session:
        before = history(session)
    service.generate(engine, customers=SIZE, seed=SEED, reset=True, loyalty=False)
    with Session(engine) as session:
        assert history(session) == []  # a reset empties the club with the shop
    again = loyalty.build(session_factory(engine), seed=SEED, now=NOW)
    assert again.to_dict() | {"seconds": 0} == club.to_dict() | {"seconds": 0}
    with Session(engine) as session:
        assert history(session) == before


def test_patron_demo_generate_comes_with_the_club(cli_env: str) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    made = runner.invoke(app, ["demo", "generate", "--customers", "200", "--seed", "3", "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["customers"] == 200
    verified = runner.invoke(app, ["loyalty", "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    document = json.loads(verified.stdout)
    assert document["sound"] is True
    assert document["members"] > 0
    members = runner.invoke(app, ["loyalty", "members", "--json"])
    assert json.loads(members.stdout)["count"] == document["members"]
