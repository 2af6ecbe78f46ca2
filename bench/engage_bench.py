"""Engagement benchmark, the delivery half: queued e-mails sent by ``send_due`` to a real SMTP
server, next to plain ``smtplib`` sending the same messages over one connection.

Run from the repository root::

    .venv/bin/python bench/engage_bench.py [--backend sqlite|postgres|all] [--messages N] [--json]

For each backend (a fresh SQLite file in ``bench/.data/``, and a fresh PostgreSQL database on
``PATRON_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``, dropped
afterwards):

1. Migrates the store and inserts N customers (default 100,000) with marketing consent by
   e-mail and one queued marketing e-mail each (direct inserts: this half measures sending).
2. Starts an SMTP sink (aiosmtpd) in a process of its own, on a free port of 127.0.0.1; it
   counts what it accepts and the distinct Message-IDs.
3. **Patron**: ``send_due`` batch after batch (200 each: claim, the consent check at send
   time, one SMTP connection per batch, the MIME message with its List-Unsubscribe link, a
   commit marking each message sent right after the server's 250 with its ``message.sent``
   event) until nothing is due. Timed as a whole.
4. **Peer**: plain ``smtplib`` sending the same N messages, built beforehand (not timed),
   over one connection to the same sink: the floor any sender on this machine has.
5. **The cost of marking each message sent on its own**: the same N rows marked sent again,
   once by Patron's own per-message transaction (UPDATE by id and the event, committed), once
   in one transaction per 200 (what a sender that records per batch would do), both timed.

Prints messages/s, the ratio to the peer and the target (delivery >= 1,000 messages/s). The
exit status is 1 only when the work fails (a message not delivered or delivered twice), not
when the target is missed: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import smtplib
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text, update

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
ADMIN_URL = os.environ.get("PATRON_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATE = 1_000.0
BATCH = 200
FROM = "Bench Shop <shop@bench.example>"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the sink, in a process of its own --------------------------------------------------------


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def _sink_process(port: int, control: Connection) -> None:
    """aiosmtpd counting messages and distinct Message-IDs; answers ``count`` on the pipe."""
    import threading

    from aiosmtpd.controller import Controller

    lock = threading.Lock()
    seen: set[bytes] = set()
    total = [0]

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
            found = _MESSAGE_ID.search(head)
            with lock:
                total[0] += 1
                seen.add(found.group(1) if found else b"")
            return "250 2.0.0 Accepted"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    control.send("ready")
    while (command := control.recv()) != "stop":
        if command == "count":
            with lock:
                control.send((total[0], len(seen)))
        elif command == "reset":
            with lock:
                total[0] = 0
                seen.clear()
            control.send("ok")
    controller.stop()


class Sink:
    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        context = multiprocessing.get_context("spawn")
        self.control, child = context.Pipe()
        self.process = context.Process(target=_sink_process, args=(self.port, child), daemon=True)
        self.process.start()
        if not self.control.poll(60) or self.control.recv() != "ready":
            raise SystemExit("the SMTP sink did not start")

    def count(self) -> tuple[int, int]:
        self.control.send("count")
        total, distinct = self.control.recv()
        return int(total), int(distinct)

    def reset(self) -> None:
        self.control.send("reset")
        self.control.recv()

    def stop(self) -> None:
        self.control.send("stop")
        self.process.join(timeout=10)


# --- the store ----------------------------------------------------------------------------------


class Store:
    """A fresh, migrated store (SQLite file or PostgreSQL database), removed by ``drop``."""

    def __init__(self, backend: str) -> None:
        from patron import schema
        from patron.db import make_engine, session_factory

        self.backend = backend
        self.admin = None
        if backend == "sqlite":
            DATA.mkdir(parents=True, exist_ok=True)
            self.path = DATA / f"engage-{uuid.uuid4().hex[:8]}.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
            self.name = f"patron_bench_{uuid.uuid4().hex[:10]}"
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"
        self.engine = make_engine(self.url)
        schema.upgrade(self.engine)
        self.sessions = session_factory(self.engine)

    def drop(self) -> None:
        self.engine.dispose()
        if self.admin is not None:
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def queue_messages(store: Store, n: int, now: datetime) -> None:
    """N customers with marketing consent by e-mail, and one queued e-mail each."""
    from patron.customers.models import Consent, Customer
    from patron.engage.models import Message

    chunk = 5_000
    with store.engine.begin() as connection:
        for start in range(0, n, chunk):
            part = range(start, min(n, start + chunk))
            connection.execute(
                insert(Customer),
                [
                    {"external_id": f"K{i}", "name": f"Kunde {i}", "email": f"kunde{i}@example.org"}
                    for i in part
                ],
            )
        ids = dict(connection.execute(select(Customer.external_id, Customer.id)).all())
        for start in range(0, n, chunk):
            part = range(start, min(n, start + chunk))
            connection.execute(
                insert(Consent),
                [
                    {
                        "customer_id": ids[f"K{i}"],
                        "channel": "email",
                        "purpose": "marketing",
                        "granted": True,
                        "source": "bench",
                        "recorded_at": now - timedelta(days=30),
                    }
                    for i in part
                ],
            )
            connection.execute(insert(Message), [_message(i, ids[f"K{i}"], now) for i in part])


def _message(i: int, customer_id: int, now: datetime) -> dict[str, Any]:
    return {
        "key": f"c1:{customer_id}:",
        "campaign_id": None,
        "customer_id": customer_id,
        "channel": "email",
        "purpose": "marketing",
        "language": "de",
        "recipient": f"kunde{i}@example.org",
        "subject": f"Kunde {i}, Ihre Empfehlungen für März – 10 € Gutschein",
        "html": (
            f"<p>Hallo Kunde {i},</p><p>schön, dass Sie bei uns einkaufen. Diese Woche für"
            " Sie ausgewählt:</p><ul><li>Espresso Milano, 500 g</li><li>Tagliatelle all'uovo"
            "</li><li>Passata di pomodoro</li></ul><p>Ihr Gutschein: <b>MAERZ-10</b></p>"
        ),
        "text": (
            f"Hallo Kunde {i},\n\nschön, dass Sie bei uns einkaufen. Diese Woche für Sie"
            " ausgewählt:\n- Espresso Milano, 500 g\n- Tagliatelle all'uovo\n- Passata di"
            " pomodoro\n\nIhr Gutschein: MAERZ-10"
        ),
        "status": "queued",
        "attempts": 0,
        "send_after": now - timedelta(minutes=1),
        "created_at": now,
    }


# --- the three measurements ---------------------------------------------------------------------


@dataclass
class Delivery:
    backend: str
    messages: int
    patron_seconds: float
    patron_rate: float
    peer_seconds: float
    peer_rate: float
    ratio: float
    record_each_us: float
    record_batch_us: float
    connections: int


def deliver(backend: str, n: int, *, sink: Sink) -> Delivery:
    """Queue N e-mails, send them all with ``send_due``, then the peer; verify both."""
    from patron.config import load_settings
    from patron.db import utcnow
    from patron.engage import sending
    from patron.engage.models import Message

    log(f"{backend}: preparing a store with {n:,} queued e-mails …")
    store = Store(backend)
    try:
        queue_messages(store, n, utcnow())
        settings = load_settings(
            database_url=store.url,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_security="none",
            email_from=FROM,
            public_url="https://shop.bench.example",
            secret_key="the bench's signing key, not a real one",
        )
        sink.reset()
        log(f"{backend}: sending with send_due, {BATCH} a batch …")
        began = time.perf_counter()
        batches = 0
        while sending.send_due(store.sessions, settings, now_fn=utcnow, batch=BATCH).handled:
            batches += 1
        seconds = time.perf_counter() - began
        total, distinct = sink.count()
        with store.sessions() as session:
            sent = session.scalar(select(func.count()).where(Message.status == "sent"))
        if (total, distinct, sent) != (n, n, n):
            raise SystemExit(f"{backend}: {sent} rows sent, {total} delivered, {distinct} distinct")
        log(f"{backend}: the peer, plain smtplib over one connection …")
        peer_seconds = peer(store, settings, sink, n)
        log(f"{backend}: marking each message sent on its own, and per batch …")
        each, per_batch = record_costs(store, n)
        return Delivery(
            backend=backend,
            messages=n,
            patron_seconds=round(seconds, 2),
            patron_rate=round(n / seconds, 1),
            peer_seconds=round(peer_seconds, 2),
            peer_rate=round(n / peer_seconds, 1),
            ratio=round(peer_seconds / seconds, 3),
            record_each_us=round(each, 1),
            record_batch_us=round(per_batch, 1),
            connections=batches,
        )
    finally:
        store.drop()


def peer(store: Store, settings: Any, sink: Sink, n: int) -> float:
    """Plain smtplib: the same messages, built beforehand, over one connection."""
    from patron.db import utcnow
    from patron.engage.channels import MimeBuilder, Queued
    from patron.engage.models import Message

    builder = MimeBuilder(settings)
    now = utcnow()
    columns = [getattr(Message, name) for name in Queued.__dataclass_fields__]
    with store.sessions() as session:
        rows = session.execute(select(*columns).order_by(Message.id)).all()
    built = [(row.recipient, builder.build(Queued(*row), now=now)) for row in rows]
    sink.reset()
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for recipient, data in built:
            smtp.sendmail(builder.envelope_from, [recipient], data)
    seconds = time.perf_counter() - began
    total, distinct = sink.count()
    if (total, distinct) != (n, n):
        raise SystemExit(f"peer: {total} delivered, {distinct} distinct, of {n}")
    return seconds


def record_costs(store: Store, n: int) -> tuple[float, float]:
    """Microseconds per message: Patron's commit per message (its own function, on rows put
    back to queued) next to one commit per batch of 200 doing the same writes."""
    from patron.db import utcnow
    from patron.engage import sending
    from patron.engage.channels import Queued
    from patron.engage.models import Message
    from patron.outbox import service as outbox

    sample = min(n, 20_000)
    columns = [getattr(Message, name) for name in Queued.__dataclass_fields__]
    with store.sessions() as session:
        rows = session.execute(select(*columns).order_by(Message.id).limit(sample)).all()
    queued = [Queued(*row) for row in rows]

    def back_to_queued() -> None:
        with store.sessions.begin() as session:
            session.execute(update(Message).values(status="queued", sent_at=None))
            session.execute(text("DELETE FROM outbox_events"))

    back_to_queued()
    began = time.perf_counter()
    with store.sessions() as session:
        for message in queued:
            sending._record_sent(session, message, now=utcnow())
    each = (time.perf_counter() - began) / sample * 1e6
    back_to_queued()
    began = time.perf_counter()
    for start in range(0, sample, BATCH):
        part = queued[start : start + BATCH]
        now = utcnow()
        with store.sessions.begin() as session:
            session.execute(
                update(Message)
                .where(Message.id.in_([m.id for m in part]), Message.status == "queued")
                .values(status="sent", sent_at=now, locked_until=None)
            )
            for message in part:
                payload = {"message_id": message.id, "key": message.key}
                key = f"message.sent:{message.id}"
                outbox.enqueue(session, topic="message.sent", payload=payload, key=key, now=now)
    per_batch = (time.perf_counter() - began) / sample * 1e6
    return each, per_batch


# --- the report ---------------------------------------------------------------------------------


def render(rows: list[Delivery]) -> str:
    lines = [
        f"Message delivery: send_due to an aiosmtpd sink in its own process, {rows[0].messages:,}"
        f" e-mails; peer: plain smtplib, the same messages built beforehand, one connection",
        f"  {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end",
        "",
        f"  {'backend':<10}{'Patron msg/s':>14}{'peer msg/s':>12}{'P ÷ peer':>10}"
        f"{'Patron s':>10}{'peer s':>9}{'batches':>9}",
    ]
    for row in rows:
        lines.append(
            f"  {row.backend:<10}{row.patron_rate:>14,.0f}{row.peer_rate:>12,.0f}"
            f"{row.ratio:>10.2f}{row.patron_seconds:>10.1f}{row.peer_seconds:>9.1f}"
            f"{row.connections:>9,}"
        )
    lines += ["", "  marking a message sent (µs per message): each on its own vs per batch of 200"]
    for row in rows:
        lines.append(
            f"  {row.backend:<10}{row.record_each_us:>10.0f} µs{row.record_batch_us:>10.0f} µs"
            f"   (+{row.record_each_us - row.record_batch_us:.0f} µs a message,"
            f" {(row.record_each_us - row.record_batch_us) / (1e6 / row.patron_rate):.0%}"
            " of the delivery time)"
        )
    lines.append("")
    for row in rows:
        met = "met" if row.patron_rate >= TARGET_RATE else "MISSED"
        lines.append(
            f"  target ({row.backend}): delivery >= {TARGET_RATE:,.0f} messages/s:"
            f" {row.patron_rate:,.0f}: {met}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "all" else (args.backend,)
    sink = Sink()
    try:
        rows = [deliver(backend, args.messages, sink=sink) for backend in backends]
    finally:
        sink.stop()
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        print(render(rows))


if __name__ == "__main__":
    main()
