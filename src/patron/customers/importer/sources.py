"""Reading files as a stream of Arrow batches of text columns, whatever their format.

CSV/TSV (any common delimiter, whitespace-separated, UTF-8 or Windows-1252/Latin-1, gzip),
Parquet and Excel (.xlsx). Memory stays flat: nothing holds more than one batch. Every batch
carries the line (or sheet row) number of each of its records, for error messages.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from patron.errors import PatronError

BATCH_ROWS = 65_536
DELIMITERS = (",", ";", "\t", "|")


@dataclass
class RawBatch:
    columns: dict[str, pa.Array]  # source column -> text values (null where empty)
    lines: np.ndarray  # line or row number of each record


@dataclass
class Source:
    """An opened file: its header, how it was read, and its batches."""

    path: Path
    format: str
    header: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    blank_lines: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    bytes_total: int = 0
    bytes_read: int = 0
    _batches: Iterator[RawBatch] | None = None

    def batches(self) -> Iterator[RawBatch]:
        assert self._batches is not None
        return self._batches


def _corrupt(path: Path, exc: BaseException) -> PatronError:
    return PatronError(
        f"{path.name}: the file is truncated or corrupt ({type(exc).__name__}: {exc})",
        code="import.unreadable",
    )


def open_source(path: Path, *, whitespace: bool = False, encoding: str | None = None) -> Source:
    """Open ``path`` by its content (not its name) and return a Source streaming its records."""
    if not path.is_file():
        raise PatronError(f"no such file: {path}", code="import.no_file")
    with path.open("rb") as handle:
        magic = handle.read(8)
    size = path.stat().st_size
    if size == 0:
        raise PatronError(f"{path.name} is empty", code="import.empty")
    if magic.startswith(b"PAR1"):
        return _parquet(path)
    if magic.startswith(b"PK\x03\x04"):
        return _excel(path)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise PatronError(
            f"{path.name} is an old binary Excel (.xls) file: save it as .xlsx or CSV",
            code="import.unsupported_format",
        )
    return _text(
        path, gzipped=magic.startswith(b"\x1f\x8b"), whitespace=whitespace, encoding=encoding
    )


# --- text ---------------------------------------------------------------------------------


def _raw_stream(path: Path, gzipped: bool) -> BinaryIO:
    if gzipped:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def detect_encoding(path: Path, gzipped: bool) -> str:
    """UTF-8 when the whole file decodes as UTF-8, else Windows-1252, else Latin-1."""
    for name in ("utf-8", "cp1252"):
        if _decodes(path, gzipped, name):
            return name
    return "latin-1"


def _decodes(path: Path, gzipped: bool, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with _raw_stream(path, gzipped) as stream:
            first = stream.read(1 << 20)
            if b"\x00" in first[:4096]:
                raise PatronError(
                    f"{path.name} is not a text file (it contains NUL bytes); Patron reads "
                    "CSV/TSV, Parquet and .xlsx",
                    code="import.unsupported_format",
                )
            chunk = first
            while chunk:
                decoder.decode(chunk)
                chunk = stream.read(1 << 20)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupt(path, exc) from exc
    return True


def _first_lines(path: Path, gzipped: bool, encoding: str, count: int = 20) -> list[str]:
    encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    with (
        _raw_stream(path, gzipped) as raw,
        io.TextIOWrapper(raw, encoding=encoding, newline="") as text,
    ):
        lines = []
        for line in text:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= count:
                break
    return lines


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the header into most fields and most next records alike.

    Records, not lines: a quoted value may hold a newline. A malformed record among the first
    ones (too many or too few fields) is reported later with its line; it must not make the
    delimiter unknown, so a majority of the records agreeing with the header is enough.
    """
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    best: tuple[int, int, str] | None = None
    sample = "\n".join(lines[:10])
    for delimiter in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        except csv.Error:  # e.g. a "field" longer than csv's limit: not this delimiter
            continue
        if not counts or counts[0] < 2:
            continue
        agreeing = sum(count == counts[0] for count in counts[1:])
        fits = len(counts) == 1 or agreeing > (len(counts) - 1) / 2
        if fits and (best is None or (agreeing, counts[0]) > best[:2]):
            best = (agreeing, counts[0], delimiter)
    return best[2] if best else None


