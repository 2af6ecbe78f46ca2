"""Experiments run outside Patron (another mail tool, a shop test, a call campaign): their
per-customer results imported from a file, and the same uplift report as a campaign's.

A file has one row per customer: ``customer`` (the shop's customer id, or Patron's number),
``group`` (the holdout's name or a variant's) and one numeric column per outcome (revenue,
orders, anything measured). CSV (UTF-8, ``,`` or ``;`` — with ``;`` a decimal comma is read
too), Excel (.xlsx, first sheet) or Parquet, read like every import (``customers.importer``).
The whole file is checked before anything is stored: one bad row stores nothing and the error
names its row (the line of a CSV, header = 1; the sheet row of Excel; the record of Parquet),
column and what was wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.customers.importer.sources import Source, open_source
from patron.customers.models import Customer
from patron.engage import uplift
from patron.engage.holdout import HOLDOUT
from patron.engage.models import Experiment, ExperimentResult
from patron.errors import Conflict, NotFound, PatronError

CUSTOMER, GROUP = "customer", "group"
KEY_MAX, GROUP_MAX, NAME_MAX = 64, 32, 200
SHOWN_ERRORS = 20
CHUNK = 1_000  # ids per IN (…) and rows per INSERT
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
GROUPED = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?")  # 1.234,5 where ";" separates


class ExperimentError(PatronError):
    """A file or request an experiment cannot be imported from; nothing was stored."""

    code = "experiment.invalid"
    status = 422


class BadRows(ExperimentError):
    code = "experiment.bad_row"


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    value: str | None
    reason: str


@dataclass(frozen=True)
class ExperimentSummary:
    """What an import stored."""

    name: str
    file: str
    format: str
    rows: int
    metrics: tuple[str, ...]
    holdout: str
    groups: dict[str, int]
    matched: int  # rows whose customer is one of Patron's
    replaced: bool

    @property
    def unmatched(self) -> int:
        return self.rows - self.matched


@dataclass(frozen=True)
class ExperimentInfo:
    name: str
    file_name: str
    holdout: str
    metrics: tuple[str, ...]
    rows: int
    matched: int
    groups: dict[str, int]
    imported_at: datetime


@dataclass(frozen=True)
class ExperimentReport:
    experiment: ExperimentInfo
    report: uplift.Report


# --- reading the file ------------------------------------------------------------------------


@dataclass
class _Read:
    metrics: tuple[str, ...]
    customers: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    outcomes: list[dict[str, float]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    bad_rows: set[int] = field(default_factory=set)

    def refuse(self, row: int, column: str, value: str | None, reason: str) -> None:
        self.bad_rows.add(row)
        if len(self.problems) < SHOWN_ERRORS:
            self.problems.append(RowProblem(row, column, value, reason))


def _read_results(path: Path, *, holdout: str = HOLDOUT) -> tuple[Source, _Read]:
    """The rows of a results file, checked; ``BadRows`` (nothing read) when any is wrong."""
    source = open_source(path)
    columns = _columns(source)
    read = _Read(metrics=tuple(name for name in source.header if name not in columns.values()))
    decimal_comma = source.delimiter == ";"
    seen: dict[str, int] = {}
    for row, values in _records(source):
        _row(read, row, values, columns, decimal_comma, seen)
    for row, reason in source.malformed:
        read.refuse(row, "", None, reason)
    if read.problems:
        raise _bad_rows(path, read)
    if not read.customers:
        raise ExperimentError(f"{path.name} holds no rows of results", code="experiment.empty")
    _check_groups(path, read, holdout)
    return source, read


def _columns(source: Source) -> dict[str, str]:
    """The file's names of the ``customer`` and ``group`` columns (any case); every other
    column is an outcome."""
    by_lower = {name.strip().lower(): name for name in source.header}
    missing = [wanted for wanted in (CUSTOMER, GROUP) if wanted not in by_lower]
    if missing:
        raise ExperimentError(
            f"{source.path.name} has no column {' and no column '.join(missing)}: a results "
            f"file needs {CUSTOMER!r}, {GROUP!r} and one column per outcome "
            f"(found {', '.join(source.header)})",
            code="experiment.missing_column",
            details={"missing": missing, "header": source.header},
        )
    columns = {wanted: by_lower[wanted] for wanted in (CUSTOMER, GROUP)}
    if len(source.header) == 2:
        raise ExperimentError(
            f"{source.path.name} has no outcome column beside {CUSTOMER!r} and {GROUP!r}",
            code="experiment.no_outcomes",
        )
    return columns


def _records(source: Source) -> Iterator[tuple[int, dict[str, str | None]]]:
    for batch in source.batches():
        names = list(batch.columns)
        values = [batch.columns[name].to_pylist() for name in names]
        for i, row in enumerate(batch.lines.tolist()):
            yield int(row), {name: column[i] for name, column in zip(names, values, strict=True)}


def _row(
    read: _Read,
    row: int,
    values: dict[str, str | None],
    columns: dict[str, str],
    decimal_comma: bool,
    seen: dict[str, int],
) -> None:
    customer = (values[columns[CUSTOMER]] or "").strip()
    group = (values[columns[GROUP]] or "").strip()
    if not customer:
        read.refuse(row, columns[CUSTOMER], None, "no customer")
    elif len(customer) > KEY_MAX:
        read.refuse(row, columns[CUSTOMER], customer, f"longer than {KEY_MAX} characters")
    elif customer in seen:
        read.refuse(row, columns[CUSTOMER], customer, f"the same customer as row {seen[customer]}")
    if not group:
        read.refuse(row, columns[GROUP], None, "no group")
    elif len(group) > GROUP_MAX:
        read.refuse(row, columns[GROUP], group, f"longer than {GROUP_MAX} characters")
    outcomes: dict[str, float] = {}
    for metric in read.metrics:
        raw = values[metric]
        number, reason = _number(raw, decimal_comma)
        if reason is not None:
            read.refuse(row, metric, raw, reason)
        else:
            outcomes[metric] = number
    if customer and customer not in seen:
        seen[customer] = row
    if row not in read.bad_rows:
        read.customers.append(customer)
        read.groups.append(group)
        read.outcomes.append(outcomes)


def _number(raw: str | None, decimal_comma: bool) -> tuple[float, str | None]:
    """The outcome's value, or why it is not one."""
    text = (raw or "").strip()
    if not text:
        return 0.0, "no value (write 0 for a customer without this outcome)"
    if decimal_comma and "," in text:
        if GROUPED.fullmatch(text):
            text = text.replace(".", "")
        text = text.replace(",", ".", 1) if text.count(",") == 1 else text
    if not NUMBER.fullmatch(text):
        comma = " (a decimal comma only where ';' separates the columns)" if "," in text else ""
        return 0.0, f"not a number{comma}"
    value = float(text)
    if not math.isfinite(value):
        return 0.0, "too large a number"
    return value, None


