"""Imported experiments on SQLite and PostgreSQL: CSV (``,`` and ``;`` with decimal commas),
Excel and Parquet read alike; a bad row is named and stores nothing; a name is taken once unless
replaced; the report equals an independent Welch computation (scipy) on the file's numbers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook
from scipy import stats
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.engage import experiments
from patron.engage.models import Experiment, ExperimentResult
from patron.errors import Conflict, NotFound, PatronError

NOW = make.at(100)
# customer, group, revenue, orders: K1–K3 are the shop's ids of Patron customers, "X-9" is
# unknown; the customer numbered by ``number`` is matched by Patron's own number.
ROWS: list[tuple[str, str, float, float]] = [
    ("K1", "holdout", 10.0, 1.0),
    ("K2", "holdout", 0.0, 0.0),
    ("X-9", "holdout", 25.5, 2.0),
    ("K3", "A", 40.25, 3.0),
    ("X-10", "A", 12.5, 1.0),
    ("X-11", "A", 0.0, 0.0),
    ("X-12", "B", 99.0, 4.0),
    ("X-13", "B", 5.0, 1.0),
]


@pytest.fixture
def known(sessions: sessionmaker[Session]) -> int:
    """Patron's customers K1–K3, and one more whose number the file uses."""
    with sessions.begin() as session:
        for key in ("K1", "K2", "K3"):
            make.customer(session, external_id=key)
        return make.customer(session, external_id=None).id


def _rows(number: int) -> list[tuple[str, str, float, float]]:
    return [*ROWS, (str(number), "B", 7.0, 1.0)]


