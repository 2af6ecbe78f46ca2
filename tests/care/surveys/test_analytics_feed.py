"""Survey answers feed the analytics (SQLite read into DuckDB, PostgreSQL queried in place):
after scoring, a customer's loyalty type follows their latest NPS or CSAT answer, and cases
reach the cost to serve."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.surveys.conftest import case
from patron.analytics.profitability import CostToServe
from patron.analytics.scoring import ScoringSettings
from patron.analytics.service import analyze_store
from patron.analytics.snapshots import CustomerScore
from patron.care.surveys import service

END = make.at(364)


def _buyer(session: Session, purchases: int, *, rng: random.Random) -> int:
    """A customer with ``purchases`` orders on different days, the last one on ``END``."""
    customer = make.customer(session)
    product = make.product(session)
    days = [*sorted(rng.sample(range(1, 360), purchases - 1)), 364]
    for day in days:
        make.order(
            session,
            customer,
            placed_at=make.at(day),
            status="completed",
            lines=[make.line(product, unit_price="20.00")],
        )
    return customer.id


def _answer(session: Session, survey: str, customer_id: int, score: int, days_before: int) -> None:
    service.answer(
        session,
        survey=survey,
        customer_id=customer_id,
        reference=f"t:{days_before}",
        score=score,
        now=END - timedelta(days=days_before),
    )


def test_the_loyalty_type_follows_the_latest_answer(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    rng = random.Random(8)
    with sessions() as session:
        for _ in range(40):  # a population the purchase models can be fitted on
            _buyer(session, rng.randint(1, 6), rng=rng)
        loyal = _buyer(session, 8, rng=rng)
        fan_once = _buyer(session, 1, rng=rng)
        habit = _buyer(session, 8, rng=rng)
        gone = _buyer(session, 1, rng=rng)
        silent = _buyer(session, 8, rng=rng)
        turned = _buyer(session, 8, rng=rng)
        session.commit()
        _answer(session, "nps", loyal, 10, 30)
        _answer(session, "nps", fan_once, 9, 5)
        _answer(session, "nps", habit, 10, 60)  # a promoter once …
        _answer(session, "nps", habit, 7, 10)  # … a passive now: not positive
        _answer(session, "nps", gone, 3, 20)
        _answer(session, "nps", turned, 2, 40)
        _answer(session, "csat", turned, 5, 3)  # the latest answer counts, of either kind
        complaint = case(session, turned, opened_at=END - timedelta(days=50))
        case(session, turned, opened_at=END - timedelta(days=45), subject="Again")
        session.commit()
        assert complaint.id
    result, snapshot_id = analyze_store(
        engine, ScoringSettings(holdout_share=0, costs=CostToServe(per_case=12.5))
    )
    with sessions() as session:
        scores = {
            row.customer_id: row
            for row in session.scalars(
                select(CustomerScore).where(CustomerScore.snapshot_id == snapshot_id)
            )
        }
    repeat = {
        c: (scores[c].frequency or 0) >= 2
        and (scores[c].p_alive is None or scores[c].p_alive >= 0.5)
        for c in (loyal, fan_once, habit, gone, silent, turned)
    }
    assert repeat == {
        loyal: True,
        fan_once: False,
        habit: True,
        gone: False,
        silent: True,
        turned: True,
    }
    assert {c: scores[c].loyalty_type for c in repeat} == {
        loyal: "true",
        fan_once: "latent",
        habit: "spurious",
        gone: "none",
        silent: "unknown attitude",
        turned: "true",
    }
    # the cases reached the analysis too: two cases at 12.50 each, nobody else has one
    costs = {c: row.cost_to_serve for c, row in scores.items() if row.cost_to_serve}
    assert costs == {turned: 25.0}
    assert result.scores.num_rows == len(scores)
