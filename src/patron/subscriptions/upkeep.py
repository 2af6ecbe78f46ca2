"""The worker's subscription round: due deliveries, contract reminders, renewals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.config import Settings


def run_due(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Run what is due; the counts of what changed (empty when nothing was due)."""
    return {}
