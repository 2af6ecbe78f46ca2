"""Import benchmark: Patron's order import next to DuckDB's ``read_csv`` on the same file.

Run from the repository root::

    .venv/bin/python bench/import_bench.py [--lines N] [--keep] [--json]

1. Generates a realistic orders CSV in Patron's canonical layout with N lines (default
   1,000,000) into ``bench/.data/``, deterministically (fixed seed, numpy and Arrow only), and
   reuses it when a file for the same N already exists: about N/8 orders of 1-15 lines over two
   years, about N/50 customers, 5,000 SKUs with names, categories and brands, order-level
   discount codes, anonymous (walk-in) orders, free gifts and about 3 % return lines
   (negative quantities on their own return documents).
2. Imports it with Patron into a fresh SQLite file (``schema.upgrade``, then ``import_file``);
   only ``import_file`` is timed.
3. Loads the same file with DuckDB alone into a fresh on-disk DuckDB file
   (``CREATE TABLE ... AS SELECT * FROM read_csv(...)``); only that statement is timed.
4. Prints both throughputs side by side, their ratio, the target (Patron >= 100,000 lines/s)
   and whether it was met, and the time of an idempotent re-import of the same file (which
   must change nothing). ``--json`` prints the same figures as one JSON document instead.

Progress goes to stderr, so ``--json`` output on stdout stays a clean document. The exit status
is 1 only when the import fails (or the re-import changes something), not when the target is
missed: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from numpy.typing import NDArray
from sqlalchemy import Engine, text

from patron import schema
from patron.customers.importer.layouts import Kind
from patron.customers.importer.service import ImportOptions, import_file
from patron.customers.importer.summary import ImportSummary
from patron.db import make_engine
from patron.errors import PatronError

DATA = Path(__file__).resolve().parent / ".data"
DEFAULT_LINES = 1_000_000
MIN_LINES = 1_000
TARGET_LINES_PER_SECOND = 100_000
GENERATOR_VERSION = 2  # bump when the generator changes, so stale files are not reused
SEED = 20_240_601

# --- the shop behind the generated file ---------------------------------------------------

DAY = 86_400
START = np.datetime64("2023-01-01", "D")
DAYS = 731  # two years
SKU_COUNT = 5_000
RETURN_SHARE = 0.03  # of all lines
DISCOUNTED_ORDER_SHARE = 0.15
DISCOUNT_PERCENTS = (5, 10, 15, 20, 25)
FREE_GIFT_SHARE = 0.003  # of sale lines: price 0
QUANTITIES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 24)
QUANTITY_WEIGHTS = (0.64, 0.18, 0.07, 0.04, 0.02, 0.02, 0.01, 0.01, 0.005, 0.005)
CHANNELS = ("web", "store", "app")
CHANNEL_WEIGHTS = (0.68, 0.22, 0.10)
ANONYMOUS_SHARE = {"web": 0.02, "store": 0.20, "app": 0.0}  # of each channel's orders
COUNTRIES = ("DE", "AT", "CH", "NL", "FR", "BE", "IT", "DK", "PL", "SE")
COUNTRY_WEIGHTS = (0.55, 0.12, 0.08, 0.07, 0.05, 0.04, 0.03, 0.02, 0.02, 0.02)
HOUR_WEIGHTS = (
    1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 14, 15, 16, 14, 13, 13, 14, 16, 19, 22, 22, 18, 10, 4,
)  # fmt: skip
# category: (SKU prefix, median price in euros, product nouns)
CATEGORIES: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "Kitchen": ("KIT", 24.0, ("Mug", "Teapot", "Chef Knife", "Cutting Board", "Saucepan")),
    "Tableware": ("TAB", 18.0, ("Dinner Plate", "Bowl", "Wine Glass", "Carafe", "Serving Tray")),
    "Home Textiles": ("TEX", 35.0, ("Cushion Cover", "Throw", "Bath Towel", "Duvet Cover")),
    "Lighting": ("LGT", 59.0, ("Table Lamp", "Floor Lamp", "Pendant Light", "Candle Holder")),
    "Garden": ("GRD", 29.0, ("Planter", "Watering Can", "Garden Shears", "Bird Feeder")),
    "Stationery": ("STA", 8.5, ("Notebook", "Fountain Pen", "Desk Organiser", "Card Set")),
    "Toys": ("TOY", 22.0, ("Puzzle", "Wooden Train", "Plush Bear", "Building Set", "Kite")),
    "Beauty": ("BTY", 16.0, ("Hand Cream", "Soap Bar", "Face Oil", "Bath Salts")),
    "Food": ("FOD", 7.5, ("Olive Oil", "Dark Chocolate", "Coffee Beans", "Honey", "Tea Tin")),
    "Fashion": ("FSH", 45.0, ("Scarf", "Tote Bag", "Beanie", "Leather Belt", "Socks")),
    "Electronics": ("ELE", 79.0, ("Speaker", "Headphones", "Charger", "Desk Clock")),
    "Books": ("BOK", 19.0, ("Cookbook", "Travel Guide", "Novel", "Art Book", "Atlas")),
}
ADJECTIVES = (
    "Classic", "Modern", "Rustic", "Nordic", "Vintage", "Organic", "Deluxe", "Compact",
    "Handmade", "Minimal", "Bold", "Soft", "Large", "Mini", "Premium", "Everyday",
)  # fmt: skip
COLOURS = (
    "White", "Black", "Grey", "Sage", "Navy", "Terracotta", "Mustard", "Oak", "Natural", "Rose",
)  # fmt: skip
BRAND_HEADS = ("Nord", "Alt", "Berg", "Lumi", "Fjell", "Casa", "Hav", "Sol", "Ever", "Mira")
BRAND_TAILS = ("haus", "form", "werk", "ly", "mark", "craft")

Ints = NDArray[np.int64]


# --- generating the file ------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    skus: pa.Array
    names: pa.Array
    categories: pa.Array
    brands: pa.Array
    price_cents: Ints
    popularity: NDArray[np.float64]


def _catalogue(rng: np.random.Generator) -> Catalogue:
    """5,000 products: a category, a brand, a name, a shelf price and a long-tailed popularity."""
    names_of = list(CATEGORIES)
    brands = [head + tail for head in BRAND_HEADS for tail in BRAND_TAILS]
    category = rng.integers(0, len(names_of), SKU_COUNT)
    brand = rng.integers(0, len(brands), SKU_COUNT)
    adjective = rng.integers(0, len(ADJECTIVES), SKU_COUNT)
    colour = rng.integers(0, len(COLOURS), SKU_COUNT)
    noun = rng.integers(0, 1_000, SKU_COUNT)
    skus, names = [], []
    for i in range(SKU_COUNT):
        prefix, _, nouns = CATEGORIES[names_of[category[i]]]
        skus.append(f"{prefix}-{i + 1:05d}")
        item = nouns[noun[i] % len(nouns)]
        names.append(f"{brands[brand[i]]} {ADJECTIVES[adjective[i]]} {item} {COLOURS[colour[i]]}")
    median = np.array([CATEGORIES[name][1] for name in names_of])[category]
    euros = np.maximum(0.5, median * rng.lognormal(0.0, 0.55, SKU_COUNT))
    style = rng.random(SKU_COUNT)
    cents = np.where(
        style < 0.6,
        np.floor(euros) * 100 + 99,  # 19.99
        np.where(style < 0.8, np.floor(euros) * 100 + 49, np.round(euros * 100)),
    ).astype(np.int64)
    popularity = 1.0 / (rng.permutation(SKU_COUNT) + 20.0)
    return Catalogue(
        skus=pa.array(skus),
        names=pa.array(names),
        categories=pa.array(names_of).take(pa.array(category)),
        brands=pa.array(brands).take(pa.array(brand)),
        price_cents=cents,
        popularity=popularity / popularity.sum(),
    )


def _instants(rng: np.random.Generator, n: int) -> Ints:
    """Seconds since the epoch over two years: growth, weekends, the Christmas peak, day hours."""
    days = START + np.arange(DAYS)
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    weight = np.linspace(1.0, 1.4, DAYS) * np.where(weekday >= 5, 1.2, 1.0)
    weight *= np.select([month == 11, month == 12, month == 1], [1.3, 1.6, 0.8], 1.0)
    day = rng.choice(DAYS, size=n, p=weight / weight.sum())
    hours = np.asarray(HOUR_WEIGHTS, dtype=np.float64)
    hour = rng.choice(24, size=n, p=hours / hours.sum())
    start = START.astype("datetime64[s]").astype(np.int64)
    return start + day * DAY + hour * 3_600 + rng.integers(0, 3_600, n)


def _numbered(prefix: str, numbers: Ints, width: int = 8) -> pa.Array:
    padded = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), padded, "")


def _money(cents: Ints, empty: NDArray[np.bool_] | None = None) -> pa.Array:
    """Non-negative cents as ``12.34`` text; null where ``empty``."""
    whole = pc.cast(pa.array(cents // 100), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), width=2, padding="0")
    text = pc.binary_join_element_wise(whole, fraction, ".")
    if empty is None:
        return text
    return pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), text)


def _order_sizes(rng: np.random.Generator, lines: int) -> Ints:
    """Order sizes of 1-15 lines (mean 8) adding up to exactly ``lines``."""
    draws = rng.integers(1, 16, size=lines // 7 + 64)
    ends = np.cumsum(draws)
    last = int(np.searchsorted(ends, lines))
    sizes = draws[: last + 1].copy()
    sizes[-1] -= ends[last] - lines
    return sizes


def generate_orders(lines: int, path: Path) -> None:
    """Write ``lines`` order lines in Patron's canonical layout to ``path``, deterministically."""
    rng = np.random.default_rng(SEED)
    catalogue = _catalogue(rng)
    n_returns = int(lines * RETURN_SHARE)
    n_sales = lines - n_returns

    # Orders, numbered in the order they were placed.
    sizes = _order_sizes(rng, n_sales)
    n_orders = len(sizes)
    placed = np.sort(_instants(rng, n_orders))
    channel = rng.choice(len(CHANNELS), size=n_orders, p=CHANNEL_WEIGHTS)
    anonymous_share = np.array([ANONYMOUS_SHARE[name] for name in CHANNELS])[channel]
    anonymous = rng.random(n_orders) < anonymous_share
    n_customers = max(lines // 50, 10)
    loyalty = rng.lognormal(0.0, 1.2, n_customers)  # a few customers buy much more often
    customer = rng.choice(n_customers, size=n_orders, p=loyalty / loyalty.sum())
    known = np.flatnonzero(~anonymous)  # every customer gets at least one of these orders
    customer[rng.choice(known, size=n_customers, replace=False)] = np.arange(n_customers)
    customer = np.where(anonymous, -1, customer)
    home = rng.choice(len(COUNTRIES), size=n_customers, p=COUNTRY_WEIGHTS)
    walk_in = rng.choice(len(COUNTRIES), size=n_orders, p=COUNTRY_WEIGHTS)
    country = np.where(anonymous, walk_in, home[np.maximum(customer, 0)])
    percent = np.where(
        rng.random(n_orders) < DISCOUNTED_ORDER_SHARE, rng.choice(DISCOUNT_PERCENTS, n_orders), 0
    )

    # Sale lines.
    order = np.repeat(np.arange(n_orders), sizes)
    sku = rng.choice(SKU_COUNT, size=n_sales, p=catalogue.popularity)
    quantity = rng.choice(np.array(QUANTITIES), size=n_sales, p=QUANTITY_WEIGHTS)
    price = np.where(rng.random(n_sales) < FREE_GIFT_SHARE, 0, catalogue.price_cents[sku])
    discount = (quantity * price * percent[order] + 50) // 100

    # Return lines: part of an earlier known customer's sale line, 1-30 days later, one return
    # document per returned order, numbered in the order they were booked.
    eligible = np.flatnonzero((customer[order] >= 0) & (price > 0))
    returned = np.sort(rng.choice(eligible, size=n_returns, replace=False))
    documents, document = np.unique(order[returned], return_inverse=True)
    booked = placed[documents] + rng.integers(DAY, 30 * DAY, len(documents))
    rank = np.argsort(np.argsort(booked, kind="stable"), kind="stable")
    by_document = np.lexsort((returned, rank[document]))
    returned, document = returned[by_document], document[by_document]
    back = rng.integers(1, quantity[returned] + 1)

    # Both kinds in time order; a stable sort keeps each document's lines together.
    is_return = np.repeat([False, True], [n_sales, n_returns])
    instant = np.concatenate([placed[order], booked[document]])
    sequence = np.argsort(instant, kind="stable")
    is_return, instant = is_return[sequence], instant[sequence]
    number = np.concatenate([order + 1, rank[document] + 1])[sequence]
    buyer = np.concatenate([customer[order], customer[order[returned]]])[sequence]
    product = pa.array(np.concatenate([sku, sku[returned]])[sequence])
    units = np.concatenate([quantity, -back])[sequence]
    cents = np.concatenate([price, price[returned]])[sequence]
    off = np.concatenate([discount, np.zeros(n_returns, np.int64)])[sequence]
    where = np.concatenate([order, order[returned]])[sequence]

    customer_ids = _numbered("C", np.arange(1, n_customers + 1), width=7)
    table = pa.table(
        {
            "order_id": pc.if_else(
                pa.array(is_return), _numbered("RT-", number), _numbered("SO-", number)
            ),
            "placed_at": pc.strftime(pa.array(instant, pa.timestamp("s")), "%Y-%m-%d %H:%M:%S"),
            "customer_id": customer_ids.take(pa.array(buyer, mask=buyer < 0)),
            "sku": catalogue.skus.take(product),
            "product_name": catalogue.names.take(product),
            "category": catalogue.categories.take(product),
            "brand": catalogue.brands.take(product),
            "quantity": pc.cast(pa.array(units), pa.string()),
            "unit_price": _money(cents),
            "discount": _money(off, empty=off == 0),
            "channel": pa.array(CHANNELS).take(pa.array(channel[where])),
            "country": pa.array(COUNTRIES).take(pa.array(country[where])),
        }
    )
    partial = path.with_suffix(".partial")
    pcsv.write_csv(table, partial, pcsv.WriteOptions(quoting_style="none", quoting_header="none"))
    partial.replace(path)


def orders_file(lines: int) -> tuple[Path, float | None]:
    """The generated file for ``lines`` lines and the seconds spent generating it (None: reused)."""
    path = DATA / f"orders-{lines}-v{GENERATOR_VERSION}.csv"
    if path.is_file():
        return path, None
    DATA.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    generate_orders(lines, path)
    return path, time.perf_counter() - clock


# --- the two sides ------------------------------------------------------------------------


@dataclass
class PatronRun:
    seconds: float
    stage_seconds: float  # reading, validating and staging the rows; the rest is the merge
    lines_per_second: float
    stored_lines: int
    counts: dict[str, int]
    line_kinds: dict[str, int]
    reimport_seconds: float
    reimport_stage_seconds: float
    reimport_lines_per_second: float
    reimport_changed: bool


@dataclass
class PeerRun:
    name: str
    version: str
    threads: int
    seconds: float
    lines_per_second: float
    rows: int


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _sqlite_files(db: Path) -> tuple[Path, Path, Path]:
    return db, Path(f"{db}-wal"), Path(f"{db}-shm")


def bench_patron(csv: Path, db: Path, lines: int) -> PatronRun:
    """Import ``csv`` into a fresh SQLite file, then once more; only ``import_file`` is timed."""
    _remove(*_sqlite_files(db))
    engine = make_engine(f"sqlite:///{db}")
    try:
        schema.upgrade(engine)
        options = ImportOptions(kind=Kind.orders, errors_path=db.with_suffix(".errors.csv"))
        first, seconds, staged = _timed_import(engine, csv, options)
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT (SELECT COUNT(*) FROM order_lines) + (SELECT COUNT(*) FROM returns)")
            ).scalar_one()
        _progress("re-importing the same file with Patron (idempotent)")
        again, reimport, restaged = _timed_import(engine, csv, options)
    finally:
        engine.dispose()
    return PatronRun(
        seconds=seconds,
        stage_seconds=staged,
        lines_per_second=lines / seconds,
        stored_lines=int(stored),
        counts=first.counts,
        line_kinds=first.line_kinds,
        reimport_seconds=reimport,
        reimport_stage_seconds=restaged,
        reimport_lines_per_second=lines / reimport,
        reimport_changed=again.changed,
    )


