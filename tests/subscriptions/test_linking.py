"""Orders that fulfil deliveries: a real order import with a ``subscription_ref`` column links
them (at once from the command line, else in the worker's round), idempotently; a reference
that matches nothing is reported, and an order of another customer does not count."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import factories as make
from patron.cli import app
from patron.customers.importer.layouts import Kind
from patron.customers.importer.service import ImportOptions, import_file
from patron.customers.models import Order
from patron.db import make_engine, session_factory
from patron.subscriptions import deliveries, fulfilment
from subscriptions.shop import at, settings, subscription

SHOP = settings()
NOW = at(2026, 12, 1, 8)
runner = CliRunner(env={"COLUMNS": "200"})
HEADER = "order_id,placed_at,customer_id,sku,quantity,unit_price,subscription_ref\n"


def _announced(sessions: sessionmaker[Session]) -> None:
    """Two customers' subscriptions, their 1 December deliveries announced."""
    with sessions.begin() as session:
        product = make.product(session, sku="ESP-1000")
        for who in ("ANNA", "OLA"):
            subscription(
                session, make.customer(session, external_id=who), [(product, 1, None)], key=who
            )
    with sessions() as session:
        deliveries.open_due(session, settings=SHOP, now=NOW)


def _states(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    with sessions() as session:
        rows = fulfilment.due_deliveries(session, status=(*fulfilment.OPEN, "fulfilled")).data
    return {d.reference: (d.status, d.order) for d in rows}


def _import(engine: Engine, path: Path) -> dict[str, int]:
    options = ImportOptions(
        kind=Kind.orders, timezone="Europe/Berlin", errors_path=path.with_suffix(".err")
    )
    return import_file(engine, path=path, options=options).counts


def test_an_imported_order_with_the_reference_fulfils_the_delivery(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _announced(sessions)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        HEADER
        + "SO-1,2026-12-02 10:00,ANNA,ESP-1000,1,17.90,ANNA/2026-12-01\n"
        + "SO-2,2026-12-02 11:00,OLA,ESP-1000,1,17.90,ANNA/2026-12-01\n"  # another customer's
        + "SO-3,2026-12-02 12:00,OLA,ESP-1000,1,17.90,OLA/2026-13-01\n"  # a typo
        + "SO-4,2026-12-02 13:00,OLA,ESP-1000,2,17.90,\n",
        encoding="utf-8",
    )
    _import(engine, orders)
    with sessions() as session:
        refs = dict(session.execute(select(Order.external_id, Order.subscription_ref)).all())
        assert refs == {
            "SO-1": "ANNA/2026-12-01",
            "SO-2": "ANNA/2026-12-01",
            "SO-3": "OLA/2026-13-01",
            "SO-4": None,
        }
        assert fulfilment.link_orders(session, now=NOW) == 1
        assert fulfilment.link_orders(session, now=NOW) == 0
        assert fulfilment.unmatched_references(session) == [
            ("SO-3", "OLA/2026-13-01"),
            ("SO-2", "ANNA/2026-12-01"),
        ]
    assert _states(sessions) == {
        "ANNA/2026-12-01": ("fulfilled", "SO-1"),
        "OLA/2026-12-01": ("announced", None),
    }
    with sessions() as session:
        [anna] = fulfilment.due_deliveries(session, status=["fulfilled"]).data
    assert anna.fulfilled_at == at(2026, 12, 2, 10)  # when the order was placed
    # the same file again changes nothing; a file without the column keeps the references
    assert not any(
        k.endswith(("_created", "_updated")) and v for k, v in _import(engine, orders).items()
    )
    bare = tmp_path / "bare.csv"
    bare.write_text(
        "order_id,placed_at,customer_id,sku,quantity,unit_price\n"
        "SO-1,2026-12-02 10:00,ANNA,ESP-1000,1,17.90\n",
        encoding="utf-8",
    )
    _import(engine, bare)
    with sessions() as session:
        assert session.scalar(
            select(Order.subscription_ref).where(Order.external_id == "SO-1")
        ) == ("ANNA/2026-12-01")


def test_the_command_line_import_links_at_once_and_reports_what_matched_nothing(
    cli_env: str, tmp_path: Path
) -> None:
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    try:
        _announced(sessions)
        orders = tmp_path / "orders.csv"
        orders.write_text(
            HEADER
            + "SO-1,2026-12-02 10:00,OLA,ESP-1000,1,17.90,OLA/2026-12-01\n"
            + "SO-2,2026-12-02 11:00,OLA,ESP-1000,1,17.90,OLA/2026-12-08\n",
            encoding="utf-8",
        )
        ran = runner.invoke(app, ["import", "orders", str(orders), "--json"])
        assert ran.exit_code == 0, ran.output
        counts = json.loads(ran.stdout)["counts"]
        assert counts["subscription_deliveries_fulfilled"] == 1
        assert counts["subscription_refs_unmatched"] == 1
        assert _states(sessions)["OLA/2026-12-01"] == ("fulfilled", "SO-1")
    finally:
        engine.dispose()


def test_an_order_without_subscriptions_reports_nothing_new(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "SO-9,2026-12-02 10:00,ANNA,ESP-1000,1,17.90,\n", encoding="utf-8")
    counts = _import(engine, orders)
    with sessions() as session:
        assert fulfilment.link_after_import(session, now=NOW) == {}
    assert counts["orders_created"] == 1


def test_the_due_list_export_and_fulfilment_from_the_command_line(
    cli_env: str, tmp_path: Path
) -> None:
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    try:
        with sessions.begin() as session:
            product = make.product(session, sku="ESP-1000")
            anna = make.customer(session, external_id="ANNA")
            subscription(session, anna, [(product, 2, "8.00")], key="ANNA")
            make.order(session, anna, external_id="SO-7")
        with sessions() as session:
            deliveries.open_due(session, settings=SHOP, now=NOW)
        listed = runner.invoke(app, ["subscription", "due", "--json"])
        assert listed.exit_code == 0, listed.output
        assert [d["reference"] for d in json.loads(listed.stdout)["data"]] == ["ANNA/2026-12-01"]
        target = tmp_path / "pick.csv"
        exported = runner.invoke(
            app, ["subscription", "export", "--format", "csv", "-o", str(target)]
        )
        assert exported.exit_code == 0, exported.output
        assert (
            target.read_text(encoding="utf-8")
            .splitlines()[1]
            .startswith("ANNA/2026-12-01,ANNA,ANNA,2026-12-01,announced,1,ESP-1000,")
        )
        done = runner.invoke(app, ["subscription", "fulfil", "ANNA/2026-12-01", "--order", "SO-7"])
        assert done.exit_code == 0, done.output
        assert "fulfilled by order SO-7" in done.stdout
        bad = runner.invoke(app, ["subscription", "export", "--from", "1.12.2026"])
        assert bad.exit_code != 0
        assert getattr(bad.exception, "code", None) == "request.invalid"
        assert "YYYY-MM-DD" in str(bad.exception)
    finally:
        engine.dispose()
