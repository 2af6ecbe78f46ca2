"""Builders for the key-account tests: score snapshots, managers, key accounts."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.analytics.snapshots import save_snapshot
from patron.care.accounts import service
from patron.care.accounts.schemas import ManagerIn
from patron.config import Settings, load_settings

COLUMNS = {
    "abc": pa.string(),
    "p_alive": pa.float64(),
    "clv": pa.float64(),
    "lifecycle_phase": pa.string(),
    "first_purchase": pa.date32(),
}


def settings(database_url: str, **overrides: Any) -> Settings:
    return load_settings(database_url=database_url, environment="test", **overrides)


def snapshot(engine: Engine, scores: dict[int, dict[str, Any]]) -> int:
    """A new score snapshot holding ``scores`` (customer id → column values) and nothing else."""
    table = pa.table(
        {
            "customer_id": pa.array([str(c) for c in scores], pa.string()),
            **{
                name: pa.array([row.get(name) for row in scores.values()], kind)
                for name, kind in COLUMNS.items()
            },
        }
    )
    with engine.begin() as connection:
        return save_snapshot(
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


def manager(
    sessions: sessionmaker[Session],
    config: Settings,
    *,
    capacity: int | None = None,
    regions: list[str] | None = None,
    role: str = "account_manager",
) -> tuple[int, str]:
    """A new user set up as an account manager: (user id, e-mail address)."""
    with sessions() as session:
        user = make.user(session, role)
        service.set_manager(
            session,
            email=user.email,
            changes=ManagerIn(capacity=capacity, regions=regions),
            settings=config,
            now=make.at(0),
        )
    return user.id, user.email


def customers(sessions: sessionmaker[Session], *countries: str | None, **fields: Any) -> list[int]:
    with sessions.begin() as session:
        return [make.customer(session, country=c, **fields).id for c in countries]
