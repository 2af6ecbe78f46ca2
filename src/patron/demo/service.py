"""Use cases of the demo shop: generate a simulated shop into the store, or find one already there.

Writing goes through SQLAlchemy Core ``insert()`` executemany in large batches inside one
transaction: a crash leaves the store as it was. Primary keys are assigned here (so returns can
point at order lines without reading them back); on PostgreSQL the id sequences are moved past
them afterwards.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, text

from patron.access import service as access
from patron.config import Settings
from patron.customers.models import (
    Consent,
    Customer,
    ImportRun,
    Interaction,
    Order,
    OrderLine,
    Product,
    Return,
)
from patron.db import Base, session_factory, utcnow
from patron.demo import bulk, rows
from patron.demo import care as demo_care
from patron.demo import engagement as demo_engagement
from patron.demo import loyalty as demo_loyalty
from patron.demo import subscriptions as demo_subscriptions
from patron.demo.bulk import Progress
from patron.demo.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from patron.demo.models import DemoCustomerTruth, DemoRun
from patron.demo.shop import Shop, simulate_shop
from patron.errors import PatronError

BATCH_ROWS = 20_000
DEMO_KEY_NAME = "demo"
DEMO_KEY_SCOPES = (
    "customers:read",
    "analytics:read",
    "loyalty:read",
    "loyalty:write",
    "events:write",
    "campaigns:read",  # segments, templates, campaigns and their reports, from /docs too
)
DEMO_ADMIN_EMAIL = "admin@demo.example"
# Children before parents, so deleting never trips a foreign key.
STORE_TABLES: tuple[type[Base], ...] = (
    DemoCustomerTruth,
    DemoRun,
    Return,
    Interaction,
    Consent,
    OrderLine,
    Order,
    Customer,
    Product,
    ImportRun,
)


@dataclass(frozen=True)
class DemoSummary:
    """What a demo run holds; ``seconds`` is 0 when an existing run was reused."""

    run_id: int
    seed: int
    customers: int
    orders: int
    lines: int
    returns: int
    products: int
    interactions: int
    consents: int
    seconds: float
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _count(connection: Connection, model: type[Base]) -> int:
    return int(connection.execute(select(func.count()).select_from(_table(model))).scalar_one())


def _is_empty(connection: Connection) -> bool:
    return all(_count(connection, model) == 0 for model in (Customer, Product, Order))


def _refuse_non_empty(connection: Connection) -> None:
    if not _is_empty(connection):
        raise PatronError(
            "the store already holds customers, products or orders; pass --reset to delete "
            "them and generate the demo shop, or point PATRON_DATABASE_URL at another database",
            code="demo.store_not_empty",
        )


def reset_store(connection: Connection) -> None:
    """Delete every row of the knowledge store and the demo truth (the loyalty club first)."""
    demo_subscriptions.reset(connection)
    demo_care.reset(connection)
    demo_engagement.reset(connection)
    demo_loyalty.reset(connection)
    for model in STORE_TABLES:
        connection.execute(delete(_table(model)))


def _max_id(connection: Connection, model: type[Base]) -> int:
    table = _table(model)
    return int(connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())


def _bases(connection: Connection) -> rows.Bases:
    return rows.Bases(
        customers=_max_id(connection, Customer),
        products=_max_id(connection, Product),
        orders=_max_id(connection, Order),
        order_lines=_max_id(connection, OrderLine),
    )


def _advance_sequences(connection: Connection) -> None:
    """PostgreSQL hands out ids from sequences, which explicit ids do not move."""
    if connection.dialect.name != "postgresql":
        return
    for model in (Customer, Product, Order, OrderLine):
        name = _table(model).name
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT MAX(id) FROM {name}))"
            )
        )


def _write(
    connection: Connection, shop: Shop, bases: rows.Bases, progress: Progress | None, fast: bool
) -> None:
    tables = {_table(model).name: _table(model) for model in STORE_TABLES}
    for name, build in rows.TABLES:
        frame = build(shop, bases)
        bulk.write(
            connection, tables[name], frame, batch_rows=BATCH_ROWS, progress=progress, fast=fast
        )


def _summary(
    connection: Connection, *, run_id: int, seed: int, seconds: float, reused: bool
) -> DemoSummary:
    """The run and what the store holds now (the demo owns the store, so: what the run made)."""
    return DemoSummary(
        run_id=run_id,
        seed=seed,
        customers=_count(connection, Customer),
        orders=_count(connection, Order),
        lines=_count(connection, OrderLine),
        returns=_count(connection, Return),
        products=_count(connection, Product),
        interactions=_count(connection, Interaction),
        consents=_count(connection, Consent),
        seconds=round(seconds, 2),
        reused=reused,
    )


def _record_run(connection: Connection, shop: Shop, *, customers: int, seed: int) -> int:
    table = _table(DemoRun)
    row = {
        "seed": seed,
        "customers": customers,
        "generated_at": utcnow(),
        "parameters": shop.parameters,
    }
    return int(connection.execute(insert(table).returning(table.c.id), row).scalar_one())


def generate(
    engine: Engine,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    reset: bool = False,
    progress: Progress | None = None,
    fast: bool = True,
    loyalty: bool = False,
    engagement: Settings | None = None,
) -> DemoSummary:
    """Simulate a shop and write it into an empty store (``reset`` empties it first).

    ``fast=False`` writes through plain Core inserts instead of the database's bulk path (the
    reference the fast path is tested against). ``loyalty=True`` then sets up the demo's loyalty
    programme and books its members' history (``patron.demo.loyalty``: seconds more). With
    ``engagement`` (the settings to send by), the shipped templates are installed, journeys
    switched on and a past newsletter with a holdout and a known effect is added
    (``patron.demo.engagement``), a year of customer service: cases, CSAT, NPS and Kano
    answers (``patron.demo.care``), and subscribers with their deliveries
    (``patron.demo.subscriptions``).
    """
    if customers < 1:
        raise PatronError("the demo shop needs at least one customer", code="demo.bad_size")
    if seed < 0:
        raise PatronError("the seed must be zero or a positive number", code="demo.bad_seed")
    started = time.perf_counter()
    if not reset:
        with engine.connect() as connection:
            _refuse_non_empty(connection)  # fail before minutes of work
    shop = simulate_shop(customers, seed)
    with engine.begin() as connection:
        if reset:
            reset_store(connection)
        _refuse_non_empty(connection)
        _write(connection, shop, _bases(connection), progress, fast)
        _advance_sequences(connection)
        run_id = _record_run(connection, shop, customers=customers, seed=seed)
    if loyalty:
        demo_loyalty.build(session_factory(engine), seed=seed, now=utcnow(), progress=progress)
    if engagement is not None:
        demo_engagement.build(session_factory(engine), seed=seed, settings=engagement, now=utcnow())
        demo_care.build(session_factory(engine), seed=seed, settings=engagement, now=utcnow())
        demo_subscriptions.build(
            session_factory(engine), seed=seed, settings=engagement, now=utcnow()
        )
    with engine.connect() as connection:
        seconds = time.perf_counter() - started
        return _summary(connection, run_id=run_id, seed=seed, seconds=seconds, reused=False)


def find_run(engine: Engine, *, customers: int, seed: int) -> DemoSummary | None:
    """The latest demo run of this size and seed still in the store, if any."""
    table = _table(DemoRun)
    with engine.connect() as connection:
        run = connection.execute(
            select(table)
            .where(table.c.customers == customers, table.c.seed == seed)
            .order_by(table.c.id.desc())
            .limit(1)
        ).first()
        if run is None:
            return None
        return _summary(connection, run_id=run.id, seed=run.seed, seconds=0.0, reused=True)


def issue_demo_key(engine: Engine) -> str:
    """A fresh token of the demo's API key (``DEMO_KEY_SCOPES``), to show when the demo starts.

    A token exists only when its key is made, so an active "demo" key of an earlier start is
    revoked and a new one created: the token printed is always one that works.
    """
    now = utcnow()
    with session_factory(engine)() as session:
        for key in access.list_api_keys(session).data:
            if key.name == DEMO_KEY_NAME and key.revoked_at is None:
                access.revoke_api_key(session, prefix=key.prefix, now=now)
        _key, token = access.create_api_key(
            session, name=DEMO_KEY_NAME, scopes=list(DEMO_KEY_SCOPES)
        )
    return token


def issue_demo_admin(engine: Engine) -> tuple[str, str]:
    """The demo administrator's e-mail address and a password made for this start.

    Patron has no default credentials: each demo start sets a new random password (creating
    the user the first time) and prints it, so a demo store left running elsewhere is not
    open to a password anyone could read in the source.
    """
    password = secrets.token_urlsafe(12)
    with session_factory(engine)() as session:
        known = {user.email for user in access.list_users(session).data}
        if DEMO_ADMIN_EMAIL in known:
            access.set_password(session, email=DEMO_ADMIN_EMAIL, password=password)
        else:
            access.create_user(
                session,
                email=DEMO_ADMIN_EMAIL,
                password=password,
                role="admin",
                name="Demo Admin",
            )
    return DEMO_ADMIN_EMAIL, password
