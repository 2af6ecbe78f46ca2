"""The same order rows land identically from every format the importer reads.

CSV with any common delimiter (and a decimal comma), TSV, UTF-8 with or without BOM,
Windows-1252/Latin-1, gzip, Parquet and .xlsx. Reading files is backend-independent, so these
run on SQLite; ``test_orders.py`` covers the merge on both backends.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook
from sqlalchemy import Engine

from customers.importer.support import (
    ORDER_HEADER,
    csv_text,
    error_file,
    rows,
    run_import,
    stored_lines,
    write_csv,
)
from patron.errors import ImportFailed

# Names with umlauts, accents and the delimiters themselves, to catch mangled text and quoting.
ROWS = [
    ("O-1", "2024-01-02 10:00:00", "K-1", "A-1", "Äpfel grün", "3", "0.1"),
    ("O-1", "2024-01-02 10:00:00", "K-1", "B-2", 'Brot, frisch; "hell" | groß', "1", "2.50"),
    ("O-2", "2024-01-03 09:30:00", "K-2", "A-1", "Äpfel grün", "2", "1234.5"),
    ("O-3", "2024-01-04 18:45:00", "", "C-3", "Crème brûlée", "1", "4.99"),
]
EXPECTED_LINES = [
    ("O-1", 1, "K-1", "A-1", Decimal("3"), Decimal("0.1"), Decimal("0.3"), "sale"),
    ("O-1", 2, "K-1", "B-2", Decimal("1"), Decimal("2.5"), Decimal("2.5"), "sale"),
    ("O-2", 1, "K-2", "A-1", Decimal("2"), Decimal("1234.5"), Decimal("2469"), "sale"),
    ("O-3", 1, None, "C-3", Decimal("1"), Decimal("4.99"), Decimal("4.99"), "sale"),
]
EXPECTED_PRODUCTS = [
    ("A-1", "Äpfel grün"),
    ("B-2", 'Brot, frisch; "hell" | groß'),
    ("C-3", "Crème brûlée"),
]


def _decimal_comma(value: str) -> str:
    """German notation: thousands with a dot, decimals with a comma (1234.5 -> 1.234,5)."""
    whole, _, fraction = value.partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{grouped},{fraction}" if fraction else grouped


def _csv(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> Path:
    return write_csv(path, ORDER_HEADER, ROWS, delimiter=delimiter, encoding=encoding)


def _semicolon_decimal_comma(path: Path) -> Path:
    german = [(*row[:6], _decimal_comma(row[6])) for row in ROWS]
    return write_csv(path, ORDER_HEADER, german, delimiter=";")


def _bom(path: Path) -> Path:
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(ORDER_HEADER, ROWS).encode("utf-8"))
    return path


def _gzip(path: Path) -> Path:
    path.write_bytes(gzip.compress(csv_text(ORDER_HEADER, ROWS).encode("utf-8")))
    return path


def _parquet_text(path: Path) -> Path:
    columns = list(zip(*ROWS, strict=True))
    table = pa.table(
        {name: list(values) for name, values in zip(ORDER_HEADER, columns, strict=True)}
    )
    pq.write_table(table, path)
    return path


def _parquet_typed(path: Path) -> Path:
    """Real column types: timestamps, integer quantities, float prices, a null customer."""
    table = pa.table(
        {
            "order_id": [row[0] for row in ROWS],
            "placed_at": pa.array(
                [datetime.fromisoformat(row[1]) for row in ROWS], pa.timestamp("us")
            ),
            "customer_id": [row[2] or None for row in ROWS],
            "sku": [row[3] for row in ROWS],
            "product_name": [row[4] for row in ROWS],
            "quantity": pa.array([int(row[5]) for row in ROWS], pa.int64()),
            "unit_price": pa.array([float(row[6]) for row in ROWS], pa.float64()),
        }
    )
    pq.write_table(table, path)
    return path


def _xlsx(path: Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(ORDER_HEADER))
    for row in ROWS:
        sheet.append(
            [
                row[0],
                datetime.fromisoformat(row[1]),
                row[2] or None,
                row[3],
                row[4],
                int(row[5]),
                float(row[6]),
            ]
        )
    workbook.save(path)
    return path


WRITERS = {
    "comma.csv": _csv,
    "semicolon-decimal-comma.csv": _semicolon_decimal_comma,
    "tabs.tsv": lambda path: _csv(path, delimiter="\t"),
    "pipes.txt": lambda path: _csv(path, delimiter="|"),
    "latin1.csv": lambda path: _csv(path, encoding="latin-1"),
    "cp1252-semicolon.csv": lambda path: _csv(path, delimiter=";", encoding="cp1252"),
    "bom.csv": _bom,
    "orders.csv.gz": _gzip,
    "text.parquet": _parquet_text,
    "typed.parquet": _parquet_typed,
    "orders.xlsx": _xlsx,
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_format_stores_the_same_rows(
    sqlite_engine: Engine, tmp_path: Path, name: str
) -> None:
    path = WRITERS[name](tmp_path / name)

    summary = run_import(sqlite_engine, path)

    assert (summary.rows_read, summary.rows_rejected, summary.stored) == (4, 0, True)
    assert summary.layout == "patron"
    assert stored_lines(sqlite_engine) == EXPECTED_LINES
    assert rows(sqlite_engine, "SELECT sku, name FROM products ORDER BY sku") == EXPECTED_PRODUCTS
    assert summary.counts["customers_created"] == 2
    assert summary.line_kinds["anonymous_lines"] == 1


@pytest.mark.parametrize(
    ("name", "format_", "encoding", "delimiter"),
    [
        ("comma.csv", "csv", "utf-8", ","),
        ("semicolon-decimal-comma.csv", "csv", "utf-8", ";"),
        ("tabs.tsv", "csv", "utf-8", "\t"),
        ("pipes.txt", "csv", "utf-8", "|"),
        ("latin1.csv", "csv", "cp1252", ","),
        ("bom.csv", "csv", "utf-8", ","),
        ("orders.csv.gz", "gzip-csv", "utf-8", ","),
        ("typed.parquet", "parquet", None, None),
        ("orders.xlsx", "xlsx", None, None),
    ],
)
def test_the_summary_says_how_the_file_was_read(
    sqlite_engine: Engine,
    tmp_path: Path,
    name: str,
    format_: str,
    encoding: str | None,
    delimiter: str | None,
) -> None:
    summary = run_import(sqlite_engine, WRITERS[name](tmp_path / name))
    assert (summary.format, summary.encoding, summary.delimiter) == (format_, encoding, delimiter)


def test_windows_1252_only_characters_come_out_right(sqlite_engine: Engine, tmp_path: Path) -> None:
    """€ and the en dash exist in Windows-1252 but not in Latin-1 (0x80, 0x96)."""
    row = ("O-1", "2024-01-02 10:00:00", "K-1", "E-1", "Tasse – 5 € – Größe M", "1", "5")
    path = write_csv(tmp_path / "win.csv", ORDER_HEADER, [row], encoding="cp1252")
    run_import(sqlite_engine, path)
    assert rows(sqlite_engine, "SELECT name FROM products") == [("Tasse – 5 € – Größe M",)]


def test_bytes_that_are_not_windows_1252_fall_back_to_latin_1(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """0x81 is undefined in Windows-1252; Latin-1 reads every byte."""
    head = ",".join(ORDER_HEADER).encode()
    path = tmp_path / "latin1.csv"
    path.write_bytes(head + b"\nO-1,2024-01-02 10:00:00,K-1,X-1,M\xfcsli \x81,1,1\n")
    summary = run_import(sqlite_engine, path)
    assert summary.encoding == "latin-1"
    assert rows(sqlite_engine, "SELECT name FROM products") == [("Müsli \x81",)]


def test_a_quoted_field_may_hold_a_newline(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text(
        ",".join(ORDER_HEADER) + "\n"  # line 1
        'O-1,2024-01-02 10:00:00,K-1,A-1,"two\nlines",1,1\n'  # lines 2-3
        "O-2,2024-01-02 10:00:00,K-1,A-2,plain,1,1\n"  # 4
        'O-M,2024-01-02 10:00:00,K-1,A-2,"too\r\nmany",1,1,surplus\n'  # 5-6
        "O-3,2024-01-02 10:00:00,K-1,A-3,plain,x,1\n"  # 7
    )
    with pytest.raises(ImportFailed) as failure:
        run_import(sqlite_engine, path)
    errors = failure.value.details["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(5, "(row)"), (7, "quantity")]

    summary = run_import(sqlite_engine, path, skip_invalid=True)
    assert summary.counts["lines_created"] == 2
    assert rows(sqlite_engine, "SELECT name FROM products WHERE sku = 'A-1'") == [("two\nlines",)]


def test_blank_lines_are_skipped_and_errors_name_physical_lines(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "blanks.csv"
    path.write_text(
        ",".join(ORDER_HEADER) + "\n"  # line 1
        "O-1,2024-01-02 10:00:00,K-1,A-1,Apple,1,1\n"  # 2
        "\n"  # 3
        "\n"  # 4
        "O-2,2024-01-02 10:00:00,K-1,A-1,Apple,lots,1\n"  # 5
        ",,,,,,\n"  # 6: an empty record, as spreadsheets export blank rows
        "O-3,2024-01-02 10:00:00,K-1,A-1,Apple,1,1\n"  # 7
        "\n"  # 8
        "O-4,2024-01-02 10:00:00,K-1,A-1,Apple,1,free\n"  # 9
    )
    with pytest.raises(ImportFailed) as failure:
        run_import(sqlite_engine, path)
    errors = failure.value.details["errors"]
    assert [(e["line"], e["column"], e["value"]) for e in errors] == [
        (5, "quantity", "lots"),
        (9, "unit_price", "free"),
    ]
    assert failure.value.details["rows_read"] == 4
    assert failure.value.details["blank_lines"] == 4


def test_blank_lines_in_a_gzip_file_keep_line_numbers(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    text = ",".join(ORDER_HEADER) + "\n\n\nO-1,2024-01-02 10:00:00,K-1,A-1,Apple,1,oops\n"
    path = tmp_path / "blanks.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(ImportFailed) as failure:
        run_import(sqlite_engine, path)
    assert [e["line"] for e in failure.value.details["errors"]] == [4]


def test_blank_rows_in_a_sheet_keep_sheet_row_numbers(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(ORDER_HEADER))
    sheet.append(["O-1", datetime(2024, 1, 2, 10), "K-1", "A-1", "Apple", 1, 1.5])
    sheet.append([None] * 7)
    sheet.append(["O-2", datetime(2024, 1, 2, 10), "K-1", "A-1", "Apple", "many", 1.5])
    workbook.save(tmp_path / "blank.xlsx")
    with pytest.raises(ImportFailed) as failure:
        run_import(sqlite_engine, tmp_path / "blank.xlsx")
    assert [(e["line"], e["value"]) for e in failure.value.details["errors"]] == [(4, "many")]


@pytest.mark.parametrize("position", ["early", "late"])
def test_a_row_with_too_many_fields_is_reported_with_its_line(
    sqlite_engine: Engine, tmp_path: Path, position: str
) -> None:
    good = [(f"O-{i}", "2024-01-02 10:00:00", "K-1", "A-1", "Apple", "1", "1") for i in range(30)]
    at = 1 if position == "early" else 25
    path = tmp_path / "wide.csv"
    lines = csv_text(ORDER_HEADER, good).splitlines()
    lines.insert(at + 1, "O-X,2024-01-02 10:00:00,K-1,A-1,Apple,1,1,surplus")
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(ImportFailed) as failure:
        run_import(sqlite_engine, path)
    (error,) = failure.value.details["errors"]
    assert error["line"] == at + 2
    assert "expected 7 fields, found 8" in error["reason"]
    assert rows(sqlite_engine, "SELECT COUNT(*) FROM orders") == [(0,)]

    summary = run_import(sqlite_engine, path, skip_invalid=True)
    assert (summary.rows_read, summary.rows_rejected, summary.counts["orders_created"]) == (
        31,
        1,
        30,
    )


def test_a_row_with_too_few_fields_is_reported_with_its_line(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "short.csv"
    path.write_text(
        ",".join(ORDER_HEADER) + "\n"
        "O-1,2024-01-02 10:00:00,K-1,A-1,Apple,1,1\n"
        "O-2,2024-01-02 10:00:00,K-1\n"
        "O-3,2024-01-02 10:00:00,K-1,A-1,Apple,1,1\n"
    )
    summary = run_import(sqlite_engine, path, skip_invalid=True)
    assert [(e["line"], e["reason"]) for e in summary.errors] == [(3, "expected 7 fields, found 3")]
    assert summary.counts["orders_created"] == 2
    assert error_file(Path(summary.errors_file or ""))[0]["line"] == "3"


def test_a_sheet_with_more_cells_than_header_names_ignores_them(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([*ORDER_HEADER, None])
    sheet.append(["O-1", datetime(2024, 1, 2, 10), "K-1", "A-1", "Apple", 1, 2, "note"])
    workbook.save(tmp_path / "notes.xlsx")
    summary = run_import(sqlite_engine, tmp_path / "notes.xlsx")
    assert summary.counts["lines_created"] == 1
