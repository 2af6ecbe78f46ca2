"""Writing the demo shop into the store, on SQLite and PostgreSQL: complete, exact, reproducible."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from patron.customers.models import (
    Consent,
    Customer,
    Interaction,
    Order,
    OrderLine,
    Product,
    Return,
)
from patron.db import make_engine
from patron.demo import service
from patron.demo.models import DemoCustomerTruth, DemoRun
from patron.demo.service import DemoSummary
from patron.demo.simulate import BgNbd, GammaGamma
from patron.errors import PatronError

SIZE = 600
SEED = 5


@pytest.fixture
def generated(engine: Engine) -> DemoSummary:
    return service.generate(engine, customers=SIZE, seed=SEED)


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_summary_counts_what_the_store_holds(engine: Engine, generated: DemoSummary) -> None:
    with Session(engine) as session:
        assert generated.customers == _count(session, Customer) == SIZE
        assert generated.orders == _count(session, Order) > SIZE
        assert generated.lines == _count(session, OrderLine) > generated.orders
        assert generated.returns == _count(session, Return) > 0
        assert generated.products == _count(session, Product) >= 300
        assert generated.interactions == _count(session, Interaction) > SIZE
        assert generated.consents == _count(session, Consent) > SIZE
        assert _count(session, DemoCustomerTruth) == SIZE
    assert generated.run_id > 0
    assert not generated.reused


def test_every_order_has_lines_and_every_line_adds_up(
    engine: Engine, generated: DemoSummary
) -> None:
    with Session(engine) as session:
        empty = session.scalar(select(func.count()).select_from(Order).where(~Order.lines.any()))
        assert empty == 0
        for line in session.scalars(select(OrderLine)):
            assert isinstance(line.amount, Decimal)
            assert line.amount == line.quantity * line.unit_price - line.discount
            assert line.unit_price == line.unit_price.quantize(Decimal("0.01"))
            assert line.kind == "sale"
            assert line.unit_cost is not None
        order = session.scalars(select(Order).order_by(Order.id)).first()
        assert order is not None
        assert order.placed_at.tzinfo is not None
        assert order.external_id == "DO0000001"
        assert order.currency == "EUR"


def test_returns_never_exceed_the_returned_line(engine: Engine, generated: DemoSummary) -> None:
    with Session(engine) as session:
        rows = session.execute(
            select(Return, OrderLine, Order)
            .join(OrderLine, Return.order_line_id == OrderLine.id)
            .join(Order, OrderLine.order_id == Order.id)
        ).all()
        assert len(rows) == generated.returns
        for returned, line, order in rows:
            assert Decimal(0) < returned.quantity <= line.quantity
            assert returned.amount <= line.amount
            assert returned.returned_at > order.placed_at
            assert returned.customer_id == order.customer_id
            assert returned.product_id == line.product_id
            assert returned.document.startswith("DR")


def test_ground_truth_is_stored_and_consistent(engine: Engine, generated: DemoSummary) -> None:
    with Session(engine) as session:
        run = session.scalars(select(DemoRun)).one()
        assert (run.seed, run.customers) == (SEED, SIZE)
        assert run.parameters["bgnbd"] == asdict(BgNbd())
        assert run.parameters["gamma_gamma"] == asdict(GammaGamma())
        assert run.parameters["observation_end"].startswith("2026-11-01")
        truths = session.scalars(select(DemoCustomerTruth)).all()
        latest = select(Order.customer_id, func.max(Order.placed_at)).group_by(Order.customer_id)
        last_order = dict(session.execute(latest).all())  # Result itself looks like a mapping
    rates = [t.purchase_rate for t in truths]
    bgnbd = BgNbd()
    # sd of the mean of 600 Gamma(0.25, 4.5) draws is 8 % of r/α; a wrong α or r is off by far more
    assert sum(rates) / len(rates) == pytest.approx(bgnbd.r / bgnbd.alpha, rel=0.25)
    dropped = [t for t in truths if t.dropped_out_at is not None]
    assert 0.1 * SIZE < len(dropped) < 0.6 * SIZE
    for truth in dropped:  # the last purchase is the dropout: nothing after it
        assert last_order[truth.customer_id] == truth.dropped_out_at
    assert all(0 < t.dropout_probability <= 1 and t.mean_spend > 0 for t in truths)


def test_a_store_with_customers_is_refused_without_reset(
    engine: Engine, generated: DemoSummary
) -> None:
    with pytest.raises(PatronError) as refused:
        service.generate(engine, customers=300, seed=SEED)
    assert refused.value.code == "demo.store_not_empty"
    assert "--reset" in refused.value.message


@pytest.mark.parametrize(
    ("customers", "seed", "code"), [(0, 1, "demo.bad_size"), (10, -1, "demo.bad_seed")]
)
def test_nonsense_sizes_and_seeds_are_refused(
    sqlite_engine: Engine, customers: int, seed: int, code: str
) -> None:
    with pytest.raises(PatronError) as refused:
        service.generate(sqlite_engine, customers=customers, seed=seed)
    assert refused.value.code == code


def test_reset_replaces_the_shop(engine: Engine, generated: DemoSummary) -> None:
    again = service.generate(engine, customers=300, seed=SEED + 1, reset=True)
    assert again.customers == 300
    with Session(engine) as session:
        assert _count(session, DemoRun) == 1
        assert _count(session, Customer) == 300


def test_new_rows_get_fresh_ids_after_the_demo(engine: Engine, generated: DemoSummary) -> None:
    with Session(engine) as session, session.begin():
        customer = Customer(external_id="NEW-1", name="Neu Kunde")
        session.add(customer)
        session.flush()
        assert customer.id == SIZE + 1


def test_an_existing_run_is_found_for_reuse(engine: Engine, generated: DemoSummary) -> None:
    found = service.find_run(engine, customers=SIZE, seed=SEED)
    assert found is not None
    assert found.reused
    assert (found.run_id, found.orders, found.lines) == (
        generated.run_id,
        generated.orders,
        generated.lines,
    )
    assert service.find_run(engine, customers=SIZE, seed=SEED + 1) is None


def _digest(engine: Engine) -> str:
    """A fingerprint of all orders and lines, by their external numbers (not by database ids)."""
    hasher = hashlib.sha256()
    with Session(engine) as session:
        rows = session.execute(
            select(
                Order.external_id,
                Customer.external_id,
                Order.placed_at,
                Order.channel,
                Order.store,
                OrderLine.line_no,
                Product.sku,
                OrderLine.quantity,
                OrderLine.unit_price,
                OrderLine.discount,
                OrderLine.amount,
            )
            .join(Customer, Order.customer_id == Customer.id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .join(Product, OrderLine.product_id == Product.id)
            .order_by(Order.external_id, OrderLine.line_no)
        )
        for row in rows:
            hasher.update(repr(tuple(row)).encode())
    return hasher.hexdigest()


def _fresh_sqlite(template: Path, path: Path) -> Engine:
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


def test_same_seed_and_size_give_identical_data(sqlite_template: Path, tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a.db", 11), ("b.db", 11), ("c.db", 12)):
        engine = _fresh_sqlite(sqlite_template, tmp_path / name)
        service.generate(engine, customers=400, seed=seed)
        digests.append(_digest(engine))
        engine.dispose()
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def _contents(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every stored value of every table except database-assigned ids and the run's clock."""
    contents = {}
    with engine.connect() as connection:
        for model in service.STORE_TABLES:
            table = model.__table__
            skip = {"id"} if model in (Return, Interaction, Consent, DemoRun) else set()
            skip |= {"generated_at", "run_id"}
            columns = [c for c in table.columns if c.name not in skip]
            order = table.c.id if "id" in table.c else table.primary_key.columns.values()[0]
            contents[table.name] = [
                tuple(r) for r in connection.execute(select(*columns).order_by(order))
            ]
    return contents


def test_fast_writer_stores_exactly_what_core_inserts_store(engine: Engine) -> None:
    service.generate(engine, customers=250, seed=3)
    fast = _contents(engine)
    service.generate(engine, customers=250, seed=3, reset=True, fast=False)
    core = _contents(engine)
    assert fast.keys() == core.keys()
    for name in fast:
        assert fast[name] == core[name], name