def _timed_import(
    engine: Engine, csv: Path, options: ImportOptions
) -> tuple[ImportSummary, float, float]:
    """The summary, the seconds of the whole import, and those until the last batch was staged.

    The split comes from the progress callback, called after each staged batch: what follows
    the last call is the set-based merge and the commit.
    """
    staged = 0.0
    clock = time.perf_counter()

    def progress(_rows: int, _read: int, _total: int) -> None:
        nonlocal staged
        staged = time.perf_counter() - clock

    summary = import_file(engine, path=csv, options=options, progress=progress)
    return summary, time.perf_counter() - clock, staged


def bench_duckdb(csv: Path, db: Path, lines: int) -> PeerRun:
    """Load ``csv`` into a fresh on-disk DuckDB file; only the CREATE TABLE statement is timed."""
    _remove(db, Path(f"{db}.wal"))
    literal = "'" + str(csv).replace("'", "''") + "'"
    with duckdb.connect(str(db)) as connection:
        clock = time.perf_counter()
        connection.execute(f"CREATE TABLE orders AS SELECT * FROM read_csv({literal})")
        seconds = time.perf_counter() - clock
        rows = _one(connection, "SELECT COUNT(*) FROM orders")
        threads = _one(connection, "SELECT current_setting('threads')")
    return PeerRun(
        name="DuckDB read_csv",
        version=duckdb.__version__,
        threads=int(threads),
        seconds=seconds,
        lines_per_second=lines / seconds,
        rows=int(rows),
    )


