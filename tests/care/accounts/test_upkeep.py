"""The worker's care job: the assignment runs once per new snapshot, the task rules hourly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from care.accounts import shop
from patron.care.accounts import upkeep
from patron.care.models import AccountAssignment, Task
from patron.cli import worker

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def _due(sessions: sessionmaker[Session], config: shop.Settings, now: datetime) -> dict[str, int]:
    with sessions() as session:
        return upkeep.run_due(session, settings=config, now=now)


def test_the_assignment_reruns_after_a_new_snapshot_and_rules_run_hourly(
    sessions: sessionmaker[Session],
    engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = shop.settings(database_url)
    manager, _ = shop.manager(sessions, config, capacity=5)
    first, second = shop.customers(sessions, "DE", "DE")
    shop.snapshot(engine, {first: {"abc": "A"}, second: {"abc": "B"}})
    done = _due(sessions, config, NOW)
    assert done["assigned"] == 1
    assert done["no_contact tasks"] == 1  # the new key account was never contacted
    assert _due(sessions, config, NOW + timedelta(minutes=5)) == {}  # nothing new, not an hour
    with sessions() as session:
        assert list(session.scalars(select(AccountAssignment.customer_id))) == [first]
    # new classes: the second is A now; the job sees the new snapshot at once
    shop.snapshot(engine, {first: {"abc": "A"}, second: {"abc": "A"}})
    again = _due(sessions, config, NOW + timedelta(minutes=10))
    assert (again["assigned"], again["no_contact tasks"]) == (1, 1)
    later = _due(sessions, config, NOW + timedelta(minutes=75))
    assert "assigned" not in later  # the same snapshot: no new assignment run
    assert set(later) == {"p_alive tasks", "anniversary tasks", "no_contact tasks"}
    with sessions() as session:
        owners = {t.customer_id: t.owner_id for t in session.scalars(select(Task))}
    assert owners == {first: manager, second: manager}
    # the worker's job is this, with the settings from the environment
    monkeypatch.setenv("PATRON_DATABASE_URL", database_url)
    assert worker.care_rules(sessions, NOW + timedelta(minutes=80)) == {}
    assert "care" in [name for name, _ in worker.JOBS]
