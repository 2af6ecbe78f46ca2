"""``patron import orders|customers|products FILE``: one JSON document with --json; a bad file
is exit code 1 and a clear message, never a traceback (through the real console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customers.importer.support import ORDER_HEADER, counts, write_csv
from patron.cli import app
from patron.db import make_engine

PATRON = Path(sys.executable).parent / "patron"
runner = CliRunner(env={"COLUMNS": "200"})
ROWS = [
    ("O-1", "2024-01-02 10:00:00", "K-1", "A-1", "Äpfel", "3", "0.1"),
    ("O-2", "2024-01-03 09:30:00", "K-2", "A-1", "Äpfel", "1", "0.1"),
]


def _patron(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATRON_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [str(PATRON), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_import_json_prints_exactly_one_document(cli_env: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, ROWS)

    result = runner.invoke(app, ["import", "orders", str(path), "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["stored"]
    assert summary["changed"]
    assert summary["counts"]["orders_created"] == 2
    assert summary["rows_read"] == 2

    again = json.loads(runner.invoke(app, ["import", "orders", str(path), "--json"]).stdout)
    assert (again["changed"], again["counts"]["orders_unchanged"]) == (False, 2)


def test_import_prints_a_readable_summary(cli_env: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, ROWS)
    result = runner.invoke(app, ["import", "orders", str(path)])
    assert result.exit_code == 0, result.output
    for expected in ("layout patron", "rows read", "orders created", "stored"):
        assert expected in result.output


def test_customers_and_products_commands_with_a_mapping(cli_env: str, tmp_path: Path) -> None:
    customers = write_csv(tmp_path / "kunden.csv", ("Nr", "Name"), [("K-1", "Anna"), ("K-2", "Bo")])
    products = write_csv(tmp_path / "artikel.csv", ("Artikel", "Preis"), [("A-1", "1,50")])
    mapping = tmp_path / "artikel.map"
    mapping.write_text('{"Artikel": "sku", "Preis": "price"}')

    first = runner.invoke(
        app, ["import", "customers", str(customers), "--map", "Nr=customer_id", "--json"]
    )
    second = runner.invoke(
        app, ["import", "products", str(products), "--mapping", str(mapping), "--json"]
    )

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert json.loads(first.stdout)["counts"]["customers_created"] == 2
    assert json.loads(second.stdout)["counts"]["products_created"] == 1


def test_skip_invalid_and_errors_options(cli_env: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [*ROWS, ("O-3", "2024-01-03 09:30:00", "K-2", "A-1", "x", "one", "1")],
    )
    errors = tmp_path / "rejected.csv"
    result = runner.invoke(
        app, ["import", "orders", str(path), "--skip-invalid", "--errors", str(errors), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows_rejected"], summary["counts"]["orders_created"]) == (1, 2)
    assert errors.read_text().splitlines()[1].startswith("4,quantity,one,")


@pytest.mark.slow
def test_a_bad_file_exits_1_with_the_message_and_no_traceback(cli_env: str, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 4)

    result = _patron("import", "orders", str(garbage), database_url=cli_env, cwd=tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "garbage.csv is not a text file" in " ".join(result.stderr.split())
    assert "import.unsupported_format" in result.stderr


@pytest.mark.slow
def test_invalid_rows_exit_1_and_change_nothing(cli_env: str, tmp_path: Path) -> None:
    bad = [*ROWS, ("O-3", "2011-02-30 09:30:00", "K-2", "A-1", "x", "1", "1")]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, bad)

    result = _patron("import", "orders", str(path), "--json", database_url=cli_env, cwd=tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "import.bad_rows"
    assert error["details"]["errors"][0]["line"] == 4
    assert error["details"]["errors"][0]["value"] == "2011-02-30 09:30:00"
    assert (tmp_path / "orders.csv.errors.csv").is_file()  # default: FILE.errors.csv, here
    engine = make_engine(cli_env)
    assert counts(engine)["orders"] == 0
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--encoding", "klingon-8"],
        ["--timezone", "Mars/Olympus"],
        ["--currency", "euro"],
        ["--map", "nonsense"],
        ["--errors", "/nonexistent/dir/e.csv"],
    ],
)
def test_bad_options_exit_1_without_a_traceback(
    sqlite_url: str, tmp_path: Path, args: list[str]
) -> None:
    """Options are checked the same way on every backend: SQLite only."""
    bad = [*ROWS, ("O-3", "2024-01-03 09:30:00", "K-2", "A-1", "x", "1", "free")]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, bad)
    result = _patron("import", "orders", str(path), *args, database_url=sqlite_url, cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "error" in result.stderr
