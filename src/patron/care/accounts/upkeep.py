"""The worker's care round for key accounts: the assignment when the classes may have changed,
and the task rules at most once an hour.

A new score snapshot (``patron analyze``) may move customers between ABC classes, so the
assignment runs as soon as the newest snapshot is not the one its last run read (one row of
``care_runs`` tells). The task rules look at days (anniversaries, weeks without contact) and
at snapshots (a P(alive) drop), so they run once an hour, and at once after a new snapshot.
Both are safe to run twice: the assignment keeps what it decided, and a rule's task has a
unique key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.analytics.snapshots import latest_snapshot
from patron.care.accounts import service, tasks
from patron.config import Settings

RULES = "task_rules"  # the CareRun job of the task rules
RULES_EVERY = timedelta(hours=1)


def run_due(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Run what is due; the counts of what changed (empty when nothing was due)."""
    snapshot = latest_snapshot(session)
    snapshot_id = snapshot.id if snapshot is not None else None
    done: dict[str, int] = {}
    assigned = service.last_run(session, service.ASSIGNMENT)
    if snapshot_id is not None and (assigned is None or assigned.snapshot_id != snapshot_id):
        run = service.run_assignment(session, settings=settings, now=now)
        done |= {
            "assigned": run.assigned,
            "moved": run.moved,
            "released": run.released,
            "unplaced": run.unplaced,
        }
    ruled = service.last_run(session, RULES)
    if ruled is None or ruled.ran_at <= now - RULES_EVERY or ruled.snapshot_id != snapshot_id:
        made = tasks.run_rules(session, settings=settings, now=now)
        service.mark_run(session, RULES, now=now, snapshot_id=snapshot_id)
        session.commit()
        done |= {f"{rule} tasks": n for rule, n in made.model_dump().items()}
    session.rollback()
    return done
