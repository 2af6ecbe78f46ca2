"""``patron webhooks …`` and ``patron worker`` through the command line, on both backends."""

from __future__ import annotations

import json
import time
import types

import pytest
from typer.testing import CliRunner

from patron.cli import app, worker
from patron.db import make_engine, session_factory, utcnow
from patron.errors import NotFound, PatronError
from patron.outbox import service

from .conftest import Receiver

runner = CliRunner(env={"COLUMNS": "200"})


def _enqueue(url: str, topic: str = "points.earned") -> None:
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        service.enqueue(session, topic=topic, payload={"points": 50}, now=utcnow())
    engine.dispose()


def test_add_list_and_a_worker_round_delivers_signed(cli_env: str, receiver: Receiver) -> None:
    added = runner.invoke(
        app,
        ["webhooks", "add", receiver.url, "--topic", "points.earned", "--topic", "tier.changed",
         "--description", "the shop", "--json"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    endpoint = json.loads(added.stdout)
    secret = endpoint["secret"]
    assert len(secret) >= 43
    assert endpoint["topics"] == ["points.earned", "tier.changed"]

    table = runner.invoke(app, ["webhooks", "list"])
    assert table.exit_code == 0, table.output
    assert receiver.url in table.output
    assert "points.earned, tier.changed" in table.output
    assert secret not in table.output
    shown = runner.invoke(app, ["webhooks", "list", "--show-secret"])
    assert secret in shown.output
    listed = json.loads(runner.invoke(app, ["webhooks", "list", "--json"]).stdout)
    assert listed["count"] == 1
    assert listed["data"][0]["secret"] is None

    _enqueue(cli_env)
    _enqueue(cli_env, "reward.redeemed")  # no endpoint wants it
    ran = runner.invoke(app, ["worker", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "webhooks: 1 delivered" in ran.output
    [request] = receiver.requests
    assert request.signed_by(secret, now=time.time())
    assert json.loads(request.body)["data"] == {"points": 50}

    again = runner.invoke(app, ["worker", "--once"])
    assert "Nothing was due." in again.output
    assert len(receiver.requests) == 1

    sent = json.loads(runner.invoke(app, ["webhooks", "deliveries", "--json"]).stdout)
    assert [(d["status"], d["attempts"], d["topic"]) for d in sent["data"]] == [
        ("delivered", 1, "points.earned")
    ]
    shown_deliveries = runner.invoke(app, ["webhooks", "deliveries", "--status", "delivered"])
    assert "points.earned" in shown_deliveries.output


def test_retry_and_remove(cli_env: str, receiver: Receiver) -> None:
    receiver.answer_with(*[500] * 10)
    made = runner.invoke(app, ["webhooks", "add", receiver.url, "--topic", "*", "--json"])
    endpoint_id = json.loads(made.stdout)["id"]
    _enqueue(cli_env)
    first = runner.invoke(app, ["worker", "--once"])
    assert "webhooks: 1 failed" in first.output
    [delivery] = json.loads(runner.invoke(app, ["webhooks", "deliveries", "--json"]).stdout)["data"]
    assert (delivery["status"], delivery["last_status_code"]) == ("pending", 500)

    retried = runner.invoke(app, ["webhooks", "retry", str(delivery["id"])])
    assert retried.exit_code == 0, retried.output
    assert "pending again" in retried.output

    removed = runner.invoke(app, ["webhooks", "remove", str(endpoint_id), "--json"])
    assert json.loads(removed.stdout)["active"] is False
    dead = json.loads(
        runner.invoke(app, ["webhooks", "deliveries", "--status", "dead", "--json"]).stdout
    )
    assert [d["last_error"] for d in dead["data"]] == ["endpoint removed"]

    unknown = runner.invoke(app, ["webhooks", "retry", "999"])
    assert isinstance(unknown.exception, NotFound)
    bad = runner.invoke(app, ["webhooks", "add", "ftp://x", "--topic", "*"])
    assert isinstance(bad.exception, PatronError)
    assert bad.exception.code == "webhooks.invalid"


def test_the_worker_loops_until_ctrl_c(
    cli_env: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["webhooks", "add", receiver.url, "--topic", "*"])
    rounds: list[float] = []

    def sleep(seconds: float) -> None:
        rounds.append(seconds)
        if len(rounds) == 1:
            _enqueue(cli_env)  # arrives while the worker waits
        else:
            raise KeyboardInterrupt

    # Only the worker's clock: patching time.sleep itself would reach other threads of this
    # process (Spark's py4j thread sleeps too).
    monkeypatch.setattr(worker, "time", types.SimpleNamespace(sleep=sleep))
    ran = runner.invoke(app, ["worker", "--interval", "0.5"])
    assert ran.exit_code == 0, ran.output
    assert rounds == [0.5, 0.5]
    assert "Ctrl-C stops it" in ran.output
    assert "webhooks: 1 delivered" in ran.output
    assert ran.output.rstrip().endswith("Worker stopped.")
    assert len(receiver.requests) == 1


def test_jobs_are_a_list_of_named_functions_of_sessions_and_now() -> None:
    assert [name for name, _ in worker.JOBS] == [
        "loyalty",
        "recommend",
        "care",
        "subscriptions",
        "campaigns",
        "cases",
        "messages",
        "webhooks",
    ]
    assert all(callable(job) for _, job in worker.JOBS)
