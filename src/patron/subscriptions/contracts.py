"""Terms that end: a contract nobody cancelled renews by ``renewal_months`` or, without a
renewal, runs on open-ended (cancellable at its notice period from then on).

A term ends at the end of its last day in the subscription's time zone; the worker renews it
the day after, with a ``renewed`` change and a ``subscription.renewed`` event. A cancelled
contract (``ends_on`` set) is not renewed: ``deliveries.end_finished`` ends it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.subscriptions import terms
from patron.subscriptions.deliveries import ZONE_SLACK, change, customer_keys, event, local_today
from patron.subscriptions.models import Subscription

# A contract behind by more terms than this (a worker stopped for years) catches up next round.
CATCH_UP = 24


def renew_due(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Renew (or let run on) every contract whose term has ended and that nobody cancelled;
    commits. The counts of renewals and of contracts now open-ended."""
    horizon = now.date() + ZONE_SLACK
    rows = session.scalars(
        select(Subscription)
        .where(
            Subscription.term_ends_on.is_not(None),
            Subscription.term_ends_on < horizon,
            Subscription.ends_on.is_(None),
        )
        .order_by(Subscription.id)
        .with_for_update(skip_locked=True)
    ).all()
    keys = customer_keys(session, [r.customer_id for r in rows])
    counts = {"renewed": 0, "open_ended": 0}
    for row in rows:
        today = local_today(row, settings, now)
        for _ in range(CATCH_UP):
            ended = row.term_ends_on
            if ended is None or ended >= today:
                break
            following = terms.next_term_end(ended, row.renewal_months)
            row.term_ends_on = following
            details = {
                "term_ended_on": ended.isoformat(),
                "term_ends_on": following.isoformat() if following else None,
            }
            change(session, row, "renewed", now=now, details=details)
            event(
                session,
                row,
                "subscription.renewed",
                customer=keys[row.customer_id],
                now=now,
                **details,
            )
            counts["renewed" if following else "open_ended"] += 1
    session.commit()
    return counts