def _one(connection: duckdb.DuckDBPyConnection, query: str) -> Any:
    row = connection.execute(query).fetchone()
    assert row is not None
    return row[0]


# --- reporting ----------------------------------------------------------------------------


@dataclass
class Report:
    lines: int
    file: str
    megabytes: float
    generated_seconds: float | None
    patron: PatronRun
    peer: PeerRun
    ratio: float = field(init=False)  # Patron's lines/s divided by the peer's
    target_lines_per_second: int = TARGET_LINES_PER_SECOND
    target_met: bool = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self.patron.lines_per_second / self.peer.lines_per_second
        self.target_met = self.patron.lines_per_second >= self.target_lines_per_second

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def render(report: Report) -> str:
    patron, peer = report.patron, report.peer
    made = (
        "reused"
        if report.generated_seconds is None
        else f"generated in {report.generated_seconds:.1f} s"
    )
    rows = [
        ("", "Patron (SQLite)", f"{peer.name}"),
        ("seconds", f"{patron.seconds:,.2f}", f"{peer.seconds:,.2f}"),
        ("lines/s", f"{patron.lines_per_second:,.0f}", f"{peer.lines_per_second:,.0f}"),
        ("lines stored", f"{patron.stored_lines:,}", f"{peer.rows:,}"),
    ]
    table = "\n".join(f"  {a:<14}{b:>18}{c:>20}" for a, b, c in rows)
    met = "met" if report.target_met else "NOT met"
    counts = patron.counts
    kinds = patron.line_kinds
    changed = "changed something!" if patron.reimport_changed else "nothing changed"
    return "\n".join(
        [
            f"Import benchmark: {report.lines:,} order lines",
            f"  file: {report.file} ({report.megabytes:,.1f} MB, {made})",
            "",
            table,
            "",
            f"  ratio Patron / {peer.name}: {report.ratio:.3f}"
            f" ({peer.name} is {1 / report.ratio:.1f}x faster)",
            f"  target: Patron >= {report.target_lines_per_second:,} lines/s: {met}"
            f" ({patron.lines_per_second:,.0f} lines/s)",
            f"  Patron's import: {patron.stage_seconds:,.2f} s reading, validating and staging,"
            f" {patron.seconds - patron.stage_seconds:,.2f} s merging and committing",
            f"  re-import (idempotent): {patron.reimport_seconds:,.2f} s,"
            f" {patron.reimport_lines_per_second:,.0f} lines/s, {changed}"
            f" ({patron.reimport_stage_seconds:,.2f} s staging,"
            f" {patron.reimport_seconds - patron.reimport_stage_seconds:,.2f} s merging)",
            "",
            f"  Patron stored: {counts.get('customers_created', 0):,} customers,"
            f" {counts.get('products_created', 0):,} products,"
            f" {counts.get('orders_created', 0):,} orders,"
            f" {counts.get('lines_created', 0):,} lines,"
            f" {counts.get('returns_created', 0):,} returns"
            f" ({counts.get('return_documents', 0):,} documents,"
            f" {counts.get('returns_linked', 0):,} linked to their sale)",
            f"  line kinds: {kinds.get('return_lines', 0):,} returns,"
            f" {kinds.get('anonymous_lines', 0):,} anonymous,"
            f" {kinds.get('nonpositive_price_lines', 0):,} free,"
            f" {kinds.get('duplicate_lines', 0):,} exact duplicates",
            f"  DuckDB {peer.version} with {peer.threads} threads; both sides read the file"
            " from the page cache and write to a fresh database file",
        ]
    )


