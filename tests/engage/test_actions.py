"""Next best action on SQLite and PostgreSQL: each rule on a customer made for it, the first
match winning; the segment field (one SQL ``CASE``) and the per-customer evaluation agree on a
varied set of customers; nobody without consent is given anything but ``none``."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.analytics.snapshots import save_snapshot
from patron.engage import actions, audience
from patron.errors import NotFound

SCORE_TYPES = {
    "abc": pa.string(),
    "p_alive": pa.float64(),
    "lifecycle_phase": pa.string(),
    "rfm_segment": pa.string(),
    "loyalty_type": pa.string(),
    "orders": pa.int64(),
    "days_since_last": pa.int64(),
    "profit": pa.float64(),
}
CHANNELS = ("email", "sms", "phone", "post", "push")


def snapshot(engine: Engine, scores: dict[int, dict[str, Any]]) -> None:
    ids = list(scores)
    table = pa.table(
        {"customer_id": pa.array([str(i) for i in ids], pa.string())}
        | {
            name: pa.array([scores[i].get(name) for i in ids], kind)
            for name, kind in SCORE_TYPES.items()
        }
    )
    with engine.begin() as connection:
        save_snapshot(
            connection,
            table,
            period_start=date(2024, 1, 1),
            period_end=date(2024, 12, 31),
            time_unit="week",
            model="bgnbd",
            settings={},
            models={},
            warnings=[],
        )


def person(session: Session, *consents: str, withdrawn: tuple[str, ...] = ()) -> int:
    """A customer with marketing consent on ``consents`` (and on ``withdrawn``, taken back)."""
    customer = make.customer(session)
    for channel in (*consents, *withdrawn):
        make.consent(session, customer, channel=channel, recorded_at=make.at(1))
    for channel in withdrawn:
        make.consent(session, customer, channel=channel, granted=False, recorded_at=make.at(2))
    # a transactional consent is no marketing consent
    make.consent(
        session, customer, channel="email", purpose="transactional", recorded_at=make.at(1)
    )
    return customer.id


GOOD = {"abc": "C", "p_alive": 0.9, "lifecycle_phase": "commitment", "orders": 5}
# name: (consents, scores or None for unscored, the action wanted)
CASES: dict[str, tuple[tuple[str, ...], dict[str, Any] | None, str]] = {
    "fading A without consent": ((), {"abc": "A", "p_alive": 0.1}, "none"),
    "unscored without consent": ((), None, "none"),
    "fading A": (
        ("email",),
        {"abc": "A", "p_alive": 0.3, "lifecycle_phase": "commitment"},
        "personal_call",
    ),
    "dissolving A, post only": (
        ("post",),
        {"abc": "A", "lifecycle_phase": "dissolution"},
        "personal_call",
    ),
    "unprofitable": (("email",), GOOD | {"abc": "B", "profit": -5.0}, "profitability_review"),
    "committed A": (("email",), GOOD | {"abc": "A", "profit": 10.0}, "loyalty_reward"),
    "committed B, phone only": (("phone",), GOOD | {"abc": "B"}, "loyalty_reward"),
    "fading C": (
        ("email",),
        {"abc": "C", "p_alive": 0.2, "lifecycle_phase": "expansion"},
        "automated_win_back",
    ),
    "RFM at risk": (
        ("sms",),
        {"abc": "B", "p_alive": 0.8, "rfm_segment": "at risk", "lifecycle_phase": "expansion"},
        "automated_win_back",
    ),
    "fading C, post only": (("post",), {"abc": "C", "p_alive": 0.2}, "personal_letter"),
    "spurious": (("push",), GOOD | {"loyalty_type": "spurious"}, "loyalty_invitation"),
    "expanding": (
        ("email",),
        {"abc": "B", "p_alive": 0.9, "lifecycle_phase": "expansion"},
        "upsell_offer",
    ),
    "first purchase": (
        ("post",),
        {
            "abc": "C",
            "p_alive": 0.9,
            "lifecycle_phase": "exploration",
            "orders": 1,
            "days_since_last": 10,
        },
        "thank_you",
    ),
    "exploring": (
        ("email",),
        {
            "abc": "C",
            "p_alive": 0.9,
            "lifecycle_phase": "exploration",
            "orders": 2,
            "days_since_last": 50,
        },
        "cross_sell_offer",
    ),
    "aware": (("email",), {"lifecycle_phase": "awareness"}, "first_purchase_incentive"),
    "committed C, phone only": (("phone",), GOOD, "personal_letter"),
    "committed C": (("email", "post"), GOOD, "newsletter"),
    "unscored with consent": (("email",), None, "newsletter"),
    "withdrew e-mail": ((), GOOD, "none"),
}


@pytest.fixture
def people(sessions: sessionmaker[Session], engine: Engine) -> dict[str, int]:
    made: dict[str, int] = {}
    scores: dict[int, dict[str, Any]] = {}
    with sessions.begin() as session:
        for name, (consents, scored, _wanted) in CASES.items():
            withdrawn = ("email",) if name == "withdrew e-mail" else ()
            made[name] = person(session, *consents, withdrawn=withdrawn)
            if scored is not None:
                scores[made[name]] = scored
    snapshot(engine, scores)
    return made


def _by_segment(session: Session) -> dict[int, str]:
    """Each customer's action as the segment field ``next_best_action`` says."""
    found: dict[int, str] = {}
    for code in actions.CODES:
        segment = audience.compile_segment(f'next_best_action = "{code}"')
        for customer_id in session.scalars(audience.members(session, segment)):
            assert customer_id not in found, f"{customer_id} has two actions"
            found[customer_id] = code
    return found


