"""``patron subscription …`` for subscriptions themselves: create, list, show, pause, resume,
skip, cancel; refusals print the error and exit 1."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from typer.testing import CliRunner

import factories as make
from patron.cli import app
from patron.db import make_engine, session_factory

runner = CliRunner(env={"COLUMNS": "200"})
AHEAD = (date.today() + timedelta(days=20)).isoformat()


def _json(args: list[str]) -> Any:
    ran = runner.invoke(app, ["subscription", *args, "--json"])
    assert ran.exit_code == 0, (ran.output, ran.exception)
    return json.loads(ran.stdout)


def _shop(url: str) -> None:
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        make.customer(session, external_id="ANNA", time_zone="UTC")
        make.product(session, sku="BEANS", price=Decimal("20.00"))
        make.product(session, sku="CUPS", price=Decimal("4.00"))
    engine.dispose()


def test_create_list_show_pause_resume_skip_cancel(cli_env: str) -> None:
    _shop(cli_env)
    made = _json(
        [
            "create",
            "ANNA",
            "--item",
            "BEANS:2",
            "--item",
            "CUPS:1:3.50",
            "--every",
            "2 weeks",
            "--first",
            AHEAD,
            "--discount",
            "10",
            "--notice-days",
            "14",
            "--key",
            "SHOP-1",
        ]
    )
    assert (made["key"], made["source"], made["delivery_value"]) == ("SHOP-1", "staff", "39.15")
    assert made["interval"] == {"unit": "week", "count": 2, "anchor_day": None}
    again = runner.invoke(
        app,
        [
            "subscription",
            "create",
            "ANNA",
            "--item",
            "BEANS:2",
            "--item",
            "CUPS:1:3.50",
            "--every",
            "2 weeks",
            "--first",
            AHEAD,
            "--discount",
            "10",
            "--notice-days",
            "14",
            "--key",
            "SHOP-1",
        ],
    )
    assert again.exit_code == 0
    assert "Found (same key)" in again.stdout
    listed = _json(["list", "--customer", "ANNA"])
    assert [s["key"] for s in listed["data"]] == ["SHOP-1"]
    plain = runner.invoke(app, ["subscription", "list"])
    assert plain.exit_code == 0
    assert "SHOP-1" in plain.stdout
    skipped = _json(["skip", "SHOP-1", "--by", "user:3"])
    assert skipped["next_due"] == (date.fromisoformat(AHEAD) + timedelta(weeks=2)).isoformat()
    assert _json(["pause", "SHOP-1"])["status"] == "paused"
    assert _json(["resume", "SHOP-1"])["status"] == "active"
    cancelled = _json(["cancel", "SHOP-1", "--reason", "moving", "--note", "to Oslo"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_note"] == "to Oslo"
    shown = _json(["show", "SHOP-1"])
    history = [(c["kind"], c["actor"]) for c in shown["history"]]
    assert history == [
        ("created", "cli"),
        ("skipped", "user:3"),
        ("paused", "cli"),
        ("resumed", "cli"),
        ("cancelled", "cli"),
    ]
    text = runner.invoke(app, ["subscription", "show", "SHOP-1"])
    assert text.exit_code == 0
    assert "Contract from" in text.stdout
    assert "cancelled" in text.stdout


def test_refusals_exit_1_with_the_error(cli_env: str) -> None:
    _shop(cli_env)
    bad_every = runner.invoke(
        app, ["subscription", "create", "ANNA", "--item", "BEANS", "--every", "2 years"]
    )
    assert bad_every.exit_code != 0
    assert getattr(bad_every.exception, "code", None) == "request.invalid"
    unknown = runner.invoke(app, ["subscription", "pause", "S-404"])
    assert getattr(unknown.exception, "code", None) == "subscriptions.not_found"
    made = _json(["create", "ANNA", "--item", "BEANS"])
    twice = runner.invoke(app, ["subscription", "resume", made["key"]])
    assert getattr(twice.exception, "code", None) == "subscriptions.refused"
    bad_day = runner.invoke(app, ["subscription", "pause", made["key"], "--until", "soon"])
    assert getattr(bad_day.exception, "code", None) == "request.invalid"
