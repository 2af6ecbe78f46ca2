"""What the cases' tests share: settings with a Berlin office week, score snapshots by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from patron.analytics.snapshots import CustomerScore, ScoreSnapshot
from patron.config import Settings, load_settings

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts: int) -> datetime:
    """A wall-clock time in Berlin, as the UTC instant the service stores."""
    return datetime(*parts, tzinfo=BERLIN).astimezone(UTC)  # type: ignore[misc]


def settings(**more: Any) -> Settings:
    values: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "care_hours": "mon-fri 08:00-17:00",
        "care_holidays": "",
        "care_closed_days": "",
        "care_warn_hours": 2.0,
        "email_from": "Shop <service@shop.example>",
        "smtp_security": "none",
        "shop_name": "Kaffeehaus Berg",
        "public_url": "https://shop.example",
        "secret_key": "cases-test-secret-" + "x" * 20,
    }
    return load_settings(**(values | more))


def snapshot(
    session: Session, taken_at: datetime, scores: dict[int, dict[str, Any]]
) -> ScoreSnapshot:
    """A score snapshot taken at ``taken_at`` with these customers' columns (abc, clv …)."""
    row = ScoreSnapshot(
        taken_at=taken_at,
        period_start=date(2020, 1, 1),
        period_end=taken_at.date(),
        time_unit="D",
        model="bgnbd",
        customers=len(scores),
        settings={},
        models={},
        warnings=[],
    )
    session.add(row)
    session.flush()
    for customer_id, columns in scores.items():
        session.add(CustomerScore(snapshot_id=row.id, customer_id=customer_id, **columns))
    session.flush()
    return row
