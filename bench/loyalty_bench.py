"""Loyalty benchmark: purchase events over HTTP against ``patron serve``, next to the SQL floor.

Run from the repository root::

    .venv/bin/python bench/loyalty_bench.py [--backend sqlite|postgres|all] [--events N]
                                            [--clients C] [--customers K] [--json]

For each backend (a fresh SQLite file in ``bench/.data/``, and a fresh PostgreSQL database on
``PATRON_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``, dropped
afterwards):

1. Migrates the store, adds K customers (default 2,000), sets up the demo programme
   (``src/patron/demo/programme.yaml``: multipliers, tiers, a cap, the Advent promotion) and an
   API key with the scope ``events:write``.
2. **HTTP**: starts the real server in its own process (``patron serve``; 2 worker processes on
   PostgreSQL, 1 on SQLite, whose writers queue in one process) and lets C clients (default
   16; threads, each with its own keep-alive connection) post N purchases (default 3,000) to
   ``POST /api/v1/loyalty/club/purchases``, each with its own ``Idempotency-Key``, random
   customers, one or two lines. Each request is timed from sending to reading the whole answer;
   anything but 201 is an error. A warm-up (not counted) comes first.
3. **Service**: the same purchases through ``patron.loyalty.service.record_purchase`` in this
   process (C threads, one session each): the rate without HTTP, JSON and authentication.
4. **Peer, the SQL floor**: what any correct points ledger must do per purchase, written by
   hand with the bare driver (``sqlite3`` / ``psycopg``), C threads: in one transaction, lock
   the member's account row, check the idempotency key, insert the event, the lot and the
   ledger entry, update the balance, commit. No earning rules, no tiers, no webhooks, no ORM.
5. Prints events/s, p50 and p99 latency and errors for each, the ratio of Patron's rate to the
   floor's, and the target (PostgreSQL over HTTP: >= 1,000 events/s with p99 <= 50 ms).

The exit status is 1 only when the work fails (the server does not start), not when the
target is missed: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
PROGRAMME = ROOT / "src" / "patron" / "demo" / "programme.yaml"
ADMIN_URL = os.environ.get("PATRON_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CATEGORIES = ("Coffee", "Tea", "Books", "Pasta & Rice", "Jeans")
TARGET_RATE, TARGET_P99_MS = 1_000.0, 50.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Figures:
    backend: str
    mode: str
    events: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def _figures(
    backend: str, mode: str, latencies: list[float], errors: int, seconds: float
) -> Figures:
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Figures(
        backend,
        mode,
        len(latencies),
        round(seconds, 2),
        round(len(latencies) / seconds, 1) if seconds else 0.0,
        round(statistics.median(ordered) * 1000, 1),
        round(p99 * 1000, 1),
        errors,
    )


# --- the store ------------------------------------------------------------------------------


class Store:
    """A fresh, migrated store with customers, the demo programme and an API key."""

    def __init__(self, backend: str, customers: int) -> None:
        from patron import schema
        from patron.db import make_engine

        self.backend = backend
        self.customers = customers
        self.admin = None
        if backend == "sqlite":
            DATA.mkdir(parents=True, exist_ok=True)
            self.path = DATA / f"loyalty-{uuid.uuid4().hex[:8]}.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
            self.name = f"patron_bench_{uuid.uuid4().hex[:10]}"
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"
        self.engine = make_engine(self.url, pool_size=64, max_overflow=16)
        schema.upgrade(self.engine)
        self.token = self._fill()

    def _fill(self) -> str:
        from patron.access import service as access
        from patron.customers.models import Customer
        from patron.db import session_factory
        from patron.loyalty import setup
        from patron.loyalty.programme import read_spec

        with self.engine.begin() as connection:
            connection.execute(
                insert(Customer),
                [
                    {"external_id": f"C{i}", "name": f"Customer {i}", "kind": "person"}
                    for i in range(self.customers)
                ],
            )
        with session_factory(self.engine)() as session:
            spec = read_spec(yaml.safe_load(PROGRAMME.read_text()))
            setup.set_up(session, spec=spec, actor="bench", now=datetime.now(UTC))
            _key, token = access.create_api_key(session, name="bench", scopes=["events:write"])
        return token

    def drop(self) -> None:
        self.engine.dispose()
        if self.admin is not None:
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _purchases(seed: int, count: int, customers: int, prefix: str) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    made = []
    for n in range(count):
        lines = [
            {"amount": f"{rng.randint(300, 9000) / 100:.2f}", "category": rng.choice(CATEGORIES)}
            for _ in range(rng.randint(1, 2))
        ]
        made.append(
            {
                "customer": f"C{rng.randrange(customers)}",
                "order": f"{prefix}-{seed}-{n}",
                "currency": "EUR",
                "lines": lines,
            }
        )
    return made


def _in_threads(work: list[Callable[[], None]]) -> float:
    start = threading.Barrier(len(work) + 1)

    def run(job: Callable[[], None]) -> None:
        start.wait()
        job()

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    start.wait()
    clock = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - clock


# --- Patron over HTTP -----------------------------------------------------------------------


class Server:
    def __init__(self, url: str, workers: int) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        patron = Path(sys.executable).with_name("patron")
        command = [str(patron), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(workers)]
        env = {
            **os.environ,
            "PATRON_DATABASE_URL": url,
            "PATRON_ENVIRONMENT": "development",
            "PATRON_SECRET_KEY": secrets.token_urlsafe(32),
        }
        self.log = DATA / f"server-{self.port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit("/health did not answer within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.unlink(missing_ok=True)


def run_http(store: Store, events: int, clients: int, workers: int) -> Figures:
    server = Server(store.url, workers)
    try:
        headers = {"Authorization": f"Bearer {store.token}", "Content-Type": "application/json"}

        def client(mine: list[dict[str, Any]], latencies: list[float], errors: list[str]) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            for body in mine:
                sent = time.perf_counter()
                try:
                    connection.request(
                        "POST",
                        "/api/v1/loyalty/club/purchases",
                        body=json.dumps(body),
                        headers=headers | {"Idempotency-Key": body["order"]},
                    )
                    answer = connection.getresponse()
                    answer.read()
                except (OSError, http.client.HTTPException) as error:
                    errors.append(repr(error))
                    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                    continue
                latencies.append(time.perf_counter() - sent)
                if answer.status != 201:
                    errors.append(str(answer.status))
            connection.close()

        warm = _purchases(1, clients * 10, store.customers, "warm")
        _in_threads([lambda part=warm[i::clients]: client(part, [], []) for i in range(clients)])
        work = _purchases(2, events, store.customers, "http")
        latencies: list[float] = []
        errors: list[str] = []
        seconds = _in_threads(
            [lambda part=work[i::clients]: client(part, latencies, errors) for i in range(clients)]
        )
        if errors:
            log(f"  HTTP errors (first 3): {errors[:3]}")
        return _figures(
            store.backend, f"HTTP, {workers} worker(s)", latencies, len(errors), seconds
        )
    finally:
        server.stop()


# --- Patron's service, in process -----------------------------------------------------------


def run_service(store: Store, events: int, clients: int) -> Figures:
    from patron.db import session_factory, utcnow
    from patron.errors import PatronError
    from patron.loyalty import service
    from patron.loyalty.schemas import PurchaseIn

    sessions = session_factory(store.engine)
    work = [PurchaseIn.model_validate(p) for p in _purchases(3, events, store.customers, "svc")]
    latencies: list[float] = []
    errors: list[str] = []

    def client(mine: list[PurchaseIn]) -> None:
        with sessions() as session:
            for purchase in mine:
                sent = time.perf_counter()
                try:
                    service.record_purchase(
                        session,
                        programme_code="club",
                        key=purchase.order,
                        purchase=purchase,
                        actor=None,
                        now=utcnow(),
                    )
                except PatronError as error:
                    errors.append(error.code)
                    continue
                latencies.append(time.perf_counter() - sent)

    seconds = _in_threads([lambda part=work[i::clients]: client(part) for i in range(clients)])
    return _figures(store.backend, "service, no HTTP", latencies, len(errors), seconds)


# --- the peer: the SQL a correct ledger cannot do without -----------------------------------


def run_floor(store: Store, events: int, clients: int) -> Figures:
    with store.engine.connect() as connection:
        programme_id = connection.execute(text("SELECT id FROM loyalty_programmes")).scalar_one()
    work = _purchases(4, events, store.customers, "floor")
    latencies: list[float] = []
    errors: list[str] = []
    sqlite = store.backend == "sqlite"
    enrol = threading.Lock()

    def connect() -> Any:
        if sqlite:
            import sqlite3

            connection = sqlite3.connect(store.path, timeout=60, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            return connection
        import psycopg

        return psycopg.connect(store.url)

    def one(cursor: Any, body: dict[str, Any]) -> None:
        p = "?" if sqlite else "%s"
        now = datetime.now(UTC).replace(tzinfo=None) if sqlite else datetime.now(UTC)
        customer = int(body["customer"][1:]) + 1
        points = int(sum(Decimal(line["amount"]) for line in body["lines"]))
        cursor.execute("BEGIN IMMEDIATE" if sqlite else "BEGIN")
        lock = "" if sqlite else " FOR UPDATE"
        cursor.execute(
            f"SELECT id, balance FROM loyalty_accounts WHERE programme_id = {p} "
            f"AND customer_id = {p}{lock}",
            (programme_id, customer),
        )
        found = cursor.fetchone()
        if found is None:
            cursor.execute(
                "INSERT INTO loyalty_accounts (programme_id, customer_id, balance, debt, "
                f"enrolled_at) VALUES ({p}, {p}, 0, 0, {p}) RETURNING id",
                (programme_id, customer, now),
            )
            found = (cursor.fetchone()[0], 0)
        account, _balance = found
        cursor.execute(
            f"SELECT 1 FROM loyalty_events WHERE programme_id = {p} AND key = {p}",
            (programme_id, body["order"]),
        )
        if cursor.fetchone() is not None:
            raise RuntimeError("replayed key")
        cursor.execute(
            "INSERT INTO loyalty_events (programme_id, key, operation, payload_hash, account_id, "
            f"reference, at, points, spend, detail, response) VALUES ({p}, {p}, 'purchase', "
            f"{p}, {p}, {p}, {p}, {p}, 0, '{{}}', '{{}}') RETURNING id",
            (programme_id, body["order"], "x" * 64, account, body["order"], now, points),
        )
        event = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM loyalty_lots WHERE account_id = {p}", (account,))
        number = cursor.fetchone()[0] + 1
        if points > 0:
            cursor.execute(
                "INSERT INTO loyalty_lots (account_id, number, amount, remaining, source, "
                f"reference, earned_at, available_from) VALUES ({p}, {p}, {p}, {p}, 'purchase', "
                f"{p}, {p}, {p})",
                (account, number, points, points, body["order"], now, now),
            )
            cursor.execute(
                "INSERT INTO loyalty_entries (account_id, number, kind, amount, at, reference, "
                f"lot_number, event_id) VALUES ({p}, {p}, 'earn', {p}, {p}, {p}, {p}, {p})",
                (account, number - 1, points, now, body["order"], number, event),
            )
            cursor.execute(
                f"UPDATE loyalty_accounts SET balance = balance + {p} WHERE id = {p}",
                (points, account),
            )
        cursor.execute("COMMIT")

    def client(mine: list[dict[str, Any]]) -> None:
        connection = connect()
        if not sqlite:
            connection.autocommit = True
        cursor = connection.cursor()
        for body in mine:
            sent = time.perf_counter()
            try:
                with enrol if sqlite else _Nothing():
                    one(cursor, body)
            except Exception as error:
                errors.append(repr(error))
                cursor.execute("ROLLBACK")
                continue
            latencies.append(time.perf_counter() - sent)
        connection.close()

    seconds = _in_threads([lambda part=work[i::clients]: client(part) for i in range(clients)])
    if errors:
        log(f"  floor errors (first 3): {errors[:3]}")
    return _figures(store.backend, "peer: SQL floor", latencies, len(errors), seconds)


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


# --- the report -----------------------------------------------------------------------------


def bench(backend: str, events: int, clients: int, customers: int) -> list[Figures]:
    from patron.loyalty import upkeep

    log(f"{backend}: preparing a store with {customers:,} customers …")
    store = Store(backend, customers)
    try:
        workers = 2 if backend == "postgres" else 1
        log(f"{backend}: {events:,} purchases over HTTP, {clients} clients …")
        over_http = run_http(store, events, clients, workers)
        log(f"{backend}: the same through the service, in process …")
        in_process = run_service(store, events, clients)
        from patron.db import session_factory

        with session_factory(store.engine)() as session:
            problems = upkeep.verify(session)
        if problems:
            raise SystemExit(f"Patron's ledger does not verify: {problems[:3]}")
        log(f"{backend}: the SQL floor …")
        floor = run_floor(store, events, clients)  # its rows are not Patron's: verified before
        return [over_http, in_process, floor]
    finally:
        store.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = ("postgres", "sqlite") if args.backend == "all" else (args.backend,)
    rows: list[Figures] = []
    for backend in backends:
        rows += bench(backend, args.events, args.clients, args.customers)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return
    print(f"\nLoyalty purchases, {args.clients} concurrent clients, {args.events:,} events each")
    header = f"{'backend':<9} {'mode':<20} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(header + f" {'errors':>7} {'÷ floor':>8}")
    for row in rows:
        floor = next(r for r in rows if r.backend == row.backend and r.mode.startswith("peer"))
        ratio = row.rate / floor.rate if floor.rate else 0.0
        print(
            f"{row.backend:<9} {row.mode:<20} {row.rate:>9.0f} {row.p50_ms:>8.1f} "
            f"{row.p99_ms:>8.1f} {row.errors:>7} {ratio:>8.2f}"
        )
    for row in rows:
        if row.backend == "postgres" and row.mode.startswith("HTTP"):
            met = row.rate >= TARGET_RATE and row.p99_ms <= TARGET_P99_MS and not row.errors
            print(
                f"\ntarget (PostgreSQL over HTTP): >= {TARGET_RATE:,.0f} events/s with p99 <= "
                f"{TARGET_P99_MS:.0f} ms: {'met' if met else 'NOT met'} "
                f"({row.rate:,.0f} events/s, p99 {row.p99_ms:.0f} ms)"
            )


if __name__ == "__main__":
    main()
