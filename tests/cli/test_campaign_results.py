"""``patron import campaign-results`` and the report commands (``experiment``, ``report``), on
both backends. The report commands are not registered here (the ``campaign`` group does that),
so the tests mount them on a small Typer app of their own."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from scipy import stats
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import factories as make
from patron.cli import app, campaign_report
from patron.db import make_engine, session_factory
from patron.engage.models import Campaign, CampaignMember, Experiment, ExperimentResult, Message
from patron.errors import PatronError

runner = CliRunner(env={"COLUMNS": "200"})
reports_app = typer.Typer()
reports_app.command("report")(campaign_report.report)
reports_app.command("experiment")(campaign_report.experiment)

RESULTS = (
    "customer;group;revenue;orders\n"
    "K1;holdout;10,5;1\n"
    "K2;holdout;0;0\n"
    "K3;holdout;4;1\n"
    "X1;A;30;2\n"
    "X2;A;12,25;1\n"
    "X3;A;0;0\n"
    "X4;B;50;3\n"
    "X5;B;8;1\n"
)


def _ok(target: typer.Typer, *arguments: str) -> str:
    result = runner.invoke(target, list(arguments))
    assert result.exit_code == 0, result.output
    return result.stdout


def _refused(target: typer.Typer, *arguments: str) -> PatronError:
    result = runner.invoke(target, list(arguments))
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, PatronError), result.exception
    return result.exception


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        counts = (
            session.scalar(select(func.count()).select_from(Experiment)) or 0,
            session.scalar(select(func.count()).select_from(ExperimentResult)) or 0,
        )
    engine.dispose()
    return counts


@pytest.fixture
def results(cli_env: str) -> Path:
    engine = make_engine(cli_env)
    with session_factory(engine).begin() as session:
        for key in ("K1", "K2"):
            make.customer(session, external_id=key)
    engine.dispose()
    path = Path("results.csv")
    path.write_text(RESULTS, encoding="utf-8")
    return path


def test_import_then_report_an_experiment(results: Path, cli_env: str) -> None:
    shown = _ok(app, "import", "campaign-results", str(results), "--name", "Spring mailing")
    assert "imported as experiment Spring mailing: 8 customers (A 3, B 2, holdout 3)" in shown
    assert "2 matched to Patron's customers, 6 not" in shown

    document = json.loads(_ok(reports_app, "experiment", "Spring mailing", "--json"))
    assert document["experiment"]["rows"] == 8
    assert document["experiment"]["matched"] == 2
    assert document["uplift"]["metrics"] == ["revenue", "orders"]
    revenue = document["uplift"]["overall"]["revenue"]
    treated, held = np.array([30, 12.25, 0, 50, 8]), np.array([10.5, 0, 4])
    welch = stats.ttest_ind(treated, held, equal_var=False)
    assert revenue["difference"] == pytest.approx(treated.mean() - held.mean(), rel=1e-12)
    assert revenue["p_value"] == pytest.approx(welch.pvalue, rel=1e-7)
    assert revenue["incremental"] == pytest.approx(5 * (treated.mean() - held.mean()), rel=1e-12)
    assert revenue["significant"] is False
    assert set(document["uplift"]["by_variant"]) == {"A", "B"}

    text = _ok(reports_app, "experiment", "Spring mailing")
    assert "revenue: per customer, treated − holdout" in text
    assert "all treated" in text
    assert "95 % interval" in text
    assert f"{treated.mean() - held.mean():,.2f}" in text


def test_import_refuses_a_bad_row_and_stores_nothing(results: Path, cli_env: str) -> None:
    results.write_text(RESULTS.replace("X2;A;12,25;1", "X2;A;twelve;1"), encoding="utf-8")
    refused = _refused(app, "import", "campaign-results", str(results), "--name", "bad")
    assert refused.code == "experiment.bad_row"
    assert "row 6, column 'revenue' ('twelve'): not a number" in refused.message
    assert _counts(cli_env) == (0, 0)


def test_import_json_and_the_same_name_twice(results: Path, cli_env: str) -> None:
    summary = json.loads(
        _ok(app, "import", "campaign-results", str(results), "--name", "x", "--json")
    )
    assert (summary["rows"], summary["matched"], summary["unmatched"]) == (8, 2, 6)
    assert summary["metrics"] == ["revenue", "orders"]
    assert summary["replaced"] is False
    refused = _refused(app, "import", "campaign-results", str(results), "--name", "x")
    assert refused.code == "experiment.exists"
    results.write_text(RESULTS.replace("holdout", "control"), encoding="utf-8")
    again = json.loads(
        _ok(
            app,
            "import",
            "campaign-results",
            str(results),
            "--name",
            "x",
            "--holdout",
            "control",
            "--replace",
            "--json",
        )
    )
    assert (again["replaced"], again["holdout"]) == (True, "control")
    assert _counts(cli_env) == (1, 8)


def test_an_unknown_experiment_is_named(cli_env: str) -> None:
    refused = _refused(reports_app, "experiment", "nope")
    assert refused.code == "experiment.not_found"


@pytest.fixture
def campaign(cli_env: str) -> str:
    """A finished campaign: two held out (one bought 20.00), two treated (one bought 50.00)."""
    engine = make_engine(cli_env)
    with session_factory(engine).begin() as session:
        built = Campaign(
            key="spring",
            name="Spring",
            kind="one_off",
            status="done",
            variants=[{"name": "A", "template": "t", "weight": 1}],
            window_days=30,
        )
        session.add(built)
        session.flush()
        for n, group in enumerate(("holdout", "holdout", "A", "A")):
            customer = make.customer(session)
            row = CampaignMember(
                campaign_id=built.id,
                customer_id=customer.id,
                group=group,
                assigned_at=make.at(0),
            )
            session.add(row)
            session.flush()
            if n in (0, 2):
                price = "20.00" if group == "holdout" else "50.00"
                make.order(
                    session, customer, placed_at=make.at(3), lines=[make.line(unit_price=price)]
                )
            if group == "A":
                session.add(_message(built, row, "sent" if n == 2 else "bounced"))
    engine.dispose()
    return cli_env


def _message(campaign: Campaign, row: CampaignMember, status: str) -> Message:
    values: dict[str, Any] = {
        "key": f"c{campaign.id}:{row.customer_id}:",
        "campaign_id": campaign.id,
        "member_id": row.id,
        "customer_id": row.customer_id,
        "variant": row.group,
        "channel": "email",
        "purpose": "marketing",
        "language": "en",
        "recipient": "a@example.org",
        "subject": "s",
        "html": "<p>x</p>",
        "text": "x",
        "status": status,
        "send_after": make.at(0),
    }
    return Message(**values)


def test_the_campaign_report(campaign: str) -> None:
    document = json.loads(_ok(reports_app, "report", "spring", "--json"))
    assert document["campaign"]["key"] == "spring"
    assert document["window"]["so_far"] is False
    total = document["delivery"]["total"]
    assert (total["assigned"], total["sent"], total["delivered"], total["bounced"]) == (2, 2, 1, 1)
    assert (total["opened"], total["clicked"]) == (0, 0)  # tracking is on by default
    assert document["delivery"]["holdout"] == 2
    totals = {row["group"]: row for row in document["totals"]}
    assert totals["treatment"]["revenue"] == "50.0000"  # money exact, as text
    assert totals["holdout"]["revenue"] == "20.0000"
    revenue = document["uplift"]["overall"]["revenue"]
    assert revenue["difference"] == pytest.approx(25.0 - 10.0)
    assert revenue["incremental"] == pytest.approx(30.0)
    # treated [50, 0] against held out [20, 0]: Welch–Satterthwaite by hand
    a, b = 1250 / 2, 200 / 2
    df = (a + b) ** 2 / (a**2 + b**2)
    half = stats.t.ppf(0.975, df) * math.sqrt(a + b)
    assert revenue["interval"] == pytest.approx([15 - half, 15 + half], rel=1e-9)
    text = _ok(reports_app, "report", "spring")
    assert "Spring (spring, done, email)" in text
    assert "every window is over" in text
    assert "holdout: 2 customers" in text
    assert "margin: per customer, treated − holdout" in text


def test_an_unknown_campaign_is_named(cli_env: str) -> None:
    refused = _refused(reports_app, "report", "autumn")
    assert refused.code == "campaign.not_found"
