"""What a contract's dates set in motion: a task for the account manager before the notice
deadline, a renewal notice to the customer before the term renews, and the confirmation of a
cancellation.

The task is there so that someone *talks* to the customer while they can still decide —
does the subscription still fit, is the rhythm right — not to hold them to the contract.
It goes to the customer's account manager (unassigned without one), is due
``subscription_reminder_days`` before the deadline, and is made once per term (task key
``subscription-notice:<id>:<term end>``, ``reminded_for``). The renewal notice is a
transactional e-mail ``subscription_renewal_notice_days`` before a renewing term ends, once
per term (message key ``subscription-renewal:<id>:<term end>``, ``renewal_noticed_for``).
Open-ended contracts (no renewal) get the task but no notice: nothing renews.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from patron.care.accounts import tasks
from patron.config import Settings
from patron.customers.models import Customer
from patron.engage import context, library, rendering, transactional
from patron.subscriptions import schedule, terms
from patron.subscriptions.deliveries import (
    ZONE_SLACK,
    change,
    customer_keys,
    local_today,
)
from patron.subscriptions.models import Subscription, SubscriptionDelivery

RENEWAL_TEMPLATE = "subscription_renewal"
CANCELLED_TEMPLATE = "subscription_cancelled"
TASK_RULE = "subscription_notice"
UNSENT = "no usable e-mail address"


def _open_terms(horizon: date) -> Any:
    """Subscriptions with a current term that nobody cancelled, ending by ``horizon``."""
    return (
        select(Subscription)
        .where(
            Subscription.term_ends_on.is_not(None),
            Subscription.term_ends_on <= horizon,
            Subscription.ends_on.is_(None),
        )
        .order_by(Subscription.id)
    )


def _not_yet(done_for: Any) -> Any:
    """Not yet done for the current term (each round would otherwise look at it again)."""
    return or_(done_for.is_(None), done_for != Subscription.term_ends_on)


# --- the account manager's task -------------------------------------------------------------------


def remind_account_managers(session: Session, *, settings: Settings, now: datetime) -> int:
    """Make the tasks due before a notice deadline (see the module docstring); how many were
    made. Commits."""
    days = settings.subscription_reminder_days
    # the deadline lies at most ``notice_days`` before the term end; look as far as needed
    widest = session.scalar(select(func.max(Subscription.notice_days))) or 0
    horizon = now.date() + timedelta(days=days + widest) + ZONE_SLACK
    made = 0
    pending = _open_terms(horizon).where(_not_yet(Subscription.reminded_for))
    for row in session.scalars(pending.with_for_update(skip_locked=True)).all():
        term_end = row.term_ends_on
        if term_end is None or row.reminded_for == term_end:
            continue
        today = local_today(row, settings, now)
        deadline = terms.notice_deadline(term_end, row.notice_days)
        if not deadline - timedelta(days=days) <= today <= deadline:
            continue
        due_on = max(today, deadline - timedelta(days=days))
        if _task(session, row, term_end, deadline, due_on, now):
            made += 1
        row.reminded_for = term_end
        change(
            session,
            row,
            "reminder",
            now=now,
            details={
                "term_ends_on": term_end.isoformat(),
                "notice_deadline": deadline.isoformat(),
                "task_due_on": due_on.isoformat(),
            },
        )
    session.commit()
    return made


def _task(
    session: Session, row: Subscription, term_end: date, deadline: date, due_on: date, now: datetime
) -> bool:
    following = terms.next_term_end(term_end, row.renewal_months)
    after = (
        f"renews until {following.isoformat()}"
        if following
        else f"runs on with {row.notice_days} days' notice"
    )
    note = (
        f"The contract's term ends on {term_end.isoformat()}; without a cancellation by "
        f"{deadline.isoformat()} it {after}. Call to hear how the subscription is going: does "
        "it still fit, are the rhythm and the amount right, is anything missing? The point is "
        "to talk and to help, not to hold the customer to the contract: if they want to "
        "leave, help them cancel in time."
    )
    made = tasks.create_once(
        session,
        key=f"subscription-notice:{row.id}:{term_end.isoformat()}",
        rule=TASK_RULE,
        kind="call",
        customer_id=row.customer_id,
        # no name in the title: a task outlives an erased customer's personal data
        title=f"Talk to the customer about subscription {row.key} before the notice deadline "
        f"{deadline.isoformat()}",
        note=note,
        due_on=due_on,
        now=now,
    )
    return made is not None


# --- the customer's renewal notice ----------------------------------------------------------------


def send_renewal_notices(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Tell customers ``subscription_renewal_notice_days`` before their contract renews, once
    per term; the counts sent and unsent (no usable e-mail address: recorded, not retried).
    Commits each one."""
    days = settings.subscription_renewal_notice_days
    horizon = now.date() + timedelta(days=days) + ZONE_SLACK
    candidates = session.execute(
        _open_terms(horizon)
        .where(Subscription.renewal_months > 0, _not_yet(Subscription.renewal_noticed_for))
        .with_only_columns(Subscription.id, Subscription.term_ends_on)
    ).all()
    counts = {"sent": 0, "unsent": 0}
    for subscription_id, term_end in candidates:
        row = session.scalar(
            select(Subscription)
            .where(Subscription.id == subscription_id, Subscription.term_ends_on == term_end)
            .with_for_update(skip_locked=True)
        )
        if row is None or row.renewal_noticed_for == term_end or row.ends_on is not None:
            session.rollback()
            continue
        today = local_today(row, settings, now)
        if not term_end - timedelta(days=days) <= today <= term_end:
            session.rollback()
            continue
        counts["sent" if _notify_renewal(session, row, today, settings, now) else "unsent"] += 1
    return counts


