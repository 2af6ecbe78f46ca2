"""``patron customers show|list`` and ``patron stats``, as tables and as one JSON document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import factories as make
from factories import at
from patron.cli import app
from patron.db import make_engine, session_factory
from patron.errors import NotFound, PatronError

BIN = Path(sys.executable).parent
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def shop(cli_env: str) -> str:
    """Two customers, one with an order, a return, an interaction and a withdrawn consent."""
    engine = make_engine(cli_env)
    with session_factory(engine).begin() as session:
        anna = make.customer(session, external_id="K-1", name="Anna Berg", city="Bergen")
        tea = make.product(session, sku="TEA", name="Green tea")
        bought = make.order(
            session,
            anna,
            external_id="O-1",
            placed_at=at(1),
            lines=[make.line(tea, quantity=2, unit_price="4.5")],
        )
        make.return_(session, bought.lines[0], reason="too bitter")
        make.interaction(session, anna, kind="price_watch", product_id=tea.id)
        make.consent(session, anna, channel="sms", granted=True, recorded_at=at(0))
        make.consent(session, anna, channel="sms", granted=False, recorded_at=at(5))
        make.customer(session, external_id="K-2", name="Bjørn Dahl")
        make.order(session, None, lines=[make.line(tea)])
    engine.dispose()
    return cli_env


def test_show_prints_the_360(shop: str) -> None:
    result = runner.invoke(app, ["customers", "show", "K-1"])
    assert result.exit_code == 0, result.output
    for expected in ("Anna Berg", "Bergen", "withdrawn", "O-1", "Green tea", "9.00 EUR"):
        assert expected in result.output
    for expected in ("too bitter", "price_watch"):
        assert expected in result.output


def test_show_json_is_one_document(shop: str) -> None:
    result = runner.invoke(app, ["customers", "show", "K-1", "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    assert view["profile"]["external_id"] == "K-1"
    assert view["orders"][0]["total"] == "9.0000"
    assert view["orders"][0]["lines"][0]["product_name"] == "Green tea"
    assert [(c["channel"], c["granted"]) for c in view["consent"]] == [("sms", False)]
    assert view["returns"][0]["reason"] == "too bitter"


def test_show_unknown_customer_raises_not_found(shop: str) -> None:
    result = runner.invoke(app, ["customers", "show", "nobody"])
    assert isinstance(result.exception, NotFound)
    assert result.exception.code == "customers.not_found"


def test_list_as_table_and_json(shop: str) -> None:
    table = runner.invoke(app, ["customers", "list", "--search", "bj"])
    assert table.exit_code == 0, table.output
    assert "Bjørn Dahl" in table.output
    assert "Anna Berg" not in table.output
    assert "page 1 of 1 · 1 customers" in table.output

    result = runner.invoke(
        app, ["customers", "list", "--sort", "-external_id", "--per-page", "1", "--json"]
    )
    page = json.loads(result.output)
    assert page["count"] == 2
    assert [c["external_id"] for c in page["data"]] == ["K-2"]


def test_list_with_a_bad_sort_is_a_patron_error(shop: str) -> None:
    result = runner.invoke(app, ["customers", "list", "--sort", "email"])
    assert isinstance(result.exception, PatronError)
    assert result.exception.code == "customers.invalid_sort"


def test_stats_as_table_and_json(shop: str) -> None:
    table = runner.invoke(app, ["stats"])
    assert table.exit_code == 0, table.output
    for label in ("customers", "anonymous sales", "order lines", "consent events"):
        assert label in table.output

    result = runner.invoke(app, ["stats", "--json"])
    assert json.loads(result.output) == {
        "customers": 2,
        "anonymous_sales": 1,
        "orders": 2,
        "order_lines": 2,
        "returns": 1,
        "products": 1,
        "interactions": 1,
        "consents": 2,
    }


def _patron(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATRON_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [str(BIN / "patron"), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_console_script_reports_errors_in_red_not_as_a_traceback(sqlite_url: str) -> None:
    shown = _patron("customers", "show", "nobody", database_url=sqlite_url)
    assert shown.returncode == 1
    assert "customers.not_found" in shown.stderr
    assert "Traceback" not in shown.stderr + shown.stdout

    as_json = _patron("customers", "show", "nobody", "--json", database_url=sqlite_url)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "customers.not_found"

    stats = _patron("stats", "--json", database_url=sqlite_url)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["customers"] == 0


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """The honest form of "``patron --help`` within 0.5 s": commands import their libraries."""
    heavy = ("sqlalchemy", "fastapi", "pyarrow", "numpy", "pandas", "rich.table")
    probe = f"import sys, patron.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