def write_csv(path: Path, rows: list[tuple[str, str, float, float]], sep: str = ",") -> Path:
    def shown(value: float) -> str:
        text = f"{value:g}"
        return text.replace(".", ",") if sep == ";" else text

    lines = [sep.join(("customer", "group", "revenue", "orders"))]
    lines += [sep.join((c, g, shown(r), shown(o))) for c, g, r, o in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_xlsx(path: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Customer", "Group", "revenue", "orders"])  # any case
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def write_parquet(path: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    table = pa.table(
        {
            "customer": [r[0] for r in rows],
            "group": [r[1] for r in rows],
            "revenue": pa.array([r[2] for r in rows], pa.float64()),
            "orders": pa.array([int(r[3]) for r in rows], pa.int64()),
        }
    )
    pq.write_table(table, path)
    return path


WRITERS = {
    "csv": lambda path, rows: write_csv(path.with_suffix(".csv"), rows),
    "semicolon csv": lambda path, rows: write_csv(path.with_suffix(".csv"), rows, sep=";"),
    "xlsx": lambda path, rows: write_xlsx(path.with_suffix(".xlsx"), rows),
    "parquet": lambda path, rows: write_parquet(path.with_suffix(".parquet"), rows),
}


def _stored(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Experiment)) or 0,
        session.scalar(select(func.count()).select_from(ExperimentResult)) or 0,
    )


@pytest.mark.parametrize("kind", list(WRITERS))
def test_each_format_imports_the_same_results(
    sessions: sessionmaker[Session], known: int, tmp_path: Path, kind: str
) -> None:
    path = WRITERS[kind](tmp_path / "results", _rows(known))
    with sessions() as session:
        summary = experiments.import_results(session, path=path, name="spring test", now=NOW)
    assert summary.rows == 9
    assert summary.metrics == ("revenue", "orders")
    assert summary.groups == {"A": 3, "B": 3, "holdout": 3}
    assert (summary.matched, summary.unmatched) == (4, 5)
    assert summary.replaced is False
    with sessions() as session:
        stored = {
            row.customer: (row.group, row.outcomes, row.customer_id)
            for row in session.scalars(select(ExperimentResult))
        }
        ids = dict(session.execute(select(Experiment.name, Experiment.id)).all())
    assert set(ids) == {"spring test"}
    assert stored["K3"][:2] == ("A", {"revenue": 40.25, "orders": 3.0})
    assert stored["X-9"] == ("holdout", {"revenue": 25.5, "orders": 2.0}, None)
    assert stored[str(known)][2] == known
    assert stored["K1"][2] is not None


def test_a_semicolon_csv_reads_decimal_commas_and_thousands(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "de.csv"
    path.write_text(
        "customer;group;Umsatz\n1;holdout;1.234,5\n2;holdout;0,25\n3;A;-3\n4;A;7.5\n",
        encoding="utf-8",
    )
    with sessions() as session:
        summary = experiments.import_results(session, path=path, name="de", now=NOW)
        values = dict(
            session.execute(select(ExperimentResult.customer, ExperimentResult.outcomes)).all()
        )
    assert summary.metrics == ("Umsatz",)
    assert values == {
        "1": {"Umsatz": 1234.5},
        "2": {"Umsatz": 0.25},
        "3": {"Umsatz": -3.0},
        "4": {"Umsatz": 7.5},
    }


def test_bad_rows_are_named_and_nothing_is_stored(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [*ROWS]
    path = write_csv(tmp_path / "bad.csv", rows)
    text = path.read_text(encoding="utf-8").splitlines()
    text[3] = "X-9,holdout,lots,2"  # line 4: revenue is not a number
    text[6] = "X-11,,0,0"  # line 7: no group
    text[7] = "K1,B,1,1"  # line 8: K1 again (line 2)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with sessions() as session:
        with pytest.raises(experiments.BadRows) as refused:
            experiments.import_results(session, path=path, name="bad", now=NOW)
        assert _stored(session) == (0, 0)
    error = refused.value
    assert error.code == "experiment.bad_row"
    assert error.message == (
        "bad.csv, row 4, column 'revenue' ('lots'): not a number (and 2 more bad rows); "
        "nothing was imported"
    )
    assert [(e["row"], e["column"], e["reason"]) for e in error.details["errors"]] == [
        (4, "revenue", "not a number"),
        (7, "group", "no group"),
        (8, "customer", "the same customer as row 2"),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("", "no value"), ("nan", "not a number"), ("1e999", "too large"), ("1_000", "not a number")],
)
def test_an_outcome_must_be_a_finite_number(
    sessions: sessionmaker[Session], tmp_path: Path, value: str, reason: str
) -> None:
    path = tmp_path / "one.csv"
    path.write_text(f"customer,group,revenue\na,holdout,1\nb,A,{value}\n", encoding="utf-8")
    with sessions() as session, pytest.raises(experiments.BadRows) as refused:
        experiments.import_results(session, path=path, name="one", now=NOW)
    assert refused.value.details["errors"][0]["row"] == 3
    assert reason in refused.value.details["errors"][0]["reason"]


def test_a_decimal_comma_needs_semicolons(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "tabs.csv"
    path.write_text('customer,group,revenue\na,holdout,1\nb,A,"2,5"\n', encoding="utf-8")
    with sessions() as session, pytest.raises(experiments.BadRows) as refused:
        experiments.import_results(session, path=path, name="tabs", now=NOW)
    assert "decimal comma" in refused.value.message


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("customer,revenue\na,1\n", "experiment.missing_column"),
        ("customer,group\na,holdout\n", "experiment.no_outcomes"),
        ("customer,group,revenue\n", "experiment.empty"),
        ("customer,group,revenue\na,control,1\nb,A,2\n", "experiment.no_holdout"),
        ("customer,group,revenue\na,holdout,1\nb,holdout,2\n", "experiment.no_treatment"),
    ],
)
def test_files_that_cannot_be_compared_are_refused(
    sessions: sessionmaker[Session], tmp_path: Path, content: str, code: str
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(content, encoding="utf-8")
    with sessions() as session:
        with pytest.raises(PatronError) as refused:
            experiments.import_results(session, path=path, name="odd", now=NOW)
        assert _stored(session) == (0, 0)
    assert refused.value.code == code


def test_the_holdout_may_have_another_name(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "control.csv"
    path.write_text("customer,group,revenue\na,control,1\nb,A,2\nc,control,3\n", encoding="utf-8")
    with sessions() as session:
        summary = experiments.import_results(
            session, path=path, name="c", holdout="control", now=NOW
        )
        found = experiments.experiment_report(session, name="c")
    assert summary.holdout == "control"
    assert found.report.holdout == "control"
    assert found.report.overall["revenue"].holdout.n == 2


def test_a_name_is_taken_once_unless_replaced(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = write_csv(tmp_path / "first.csv", ROWS)
    second = write_csv(tmp_path / "second.csv", ROWS[:4] + ROWS[6:])
    with sessions() as session:
        experiments.import_results(session, path=first, name="spring", now=NOW)
        with pytest.raises(Conflict) as taken:
            experiments.import_results(session, path=second, name="spring", now=NOW)
        assert taken.value.code == "experiment.exists"
        assert _stored(session) == (1, 8)
        replaced = experiments.import_results(
            session, path=second, name="spring", replace=True, now=make.at(101)
        )
    assert replaced.replaced is True
    with sessions() as session:
        assert _stored(session) == (1, 6)
        (only,) = experiments.experiments(session)
    assert (only.name, only.file_name, only.rows, only.imported_at) == (
        "spring",
        "second.csv",
        6,
        make.at(101),
    )


def test_experiments_are_listed_newest_first_with_their_counts(
    sessions: sessionmaker[Session], known: int, tmp_path: Path
) -> None:
    with sessions() as session:
        experiments.import_results(
            session, path=write_csv(tmp_path / "a.csv", ROWS), name="old", now=make.at(1)
        )
        experiments.import_results(
            session, path=write_csv(tmp_path / "b.csv", _rows(known)), name="new", now=make.at(2)
        )
        listed = experiments.experiments(session)
    assert [(e.name, e.rows, e.matched, e.groups) for e in listed] == [
        ("new", 9, 4, {"A": 3, "B": 3, "holdout": 3}),
        ("old", 8, 3, {"A": 3, "B": 2, "holdout": 3}),
    ]
    assert listed[0].metrics == ("revenue", "orders")


def _welch(treated: list[float], held: list[float]) -> dict[str, Any]:
    """scipy's Welch test and the Welch–Satterthwaite 95 % interval, written out here."""
    x, y = np.asarray(treated), np.asarray(held)
    test = stats.ttest_ind(x, y, equal_var=False)
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    difference = x.mean() - y.mean()
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    return {
        "difference": difference,
        "interval": (difference - half, difference + half),
        "p": float(test.pvalue),
        "t": float(test.statistic),
        "incremental": difference * len(x),
    }


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_report_equals_an_independent_computation(
    sessions: sessionmaker[Session], tmp_path: Path, kind: str
) -> None:
    path = WRITERS[kind](tmp_path / "results", ROWS)
    with sessions() as session:
        experiments.import_results(session, path=path, name="x", now=NOW)
        found = experiments.experiment_report(session, name="x")
    assert found.experiment.rows == 8
    assert found.report.metrics == ("revenue", "orders")
    for position, metric in ((2, "revenue"), (3, "orders")):
        held = [row[position] for row in ROWS if row[1] == "holdout"]
        for label, treated, result in (
            ("all", [r[position] for r in ROWS if r[1] != "holdout"], found.report.overall[metric]),
            ("A", [r[position] for r in ROWS if r[1] == "A"], found.report.by_variant["A"][metric]),
            ("B", [r[position] for r in ROWS if r[1] == "B"], found.report.by_variant["B"][metric]),
        ):
            wanted = _welch(treated, held)
            assert result.difference == pytest.approx(wanted["difference"], rel=1e-12), label
            assert result.interval == pytest.approx(wanted["interval"], rel=1e-9), label
            assert result.t == pytest.approx(wanted["t"], rel=1e-9), label
            assert result.p_value == pytest.approx(wanted["p"], rel=1e-7), label
            assert result.incremental == pytest.approx(wanted["incremental"], rel=1e-12), label


def test_an_unknown_experiment_is_named(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFound) as missing:
        experiments.experiment_report(session, name="nope")
    assert "nope" in missing.value.message