def _progress(message: str) -> None:
    print(f"[import_bench] {message}", file=sys.stderr, flush=True)


def _lines(value: str) -> int:
    lines = int(value.replace("_", "").replace(",", ""))
    if lines < MIN_LINES:
        raise argparse.ArgumentTypeError(f"at least {MIN_LINES:,} lines")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=_lines, default=DEFAULT_LINES, help="order lines (N)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite and DuckDB files")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    _progress(f"preparing {args.lines:,} order lines in {DATA}")
    csv, generated = orders_file(args.lines)
    sqlite_db = DATA / f"patron-{args.lines}.db"
    duck_db = DATA / f"duckdb-{args.lines}.duckdb"
    try:
        _progress("importing with Patron into a fresh SQLite file")
        try:
            patron = bench_patron(csv, sqlite_db, args.lines)
        except PatronError as exc:
            _fail(exc, as_json=args.json)
            return 1
        _progress("loading the same file with DuckDB read_csv")
        peer = bench_duckdb(csv, duck_db, args.lines)
    finally:
        if not args.keep:
            _remove(*_sqlite_files(sqlite_db), duck_db, Path(f"{duck_db}.wal"))
    report = Report(
        lines=args.lines,
        file=str(csv),
        megabytes=csv.stat().st_size / 1e6,
        generated_seconds=generated,
        patron=patron,
        peer=peer,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    return 1 if patron.reimport_changed else 0


def _fail(exc: PatronError, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": exc.to_dict()}, indent=2, default=str))
        return
    print(f"Patron's import failed: [{exc.code}] {exc.message}", file=sys.stderr)
    details = exc.details if isinstance(exc.details, dict) else {}
    for error in details.get("errors", []):
        print(f"  line {error['line']}, {error['column']}: {error['reason']}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
