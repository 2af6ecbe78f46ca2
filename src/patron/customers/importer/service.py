"""The import use case: read, validate, stage and merge one file in one transaction.

All-or-nothing by default: if any row is bad, nothing is stored and every bad row is listed.
With ``skip_invalid`` the good rows are stored and the bad ones reported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, insert

from patron.customers.importer import merge_master, merge_orders
from patron.customers.importer.convert import Converted, Converter, RowError
from patron.customers.importer.layouts import Kind, Layout, canonical, recognise
from patron.customers.importer.lines import derive_lines
from patron.customers.importer.sources import Source, open_source
from patron.customers.importer.sql import Sql
from patron.customers.importer.staging import StageColumn, create_stage, stage_rows
from patron.customers.importer.summary import ErrorLog, ImportSummary
from patron.customers.models import ImportRun
from patron.db import utcnow
from patron.errors import ImportFailed, PatronError

Progress = Callable[[int, int, int], None]  # rows so far, bytes read, bytes in all


@dataclass
class ImportOptions:
    kind: Kind
    timezone: str = "UTC"
    currency: str = "EUR"
    mapping: dict[str, str] = field(default_factory=dict)
    skip_invalid: bool = False
    errors_path: Path | None = None
    date_format: str | None = None
    encoding: str | None = None


def import_file(
    engine: Engine, *, path: Path, options: ImportOptions, progress: Progress | None = None
) -> ImportSummary:
    started, clock = utcnow(), time.perf_counter()
    _check_options(options)
    source = open_source(path, encoding=options.encoding)
    layout = (
        canonical(options.kind, source.header, options.mapping)
        if options.mapping
        else recognise(options.kind, source.header)
    )
    summary = ImportSummary(
        file=str(path),
        kind=options.kind.value,
        layout=layout.name,
        format=source.format,
        encoding=source.encoding,
        delimiter=source.delimiter,
    )
    errors = ErrorLog(options.errors_path or Path.cwd() / f"{path.name}.errors.csv")
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            sql = Sql(connection, started)
            _run(sql, source, layout, options, summary, errors, progress)
            summary.rows_rejected = len(errors.lines)
            summary.errors = errors.shown()
            summary.errors_file = str(errors.path) if errors.count else None
            if errors.count and not options.skip_invalid:
                transaction.rollback()
                _finish(summary, clock)
                raise ImportFailed(
                    f"{len(errors.lines)} of {summary.rows_read} rows are invalid, so nothing was "
                    f"imported; every bad row is listed in {errors.path}. Fix them, or re-run "
                    "with --skip-invalid to import the valid rows.",
                    code="import.bad_rows",
                    details=summary.to_dict(),
                )
            summary.stored = True
            summary.changed = _changed(summary.counts)
            _finish(summary, clock)
            connection.execute(
                insert(ImportRun).values(
                    kind=options.kind.value,
                    file_name=str(path),
                    layout=layout.name,
                    started_at=started,
                    finished_at=utcnow(),
                    summary=summary.to_dict(),
                )
            )
    finally:
        errors.close()
    return summary


def _check_options(options: ImportOptions) -> None:
    """Options come from the command line unchecked; refuse them before reading the file."""
    try:
        ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PatronError(
            f"unknown time zone {options.timezone!r}: use an IANA name such as Europe/Berlin",
            code="import.bad_option",
        ) from None
    if not re.fullmatch(r"[A-Z]{3}", options.currency):
        raise PatronError(
            f"currency {options.currency!r} is not a three-letter ISO 4217 code such as EUR",
            code="import.bad_option",
        )


def _finish(summary: ImportSummary, clock: float) -> None:
    summary.seconds = round(time.perf_counter() - clock, 3)
    summary.rows_per_second = round(summary.rows_read / summary.seconds) if summary.seconds else 0


def _changed(counts: dict[str, int]) -> bool:
    return any(
        value
        for name, value in counts.items()
        if name.endswith(("_created", "_updated", "_removed", "_linked"))
    )


def _run(
    sql: Sql,
    source: Source,
    layout: Layout,
    options: ImportOptions,
    summary: ImportSummary,
    errors: ErrorLog,
    progress: Progress | None,
) -> None:
    orders = layout.kind is Kind.orders
    present = set(layout.columns)
    columns: list[StageColumn] = (
        list(merge_orders.COLUMNS) if orders else merge_master.stage_columns(layout.kind, present)
    )
    create_stage(sql.connection, columns)
    converter = Converter(layout, timezone=options.timezone, date_format=options.date_format)
    duplicates = DuplicateCounter()
    for batch in source.batches():
        summary.rows_read += len(batch.lines)
        rows = converter.convert(batch)
        if orders:
            rows, kinds = derive_lines(rows, layout, currency=options.currency)
            duplicates.add(rows.columns)
            for name, value in kinds.items():
                summary.line_kinds[name] = summary.line_kinds.get(name, 0) + value
        errors.add(rows.errors)
        stage_rows(sql.connection, columns, _stage_data(rows, layout), rows.num_rows)
        if progress:
            progress(summary.rows_read, source.bytes_read, source.bytes_total)
    summary.rows_read += len(source.malformed)
    summary.blank_lines = source.blank_lines
    errors.add([RowError(line, "(row)", None, reason) for line, reason in source.malformed])
    if orders:
        merge_orders.prepare(sql, synthesize_keys=layout.synthesize_order_id)
        _reject(sql, merge_orders.conflicts(sql), errors, options)
        if errors.count and not options.skip_invalid:
            return
        counts = merge_orders.merge(
            sql, return_kind="cancellation" if layout.cancellation_prefix else "return"
        )
        summary.line_kinds["duplicate_lines"] = duplicates.count()
        summary.counts = asdict(counts)
    else:
        merge_master.prepare(sql)
        _reject(sql, merge_master.repeated_keys(sql, layout.kind), errors, options)
        if errors.count and not options.skip_invalid:
            return
        master = merge_master.merge(sql, layout.kind, present)
        noun = layout.kind.value
        summary.counts = {f"{noun}_{k}": v for k, v in asdict(master).items()}


def _reject(sql: Sql, found: list[RowError], errors: ErrorLog, options: ImportOptions) -> None:
    errors.add(found)
    if found and options.skip_invalid:
        merge_orders.drop_rows(sql, sorted({error.line for error in found}))


def _stage_data(rows: Converted, layout: Layout) -> dict[str, pa.Array | None]:
    cols = rows.columns
    data: dict[str, pa.Array | None] = dict(cols)
    data["row_no"] = pa.array(rows.lines, pa.int64())
    if layout.kind is not Kind.orders:
        return data
    data["customer_key"] = cols.get("customer_id")
    if layout.synthesize_order_id:
        day = pc.strftime(cols["placed_at"], format="%Y%m%d")
        data["order_key"] = pc.binary_join_element_wise(cols["customer_id"], day, "-")
    else:
        data["order_key"] = cols.get("order_id")
    return data


class DuplicateCounter:
    """Counts lines identical in every field to another line of the file (they are kept).

    Keeps one 64-bit hash per line (8 bytes a line) and counts repeats at the end; a collision
    among a million lines has a chance of about 10^-7.
    """

    def __init__(self) -> None:
        self._hashes: list[np.ndarray] = []

    def add(self, columns: dict[str, pa.Array]) -> None:
        names = sorted(columns)
        texts = [
            pc.fill_null(columns[n], "\x00") for n in names if pa.types.is_string(columns[n].type)
        ]
        joined = pc.binary_join_element_wise(*texts, "\x1f") if texts else None
        n = len(next(iter(columns.values()))) if columns else 0
        hashes = (
            np.fromiter((hash(text) for text in joined.to_pylist()), dtype=np.int64, count=n)
            if joined is not None
            else np.zeros(n, dtype=np.int64)
        )
        with np.errstate(over="ignore"):
            for name in names:
                column = columns[name]
                if pa.types.is_string(column.type):
                    continue
                values = pc.fill_null(column.cast(pa.int64()), -(2**62)).to_numpy(
                    zero_copy_only=False
                )
                hashes = hashes * np.int64(1_000_003) + values.astype(np.int64)
        self._hashes.append(hashes)

    def count(self) -> int:
        if not self._hashes:
            return 0
        everything = np.concatenate(self._hashes)
        return int(len(everything) - len(np.unique(everything)))
