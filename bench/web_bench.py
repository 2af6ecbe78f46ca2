"""Web benchmark: Patron's customer pages under concurrent load, next to bare SQLite queries.

Run from the repository root::

    .venv/bin/python bench/web_bench.py [--customers N] [--clients C] [--requests R]
                                        [--warmup W] [--keep] [--json]

1. Generates the demo shop with N customers (default 100,000) into ``bench/.data/`` with
   Patron's own demo generator (``schema.upgrade``, then ``patron.demo.service.generate`` with a
   fixed seed), and reuses it when a file for the same N and the same generator already exists.
   The file name carries N, this benchmark's data version and a digest of the demo generator's
   source, so a stale file is never reused.
2. Copies it to a fresh file for this run, brings its schema to head, creates an analyst user and
   starts the real server in its own process (``patron serve --workers W``, default 1) on a free
   local port, then waits until ``/health`` answers 200.
3. C clients (default 8; threads, each with its own HTTP client) sign in through the sign-in
   form, warm up (not counted), then go through the scenarios one after the other, all C
   clients at once, R requests each (default 50):

   - ``list``: ``/customers?page=P`` (P random over every page) in each of the six sort orders;
   - ``search``: ``/customers?search=T``, T a 2-4 letter prefix of a real customer's name or
     e-mail address;
   - ``search (partial)``: the same, asked for as the fragment the page's script swaps in
     (``X-Patron-Partial: 1``);
   - ``360``: ``/customers/K``, K an existing customer's external id.

   Each request is timed from sending it to having read its whole body, and must answer 200
   with the page's own markers (a customer table with the right number of rows, the 360's
   sections), or it counts as an error.
4. The peer: the same scenarios with the same random choices, done by C threads with the
   standard library's ``sqlite3`` directly on the same file: the SQL statements Patron issues
   for each page (same indexes, same LIMIT and OFFSET, same rows fetched), without HTTP,
   sign-in, ORM, validation or templates. That is the floor for any web framework on this
   database.
5. Prints p50/p95/p99 and requests per second of each scenario next to the peer's, the ratio of
   the p95s (Patron divided by the peer), the target (p95 <= 150 ms) and whether it was met.
   ``--json`` prints the same figures as one JSON document instead.

Progress goes to stderr, so ``--json`` output on stdout stays a clean document. The exit status
is 1 only when the work fails (the server does not start, a sign-in fails, a request errs or a
page lacks its markers), not when the target is missed: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import math
import os
import random
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx2
import numpy as np

from patron import schema
from patron.access import service as access
from patron.db import make_engine, session_factory
from patron.demo import service as demo

DATA = Path(__file__).resolve().parent / ".data"
DEMO_SOURCES = Path(demo.__file__).resolve().parent
DEFAULT_CUSTOMERS = 100_000
MIN_CUSTOMERS = 1_000
DEFAULT_CLIENTS = 8
DEFAULT_REQUESTS = 50  # per client and scenario
WARMUP_REQUESTS = 5  # per client and scenario, not counted
TARGET_P95_MS = 150.0
ISSUE_ORDERS = 1_000_000  # the order count the issue's target was stated for
DATA_VERSION = 1  # bump when the way this benchmark builds its data changes
SEED = 42  # the demo shop's seed
WORKLOAD_SEED = 20_240_601
PER_PAGE = 50  # the list's page size (patron.customers.pages.PER_PAGE)
TIMELINE_LIMIT = 100  # the 360's history (patron.customers.pages.TIMELINE_LIMIT)
SORTS = (None, "-name", "external_id", "-external_id", "created_at", "-created_at")
USER_EMAIL = "bench@patron.example"
HEALTH_TIMEOUT = 120.0
REQUEST_TIMEOUT = 120.0

# --- the data -----------------------------------------------------------------------------


def _generator_digest() -> str:
    """A digest of the demo generator's source: a changed generator makes a new file."""
    digest = hashlib.sha256()
    for path in sorted(DEMO_SOURCES.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def shop_file(customers: int) -> tuple[Path, float | None]:
    """The generated demo shop for ``customers`` and the seconds spent generating it (None:
    reused)."""
    name = f"web-{customers}-v{DATA_VERSION}-{_generator_digest()}.db"
    path = DATA / name
    if path.is_file():
        return path, None
    DATA.mkdir(parents=True, exist_ok=True)
    for stale in DATA.glob(f"web-{customers}-v*.db"):  # an older generator's shop of this size
        stale.unlink()
    partial = path.with_suffix(".partial")
    _remove(*_sqlite_files(partial))
    _progress(f"generating the demo shop with {customers:,} customers (about a minute per 100k)")
    clock = time.perf_counter()
    engine = make_engine(f"sqlite:///{partial}")
    try:
        schema.upgrade(engine)
        demo.generate(engine, customers=customers, seed=SEED)
    finally:
        engine.dispose()
    with sqlite3.connect(partial) as connection:  # one self-contained file, without a WAL
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()
    partial.replace(path)
    return path, time.perf_counter() - clock


@dataclass
class Store:
    customers: int
    orders: int
    order_lines: int
    returns: int
    interactions: int
    consents: int
    products: int


def _store(db: Path) -> Store:
    connection = sqlite3.connect(db)
    try:
        counts = {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in (
                "customers",
                "orders",
                "order_lines",
                "returns",
                "interactions",
                "consents",
                "products",
            )
        }
    finally:
        connection.close()
    return Store(**counts)


def prepare_run(shop: Path, db: Path, password: str) -> None:
    """A fresh copy of the shop for this run, at the current schema, with the bench's user."""
    _remove(*_sqlite_files(db))
    shutil.copyfile(shop, db)
    engine = make_engine(f"sqlite:///{db}")
    try:
        schema.upgrade(engine)
        with session_factory(engine)() as session:
            access.create_user(
                session, email=USER_EMAIL, password=password, role="analyst", name="Bench"
            )
    finally:
        engine.dispose()


# --- the workload: the same random choices for Patron and the peer ------------------------


@dataclass(frozen=True)
class ListQuery:
    """One page of the list: a search (or none), a sort, a page number."""

    search: str | None
    sort: str | None
    page: int


@dataclass(frozen=True)
class DetailQuery:
    """The 360 of the customer with this external id."""

    key: str


@dataclass(frozen=True)
class Visit:
    url: str
    partial: bool
    query: ListQuery | DetailQuery
    rows: int | None = None  # customer rows the page must show, when known in advance


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    draw: Callable[[random.Random], Visit]


@dataclass(frozen=True)
class Samples:
    customers: int
    prefixes: list[str]
    keys: list[str]


def _samples(db: Path, rng: random.Random, size: int = 4_000) -> Samples:
    """Search prefixes and 360 keys, from randomly chosen real customers."""
    connection = sqlite3.connect(db)
    try:
        total, low, high = connection.execute(
            "SELECT COUNT(*), MIN(id), MAX(id) FROM customers"
        ).fetchone()
        ids = sorted({rng.randint(low, high) for _ in range(size)})
        rows = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows += connection.execute(
                f"SELECT name, email, external_id FROM customers WHERE id IN ({marks}) ORDER BY id",
                chunk,
            ).fetchall()
    finally:
        connection.close()
    prefixes, keys = [], []
    for name, email, external_id in rows:
        source = name if rng.random() < 0.5 else email
        prefix = (source or "")[: rng.randint(2, 4)]
        if len(prefix) >= 2 and prefix.isalpha():
            prefixes.append(prefix)
        if external_id and "/" not in external_id:
            keys.append(external_id)
    if not prefixes or not keys:
        raise SystemExit("the generated shop has no customers with names or external ids")
    return Samples(customers=total, prefixes=prefixes, keys=keys)


def scenarios(samples: Samples) -> list[Scenario]:
    pages = max(1, math.ceil(samples.customers / PER_PAGE))

    def listing(rng: random.Random) -> Visit:
        sort, page = rng.choice(SORTS), rng.randint(1, pages)
        params: dict[str, str | int] = {"page": page}
        if sort:
            params["sort"] = sort
        rows = min(PER_PAGE, samples.customers - (page - 1) * PER_PAGE)
        return Visit(f"/customers?{urlencode(params)}", False, ListQuery(None, sort, page), rows)

    def search(partial: bool) -> Callable[[random.Random], Visit]:
        def draw(rng: random.Random) -> Visit:
            term = rng.choice(samples.prefixes)
            url = f"/customers?{urlencode({'search': term})}"
            return Visit(url, partial, ListQuery(term, None, 1))

        return draw

    def detail(rng: random.Random) -> Visit:
        key = rng.choice(samples.keys)
        return Visit(f"/customers/{quote(key, safe='')}", False, DetailQuery(key))

    return [
        Scenario("list", f"/customers?page=1..{pages}, six sort orders", listing),
        Scenario("search", "/customers?search=<2-4 letter prefix>", search(partial=False)),
        Scenario("search (partial)", "the same, X-Patron-Partial: 1", search(partial=True)),
        Scenario("360", "/customers/<external id>", detail),
    ]


def _draws(scenario: Scenario, seed: int, clients: int, count: int) -> list[list[Visit]]:
    """``count`` visits for each client, the same for Patron and the peer."""
    rng = random.Random(f"{seed}:{scenario.name}")
    return [[scenario.draw(rng) for _ in range(count)] for _ in range(clients)]


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Figures:
    requests: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    mean_kilobytes: float | None = None  # of the response bodies (Patron only)
    # CPU time of the server process per request (Patron only, where /proc is there)
    server_cpu_ms: float | None = None


def _figures(latencies: list[float], errors: int, seconds: float, sizes: list[int]) -> Figures:
    ms = np.asarray(latencies, dtype=np.float64) * 1_000 if latencies else np.zeros(1)
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return Figures(
        requests=len(latencies),
        errors=errors,
        seconds=round(seconds, 3),
        per_second=round(len(latencies) / seconds, 1) if seconds else 0.0,
        p50_ms=round(float(p50), 2),
        p95_ms=round(float(p95), 2),
        p99_ms=round(float(p99), 2),
        mean_ms=round(float(ms.mean()), 2),
        max_ms=round(float(ms.max()), 2),
        mean_kilobytes=round(sum(sizes) / len(sizes) / 1_000, 1) if sizes else None,
    )


def _concurrently(work: list[Callable[[], None]]) -> float:
    """Run each callable in its own thread, all released at once; the wall-clock seconds."""
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


# --- Patron: the real server, real HTTP ---------------------------------------------------


class Server:
    """``patron serve`` in its own process, on a free local port."""

    def __init__(self, db: Path, log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        patron = Path(sys.executable).with_name("patron")
        self.command = [str(patron), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.command += ["--workers", str(workers)]
        env = {
            **os.environ,
            "PATRON_DATABASE_URL": f"sqlite:///{db}",
            "PATRON_ENVIRONMENT": "development",  # plain HTTP: cookies without Secure
            "PATRON_SECRET_KEY": secrets.token_urlsafe(32),
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command, env=env, cwd=DATA, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        with httpx2.Client(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BenchError(f"the server exited ({self.process.returncode})", self.log)
                try:
                    if client.get("/health").status_code == 200:
                        return
                except httpx2.HTTPError:
                    pass
                time.sleep(0.2)
        raise BenchError(f"/health did not answer 200 within {HEALTH_TIMEOUT:.0f} s", self.log)

    def cpu_seconds(self) -> float | None:
        """CPU time the server process and its worker processes have used so far, from /proc."""
        total = 0
        found = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid, parent = int(stat.parent.name), int(fields[1])
            if self.process.pid in (pid, parent):
                total += int(fields[11]) + int(fields[12])  # utime, stime
                found = found or pid == self.process.pid
        return total / os.sysconf("SC_CLK_TCK") if found else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class BenchError(Exception):
    """The work failed; ``log`` is the end of the server's log, read before it is removed."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log.read_text(errors="replace")[-4_000:] if log and log.is_file() else ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(base_url: str, password: str) -> httpx2.Client:
    """A client signed in through the form, as a browser would be."""
    client = httpx2.Client(base_url=base_url, timeout=REQUEST_TIMEOUT)
    form = client.get("/sign-in")
    found = CSRF.search(form.text)
    if form.status_code != 200 or found is None:
        client.close()
        raise BenchError(f"GET /sign-in answered {form.status_code} without a csrf_token")
    answer = client.post(
        "/sign-in",
        data={
            "email": USER_EMAIL,
            "password": password,
            "csrf_token": html.unescape(found.group(1)),
            "next": "/customers",
        },
    )
    if answer.status_code != 303 or not client.cookies.get("patron_session"):
        client.close()
        raise BenchError(f"POST /sign-in answered {answer.status_code} without a session")
    return client


ROW = 'data-customer-key="'


def check_page(visit: Visit, status: int, body: str) -> str | None:
    """What is wrong with the answer to ``visit``, or None."""
    if status != 200:
        return f"status {status}"
    page = "</html>" in body
    if visit.partial and page:
        return "a whole page where the fragment was asked for"
    if not visit.partial and not page:
        return "not a whole page"
    if isinstance(visit.query, DetailQuery):
        for marker in ('data-section="profile"', 'data-section="timeline"'):
            if marker not in body:
                return f"no {marker}"
        if html.escape(visit.query.key) not in body:
            return "the customer's external id is not on the page"
        return None
    rows = body.count(ROW)
    if visit.rows is not None and rows != visit.rows:
        return f"{rows} customer rows instead of {visit.rows}"
    if rows == 0:
        return "no customer row (tr[data-customer-key])"
    return None


@dataclass
class Failure:
    scenario: str
    url: str
    problem: str


def run_patron(
    clients: list[httpx2.Client], name: str, visits: list[list[Visit]], failures: list[Failure]
) -> Figures:
    latencies: list[float] = []
    sizes: list[int] = []
    errors = 0
    lock = threading.Lock()

    def client_work(client: httpx2.Client, mine: list[Visit]) -> Callable[[], None]:
        def work() -> None:
            nonlocal errors
            for visit in mine:
                headers = {"X-Patron-Partial": "1"} if visit.partial else None
                clock = time.perf_counter()
                try:
                    response = client.get(visit.url, headers=headers)
                    body = response.text
                    elapsed = time.perf_counter() - clock
                    problem = check_page(visit, response.status_code, body)
                except httpx2.HTTPError as exc:
                    elapsed, body = time.perf_counter() - clock, ""
                    problem = f"{type(exc).__name__}: {exc}"
                with lock:
                    latencies.append(elapsed)
                    sizes.append(len(body.encode()))
                    if problem:
                        errors += 1
                        if len(failures) < 20:
                            failures.append(Failure(name, visit.url, problem))

        return work

    seconds = _concurrently([client_work(c, v) for c, v in zip(clients, visits, strict=True)])
    return _figures(latencies, errors, seconds, sizes)


# --- the peer: the same statements with sqlite3 ---------------------------------------------

CUSTOMER_COLUMNS = (
    "customers.id, customers.external_id, customers.kind, customers.name, customers.email, "
    "customers.phone, customers.birthday, customers.language, customers.country, "
    "customers.city, customers.time_zone, customers.first_contact_at, "
    "customers.acquisition_channel, customers.account_manager_id, customers.created_at, "
    "customers.updated_at"
)
SEARCH_WHERE = (
    "WHERE customers.name LIKE ? ESCAPE '\\' OR customers.email LIKE ? ESCAPE '\\' "
    "OR customers.external_id LIKE ? ESCAPE '\\'"
)
SORT_COLUMNS = {
    "name": "customers.name",
    "external_id": "customers.external_id",
    "created_at": "customers.created_at",
}
FIGURES_SQL = """
SELECT count(orders.id), min(orders.placed_at), max(orders.placed_at),
  (SELECT count(distinct(returns.document)) FROM returns WHERE returns.customer_id = ?),
  (SELECT count(*) FROM returns WHERE returns.customer_id = ?),
  (SELECT count(*) FROM interactions WHERE interactions.customer_id = ?)
FROM orders WHERE orders.customer_id = ?"""
GROSS_SQL = """
SELECT orders.currency, sum(order_lines.amount)
FROM orders JOIN order_lines ON order_lines.order_id = orders.id
WHERE orders.customer_id = ? AND order_lines.kind = 'sale' GROUP BY orders.currency"""
RETURNED_SQL = """
SELECT orders.currency, sum(returns.amount)
FROM returns LEFT OUTER JOIN order_lines ON returns.order_line_id = order_lines.id
  LEFT OUTER JOIN orders ON order_lines.order_id = orders.id
WHERE returns.customer_id = ? GROUP BY orders.currency"""
ORDERS_SQL = """
SELECT orders.id, orders.external_id, orders.customer_id, orders.placed_at, orders.channel,
  orders.store, orders.currency, orders.status
FROM orders WHERE orders.customer_id = ?
ORDER BY orders.placed_at DESC, orders.id DESC LIMIT ? OFFSET 0"""
LINES_SQL = """
SELECT order_lines.order_id, order_lines.kind, order_lines.quantity, order_lines.amount,
  products.name
FROM order_lines LEFT OUTER JOIN products ON order_lines.product_id = products.id
WHERE order_lines.order_id IN ({marks}) ORDER BY order_lines.order_id, order_lines.line_no"""
RETURNS_SQL = """
SELECT returns.id, returns.document, returns.line_no, returns.customer_id, returns.order_line_id,
  returns.product_id, returns.quantity, returns.amount, returns.returned_at, returns.kind,
  returns.reason, products.id, products.sku, products.name, products.category, products.brand,
  products.creator, products.price, products.unit_cost, products.active, products.is_partner,
  products.partner_name, products.replenishable, products.created_at, products.updated_at,
  orders.currency
FROM returns LEFT OUTER JOIN products ON returns.product_id = products.id
  LEFT OUTER JOIN order_lines ON returns.order_line_id = order_lines.id
  LEFT OUTER JOIN orders ON order_lines.order_id = orders.id
WHERE returns.customer_id = ? ORDER BY returns.returned_at DESC, returns.id DESC
LIMIT ? OFFSET 0"""
INTERACTIONS_SQL = """
SELECT interactions.id, interactions.customer_id, interactions.kind, interactions.occurred_at,
  interactions.product_id, interactions.note, interactions.payload, products.name
FROM interactions LEFT OUTER JOIN products ON interactions.product_id = products.id
WHERE interactions.customer_id = ? ORDER BY interactions.occurred_at DESC, interactions.id DESC
LIMIT ? OFFSET 0"""
CONSENTS_SQL = """
SELECT consents.id, consents.customer_id, consents.channel, consents.purpose, consents.granted,
  consents.source, consents.recorded_at
FROM consents WHERE consents.customer_id = ?
ORDER BY consents.channel, consents.purpose, consents.recorded_at, consents.id"""


def _peer_connection(db: Path) -> sqlite3.Connection:
    """A connection set up as Patron sets up its own (patron.db._sqlite_pragmas)."""
    connection = sqlite3.connect(db, check_same_thread=False)
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "synchronous=NORMAL",
        "busy_timeout=10000",
        "cache_size=-65536",
    ):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def peer_list(connection: sqlite3.Connection, query: ListQuery) -> int:
    """The list page's data: the count, one page of customers, their order counts."""
    where, args = "", []
    if query.search:
        pattern = _like(query.search)
        where, args = SEARCH_WHERE, [pattern, pattern, pattern]
    sort = query.sort or "name"
    direction = "DESC" if sort.startswith("-") else "ASC"
    column = SORT_COLUMNS[sort.removeprefix("-")]
    count = connection.execute(f"SELECT count(*) FROM customers {where}", args).fetchone()[0]
    pages = max(1, math.ceil(count / PER_PAGE))
    page = min(query.page, pages)
    rows = connection.execute(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers {where} "
        f"ORDER BY {column} {direction} NULLS LAST, customers.id {direction} LIMIT ? OFFSET ?",
        [*args, PER_PAGE, (page - 1) * PER_PAGE],
    ).fetchall()
    ids = [row[0] for row in rows]
    if ids:
        marks = ", ".join("?" * len(ids))
        connection.execute(
            "SELECT orders.customer_id, count(*), max(orders.placed_at) FROM orders "
            f"WHERE orders.customer_id IN ({marks}) GROUP BY orders.customer_id",
            ids,
        ).fetchall()
    return len(rows)


def peer_detail(connection: sqlite3.Connection, query: DetailQuery) -> int:
    """The 360's data: the customer, their manager, key figures, the newest orders with their
    lines, returns and interactions, and the consent history."""
    customer = connection.execute(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customers.external_id = ?", [query.key]
    ).fetchone()
    if customer is None:
        return 0
    customer_id, manager = customer[0], customer[13]
    if manager is not None:
        connection.execute("SELECT * FROM users WHERE users.id = ?", [manager]).fetchone()
    connection.execute(FIGURES_SQL, [customer_id] * 4).fetchone()
    connection.execute(GROSS_SQL, [customer_id]).fetchall()
    connection.execute(RETURNED_SQL, [customer_id]).fetchall()
    orders = connection.execute(ORDERS_SQL, [customer_id, TIMELINE_LIMIT]).fetchall()
    if orders:
        ids = [order[0] for order in orders]
        marks = ", ".join("?" * len(ids))
        connection.execute(LINES_SQL.format(marks=marks), ids).fetchall()
    connection.execute(RETURNS_SQL, [customer_id, TIMELINE_LIMIT]).fetchall()
    connection.execute(INTERACTIONS_SQL, [customer_id, TIMELINE_LIMIT]).fetchall()
    connection.execute(CONSENTS_SQL, [customer_id]).fetchall()
    return 1


def run_peer(
    connections: list[sqlite3.Connection],
    name: str,
    visits: list[list[Visit]],
    failures: list[Failure],
) -> Figures:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def thread_work(connection: sqlite3.Connection, mine: list[Visit]) -> Callable[[], None]:
        def work() -> None:
            nonlocal errors
            for visit in mine:
                query = visit.query
                clock = time.perf_counter()
                try:
                    if isinstance(query, DetailQuery):
                        found = peer_detail(connection, query)
                    else:
                        found = peer_list(connection, query)
                    problem = None if found else "no rows"
                except sqlite3.Error as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - clock
                with lock:
                    latencies.append(elapsed)
                    if problem:
                        errors += 1
                        if len(failures) < 20:
                            failures.append(Failure(f"peer {name}", visit.url, problem))

        return work

    jobs = [thread_work(c, v) for c, v in zip(connections, visits, strict=True)]
    seconds = _concurrently(jobs)
    return _figures(latencies, errors, seconds, [])


# --- reporting ----------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    name: str
    description: str
    patron: Figures
    peer: Figures
    ratio_p95: float = field(init=False)  # Patron's p95 divided by the peer's
    target_p95_ms: float = TARGET_P95_MS
    target_met: bool = field(init=False)

    def __post_init__(self) -> None:
        self.ratio_p95 = round(self.patron.p95_ms / max(self.peer.p95_ms, 1e-3), 1)
        self.target_met = self.patron.p95_ms <= self.target_p95_ms


@dataclass
class Report:
    customers: int
    store: Store
    file: str
    megabytes: float
    generated_seconds: float | None
    orders_note: str | None
    clients: int
    requests_per_client: int
    warmup_per_client: int
    server: str
    peer: str
    cpus: int
    load_before: float  # the machine's 1-minute load average when the run started
    # CPU seconds that other processes (not the bench, its server) used while it measured, and
    # their share of all the machine's CPU time then (None where /proc/stat is missing).
    others_cpu_seconds: float | None
    others_cpu_share: float | None
    scenarios: list[ScenarioResult]
    failures: list[Failure]
    target_p95_ms: float = TARGET_P95_MS
    target_met: bool = field(init=False)  # in every scenario

    def __post_init__(self) -> None:
        self.target_met = all(result.target_met for result in self.scenarios)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _orders_note(store: Store) -> str | None:
    """Say so when the demo shop has far fewer orders than the issue's ~1 M."""
    if store.orders >= 0.8 * ISSUE_ORDERS or not store.customers or not store.orders:
        return None
    per_customer = store.orders / store.customers
    needed = math.ceil(ISSUE_ORDERS / per_customer / 1_000) * 1_000
    return (
        f"the demo generator makes {per_customer:.2f} orders per customer, so this shop has "
        f"{store.orders:,} orders, not the issue's ~1 M; about --customers {needed:,} "
        "would give 1 M orders"
    )


def render(report: Report) -> str:
    store = report.store
    made = (
        "reused"
        if report.generated_seconds is None
        else f"generated in {report.generated_seconds:.1f} s"
    )
    head = (
        "scenario",
        "Patron p50",
        "p95",
        "p99",
        "req/s",
        "peer p50",
        "p95",
        "req/s",
        "ratio p95",
        f"p95 <= {report.target_p95_ms:.0f} ms",
    )
    rows = [head]
    for result in report.scenarios:
        patron, peer = result.patron, result.peer
        rows.append(
            (
                result.name,
                f"{patron.p50_ms:,.1f} ms",
                f"{patron.p95_ms:,.1f} ms",
                f"{patron.p99_ms:,.1f} ms",
                f"{patron.per_second:,.1f}",
                f"{peer.p50_ms:,.2f} ms",
                f"{peer.p95_ms:,.2f} ms",
                f"{peer.per_second:,.0f}",
                f"{result.ratio_p95:,.1f}",
                "met" if result.target_met else "NOT met",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    table = "\n".join(
        "  "
        + row[0].ljust(widths[0])
        + "".join(cell.rjust(width + 2) for cell, width in zip(row[1:], widths[1:], strict=True))
        for row in rows
    )
    met = "met" if report.target_met else "NOT met"
    lines = [
        f"Web benchmark: {report.customers:,} customers, {report.clients} concurrent clients",
        f"  file: {report.file} ({report.megabytes:,.1f} MB, {made})",
        f"  store: {store.customers:,} customers, {store.orders:,} orders,"
        f" {store.order_lines:,} order lines, {store.returns:,} returns,"
        f" {store.interactions:,} interactions, {store.consents:,} consent events,"
        f" {store.products:,} products",
    ]
    if report.orders_note:
        lines.append(f"  note: {report.orders_note}")
    lines += [
        f"  per scenario: {report.clients} clients x {report.requests_per_client} requests"
        f" (after {report.warmup_per_client} warm-up requests each, not counted)",
        "",
        table,
        "",
        f"  target: p95 <= {report.target_p95_ms:.0f} ms in every scenario: {met}",
        f"  Patron: {report.server}",
        f"  peer: {report.peer}",
        "  clients, server and peer share this machine; ratio = Patron's p95 / the peer's",
        f"  machine: {report.cpus} CPUs, 1-minute load average {report.load_before:.1f} at the"
        " start; "
        + (
            f"other processes used {report.others_cpu_share:.0%} of its CPU time while the"
            f" bench measured ({report.others_cpu_seconds:,.1f} CPU s)"
            if report.others_cpu_share is not None
            else "the CPU time of other processes is not known here"
        ),
    ]
    for result in report.scenarios:
        lines.append(
            f"  {result.name}: {result.description}; mean page"
            f" {result.patron.mean_kilobytes or 0:,.1f} kB, Patron max"
            f" {result.patron.max_ms:,.1f} ms"
            + (
                f", server CPU {result.patron.server_cpu_ms:,.1f} ms per request"
                if result.patron.server_cpu_ms is not None
                else ""
            )
        )
    if report.failures:
        lines += ["", "  failures (the first 20):"]
        lines += [f"    {f.scenario}: {f.url}: {f.problem}" for f in report.failures]
    return "\n".join(lines)


# --- running ------------------------------------------------------------------------------


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _sqlite_files(db: Path) -> tuple[Path, Path, Path]:
    return db, Path(f"{db}-wal"), Path(f"{db}-shm")


def _cpu_clock() -> tuple[float, float, float] | None:
    """Busy CPU seconds of the whole machine, of this process and its reaped children (the
    server, once stopped), and the time; None without Linux's /proc/stat."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return busy, own, time.monotonic()


def _others_cpu(
    before: tuple[float, float, float] | None, after: tuple[float, float, float] | None
) -> tuple[float, float] | None:
    """CPU seconds other processes used between two clocks, and their share of the machine."""
    if before is None or after is None:
        return None
    others = max(0.0, (after[0] - before[0]) - (after[1] - before[1]))
    capacity = (after[2] - before[2]) * (os.cpu_count() or 1)
    return others, others / capacity if capacity else 0.0


def _progress(message: str) -> None:
    print(f"[web_bench] {message}", file=sys.stderr, flush=True)


def _count(value: str, least: int) -> int:
    number = int(value.replace("_", "").replace(",", ""))
    if number < least:
        raise argparse.ArgumentTypeError(f"at least {least:,}")
    return number


def bench(args: argparse.Namespace, failures: list[Failure]) -> Report:
    load_before = os.getloadavg()[0]
    _progress(f"preparing the demo shop with {args.customers:,} customers in {DATA}")
    shop, generated = shop_file(args.customers)
    db = DATA / f"web-run-{args.customers}.db"
    log = DATA / f"web-run-{args.customers}.server.log"
    password = secrets.token_urlsafe(16)
    try:
        _progress("copying it to a fresh file for this run")
        prepare_run(shop, db, password)
        store = _store(db)
        note = _orders_note(store)
        if note:
            _progress(f"note: {note}")
        samples = _samples(db, random.Random(WORKLOAD_SEED))
        plan = [
            (
                scenario,
                _draws(scenario, WORKLOAD_SEED + 1, args.clients, args.warmup),
                _draws(scenario, WORKLOAD_SEED, args.clients, args.requests),
            )
            for scenario in scenarios(samples)
        ]
        before = _cpu_clock()
        patron = _bench_patron(db, log, password, args.clients, plan, failures, args.workers)
        _progress(f"the peer: the same queries with sqlite3, {args.clients} threads")
        peer = _bench_peer(db, args.clients, plan, failures)
        others = _others_cpu(before, _cpu_clock())
    finally:
        if not args.keep:
            _remove(*_sqlite_files(db), log)
    return Report(
        customers=args.customers,
        store=store,
        file=str(shop),
        megabytes=shop.stat().st_size / 1e6,
        generated_seconds=generated,
        orders_note=note,
        clients=args.clients,
        requests_per_client=args.requests,
        warmup_per_client=args.warmup,
        server=f"`patron serve --workers {args.workers}` (uvicorn) over HTTP on 127.0.0.1,"
        " each client signed in through the form, httpx2 clients in threads",
        peer=f"sqlite3 {sqlite3.sqlite_version} (Python {sys.version.split()[0]}), the same"
        " statements on the same file, one connection per thread, Patron's pragmas",
        cpus=os.cpu_count() or 0,
        load_before=load_before,
        others_cpu_seconds=None if others is None else round(others[0], 1),
        others_cpu_share=None if others is None else round(others[1], 3),
        scenarios=[
            ScenarioResult(scenario.name, scenario.description, patron[i], peer[i])
            for i, (scenario, _warm, _visits) in enumerate(plan)
        ],
        failures=failures,
    )


Plan = list[tuple[Scenario, list[list[Visit]], list[list[Visit]]]]


def _bench_patron(
    db: Path,
    log: Path,
    password: str,
    clients: int,
    plan: Plan,
    failures: list[Failure],
    workers: int,
) -> list[Figures]:
    _progress(f"starting `patron serve --workers {workers}` on this run's copy")
    server = Server(db, log, workers)
    try:
        server.wait_healthy()
        _progress(f"signing in {clients} clients through the form")
        sessions = [sign_in(server.base_url, password) for _ in range(clients)]
        try:
            results = []
            for scenario, warm, visits in plan:
                run_patron(sessions, scenario.name, warm, [])  # warm-up, not counted
                _progress(f"Patron: {scenario.name}, {clients} x {len(visits[0])} requests")
                cpu = server.cpu_seconds()
                figures = run_patron(sessions, scenario.name, visits, failures)
                if cpu is not None and (now := server.cpu_seconds()) is not None:
                    figures.server_cpu_ms = round((now - cpu) * 1_000 / figures.requests, 1)
                results.append(figures)
            return results
        finally:
            for session in sessions:
                session.close()
    finally:
        server.stop()


def _bench_peer(db: Path, clients: int, plan: Plan, failures: list[Failure]) -> list[Figures]:
    connections = [_peer_connection(db) for _ in range(clients)]
    try:
        results = []
        for scenario, warm, visits in plan:
            run_peer(connections, scenario.name, warm, [])
            _progress(f"peer: {scenario.name}, {clients} x {len(visits[0])} queries")
            results.append(run_peer(connections, scenario.name, visits, failures))
        return results
    finally:
        for connection in connections:
            connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--customers",
        type=lambda v: _count(v, MIN_CUSTOMERS),
        default=DEFAULT_CUSTOMERS,
        help="customers in the demo shop (N)",
    )
    parser.add_argument(
        "--clients",
        type=lambda v: _count(v, 1),
        default=DEFAULT_CLIENTS,
        help="concurrent clients",
    )
    parser.add_argument(
        "--requests",
        type=lambda v: _count(v, 1),
        default=DEFAULT_REQUESTS,
        help="requests per client and scenario",
    )
    parser.add_argument(
        "--warmup",
        type=lambda v: _count(v, 0),
        default=WARMUP_REQUESTS,
        help="warm-up requests per client and scenario, not counted",
    )
    parser.add_argument(
        "--workers",
        type=lambda v: _count(v, 1),
        default=1,
        help="worker processes of `patron serve`",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep this run's SQLite file and server log"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    failures: list[Failure] = []
    try:
        report = bench(args, failures)
    except (BenchError, httpx2.HTTPError) as exc:
        _fail(exc, as_json=args.json)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    errors = sum(r.patron.errors + r.peer.errors for r in report.scenarios)
    return 1 if errors else 0


def _fail(exc: Exception, *, as_json: bool) -> None:
    tail = exc.log if isinstance(exc, BenchError) else ""
    if as_json:
        print(json.dumps({"error": {"message": str(exc), "server_log": tail}}, indent=2))
        return
    print(f"The benchmark failed: {exc}", file=sys.stderr)
    if tail:
        print(f"The server's log ends with:\n{tail}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