def _bad_rows(path: Path, read: _Read) -> BadRows:
    first = read.problems[0]
    where = f"row {first.row}" + (f", column {first.column!r}" if first.column else "")
    shown = f" ({first.value!r})" if first.value is not None else ""
    more = len(read.bad_rows) - 1
    also = f" (and {more} more bad row{'s' if more != 1 else ''})" if more > 0 else ""
    return BadRows(
        f"{path.name}, {where}{shown}: {first.reason}{also}; nothing was imported",
        details={
            "file": path.name,
            "bad_rows": len(read.bad_rows),
            "errors": [problem.__dict__ for problem in read.problems],
        },
    )


def _check_groups(path: Path, read: _Read, holdout: str) -> None:
    """Without a holdout, or with nobody treated, there is nothing to compare: most often the
    holdout has another name in the file."""
    found = sorted(set(read.groups))
    if holdout not in found:
        raise ExperimentError(
            f"{path.name}: no row is in the holdout group {holdout!r} (groups: "
            f"{', '.join(found)}); name the holdout group with --holdout",
            code="experiment.no_holdout",
            details={"groups": found, "holdout": holdout},
        )
    if found == [holdout]:
        raise ExperimentError(
            f"{path.name}: every row is in the holdout group {holdout!r}; nobody was treated",
            code="experiment.no_treatment",
            details={"groups": found, "holdout": holdout},
        )


# --- storing ---------------------------------------------------------------------------------


def import_results(
    session: Session,
    *,
    path: Path,
    name: str,
    holdout: str = HOLDOUT,
    replace: bool = False,
    now: datetime,
) -> ExperimentSummary:
    """Store a results file as the experiment ``name`` (``replace`` overwrites one of that
    name; without it, the same name twice is a ``Conflict``). Commits; stores nothing when any
    row is bad."""
    name, holdout = _checked_name(name), _checked_holdout(holdout)
    existing = session.scalar(select(Experiment).where(Experiment.name == name))
    if existing is not None and not replace:
        raise Conflict(
            f"an experiment named {name!r} exists already: choose another name, or replace it",
            code="experiment.exists",
            details={"name": name},
        )
    source, read = _read_results(path, holdout=holdout)
    ids = _match(session, read.customers)
    if existing is not None:
        session.execute(
            delete(ExperimentResult).where(ExperimentResult.experiment_id == existing.id)
        )
        session.delete(existing)
        session.flush()
    experiment = Experiment(
        name=name,
        file_name=path.name[:500],
        holdout=holdout,
        metrics=list(read.metrics),
        rows=len(read.customers),
        imported_at=now,
    )
    session.add(experiment)
    try:
        session.flush()
        _store_rows(session, experiment.id, read, ids)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"an experiment named {name!r} was imported at the same time", code="experiment.exists"
        ) from None
    return ExperimentSummary(
        name=name,
        file=path.name,
        format=source.format,
        rows=len(read.customers),
        metrics=read.metrics,
        holdout=holdout,
        groups=_counted(read.groups),
        matched=sum(1 for key in read.customers if key in ids),
        replaced=existing is not None,
    )


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ExperimentError(
            f"an experiment needs a name of 1 to {NAME_MAX} characters",
            code="experiment.bad_name",
            details={"field": "name"},
        )
    return name


