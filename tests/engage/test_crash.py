"""The crash test: 10,000 queued messages, worker processes killed with SIGKILL at random
moments and restarted until nothing is queued. Every consenting recipient must have received
exactly one distinct Message-ID and every row must say so; nobody without consent got
marketing. Raw repeats (the same Message-ID twice, from a kill between the server's 250 and
the commit of ``sent``) are allowed and printed.

On SQLite one worker runs at a time; on PostgreSQL two at once, each killed on its own.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from engage.smtp_sink import Sink, running_sink
from patron.customers.models import Consent, Customer
from patron.engage import messages
from patron.engage.channels import message_id
from patron.engage.models import Message

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("crash_worker.py")
MESSAGES = 10_000
KILLS = {1: 15, 2: 10}  # kills per worker slot, by how many slots run at once
DEADLINE = 240.0  # seconds: a failure, not a slow pass, when nothing moves any more
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def consents(n: int) -> bool:
    return n % 5 != 0  # one customer in five never agreed to marketing by e-mail


def transactional(n: int) -> bool:
    return n % 10 == 0  # an order confirmation: it goes with or without marketing consent


def fill(engine: Engine, sessions: sessionmaker[Session]) -> None:
    """Customers ``kunde0`` … ``kunde9999``, their consents, and one message each."""
    with engine.begin() as connection:
        connection.execute(
            insert(Customer),
            [{"name": f"Kunde {n}", "email": f"kunde{n}@example.org"} for n in range(MESSAGES)],
        )
        ids = dict(connection.execute(select(Customer.email, Customer.id)).all())
        customer = [ids[f"kunde{n}@example.org"] for n in range(MESSAGES)]
        connection.execute(
            insert(Consent),
            [
                {
                    "customer_id": customer[n],
                    "channel": "email",
                    "purpose": "marketing",
                    "granted": True,
                    "source": "test",
                    "recorded_at": T0 - timedelta(days=10),
                }
                for n in range(MESSAGES)
                if consents(n)
            ],
        )
    now = datetime.now(UTC)
    outgoing = [
        messages.Outgoing(
            key=f"order:{n}" if transactional(n) else messages.campaign_key(1, customer[n], ""),
            customer_id=customer[n],
            channel="email",
            purpose="transactional" if transactional(n) else "marketing",
            language="de",
            recipient=f"kunde{n}@example.org",
            subject=f"Grüße an Kunde {n}",
            html=f"<p>Hallo Kunde {n}, schön, dass Sie da sind.</p>",
            text=f"Hallo Kunde {n}, schön, dass Sie da sind.",
            send_after=now - timedelta(minutes=1),
        )
        for n in range(MESSAGES)
    ]
    with sessions.begin() as session:
        assert len(messages.enqueue(session, outgoing, now=now)) == MESSAGES


def queued(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        query = select(func.count()).where(Message.status == "queued")
        return int(session.scalar(query) or 0)


class Slot:
    """One worker process at a time: started, killed at a random moment after it is ready,
    started again, ``limit`` times; then left to run until stopped."""

    def __init__(self, env: dict[str, str], rng: random.Random, limit: int) -> None:
        self.env, self.rng, self.limit = env, rng, limit
        self.kills = 0
        self.error: BaseException | None = None
        self.process: subprocess.Popen[str] | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(WORKER)], env=self.env, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the worker did not start (exit status {process.wait()})")
        return process

    def _run(self) -> None:
        try:
            self._cycle()
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.error = exc

    def _cycle(self) -> None:
        while not self.stop.is_set():
            self.process = self._start()
            if self.kills >= self.limit:
                self.stop.wait()
                return
            time.sleep(self.rng.uniform(0.05, 0.8))
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.kills += 1

    def end(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def crash_and_restart(database_url: str, workers: int, seed: int) -> None:
    from patron.db import make_engine, session_factory

    engine = make_engine(database_url)
    sessions = session_factory(engine)
    try:
        fill(engine, sessions)
        with running_sink() as sink:
            env = os.environ | {
                "PATRON_DATABASE_URL": database_url,
                "PATRON_SMTP_HOST": sink.host,
                "PATRON_SMTP_PORT": str(sink.port),
                "PATRON_SMTP_SECURITY": "none",
                "PATRON_EMAIL_FROM": "Laden <post@laden.example>",
            }
            rng = random.Random(seed)
            slots = [Slot(env, random.Random(rng.random()), KILLS[workers]) for _ in range(workers)]
            began = time.monotonic()
            for slot in slots:
                slot.thread.start()
            try:
                while queued(sessions) and time.monotonic() - began < DEADLINE:
                    assert [slot.error for slot in slots] == [None] * workers
                    time.sleep(0.25)
            finally:
                for slot in slots:
                    slot.end()
            seconds = time.monotonic() - began
            assert queued(sessions) == 0, f"still queued after {DEADLINE:.0f} s"
            check(sessions, sink, kills=sum(s.kills for s in slots), seconds=seconds)
    finally:
        engine.dispose()


def check(sessions: sessionmaker[Session], sink: Sink, *, kills: int, seconds: float) -> None:
    with sessions() as session:
        rows = session.execute(select(Message.key, Message.recipient, Message.status)).all()
    assert Counter(status for _, _, status in rows) == {
        "sent": MESSAGES * 8 // 10 + MESSAGES // 10,  # consenting, and every confirmation
        "cancelled": MESSAGES // 10,  # marketing to those who never agreed
    }
    received = sink.all()
    ids_by_recipient: dict[str, set[str]] = defaultdict(set)
    for got in received:
        [to] = got.rcpt_tos
        ids_by_recipient[to].add(got.message_id)
    for key, recipient, status in rows:
        if status == "sent":
            assert ids_by_recipient.get(recipient) == {message_id(key, "laden.example")}, recipient
        else:
            assert recipient not in ids_by_recipient, f"{recipient} got marketing without consent"
    distinct = sum(len(ids) for ids in ids_by_recipient.values())
    print(
        f"\ncrash test: {MESSAGES:,} messages, {kills} kills, {seconds:.1f} s;"
        f" {len(received):,} deliveries of {distinct:,} distinct Message-IDs:"
        f" {len(received) - distinct} raw repeats"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_one_worker_killed_again_and_again(database_url: str) -> None:
    crash_and_restart(database_url, workers=1, seed=7)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_two_workers_killed_again_and_again(database_url: str) -> None:
    crash_and_restart(database_url, workers=2, seed=11)
