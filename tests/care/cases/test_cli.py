"""``patron case …`` through the command line, and the worker's part: its deadline job and the
inbound listener it starts when a port is set."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage

from sqlalchemy import select
from typer.testing import CliRunner

import factories as make
from engage.smtp_sink import free_port
from patron.care.models import Case, CaseEntry
from patron.cli import app, worker
from patron.config import load_settings
from patron.db import make_engine, session_factory

runner = CliRunner(env={"COLUMNS": "200"})


def _json(args: list[str]) -> object:
    ran = runner.invoke(app, [*args, "--json"])
    assert ran.exit_code == 0, (ran.output, ran.exception)
    return json.loads(ran.stdout)


def test_open_answer_resolve_and_report_from_the_command_line(cli_env: str) -> None:
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", email=None)
    opened = _json(
        [
            "case",
            "open",
            "ANNA",
            "--subject",
            "Late parcel",
            "--text",
            "Still waiting.",
            "--category",
            "delivery",
            "--priority",
            "high",
        ]
    )
    assert isinstance(opened, dict)
    case_id = opened["id"]
    assert opened["priority"] == "high"
    listed = _json(["case", "list"])
    assert isinstance(listed, dict)
    assert [c["id"] for c in listed["data"]] == [case_id]
    reply = _json(["case", "reply", str(case_id), "On its way.", "--no-email", "--by", "cli@shop"])
    assert isinstance(reply, dict)
    assert (reply["kind"], reply["author"], reply["message_id"]) == ("reply", "cli@shop", None)
    refused = runner.invoke(app, ["case", "reply", str(case_id), "Hello"])
    assert refused.exit_code != 0
    assert getattr(refused.exception, "code", None) == "message.unreachable"
    _json(["case", "note", str(case_id), "Called the courier."])
    resolved = _json(["case", "resolve", str(case_id)])
    assert isinstance(resolved, dict)
    assert resolved["status"] == "resolved"
    closed = _json(["case", "close", str(case_id)])
    assert isinstance(closed, dict)
    assert closed["status"] == "closed"
    shown = runner.invoke(app, ["case", "show", str(case_id)])
    assert shown.exit_code == 0, shown.output
    assert "Called the courier." in shown.stdout
    assert _json(["case", "deadlines"]) == {"warnings": 0, "breaches": 0}
    report = _json(["case", "report", "--window", "30", "--as-of", "2030-01-01"])
    assert isinstance(report, dict)
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["resolved"]["customers"] == 1
    table = runner.invoke(app, ["case", "report"])
    assert table.exit_code == 0, table.output
    assert "unresolved" in table.stdout
    with sessions() as session:
        kinds = session.scalars(
            select(CaseEntry.kind).where(CaseEntry.case_id == case_id).order_by(CaseEntry.id)
        ).all()
    assert kinds[:3] == ["customer", "reply", "change"]
    engine.dispose()


def test_the_worker_checks_deadlines_and_receives_mail(cli_env: str) -> None:
    ran = runner.invoke(app, ["worker", "--once"])
    assert ran.exit_code == 0, (ran.output, ran.exception)
    assert "cases" in dict(worker.JOBS)
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    assert worker.start_inbound(load_settings(database_url=cli_env), sessions) is None
    settings = load_settings(
        database_url=cli_env,
        care_inbound_address="service@shop.example",
        care_inbound_port=free_port(),
    )
    listener = worker.start_inbound(settings, sessions)
    assert listener is not None
    try:
        mail = EmailMessage()
        mail["From"] = "Ola <ola@example.no>"
        mail["To"] = "service@shop.example"
        mail["Subject"] = "Hello"
        mail["Message-ID"] = "<w1@example.no>"
        mail.set_content("Where is my order?")
        assert settings.care_inbound_port is not None
        with smtplib.SMTP(settings.care_inbound_host, settings.care_inbound_port) as client:
            client.send_message(mail)
    finally:
        listener.stop()
    with sessions() as session:
        assert session.scalars(select(Case.subject)).all() == ["Hello"]
    engine.dispose()
