"""``patron demo`` and ``patron demo generate``: JSON output, refusal, reuse, and serving."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from patron.access import service as access
from patron.analytics.snapshots import CustomerScore, ScoreSnapshot, latest_snapshot
from patron.cli import app, serving
from patron.cli import demo as demo_cli
from patron.config import load_settings
from patron.db import make_engine, utcnow
from patron.demo import care
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
    served: list[tuple[str, int, str, str]] = []
    monkeypatch.setattr(
        serving,
        "run_server",
        lambda settings, *, host, port: served.append(
            (host, port, settings.public_url, settings.environment.value)
        ),
    )
    arguments = ["demo", "--customers", "300", "--seed", "4", "--port", "8123"]
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output
    assert "reused" in second.stdout
    # customers' links (the portal's sign-in link) lead to the server the demo runs
    assert served == [("127.0.0.1", 8123, "http://localhost:8123", "demo")] * 2
    assert "The customers' own portal: http://localhost:8123/portal" in first.stdout
    assert "Scored 300 customers" in first.stderr
    assert "Fitted the recommender" in first.stderr
    assert "Fitted the recommender" not in second.stderr  # the fit is kept
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(DemoRun)) == 1
        # the shop is scored at the first start, and the snapshot reused at the second
        # (as of the history days too: the service-recovery report's CLV before and after)
        assert session.scalar(select(func.count()).select_from(ScoreSnapshot)) == 1 + len(
            demo_cli.HISTORY
        )
        latest = latest_snapshot(session)
        assert latest is not None
        assert latest.period_end > max(demo_cli.HISTORY)  # the newest is today's
        assert (
            session.scalar(
                select(func.count())
                .select_from(CustomerScore)
                .where(CustomerScore.snapshot_id == latest.id)
            )
            == 300
        )
    engine.dispose()


def test_demo_prints_a_working_api_key_on_every_start(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "run_server", lambda settings, *, host, port: print("SERVING"))
    arguments = ["demo", "--customers", "300", "--seed", "4", "--port", "8123"]
    curl = re.compile(
        r'curl -H "Authorization: Bearer (pk_\S+)" http://localhost:8123/api/v1/customers'
    )
    tokens = []
    for _start in range(2):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        found = curl.search(result.stdout)
        assert found is not None, result.stdout
        assert found.start() < result.stdout.index("SERVING")  # shown before the server runs
        tokens.append(found[1])
    first, second = tokens
    assert first != second
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert access.verify_api_key(session, token=second, now=utcnow()) == {
            "customers:read",
            "analytics:read",
            "loyalty:read",
            "loyalty:write",
            "events:write",
            "campaigns:read",
        }
        with pytest.raises(PatronError) as revoked:  # the earlier start's key is revoked
            access.verify_api_key(session, token=first, now=utcnow())
        assert revoked.value.code == "auth.invalid_key"
        demo_keys = [key for key in access.list_api_keys(session).data if key.name == "demo"]
        assert [key.revoked_at is None for key in demo_keys] == [False, True]
    engine.dispose()


def test_generate_creates_no_api_key(cli_env: str) -> None:
    assert runner.invoke(app, [*GENERATE, "--json"]).exit_code == 0
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert access.list_api_keys(session).count == 0
    engine.dispose()


def test_generate_brings_a_new_database_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*GENERATE, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customers"] == 300


def test_demo_prints_an_admin_sign_in_with_a_new_password_on_every_start(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "run_server", lambda settings, *, host, port: print("SERVING"))
    arguments = ["demo", "--customers", "300", "--seed", "4", "--port", "8123"]
    sign_in = re.compile(r"Sign in at http://localhost:8123/ as (\S+) with the password (\S+) ")
    found = []
    for _start in range(2):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        match = sign_in.search(result.stdout)
        assert match is not None, result.stdout
        found.append((match[1], match[2]))
    (email, first), (same_email, second) = found
    assert email == same_email
    assert first != second
    engine = make_engine(cli_env)
    with Session(engine) as session:
        user = access.authenticate(session, email=email, password=second, now=utcnow())
        assert user.role == "admin"
        with pytest.raises(PatronError) as old:  # the earlier start's password no longer works
            access.authenticate(session, email=email, password=first, now=utcnow())
        assert old.value.code == "auth.invalid_credentials"
    engine.dispose()


def test_generate_creates_no_user_but_the_shops_simulated_staff(cli_env: str) -> None:
    """No administrator (only ``patron demo`` makes one, with a password it prints): just the
    service agents and account managers the cases and key accounts need, whose passwords are
    random and shown nowhere."""
    assert runner.invoke(app, [*GENERATE, "--json"]).exit_code == 0
    engine = make_engine(cli_env)
    with Session(engine) as session:
        users = access.list_users(session).data
    engine.dispose()
    staff = {email: role for email, _name, role in care.AGENTS} | {
        email: "account_manager" for email, _name, _regions in care.MANAGERS
    }
    assert {user.email: user.role for user in users} == staff


def test_the_demo_keeps_a_public_address_the_shop_has_set(cli_env: str) -> None:
    chosen = load_settings(database_url=cli_env, public_url="https://shop.example")
    served = demo_cli.served_settings(chosen, "http://localhost:8123")
    assert served.public_url == "https://shop.example"
    assert served.environment.value == "demo"
