"""``patron clv fit`` and ``patron analyze``: published values from a file, scores of the store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from patron.analytics.columns import SCORES
from patron.cli import app
from patron.db import make_engine
from patron.demo import service as demo
from patron.errors import PatronError

runner = CliRunner(env={"COLUMNS": "200"})
# Fader, Hardie & Lee (2005), and Fader & Hardie's Pareto/NBD and Gamma-Gamma notes
PUBLISHED = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "pnbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
    "gg": {"p": 6.25, "q": 3.74, "v": 15.44},
}


@pytest.fixture(scope="module")
def sample_csv(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDNOW sample in Patron's canonical order layout (the sample file has no header)."""
    rows = np.loadtxt(shared_data / "cdnow" / "CDNOW_sample.txt", dtype=str)
    table = pa.table(
        {
            "order_id": [f"S{i}" for i in range(rows.shape[0])],
            "customer_id": rows[:, 1],
            "placed_at": [f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in rows[:, 2]],
            "quantity": rows[:, 3],
            "amount": rows[:, 4],
        }
    )
    path = tmp_path_factory.mktemp("cdnow") / "cdnow_sample.csv"
    pcsv.write_csv(table, path)
    return path


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_clv_fit_prints_the_published_parameters_as_json(sample_csv: Path, model: str) -> None:
    result = runner.invoke(
        app,
        [
            "clv",
            "fit",
            str(sample_csv),
            "--model",
            model,
            "--calibration-end",
            "1997-09-30",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.stdout)
    for name, value in PUBLISHED[model].items():
        assert fitted["params"][name] == pytest.approx(value, rel=2e-3), name
        assert fitted["standard_errors"][name] > 0
    assert fitted["log_likelihood"] < 0
    assert fitted["fit_seconds"] > 0
    assert fitted["time_unit"] == "week"
    assert fitted["customers_in_period"] == 2357
    assert fitted["repeat_purchases"] == 2457
    assert fitted["customers"] == (946 if model == "gg" else 2357)


def test_clv_fit_shows_a_table_without_json(sample_csv: Path) -> None:
    result = runner.invoke(
        app, ["clv", "fit", str(sample_csv), "--model", "bgnbd", "--calibration-end", "1997-09-30"]
    )
    assert result.exit_code == 0, result.output
    assert "alpha" in result.stdout
    assert "log-likelihood -9582" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["--model", "nbd", "--calibration-end", "1997-09-30"], "clv.invalid_data"),
        (["--model", "bgnbd", "--calibration-end", "30.09.1997"], "cli.invalid_date"),
        (
            ["--model", "bgnbd", "--calibration-end", "1997-09-30", "--time-unit", "fortnight"],
            "analytics.invalid_period",
        ),
    ],
)
def test_clv_fit_names_bad_options(sample_csv: Path, arguments: list[str], code: str) -> None:
    result = runner.invoke(app, ["clv", "fit", str(sample_csv), *arguments, "--json"])
    assert isinstance(result.exception, PatronError)
    assert result.exception.code == code


def test_a_file_with_bad_rows_is_refused_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,placed_at,quantity,amount\n"
        "1,a,2024-01-01,1,10.00\n"
        "2,a,2024-13-45,1,10.00\n"
        "3,b,2024-01-03,1,ten\n"
    )
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert isinstance(result.exception, PatronError)
    assert result.exception.code == "analytics.bad_file"
    assert [(e["row"], e["field"]) for e in result.exception.details["errors"]] == [
        (3, "placed_at"),
        (4, "amount"),
    ]
    # --skip-invalid analyses the rest
    result = runner.invoke(
        app, ["analyze", str(path), "--skip-invalid", "--holdout-share", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customers"] == 1


def test_analyze_file_writes_scores_and_a_report(sample_csv: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "scores.parquet", tmp_path / "report.html"
    result = runner.invoke(
        app,
        [
            "analyze",
            str(sample_csv),
            "--out",
            str(out),
            "--report",
            str(report),
            "--end",
            "1997-09-30",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["customers"] == 2357
    assert figures["snapshot_id"] is None
    scores = pq.read_table(out)
    assert scores.column_names == [c.name for c in SCORES]
    assert scores.num_rows == 2357
    assert int(np.asarray(scores["frequency"]).sum()) == 2457
    assert figures["counts"]["abc"] == {
        k: int(v)
        for k, v in zip(*np.unique(np.asarray(scores["abc"]), return_counts=True), strict=True)
    }
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lower().startswith("<!doctype html>")
    assert "<svg" in html


def test_analyze_file_writes_csv_and_refuses_other_formats(
    sample_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["analyze", str(sample_csv), "--out", str(out), "--holdout-share", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "2,357 customers scored" in result.stdout
    assert pcsv.read_csv(out).num_rows == 2357
    result = runner.invoke(
        app, ["analyze", str(sample_csv), "--out", str(tmp_path / "scores.xlsx"), "--json"]
    )
    assert isinstance(result.exception, PatronError)
    assert result.exception.code == "analytics.unknown_output"


def test_analyze_scores_the_store_and_keeps_a_snapshot(cli_env: str) -> None:
    demo.generate(make_engine(cli_env), customers=200, seed=2)
    result = runner.invoke(app, ["analyze", "--holdout-share", "0", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["customers"] == 200
    assert figures["snapshot_id"] > 0
    assert sum(figures["counts"]["lifecycle_phase"].values()) == 200
    again = json.loads(
        runner.invoke(app, ["analyze", "--holdout-share", "0", "--keep", "1", "--json"]).stdout
    )
    assert again["snapshot_id"] > figures["snapshot_id"]


def test_analyze_takes_the_rule_tables_from_a_file(sample_csv: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[segments]]\nname = "recent"\nr = [4, 5]\nf = [1, 5]\n\n'
        '[[segments]]\nname = "the rest"\nr = [1, 3]\nf = [1, 5]\n\n'
        "[lifecycle]\nexploration_purchase_days = 1\n"
    )
    result = runner.invoke(
        app, ["analyze", str(sample_csv), "--rules", str(rules), "--holdout-share", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]
    assert set(counts["rfm_segment"]) == {"recent", "the rest"}
    # with exploration at one purchase day, the one-time buyers alone explore
    default = json.loads(
        runner.invoke(app, ["analyze", str(sample_csv), "--holdout-share", "0", "--json"]).stdout
    )["counts"]
    assert counts["lifecycle_phase"]["exploration"] < default["lifecycle_phase"]["exploration"]
