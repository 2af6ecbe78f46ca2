"""``patron demo`` and ``patron demo generate``: JSON output, refusal, reuse, and serving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from patron.cli import app, serving
from patron.db import make_engine
from patron.demo.models import DemoRun
from patron.errors import PatronError

runner = CliRunner(env={"COLUMNS": "200"})
GENERATE = ["demo", "generate", "--customers", "300", "--seed", "1"]


def test_generate_prints_exactly_one_json_document(cli_env: str) -> None:
    result = runner.invoke(app, [*GENERATE, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["customers"] == 300
    assert document["seed"] == 1
    assert document["orders"] > 300
    assert document["lines"] > document["orders"]
    for key in ("returns", "products", "interactions", "consents", "seconds"):
        assert document[key] > 0
    assert document["reused"] is False


def test_generate_shows_a_summary(cli_env: str) -> None:
    result = runner.invoke(app, GENERATE)
    assert result.exit_code == 0, result.output
    assert "customers" in result.stdout
    assert "300" in result.stdout
    assert "interactions" in result.stdout


def test_generate_refuses_a_store_with_customers_unless_reset(cli_env: str) -> None:
    assert runner.invoke(app, [*GENERATE, "--json"]).exit_code == 0
    refused = runner.invoke(app, [*GENERATE, "--json"])
    assert refused.exit_code == 1
    assert isinstance(refused.exception, PatronError)
    assert refused.exception.code == "demo.store_not_empty"
    again = runner.invoke(app, [*GENERATE, "--seed", "2", "--reset", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["seed"] == 2


def test_demo_generates_once_then_reuses_and_serves(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[tuple[str, int]] = []
    monkeypatch.setattr(
        serving, "run_server", lambda settings, *, host, port: served.append((host, port))
    )
    arguments = ["demo", "--customers", "300", "--seed", "4", "--port", "8123"]
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output
    assert "reused" in second.stdout
    assert served == [("127.0.0.1", 8123), ("127.0.0.1", 8123)]
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(DemoRun)) == 1
    engine.dispose()


def test_generate_brings_a_new_database_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*GENERATE, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customers"] == 300
