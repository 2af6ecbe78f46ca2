"""The worker's subscription round: pauses that end, due deliveries, orders that fulfil them,
terms that renew or contracts that end, and the reminders before a notice deadline or renewal.

Every step is safe to run twice and side by side on PostgreSQL: rows are claimed with
``FOR UPDATE SKIP LOCKED``, and what must happen once (a delivery, an event, a task, an e-mail)
has a unique key. Each step commits its own work, so one that fails leaves the others' done.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.config import Settings
from patron.subscriptions import contracts, deliveries, fulfilment, notices


def run_due(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Run what is due; the counts of what changed (empty when nothing was due)."""
    done: dict[str, int] = {
        "resumed": deliveries.resume_paused(session, settings=settings, now=now),
        **deliveries.open_due(session, settings=settings, now=now),
        "fulfilled": fulfilment.link_orders(session, now=now),
        **contracts.renew_due(session, settings=settings, now=now),
        "ended": deliveries.end_finished(session, settings=settings, now=now),
        "notice tasks": notices.remind_account_managers(session, settings=settings, now=now),
    }
    renewal = notices.send_renewal_notices(session, settings=settings, now=now)
    done |= {f"renewal notices {k}": v for k, v in renewal.items()}
    return {name: count for name, count in done.items() if count}
