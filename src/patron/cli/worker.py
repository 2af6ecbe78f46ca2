"""``patron worker``: run the background jobs (loyalty upkeep, a daily refit of the recommender,
running due campaigns and journeys, sending queued messages, webhook delivery) in a loop, or
once.

Each job is a function ``(sessions, now) -> counts`` named in ``JOBS``; a new kind of
background work is one more entry there. On PostgreSQL several workers may run side by side;
on SQLite run one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias

import typer

from patron.cli.output import runtime

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller
    from rich.console import Console
    from sqlalchemy.orm import Session, sessionmaker

    from patron.config import Settings

Job: TypeAlias = "Callable[[sessionmaker[Session], datetime], dict[str, int]]"
REFIT_AFTER = timedelta(hours=24)


def deliver_webhooks(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Post the webhook deliveries that are due.

    It reads the clock afresh for each post (and its signature) rather than using the round's
    ``now``: posts take time, up to ten seconds each.
    """
    from patron.db import utcnow
    from patron.outbox import service

    return service.deliver_due(sessions, now_fn=utcnow).counts()


def run_campaigns(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Queue the messages of scheduled campaigns whose time has come and of the journeys
    (each journey at most once a minute); the messages job then sends them."""
    from patron.config import load_settings
    from patron.engage import campaigns

    with sessions() as session:
        return campaigns.run_due(session, settings=load_settings(), now=now)


def send_messages(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Send the queued messages that are due (e-mail over SMTP, sms and push as webhooks),
    batch after batch for up to half a minute; count those waiting for a channel that is
    not set up.

    Like the webhooks, it reads the clock afresh for each message (its Date header, its
    ``sent_at``). A job is given only the sessions and the time, so it reads the settings.
    """
    from patron.config import load_settings
    from patron.db import utcnow
    from patron.engage import sending

    return sending.send_while_due(sessions, load_settings(), now_fn=utcnow).counts()


def loyalty_upkeep(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Vest pending points, expire due lots, start grace periods and downgrade tiers."""
    from patron.loyalty import upkeep

    with sessions() as session:
        return upkeep.run_all(session, as_of=now)


def refit_recommendations(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Fit the recommender again once its fit is a day old, or first when customers have come
    back for a second order; any other round only looks at the latest fit's date."""
    from patron.recommend import service
    from patron.recommend.learn import NotLearnt

    with sessions() as session:
        if not service.refit_due(session, now=now, age=REFIT_AFTER):
            return {}
    try:
        fitted = service.fit(sessions.kw["bind"], now=now)
    except NotLearnt:
        # Repeat buyers, but too few to learn the ranking from: the next round tries again,
        # which costs little in a shop this small.
        return {}
    return {"refitted": 1, "customers": fitted.customers, "neighbour_pairs": fitted.neighbours}


def care_rules(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Assign the key accounts again after a new analysis (new ABC classes), and run the task
    rules (P(alive) drop, anniversary gift, no contact) at most once an hour."""
    from patron.care.accounts import upkeep
    from patron.config import load_settings

    with sessions() as session:
        return upkeep.run_due(session, settings=load_settings(), now=now)


def subscription_upkeep(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Open the subscriptions' due deliveries and announce them (``subscription.due``), link
    the orders that fulfilled them, renew or end contracts, and send the reminders before a
    notice deadline (account manager's task) and before a renewal (customer's notice)."""
    from patron.config import load_settings
    from patron.subscriptions import upkeep

    with sessions() as session:
        return upkeep.run_due(session, settings=load_settings(), now=now)


def check_case_deadlines(sessions: sessionmaker[Session], now: datetime) -> dict[str, int]:
    """Warn before a case's deadline passes and record its breach, once each (with the
    webhook events case.sla_warning and case.sla_breached)."""
    from patron.care.cases import service
    from patron.config import load_settings

    with sessions() as session:
        return service.check_deadlines(session, settings=load_settings(), now=now)


def start_inbound(settings: Settings, sessions: sessionmaker[Session]) -> Controller | None:
    """Receive customers' mail to PATRON_CARE_INBOUND_ADDRESS over SMTP (cases from e-mail)
    while the worker runs, when PATRON_CARE_INBOUND_PORT is set."""
    if settings.care_inbound_port is None:
        return None
    from patron.care.cases import inbound

    return inbound.start_listener(settings, sessions)


# Loyalty first (a tier upgrade is a journey's trigger), campaigns before messages (what they
# queue goes out in the same round), and messages before webhooks, so the webhooks their
# changes queued (points earned, messages sent or bounced) go out in the same round too.
JOBS: list[tuple[str, Job]] = [
    ("loyalty", loyalty_upkeep),
    ("recommend", refit_recommendations),
    ("care", care_rules),
    ("subscriptions", subscription_upkeep),
    ("campaigns", run_campaigns),
    ("cases", check_case_deadlines),
    ("messages", send_messages),
    ("webhooks", deliver_webhooks),
]


def worker(
    once: bool = typer.Option(False, "--once", help="Run every job once, then stop."),
    interval: float = typer.Option(
        5.0, "--interval", min=0.1, help="Seconds to wait between rounds."
    ),
) -> None:
    """Run the background jobs every few seconds until stopped with Ctrl-C."""
    from rich.console import Console

    from patron.db import utcnow

    console = Console(highlight=False)
    rt = runtime()
    sessions = rt.sessions()
    listener = None
    if not once:
        names = ", ".join(name for name, _ in JOBS)
        console.print(f"Patron worker running ({names}) every {interval:g} s; Ctrl-C stops it.")
        listener = start_inbound(rt.settings, sessions)
        if listener is not None:
            console.print(
                f"Receiving case mail for {rt.settings.care_inbound_address} on "
                f"{rt.settings.care_inbound_host}:{rt.settings.care_inbound_port}."
            )
    try:
        while True:
            now = utcnow()
            summary = _round(sessions, now, console, keep_going=not once)
            if summary:
                console.print(f"{now:%Y-%m-%d %H:%M:%S} UTC  {summary}")
            elif once:
                console.print("Nothing was due.")
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        console.print("Worker stopped.")
    finally:
        if listener is not None:
            listener.stop()
        rt.close()


def _round(
    sessions: sessionmaker[Session], now: datetime, console: Console, *, keep_going: bool
) -> str:
    """Run every job once; the counts that are not zero, as one line ("" when nothing happened).

    In the loop a failing job is reported and the others still run: a database that is away
    for a moment must not end the worker. With --once the error ends the command.
    """
    parts = []
    for name, job in JOBS:
        try:
            counts = job(sessions, now)
        except Exception as exc:
            if not keep_going:
                raise
            console.print(f"[bold red]error[/] in {name}: {type(exc).__name__}: {exc}")
            continue
        done = ", ".join(f"{count} {what}" for what, count in counts.items() if count)
        if done:
            parts.append(f"{name}: {done}")
    return "; ".join(parts)
