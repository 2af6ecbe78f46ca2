"""Engagement benchmark: render and enqueue 100,000 personalised messages with a campaign run,
then deliver 100,000 queued e-mails to a real SMTP server; each half next to its peer.

Run from the repository root::

    .venv/bin/python bench/engage_bench.py [--backend sqlite|postgres|all] [--messages N]
        [--half enqueue|delivery|both] [--connections C] [--json]

For each backend (a fresh SQLite file in ``bench/.data/``, and a fresh PostgreSQL database on
``PATRON_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``, dropped
afterwards):

**Enqueue.** N customers (German, English and Norwegian in turn) with marketing consent by
e-mail, the shipped templates installed, a one-off campaign with the shipped ``newsletter``
template to everyone (no holdout, no global control group, so N messages).

1. **Patron**: ``campaigns.run``, timed as a whole: the candidates, consent and suppression at
   run time, the holdout draw and its N campaign members, each customer's variables (salutation
   in their language, loyalty points, a signed unsubscribe link), the frequency cap and quiet
   hours, rendering subject, HTML and plain text in the sandbox, and the N queued rows, in one
   transaction.
2. **Peer**: the floor for the same output: the customers read with the driver alone, the same
   template rendered with a plain Jinja2 environment (a salutation, the shop, an unsubscribe
   path; the plain-text part by stripping tags) and the rows inserted with the driver's
   ``executemany``, one commit.

**Delivery.** N customers with one queued marketing e-mail each (direct inserts), an SMTP sink
(aiosmtpd) in a process of its own on a free port of 127.0.0.1, counting what it accepts and
the distinct Message-IDs.

3. **Patron**: ``send_due`` batch after batch (200 each: claim, the consent check at send
   time, ``send_connections`` SMTP connections at once, the MIME message with its
   List-Unsubscribe headers, each answer recorded with its ``message.sent`` event moments after
   the server's 250) until nothing is due. Timed as a whole.
4. **Peer**: plain ``smtplib`` sending the same N messages, built beforehand (not timed), over
   one connection to the same sink.

Prints messages/s for both, the ratios and the targets (enqueue <= 20 s, delivery >= 1,000
messages/s). The exit status is 1 only when the work fails (a message missing, or delivered
twice), not when a target is missed: this is a benchmark, not a test.
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

from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
ADMIN_URL = os.environ.get("PATRON_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATE = 1_000.0
TARGET_ENQUEUE_SECONDS = 20.0
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


LANGUAGES = ("de", "en", "nb")


def add_customers(store: Store, n: int, now: datetime) -> dict[str, int]:
    """N customers (German, English and Norwegian in turn) with marketing consent by e-mail;
    their ids by customer number."""
    from patron.customers.models import Consent, Customer

    chunk = 5_000
    with store.engine.begin() as connection:
        for start in range(0, n, chunk):
            part = range(start, min(n, start + chunk))
            connection.execute(
                insert(Customer),
                [
                    {
                        "external_id": f"K{i}",
                        "name": f"Kunde {i}",
                        "email": f"kunde{i}@example.org",
                        "language": LANGUAGES[i % 3],
                    }
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
    return ids


def queue_messages(store: Store, n: int, now: datetime) -> None:
    """N customers with marketing consent by e-mail, and one queued e-mail each."""
    from patron.engage.models import Message

    ids = add_customers(store, n, now)
    with store.engine.begin() as connection:
        for start in range(0, n, 5_000):
            part = range(start, min(n, start + 5_000))
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


# --- the enqueue half ---------------------------------------------------------------------------


@dataclass
class Enqueue:
    backend: str
    customers: int
    queued: int
    patron_seconds: float
    patron_rate: float
    peer_seconds: float
    peer_rate: float
    ratio: float


def enqueue(backend: str, n: int) -> Enqueue:
    """N customers, a newsletter campaign to all of them run once by ``campaigns.run``; then
    the peer renders and inserts the same messages with Jinja2 and the database driver."""
    from patron.config import load_settings
    from patron.db import utcnow
    from patron.engage import campaigns, library
    from patron.engage.models import Message
    from patron.engage.schemas import CampaignCreate, VariantIn

    log(f"{backend}: preparing a store with {n:,} customers …")
    store = Store(backend)
    try:
        now = utcnow()
        add_customers(store, n, now)
        settings = load_settings(
            database_url=store.url,
            email_from=FROM,
            public_url="https://shop.bench.example",
            secret_key="the bench's signing key, not a real one",
            control_share=0,  # every customer gets the newsletter: N messages
        )
        with store.sessions() as session:
            library.install(session, now=now)
            session.commit()
            made = campaigns.create(
                session,
                CampaignCreate(
                    name="Bench newsletter",
                    variants=[VariantIn(name="A", template="newsletter")],
                    holdout_share=0,
                ),
                actor="bench",
                now=now,
            )
        log(f"{backend}: rendering and queueing with campaigns.run …")
        began = time.perf_counter()
        with store.sessions() as session:
            done = campaigns.run(session, made.id, settings=settings, now=now)
        seconds = time.perf_counter() - began
        with store.sessions() as session:
            queued = int(session.scalar(select(func.count()).select_from(Message)) or 0)
            session.execute(text("DELETE FROM messages"))
            session.commit()
        if (done.queued, queued) != (n, n):
            raise SystemExit(f"{backend}: {done.queued} queued by the run, {queued} rows, of {n}")
        log(f"{backend}: the peer, Jinja2 and the driver's executemany …")
        peer_seconds = enqueue_peer(store, settings, n)
        return Enqueue(
            backend=backend,
            customers=n,
            queued=queued,
            patron_seconds=round(seconds, 2),
            patron_rate=round(n / seconds, 1),
            peer_seconds=round(peer_seconds, 2),
            peer_rate=round(n / peer_seconds, 1),
            ratio=round(peer_seconds / seconds, 3),
        )
    finally:
        store.drop()


def enqueue_peer(store: Store, settings: Any, n: int) -> float:
    """The floor: read the customers, render the same template in each one's language with a
    plain Jinja2 environment (a salutation, the shop, an unsubscribe link; a plain-text part by
    stripping the tags), insert the rows with the driver's executemany, one commit."""
    from jinja2 import Environment

    from patron.db import utcnow
    from patron.engage import library

    with store.sessions() as session:
        template = library.template(session, "newsletter")
    environment = Environment(autoescape=True)
    subjects = {k: environment.from_string(v) for k, v in template.subjects.items()}
    bodies = {k: environment.from_string(v) for k, v in template.bodies.items()}
    greeting = {"de": "Hallo", "en": "Hello", "nb": "Hei"}
    tags = re.compile(r"<[^>]+>")
    now = utcnow()
    columns = (
        "key, customer_id, channel, purpose, language, recipient, subject, html, text, status,"
        " attempts, send_after, created_at"
    )
    began = time.perf_counter()
    raw = store.engine.raw_connection()
    try:
        mark = "?" if store.backend == "sqlite" else "%s"
        cursor = raw.cursor()
        cursor.execute("SELECT id, name, email, language FROM customers ORDER BY id")
        rows = []
        for customer_id, name, email, language in cursor.fetchall():
            first = name.split(" ")[0]
            values = {
                "salutation": f"{greeting[language]} {first}",
                "shop": {"name": settings.shop_name},
                "unsubscribe_url": f"{settings.public_url}/u/{customer_id}",
                "points": None,
            }
            html = bodies[language].render(values)
            rows.append(
                (
                    f"peer:{customer_id}",
                    customer_id,
                    "email",
                    "marketing",
                    language,
                    email,
                    subjects[language].render(values),
                    html,
                    tags.sub("", html),
                    "queued",
                    0,
                    now,
                    now,
                )
            )
        cursor.executemany(
            f"INSERT INTO messages ({columns}) VALUES ({', '.join([mark] * 13)})", rows
        )
        raw.commit()
    finally:
        raw.close()
    seconds = time.perf_counter() - began
    with store.sessions() as session:
        found = int(session.scalar(text("SELECT count(*) FROM messages")) or 0)
    if found != n:
        raise SystemExit(f"enqueue peer: {found} rows of {n}")
    return seconds