def _text(path: Path, *, gzipped: bool, whitespace: bool, encoding: str | None) -> Source:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise PatronError(
                f"unknown text encoding {encoding!r}: use e.g. utf-8, cp1252 or latin-1",
                code="import.bad_encoding",
            ) from None
    encoding = encoding or detect_encoding(path, gzipped)
    try:
        lines = _first_lines(path, gzipped, encoding)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise _corrupt(path, exc) from exc
    if not lines or not lines[0].strip():
        raise PatronError(
            f"{path.name}: the first line (the header) is empty", code="import.no_header"
        )
    delimiter = None if whitespace else sniff_delimiter(lines)
    if delimiter is None and len(lines[0].split()) > 1:
        whitespace = True
    if whitespace:
        header = lines[0].split()
    elif delimiter is None:
        header = [lines[0].strip()]
        delimiter = ","
    else:
        header = next(csv.reader([lines[0]], delimiter=delimiter))
    header = [name.lstrip("\ufeff").strip() for name in header]
    _check_header(path, header)
    source = Source(path, "gzip-csv" if gzipped else "csv", header, encoding=encoding)
    source.delimiter = "whitespace" if whitespace else delimiter
    source.bytes_total = path.stat().st_size
    reader = _whitespace_batches if whitespace else _csv_batches
    # pyarrow cannot skip the header of a file that is nothing but the header.
    source._batches = reader(source, gzipped) if len(lines) > 1 else iter(())
    return source


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise PatronError(
                f"{path.name}: header column {position} has no name", code="import.no_header"
            )
        if name in seen:
            raise PatronError(
                f"{path.name}: header names column {name!r} twice", code="import.no_header"
            )
        seen.add(name)