def test_each_rule_on_a_customer_made_for_it(
    sessions: sessionmaker[Session], people: dict[str, int]
) -> None:
    with sessions() as session:
        chosen = {
            name: actions.for_customer(session, customer_id) for name, customer_id in people.items()
        }
        by_segment = _by_segment(session)
    assert {name: action.code for name, action in chosen.items()} == {
        name: wanted for name, (_c, _s, wanted) in CASES.items()
    }
    assert {name: by_segment[customer_id] for name, customer_id in people.items()} == {
        name: wanted for name, (_c, _s, wanted) in CASES.items()
    }
    call = chosen["fading A"]
    assert call.label == "Personal call"
    assert "account manager" in call.reason
    assert call.rule == actions.RULES[1].condition
    assert chosen["committed C"].rule == "otherwise"


def test_every_rule_is_a_valid_segment_and_the_last_catches_everyone() -> None:
    assert len(set(actions.CODES)) == len(actions.CODES)
    assert [rule.condition is None for rule in actions.RULES].count(True) == 1
    assert actions.RULES[-1].condition is None
    for rule in actions.RULES[:-1]:
        assert rule.condition is not None
        audience.compile_segment(rule.condition)  # raises when it is not
    assert {rule.code for rule in actions.RULES} >= {
        "none",
        "personal_call",
        "cross_sell_offer",
        "automated_win_back",
    }


def test_the_field_combines_with_others_in_a_segment(
    sessions: sessionmaker[Session], people: dict[str, int]
) -> None:
    with sessions() as session:
        found = audience.preview(
            session, text='next_best_action in ("personal_call", "loyalty_reward") and consent.post'
        )
        not_none = audience.preview(session, text='next_best_action != "none"')
    assert found.count == 1
    assert found.sample[0]["id"] == people["dissolving A, post only"]
    assert not_none.count == len(CASES) - 3


def _random_scores(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.1:
        return None

    def maybe(values: list[Any]) -> Any:
        return rng.choice([*values, None])

    return {
        "abc": maybe(["A", "B", "C"]),
        "p_alive": maybe([0.05, 0.49, 0.5, 0.51, 0.95]),
        "lifecycle_phase": maybe(
            ["awareness", "exploration", "expansion", "commitment", "dissolution"]
        ),
        "rfm_segment": maybe(["champions", "at risk", "about to sleep", "lost"]),
        "loyalty_type": maybe(["true", "latent", "spurious", "none"]),
        "orders": maybe([0, 1, 2, 7]),
        "days_since_last": maybe([0, 30, 31, 400]),
        "profit": maybe([-10.0, 0.0, 25.0]),
    }


def test_the_segment_field_and_the_per_customer_rules_agree(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    rng = random.Random(7)
    scores: dict[int, dict[str, Any]] = {}
    with sessions.begin() as session:
        ids = []
        for _ in range(150):
            consents = tuple(channel for channel in CHANNELS if rng.random() < 0.3)
            withdrawn = tuple(
                channel for channel in CHANNELS if channel not in consents and rng.random() < 0.1
            )
            customer_id = person(session, *consents, withdrawn=withdrawn)
            ids.append(customer_id)
            scored = _random_scores(rng)
            if scored is not None:
                scores[customer_id] = scored
    snapshot(engine, scores)
    with sessions() as session:
        one_by_one = {
            customer_id: actions.for_customer(session, customer_id).code for customer_id in ids
        }
        by_segment = _by_segment(session)
    assert by_segment == one_by_one
    assert len(set(one_by_one.values())) >= 8  # the set is varied enough to test many rules


def test_without_any_consent_only_none(sessions: sessionmaker[Session], engine: Engine) -> None:
    rng = random.Random(11)
    scores: dict[int, dict[str, Any]] = {}
    with sessions.begin() as session:
        ids = [
            person(session, withdrawn=tuple(c for c in CHANNELS if rng.random() < 0.5))
            for _ in range(30)
        ]
        for customer_id in ids:
            scored = _random_scores(rng)
            if scored is not None:
                scores[customer_id] = scored
    snapshot(engine, scores)
    with sessions() as session:
        assert {actions.for_customer(session, customer_id).code for customer_id in ids} == {"none"}
        assert set(_by_segment(session)) == set(ids)
        assert set(_by_segment(session).values()) == {"none"}


def test_before_any_analysis_the_consent_rules_still_decide(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        mailed, posted, silent = person(session, "email"), person(session, "post"), person(session)
    with sessions() as session:
        assert [actions.for_customer(session, c).code for c in (mailed, posted, silent)] == [
            "newsletter",
            "personal_letter",
            "none",
        ]
        assert _by_segment(session) == {
            mailed: "newsletter",
            posted: "personal_letter",
            silent: "none",
        }


def test_an_unknown_customer_is_named(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFound):
        actions.for_customer(session, 99_999)