# --- the delivery half --------------------------------------------------------------------------


@dataclass
class Delivery:
    backend: str
    messages: int
    connections: int
    patron_seconds: float
    patron_rate: float
    peer_seconds: float
    peer_rate: float
    ratio: float
    batches: int


def deliver(backend: str, n: int, *, sink: Sink, connections: int | None) -> Delivery:
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
            **({} if connections is None else {"send_connections": connections}),
        )
        sink.reset()
        log(
            f"{backend}: sending with send_due, {BATCH} a batch, {settings.send_connections} at once …"
        )
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
        return Delivery(
            backend=backend,
            messages=n,
            connections=settings.send_connections,
            patron_seconds=round(seconds, 2),
            patron_rate=round(n / seconds, 1),
            peer_seconds=round(peer_seconds, 2),
            peer_rate=round(n / peer_seconds, 1),
            ratio=round(peer_seconds / seconds, 3),
            batches=batches,
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


# --- the report ---------------------------------------------------------------------------------


def render(queued: list[Enqueue], delivered: list[Delivery]) -> str:
    lines = [f"  {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end", ""]
    if queued:
        lines += [
            f"Render and enqueue: campaigns.run of a newsletter to {queued[0].customers:,}"
            " customers (de, en, nb); peer: Jinja2 and the driver's executemany",
            f"  {'backend':<10}{'Patron msg/s':>14}{'peer msg/s':>12}{'P ÷ peer':>10}"
            f"{'Patron s':>10}{'peer s':>9}",
        ]
        for row in queued:
            lines.append(
                f"  {row.backend:<10}{row.patron_rate:>14,.0f}{row.peer_rate:>12,.0f}"
                f"{row.ratio:>10.2f}{row.patron_seconds:>10.1f}{row.peer_seconds:>9.1f}"
            )
        lines.append("")
    if delivered:
        lines += [
            f"Delivery: send_due to an aiosmtpd sink in its own process, {delivered[0].messages:,}"
            " e-mails; peer: plain smtplib, the same messages built beforehand, one connection",
            f"  {'backend':<10}{'connections':>12}{'Patron msg/s':>14}{'peer msg/s':>12}"
            f"{'P ÷ peer':>10}{'Patron s':>10}{'peer s':>9}{'batches':>9}",
        ]
        for d in delivered:
            lines.append(
                f"  {d.backend:<10}{d.connections:>12}{d.patron_rate:>14,.0f}{d.peer_rate:>12,.0f}"
                f"{d.ratio:>10.2f}{d.patron_seconds:>10.1f}{d.peer_seconds:>9.1f}{d.batches:>9,}"
            )
        lines.append("")
    for row in queued:
        met = "met" if row.patron_seconds <= TARGET_ENQUEUE_SECONDS else "MISSED"
        lines.append(
            f"  target ({row.backend}): enqueue {row.customers:,} in <= {TARGET_ENQUEUE_SECONDS:.0f}"
            f" s: {row.patron_seconds:.1f} s: {met}"
        )
    for d in delivered:
        met = "met" if d.patron_rate >= TARGET_RATE else "MISSED"
        lines.append(
            f"  target ({d.backend}): delivery >= {TARGET_RATE:,.0f} messages/s:"
            f" {d.patron_rate:,.0f}: {met}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--half", choices=("enqueue", "delivery", "both"), default="both")
    parser.add_argument(
        "--connections", type=int, default=None, help="send_connections (default: the setting's)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "all" else (args.backend,)
    queued = (
        [enqueue(backend, args.messages) for backend in backends]
        if args.half in ("enqueue", "both")
        else []
    )
    delivered: list[Delivery] = []
    if args.half in ("delivery", "both"):
        sink = Sink()
        try:
            delivered = [
                deliver(backend, args.messages, sink=sink, connections=args.connections)
                for backend in backends
            ]
        finally:
            sink.stop()
    if args.json:
        print(
            json.dumps(
                {
                    "enqueue": [asdict(r) for r in queued],
                    "delivery": [asdict(r) for r in delivered],
                },
                indent=2,
            )
        )
    else:
        print(render(queued, delivered))


if __name__ == "__main__":
    main()