def _csv_batches(source: Source, gzipped: bool) -> Iterator[RawBatch]:
    import pyarrow.csv as pcsv

    skipped: list[int] = []
    # pyarrow numbers records, not lines: (record, newlines inside it) for quoted line breaks.
    spans: list[tuple[int, int]] = []

    def on_invalid(row: Any) -> str:
        text = (row.text or "").strip()
        if "\n" in text:
            spans.append((row.number, text.count("\n")))
        if text:
            source.malformed.append(
                (row.number, f"expected {row.expected_columns} fields, found {row.actual_columns}")
            )
        else:
            source.blank_lines += 1
        skipped.append(row.number)
        return "skip"

    file = source.path.open("rb")
    stream: BinaryIO = gzip.GzipFile(fileobj=file) if gzipped else file  # type: ignore[assignment]
    try:
        reader = _guarded_open(
            pcsv,
            source.path,
            stream,
            read_options=pcsv.ReadOptions(
                use_threads=False,
                block_size=1 << 22,
                encoding=source.encoding or "utf-8",
                skip_rows=1,
                column_names=source.header,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=source.delimiter or ",",
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(source.header, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
        records = 0
        for batch in _guarded(reader, source.path):
            source.bytes_read = file.tell()
            n = batch.num_rows
            lines = np.arange(records, records + n, dtype=np.int64) + 2  # line 1 is the header
            for line in sorted(skipped):
                lines[lines >= line] += 1
            records += n
            inside = _newlines_inside(batch.columns)
            spans.extend((int(lines[i]), int(inside[i])) for i in np.flatnonzero(inside))
            yield _drop_blank(
                source,
                dict(zip(batch.schema.names, batch.columns, strict=True)),
                _physical_lines(lines, spans),
            )
        if spans:
            numbers = _physical_lines(np.array([n for n, _ in source.malformed]), spans)
            source.malformed = [
                (int(number), reason)
                for number, (_, reason) in zip(numbers, source.malformed, strict=True)
            ]
    finally:
        file.close()


def _newlines_inside(columns: list[pa.Array]) -> np.ndarray:
    """Per record, the line breaks inside its (quoted) values."""
    total = np.zeros(len(columns[0]) if columns else 0, dtype=np.int64)
    for column in columns:
        counted = pc.fill_null(pc.count_substring(column, "\n"), 0)
        total += np.asarray(counted.to_numpy(zero_copy_only=False), dtype=np.int64)
    return total


def _physical_lines(records: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Record numbers (as pyarrow counts) to line numbers: add the breaks of earlier records."""
    if not spans or not len(records):
        return records
    ordered = np.array(sorted(spans), dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(ordered[:, 1])])
    return records + before[np.searchsorted(ordered[:, 0], records, side="left")]


def _guarded_open(pcsv: Any, path: Path, stream: BinaryIO, **options: Any) -> Any:
    """``open_csv`` reads and decodes the first block already: its errors are the file's."""
    try:
        return pcsv.open_csv(stream, **options)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise _corrupt(path, exc) from exc


def _guarded(reader: Any, path: Path) -> Iterator[Any]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise _corrupt(path, exc) from exc
        yield batch


def _drop_blank(source: Source, columns: dict[str, pa.Array], lines: np.ndarray) -> RawBatch:
    """Remove records that are entirely empty (blank lines, ``,,,`` rows) and count them."""
    arrays = list(columns.values())
    blank = pc.is_null(arrays[0])
    for array in arrays[1:]:
        blank = pc.and_(blank, pc.is_null(array))
    n_blank = pc.sum(blank).as_py() or 0
    if not n_blank:
        return RawBatch(columns, lines)
    source.blank_lines += n_blank
    keep = pc.invert(blank)
    return RawBatch(
        {name: array.filter(keep) for name, array in columns.items()},
        lines[keep.to_numpy(zero_copy_only=False)],
    )


def _whitespace_batches(source: Source, gzipped: bool) -> Iterator[RawBatch]:
    """Whitespace-separated text (CDNOW): split each line on runs of blanks."""
    width = len(source.header)
    try:
        encoding = "utf-8-sig" if source.encoding == "utf-8" else source.encoding
        with (
            _raw_stream(source.path, gzipped) as raw,
            io.TextIOWrapper(raw, encoding=encoding, newline=None) as text,
        ):
            next(text, None)
            rows: list[list[str | None]] = []
            lines: list[int] = []
            for number, line in enumerate(text, start=2):
                fields = line.split()
                if not fields:
                    source.blank_lines += 1
                    continue
                if len(fields) != width:
                    source.malformed.append(
                        (number, f"expected {width} fields, found {len(fields)}")
                    )
                    continue
                rows.append(list(fields))
                lines.append(number)
                if len(rows) >= BATCH_ROWS:
                    yield _rows_to_batch(source.header, rows, lines)
                    rows, lines = [], []
            if rows:
                yield _rows_to_batch(source.header, rows, lines)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise _corrupt(source.path, exc) from exc


def _rows_to_batch(header: list[str], rows: list[list[str | None]], lines: list[int]) -> RawBatch:
    columns = {
        name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(header)
    }
    return RawBatch(columns, np.asarray(lines, dtype=np.int64))


# --- Parquet ------------------------------------------------------------------------------


def _parquet(path: Path) -> Source:
    import pyarrow.parquet as pq

    # ValueError: a damaged footer can hold column names that are not UTF-8.
    try:
        file = pq.ParquetFile(path)
        header = list(file.schema_arrow.names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _corrupt(path, exc) from exc
    _check_header(path, header)
    source = Source(path, "parquet", header, bytes_total=path.stat().st_size)

    def batches() -> Iterator[RawBatch]:
        first = 1
        try:
            for group in range(file.num_row_groups):
                for batch in file.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                    n = batch.num_rows
                    columns = {
                        name: as_text(batch.column(i)) for i, name in enumerate(batch.schema.names)
                    }
                    yield RawBatch(columns, np.arange(first, first + n, dtype=np.int64))
                    first += n
                source.bytes_read = int(
                    source.bytes_total * (group + 1) / max(file.num_row_groups, 1)
                )
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _corrupt(path, exc) from exc

    source._batches = batches()
    return source


def as_text(array: pa.Array) -> pa.Array:
    """Typed values as the text a CSV would hold; integral floats lose their ``.0`` (ids)."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        array.validate(full=True)  # Parquet readers do not check that text is valid UTF-8
        return array.cast(pa.string())
    if pa.types.is_timestamp(kind):
        # Whole seconds: strftime would print fractions ("10:00:00.000000") no format reads.
        if kind.tz is not None:
            seconds = array.cast(pa.timestamp("s", "UTC"), safe=False)
            return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S%z")
        return pc.strftime(array.cast(pa.timestamp("s"), safe=False), format="%Y-%m-%dT%H:%M:%S")
    if pa.types.is_date(kind):
        return pc.strftime(array, format="%Y-%m-%d")
    if pa.types.is_floating(kind):
        # Only where int64 holds the value exactly; 1e20 must not wrap to -9223372036854775808.
        integral = pc.and_(pc.equal(array, pc.floor(array)), pc.less(pc.abs(array), 2.0**53))
        as_int = pc.cast(pc.if_else(integral, array, None), pa.int64(), safe=False)
        return pc.if_else(integral, pc.cast(as_int, pa.string()), pc.cast(array, pa.string()))
    return pc.cast(array, pa.string())


# --- Excel --------------------------------------------------------------------------------


def _excel(path: Path) -> Source:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_row = next(rows, None)
    except Exception as exc:  # openpyxl raises many kinds on a broken zip or sheet
        raise _corrupt(path, exc) from exc
    if header_row is None:
        raise PatronError(f"{path.name}: the first sheet is empty", code="import.empty")
    header = [_cell_text(value) or "" for value in header_row]
    while header and not header[-1]:
        header.pop()
    _check_header(path, header)
    source = Source(path, "xlsx", header, bytes_total=path.stat().st_size)

    def batches() -> Iterator[RawBatch]:
        buffer: list[list[str | None]] = []
        lines: list[int] = []
        try:
            for number, row in enumerate(rows, start=2):
                values = [_cell_text(value) for value in row[: len(header)]]
                values += [None] * (len(header) - len(values))
                if all(value is None for value in values):
                    source.blank_lines += 1
                    continue
                buffer.append(values)
                lines.append(number)
                if len(buffer) >= BATCH_ROWS:
                    yield _rows_to_batch(header, buffer, lines)
                    buffer, lines = [], []
        except Exception as exc:
            raise _corrupt(path, exc) from exc
        finally:
            workbook.close()
        if buffer:
            yield _rows_to_batch(header, buffer, lines)
        source.bytes_read = source.bytes_total

    source._batches = batches()
    return source


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None
