"""``patron account``, ``patron task`` and ``patron event`` as a user runs them (both backends)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

import factories as make
from care.accounts import shop
from patron.care.models import AccountAssignment, EventGuest, Task
from patron.cli import app
from patron.customers.models import Interaction
from patron.db import make_engine, session_factory, utcnow
from patron.errors import PatronError

runner = CliRunner(env={"COLUMNS": "200"})


def _json(*arguments: str) -> Any:
    result = runner.invoke(app, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_commands_set_up_managers_assign_and_keep_tasks_and_events(cli_env: str) -> None:
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    with sessions() as session:
        user = make.user(session, "account_manager")
        marketer = make.user(session, "marketer")
    with sessions.begin() as session:
        customer = make.customer(session, country="DE")
        make.consent(session, customer)
        customer_id = customer.id
    shop.snapshot(engine, {customer_id: {"abc": "A", "clv": 99.0}})

    assert _json("account", "set-manager", user.email, "--capacity", "4", "--regions", "DE")[
        "regions"
    ] == ["DE"]
    refused = runner.invoke(app, ["account", "set-manager", marketer.email])
    assert refused.exit_code == 1
    assert isinstance(refused.exception, PatronError)
    assert refused.exception.code == "accounts.invalid"
    assert _json("account", "run")["assigned"] == 1
    assert _json("account", "managers")["data"][0]["accounts"] == 1
    assert _json("account", "assign", str(customer_id), user.email)["source"] == "manual"
    text = runner.invoke(app, ["account", "managers"])
    assert user.email in text.stdout

    added = _json(
        "task", "add", "call", "Ring them", "--customer", str(customer_id), "--due", "2026-07-01"
    )
    assert added["owner_id"] == user.id
    assert _json("task", "list", "--owner", user.email)["count"] == 1
    assert _json("task", "done", str(added["id"]))["status"] == "done"
    made = _json("task", "rules")
    assert set(made) == {"p_alive", "anniversary", "no_contact"}

    starts = (utcnow() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    _json(
        "event",
        "create",
        "fair",
        "Fair",
        "--starts",
        starts,
        "--segment",
        'country = "DE"',
        "--kind",
        "trade_fair",
    )
    assert _json("event", "guests", "fair")["added"] == 1
    assert _json("event", "invite", "fair")["invited"] == 1
    assert _json("event", "attend", "fair", str(customer_id))["recorded"] == 1
    shown = _json("event", "show", "fair")
    assert shown["event"]["counts"]["attended"] == 1
    assert "Fair" in runner.invoke(app, ["event", "show", "fair"]).stdout

    with sessions() as session:
        assert session.scalar(select(AccountAssignment.source)) == "manual"
        assert session.scalar(select(EventGuest.attended_at)) is not None
        assert session.scalar(select(Interaction.kind)) == "event_attendance"
        assert session.scalar(select(Task.status).where(Task.id == added["id"])) == "done"
    engine.dispose()
