"""Bad input never crashes the importer: it ends in a PatronError with a clear message and the
store is unchanged. Named cases first, then Hypothesis feeding random and mutated files."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import Engine

from customers.importer.support import ORDER_HEADER, counts, csv_text, run_import
from patron.customers.importer.summary import ImportSummary
from patron.errors import ImportFailed, PatronError

VALID_ROWS = [
    ("O-1", "2024-01-02 10:00:00", "K-1", "A-1", "Äpfel", "3", "0.1"),
    ("O-1", "2024-01-02 10:00:00", "K-1", "B-2", "Brot", "1", "2.50"),
    ("O-2", "2024-01-03 09:30:00", "K-2", "A-1", "Äpfel", "-1", "0.1"),
    ("O-3", "2024-01-04 18:45:00", "", "C-3", "Crème", "1", "4.99"),
]
VALID_CSV = csv_text(ORDER_HEADER, VALID_ROWS).encode("utf-8")


def _parquet_bytes() -> bytes:
    columns = list(zip(*VALID_ROWS, strict=True))
    table = pa.table(
        {name: list(values) for name, values in zip(ORDER_HEADER, columns, strict=True)}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _xlsx_bytes() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(ORDER_HEADER))
    for row in VALID_ROWS:
        sheet.append(list(row))
    sink = io.BytesIO()
    workbook.save(sink)
    return sink.getvalue()


VALID_FILES: dict[str, bytes] = {
    "orders.csv": VALID_CSV,
    "orders.csv.gz": gzip.compress(VALID_CSV),
    "orders.parquet": _parquet_bytes(),
    "orders.xlsx": _xlsx_bytes(),
    "cdnow.txt": b"customer_id date number_of_cds dollar_value\n00001 19970101 1 11.77\n"
    b"00002 19970112 5 77.00\n",
}


@pytest.fixture
def seeded(sqlite_engine: Engine, tmp_path: Path) -> Engine:
    """A store that already holds orders, so 'unchanged' is a real check."""
    (tmp_path / "seed.csv").write_bytes(VALID_CSV)
    run_import(sqlite_engine, tmp_path / "seed.csv")
    return sqlite_engine


def _refused(engine: Engine, path: Path, **options: object) -> PatronError:
    before = counts(engine)
    with pytest.raises(PatronError) as caught:
        run_import(engine, path, **options)
    assert counts(engine) == before, "a refused import changed the store"
    assert caught.value.message
    assert "Traceback" not in caught.value.message
    return caught.value


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _many_rows(count: int) -> bytes:
    """A valid CSV of ``count`` more rows: larger than one read block once compressed."""
    rows = (
        f"O-{i},2024-01-02 10:00:00,K-{i % 97},S-{i % 31},name {i},1,{i % 13}.5\n"
        for i in range(count)
    )
    return VALID_CSV + "".join(rows).encode()


BAD_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "truncated.csv.gz": (lambda: _cut(gzip.compress(VALID_CSV)), "import.unreadable"),
    "truncated-big.csv.gz": (lambda: _cut(gzip.compress(_many_rows(40_000))), "import.unreadable"),
    "not-gzip.csv.gz": (lambda: b"\x1f\x8b\x08\x00" + b"\x13" * 200, "import.unreadable"),
    "garbage.bin": (lambda: bytes(range(256)) * 8, "import.unsupported_format"),
    "image.csv": (
        lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
        "import.unsupported_format",
    ),
    "utf16.csv": (lambda: VALID_CSV.decode().encode("utf-16"), "import.unsupported_format"),
    "old.xls": (
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
        "import.unsupported_format",
    ),
    "truncated.parquet": (lambda: _cut(_parquet_bytes()), "import.unreadable"),
    "truncated.xlsx": (lambda: _cut(_xlsx_bytes()), "import.unreadable"),
    "empty.csv": (lambda: b"", "import.empty"),
    "blank-header.csv": (lambda: b"\n\nO-1,2024-01-02\n", "import.no_header"),
    "twice.csv": (lambda: b"order_id,order_id\n1,2\n", "import.no_header"),
    "nameless.csv": (lambda: b"order_id,,quantity\n1,2,3\n", "import.no_header"),
    "other-columns.csv": (lambda: b"when,what,how much\n1,2,3\n", "import.missing_columns"),
    "no-quantity.csv": (
        lambda: b"order_id,placed_at,customer_id,unit_price\nO-1,2024-01-02,K-1,1\n",
        "import.missing_columns",
    ),
    "impossible-date.csv": (
        lambda: VALID_CSV.replace(b"2024-01-03 09:30:00", b"2011-02-30 09:30:00"),
        "import.bad_rows",
    ),
    "impossible-time.csv": (
        lambda: VALID_CSV.replace(b"2024-01-03 09:30:00", b"2011-02-28 23:59:60"),
        "import.bad_rows",
    ),
    "not-a-number.csv": (lambda: VALID_CSV.replace(b",2.50\n", b",2.5.0\n"), "import.bad_rows"),
    "nan.csv": (lambda: VALID_CSV.replace(b",2.50\n", b",NaN\n"), "import.bad_rows"),
    "huge-number.csv": (lambda: VALID_CSV.replace(b",2.50\n", b",1e999\n"), "import.bad_rows"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_a_clear_error_and_changes_nothing(
    seeded: Engine, tmp_path: Path, name: str
) -> None:
    make, code = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(make())
    error = _refused(seeded, path)
    assert error.code == code, error.message


def test_an_impossible_date_names_line_column_and_value(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "feb30.csv"
    path.write_bytes(VALID_CSV.replace(b"2024-01-03 09:30:00", b"2011-02-30 09:30:00"))
    error = _refused(seeded, path)
    ((line, column, value),) = [
        (e["line"], e["column"], e["value"]) for e in error.details["errors"]
    ]
    assert (line, column, value) == (4, "placed_at", "2011-02-30 09:30:00")


@pytest.mark.parametrize(
    ("fmt", "value"),
    [("%d.%m.%Y", "30.02.2011"), ("%m/%d/%Y %H:%M", "02/30/2011 10:00"), ("%Y%m%d", "20110431")],
)
def test_impossible_dates_are_refused_in_every_date_format(
    seeded: Engine, tmp_path: Path, fmt: str, value: str
) -> None:
    header = b"order_id,placed_at,customer_id,quantity,unit_price\n"
    path = tmp_path / "dates.csv"
    path.write_bytes(header + f"O-9,{value},K-1,1,1\n".encode())
    error = _refused(seeded, path, date_format=fmt)
    assert error.details["errors"][0]["value"] == value


def test_a_header_only_file_imports_nothing(seeded: Engine, tmp_path: Path) -> None:
    for text in (
        b"order_id,placed_at,quantity,unit_price\n",
        b"order_id,placed_at,quantity,unit_price",
    ):
        path = tmp_path / "header.csv"
        path.write_bytes(text)
        summary = run_import(seeded, path)
        assert (summary.rows_read, summary.changed) == (0, False)


def test_a_forced_wrong_encoding_is_a_clear_error(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(VALID_CSV.decode().encode("latin-1"))
    assert _refused(seeded, path, encoding="utf-8").code == "import.unreadable"


@pytest.mark.slow
def test_a_wrong_encoding_deep_in_a_large_file_is_a_clear_error(
    seeded: Engine, tmp_path: Path
) -> None:
    body = b"".join(b"O-%d,2024-01-02 10:00:00,K-1,A-1,Apple,1,1\n" % i for i in range(120_000))
    path = tmp_path / "deep.csv"
    path.write_bytes(
        VALID_CSV + body + "O-X,2024-01-02 10:00:00,K-1,A-1,Müsli,1,1\n".encode("latin-1")
    )
    assert _refused(seeded, path, encoding="utf-8").code == "import.unreadable"


def test_an_unknown_encoding_name_is_a_clear_error(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_bytes(VALID_CSV)
    error = _refused(seeded, path, encoding="klingon-8")
    assert "klingon-8" in error.message


def test_an_unknown_time_zone_is_a_clear_error(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_bytes(VALID_CSV)
    assert "Mars/Olympus" in _refused(seeded, path, timezone="Mars/Olympus").message


def test_a_currency_that_is_not_three_letters_is_a_clear_error(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "o.csv"
    path.write_bytes(VALID_CSV)
    assert "EURO" in _refused(engine, path, currency="EURO").message


def test_a_missing_file_or_a_directory_is_a_clear_error(seeded: Engine, tmp_path: Path) -> None:
    assert _refused(seeded, tmp_path / "nowhere.csv").code == "import.no_file"
    assert _refused(seeded, tmp_path).code == "import.no_file"


def test_an_unwritable_error_file_is_a_clear_error(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(VALID_CSV.replace(b",2.50\n", b",two\n"))
    error = _refused(seeded, path, errors_path=tmp_path / "no" / "such" / "dir" / "e.csv")
    assert "e.csv" in error.message


def test_a_parquet_file_of_binary_columns_is_a_clear_error(seeded: Engine, tmp_path: Path) -> None:
    table = pa.table({name: pa.array([b"\xff\xfe"], pa.binary()) for name in ORDER_HEADER})
    pq.write_table(table, tmp_path / "binary.parquet")
    _refused(seeded, tmp_path / "binary.parquet")


def test_a_float_too_large_for_an_integer_is_not_read_as_a_wrong_number(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """1e20 must not wrap around to -9223372036854775808 on its way to text."""
    table = pa.table(
        {
            "order_id": ["O-1"],
            "placed_at": ["2024-01-02"],
            "customer_id": pa.array([1e20]),
            "quantity": pa.array([1.0]),
            "unit_price": pa.array([1e20]),
        }
    )
    pq.write_table(table, tmp_path / "floats.parquet")
    with pytest.raises(ImportFailed) as failure:
        run_import(sqlite_engine, tmp_path / "floats.parquet")
    values = [error["value"] for error in failure.value.details["errors"]]
    assert values
    assert all("-922" not in str(value) for value in values)


# --- properties --------------------------------------------------------------------------------

MAGIC = [b"", b"PAR1", b"PK\x03\x04", b"\x1f\x8b\x08\x00", b"\xef\xbb\xbf", VALID_CSV[:60]]
NAMES = {b"PAR1": "random.parquet", b"PK\x03\x04": "random.xlsx"}
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _import_keeps_its_promise(engine: Engine, path: Path, kind: str = "orders") -> None:
    """Either a summary, or a PatronError that left every table as it was; nothing else."""
    before = counts(engine)
    refused: PatronError | None = None
    try:
        summary = run_import(engine, path, kind, errors_path=path.with_suffix(".errors"))
    except PatronError as error:
        refused = error
    if refused is not None:
        assert refused.message
        assert counts(engine) == before, f"{refused.code} but the store changed"
        return
    assert isinstance(summary, ImportSummary)
    assert summary.stored
    assert 0 <= summary.rows_rejected <= summary.rows_read


@PROPERTY_SETTINGS
@given(
    magic=st.sampled_from(MAGIC),
    body=st.binary(max_size=2_000),
    kind=st.sampled_from(["orders", "customers", "products"]),
)
def test_random_bytes_end_in_a_summary_or_a_patron_error(
    seeded: Engine, tmp_path: Path, magic: bytes, body: bytes, kind: str
) -> None:
    path = tmp_path / NAMES.get(magic, "random.csv")
    path.write_bytes(magic + body)
    _import_keeps_its_promise(seeded, path, kind)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid file with a few byte-level edits: cut, delete, insert, overwrite, repeat."""
    name = draw(st.sampled_from(sorted(VALID_FILES)))
    data = bytearray(VALID_FILES[name])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["cut", "delete", "insert", "overwrite", "repeat"]))
        if edit == "cut":
            del data[at:]
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif edit == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=20)
                | st.sampled_from(
                    [b",", b";", b"\n", b'"', b"\r", b"\x00", b"-", b"e9", b"\xff", b"\t"]
                )
            )
        elif edit == "overwrite" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
        if not data:
            break
    return name, bytes(data)


@PROPERTY_SETTINGS
@given(case=mutated())
def test_mutated_valid_files_end_in_a_summary_or_a_patron_error(
    seeded: Engine, tmp_path: Path, case: tuple[str, bytes]
) -> None:
    name, data = case
    path = tmp_path / f"mutated-{name}"
    path.write_bytes(data)
    _import_keeps_its_promise(seeded, path)