def _notify_renewal(
    session: Session, row: Subscription, today: date, settings: Settings, now: datetime
) -> bool:
    term_end = row.term_ends_on
    assert term_end is not None
    deadline = terms.notice_deadline(term_end, row.notice_days)
    row.renewal_noticed_for = term_end
    variables = {
        "subscription": {"key": row.key},
        "term_ends_on": term_end,
        "next_term_ends_on": terms.next_term_end(term_end, row.renewal_months),
        "notice_deadline": deadline,
        "can_still_cancel": today <= deadline,
        "portal_url": settings.portal_base,
    }
    details = {"term_ends_on": term_end.isoformat(), "notice_deadline": deadline.isoformat()}
    noted = change(session, row, "renewal_notice", now=now, details=details | {"sent": True})
    sent = _send(
        session,
        row,
        template=RENEWAL_TEMPLATE,
        key=f"subscription-renewal:{row.id}:{term_end.isoformat()}",
        variables=variables,
        settings=settings,
        now=now,
    )
    if not sent:  # recorded as not sent (and not retried: the customer can be called instead)
        noted.details = details | {"sent": False, "why": UNSENT}
        session.commit()
    return sent


# --- the cancellation's confirmation --------------------------------------------------------------


def confirm_cancellation(
    session: Session, row: Subscription, *, settings: Settings, now: datetime
) -> bool:
    """E-mail the customer that their subscription ends on ``ends_on`` and which delivery is
    the last, once per cancellation; commits the caller's transaction with it. False when the
    customer has no usable e-mail address (the cancellation stands all the same)."""
    if row.ends_on is None:
        raise ValueError("only a cancelled subscription (with ends_on) is confirmed")
    variables = {
        "subscription": {"key": row.key},
        "ends_on": row.ends_on,
        "last_delivery": last_delivery(session, row),
        "portal_url": settings.portal_base,
    }
    return _send(
        session,
        row,
        template=CANCELLED_TEMPLATE,
        key=f"subscription-cancelled:{row.id}:{row.ends_on.isoformat()}",
        variables=variables,
        settings=settings,
        now=now,
    )


def last_delivery(session: Session, row: Subscription) -> date | None:
    """The last delivery a cancelled subscription still brings: the latest date of its rhythm
    on or before ``ends_on`` (after a pause, from the day it runs again), else the latest
    delivery already announced by then; None when nothing is left."""
    if row.ends_on is None:
        return None
    rhythm = schedule.rhythm_of(row)
    step = row.next_due
    if step is not None and row.status == "paused" and row.paused_until is not None:
        step = schedule.resume_on(rhythm, step, row.paused_until)
    last = None
    while step is not None and step <= row.ends_on:
        last, step = step, schedule.next_after(rhythm, step)
    announced = session.scalar(
        select(func.max(SubscriptionDelivery.due_on)).where(
            SubscriptionDelivery.subscription_id == row.id,
            SubscriptionDelivery.status.in_(("due", "announced")),
            SubscriptionDelivery.due_on <= row.ends_on,
        )
    )
    return max((d for d in (last, announced) if d is not None), default=None)


# --- sending --------------------------------------------------------------------------------------


def _send(
    session: Session,
    row: Subscription,
    *,
    template: str,
    key: str,
    variables: dict[str, Any],
    settings: Settings,
    now: datetime,
) -> bool:
    """Queue the e-mail, committing the caller's changes with it; False (the changes
    committed all the same) when the customer has no usable address."""
    library.ensure(session, template, now=now)
    try:
        transactional.send(
            session,
            customer=customer_keys(session, [row.customer_id])[row.customer_id],
            template_key=template,
            channel="email",
            key=key,
            variables=_localised(session, row, variables, settings),
            settings=settings,
            now=now,
        )
    except transactional.Unreachable:
        session.commit()
        return False
    return True


def _localised(
    session: Session, row: Subscription, variables: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """Dates written the customer's way ("31. Januar 2027"), in the message's language."""
    wanted = session.scalar(select(Customer.language).where(Customer.id == row.customer_id))
    language = rendering.pick_language(wanted, rendering.LANGUAGES, default=settings.language)
    localised: dict[str, Any] = context.localise(
        variables, language=language, currency=row.currency
    )
    return localised