def _checked_holdout(holdout: str) -> str:
    holdout = holdout.strip()
    if not holdout or len(holdout) > GROUP_MAX:
        raise ExperimentError(
            f"the holdout group needs a name of 1 to {GROUP_MAX} characters",
            code="experiment.bad_holdout",
            details={"field": "holdout"},
        )
    return holdout


def _match(session: Session, keys: Sequence[str]) -> dict[str, int]:
    """Patron's customer for each key it knows: by the shop's id first, else by number."""
    found: dict[str, int] = {}
    for chunk in _chunks(list(keys)):
        query = select(Customer.external_id, Customer.id).where(Customer.external_id.in_(chunk))
        found |= {str(key): int(customer_id) for key, customer_id in session.execute(query)}
    # Patron's numbers as written ("42", not "042"), within BIGINT
    numbers = {
        int(key): key
        for key in keys
        if key not in found and key.isdigit() and len(key) < 19 and str(int(key)) == key
    }
    for chunk in _chunks(list(numbers)):
        by_number = select(Customer.id).where(Customer.id.in_(chunk))
        found |= {numbers[int(number)]: int(number) for number in session.scalars(by_number)}
    return found


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _store_rows(session: Session, experiment_id: int, read: _Read, ids: dict[str, int]) -> None:
    rows = [
        {
            "experiment_id": experiment_id,
            "customer": key,
            "customer_id": ids.get(key),
            "group": group,
            "outcomes": outcomes,
        }
        for key, group, outcomes in zip(read.customers, read.groups, read.outcomes, strict=True)
    ]
    for chunk in _chunks(rows):
        session.execute(insert(ExperimentResult), chunk)


def _counted(groups: Sequence[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for group in groups:
        counted[group] = counted.get(group, 0) + 1
    return dict(sorted(counted.items()))


# --- reading them back -----------------------------------------------------------------------


def experiments(session: Session) -> list[ExperimentInfo]:
    """Every imported experiment, the newest first."""
    found = session.scalars(
        select(Experiment).order_by(Experiment.imported_at.desc(), Experiment.name)
    )
    listed = list(found)
    counts = _group_counts(session, [experiment.id for experiment in listed])
    return [_info(experiment, *counts.get(experiment.id, ({}, 0))) for experiment in listed]


def experiment_report(session: Session, *, name: str, confidence: float = 0.95) -> ExperimentReport:
    """Every treated customer, and each variant, against the holdout, per outcome."""
    experiment = session.scalar(select(Experiment).where(Experiment.name == name))
    if experiment is None:
        raise NotFound(f"no experiment named {name!r}", code="experiment.not_found")
    rows = session.execute(
        select(ExperimentResult.group, ExperimentResult.outcomes)
        .where(ExperimentResult.experiment_id == experiment.id)
        .order_by(ExperimentResult.id)
    ).all()
    groups = [str(group) for group, _ in rows]
    outcomes = {
        metric: [float(values[metric]) for _, values in rows] for metric in experiment.metrics
    }
    report = uplift.uplift(groups, outcomes, holdout=experiment.holdout, confidence=confidence)
    counted, matched = _group_counts(session, [experiment.id]).get(experiment.id, ({}, 0))
    return ExperimentReport(_info(experiment, counted, matched), report)


def _group_counts(session: Session, ids: Sequence[int]) -> dict[int, tuple[dict[str, int], int]]:
    """Per experiment: rows by group, and how many rows are Patron's customers."""
    out: dict[int, tuple[dict[str, int], int]] = {}
    if not ids:
        return out
    query = (
        select(
            ExperimentResult.experiment_id,
            ExperimentResult.group,
            func.count(),
            func.count(ExperimentResult.customer_id),
        )
        .where(ExperimentResult.experiment_id.in_(ids))
        .group_by(ExperimentResult.experiment_id, ExperimentResult.group)
        .order_by(ExperimentResult.experiment_id, ExperimentResult.group)
    )
    for experiment_id, group, rows, matched in session.execute(query):
        groups, so_far = out.get(experiment_id, ({}, 0))
        groups[str(group)] = int(rows)
        out[experiment_id] = (groups, so_far + int(matched))
    return out


def _info(experiment: Experiment, groups: dict[str, int], matched: int) -> ExperimentInfo:
    return ExperimentInfo(
        name=experiment.name,
        file_name=experiment.file_name,
        holdout=experiment.holdout,
        metrics=tuple(experiment.metrics),
        rows=experiment.rows,
        matched=matched,
        groups=groups,
        imported_at=experiment.imported_at,
    )
