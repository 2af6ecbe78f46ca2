"""Which layout a header is read as: Patron's names and aliases, UCI Online Retail I/II, CDNOW,
and anything else through ``--map`` or a mapping file. The first tests are pure (no I/O)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from customers.importer.support import (
    ORDER_HEADER,
    UCI_HEADER,
    rows,
    run_import,
    stored_lines,
    write_csv,
)
from patron.customers.importer.layouts import FIELDS, Kind, read_mapping, recognise
from patron.errors import PatronError

UCI_II_HEADER = (
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
)


def test_uci_online_retail_i_is_recognised() -> None:
    layout = recognise(Kind.orders, list(UCI_HEADER))
    assert layout.name == "uci-online-retail"
    assert layout.columns["order_id"] == "InvoiceNo"
    assert layout.columns["unit_price"] == "UnitPrice"
    assert layout.columns["customer_id"] == "CustomerID"
    assert layout.cancellation_prefix == "C"


def test_uci_online_retail_ii_is_recognised_in_any_column_order() -> None:
    layout = recognise(Kind.orders, list(reversed(UCI_II_HEADER)))
    assert layout.name == "uci-online-retail-ii"
    assert layout.columns["order_id"] == "Invoice"
    assert layout.columns["unit_price"] == "Price"
    assert layout.columns["customer_id"] == "Customer ID"


def test_cdnow_is_recognised() -> None:
    layout = recognise(Kind.orders, ["customer_id", "date", "number_of_cds", "dollar_value"])
    assert layout.name == "cdnow"
    assert layout.synthesize_order_id
    assert layout.columns == {
        "customer_id": "customer_id",
        "placed_at": "date",
        "quantity": "number_of_cds",
        "amount": "dollar_value",
    }


@pytest.mark.parametrize("kind", list(Kind))
def test_every_canonical_field_name_is_recognised(kind: Kind) -> None:
    header = [spec.name for spec in FIELDS[kind]]
    layout = recognise(kind, header)
    assert layout.name == "patron"
    assert layout.columns == {name: name for name in header}


@pytest.mark.parametrize("kind", list(Kind))
def test_every_alias_is_recognised_whatever_its_spelling(kind: Kind) -> None:
    for spec in FIELDS[kind]:
        for alias in spec.aliases:
            spelled = " " + alias.replace("_", " ").title() + " "
            required = [s.name for s in FIELDS[kind] if s.required and s.name != spec.name]
            money = spec.name in ("unit_price", "amount")
            extra = ["amount"] if kind is Kind.orders and not money else []
            layout = recognise(kind, [*required, *extra, spelled])
            assert layout.columns[spec.name] == spelled, (spec.name, alias)


def test_an_unknown_layout_names_the_missing_fields_and_the_columns() -> None:
    with pytest.raises(PatronError) as caught:
        recognise(Kind.orders, ["Beleg", "Datum", "Menge", "Preis"])
    assert caught.value.code == "import.missing_columns"
    for word in ("order_id", "placed_at", "quantity", "unit_price", "Beleg", "--map"):
        assert word in caught.value.message


def test_read_mapping_merges_a_file_and_pairs(tmp_path: Path) -> None:
    mapping_file = tmp_path / "map.txt"
    mapping_file.write_text("# columns of the till export\nBeleg = order_id\nDatum=placed_at\n")
    mapping = read_mapping(["Menge=quantity", "Datum=order_id"], mapping_file)
    assert mapping == {"Beleg": "order_id", "Datum": "order_id", "Menge": "quantity"}


def test_read_mapping_reads_a_json_object(tmp_path: Path) -> None:
    mapping_file = tmp_path / "map.json"
    mapping_file.write_text('{"Beleg": "order_id", "Preis": "unit_price"}')
    assert read_mapping([], mapping_file) == {"Beleg": "order_id", "Preis": "unit_price"}


@pytest.mark.parametrize(
    ("pairs", "content"),
    [(["Beleg"], None), (["=order_id"], None), ([], "{not json"), ([], b"\xff\xfe\x00")],
)
def test_a_bad_mapping_is_a_clear_error(
    tmp_path: Path, pairs: list[str], content: str | bytes | None
) -> None:
    mapping_file = None
    if content is not None:
        mapping_file = tmp_path / "map"
        mapping_file.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(PatronError) as caught:
        read_mapping(pairs, mapping_file)
    assert caught.value.code == "import.bad_mapping"


def test_a_missing_mapping_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PatronError) as caught:
        read_mapping([], tmp_path / "nowhere.txt")
    assert caught.value.code == "import.bad_mapping"


# --- the same through import_file ------------------------------------------------------------

TILL_HEADER = ("Beleg", "Datum", "Kunde", "Artikel", "Menge", "Preis")
TILL_ROWS = [
    ("B-1", "02.01.2024 10:00", "K-1", "A-1", "2", "1,25"),
    ("B-1", "02.01.2024 10:00", "K-1", "A-2", "1", "3,10"),
]
TILL_MAPPING = {
    "Beleg": "order_id",
    "Datum": "placed_at",
    "Kunde": "customer_id",
    "Artikel": "sku",
    "Menge": "quantity",
    "Preis": "unit_price",
}
TILL_LINES = [
    ("B-1", 1, "K-1", "A-1", Decimal(2), Decimal("1.25"), Decimal("2.50"), "sale"),
    ("B-1", 2, "K-1", "A-2", Decimal(1), Decimal("3.10"), Decimal("3.10"), "sale"),
]


def test_an_unknown_layout_imports_through_a_mapping(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "till.csv", TILL_HEADER, TILL_ROWS, delimiter=";")
    with pytest.raises(PatronError) as caught:
        run_import(sqlite_engine, path)
    assert caught.value.code == "import.missing_columns"

    summary = run_import(sqlite_engine, path, mapping=TILL_MAPPING)
    assert summary.layout == "mapped"
    assert stored_lines(sqlite_engine) == TILL_LINES


def test_a_mapping_file_works_like_map_options(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "till.csv", TILL_HEADER, TILL_ROWS, delimiter=";")
    mapping_file = tmp_path / "till.map"
    mapping_file.write_text("\n".join(f"{k}={v}" for k, v in TILL_MAPPING.items()) + "\n")
    run_import(sqlite_engine, path, mapping=read_mapping([], mapping_file))
    assert stored_lines(sqlite_engine) == TILL_LINES


def test_a_mapping_may_complete_a_partly_canonical_header(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    header = ("order_id", "placed_at", "customer_id", "sku", "Stück", "unit_price")
    path = write_csv(tmp_path / "mixed.csv", header, [("O-1", "2024-01-02", "K-1", "A", "4", "1")])
    run_import(sqlite_engine, path, mapping={"Stück": "quantity"})
    assert stored_lines(sqlite_engine)[0][4] == Decimal(4)


@pytest.mark.parametrize(
    ("mapping", "word"),
    [({"Beleg": "invoice_number"}, "invoice_number"), ({"Bon": "order_id"}, "Bon")],
)
def test_a_mapping_to_an_unknown_field_or_column_is_refused(
    sqlite_engine: Engine, tmp_path: Path, mapping: dict[str, str], word: str
) -> None:
    path = write_csv(tmp_path / "till.csv", TILL_HEADER, TILL_ROWS, delimiter=";")
    with pytest.raises(PatronError) as caught:
        run_import(sqlite_engine, path, mapping=mapping)
    assert caught.value.code == "import.bad_mapping"
    assert word in caught.value.message


def test_uci_ii_header_imports_without_options(sqlite_engine: Engine, tmp_path: Path) -> None:
    data = [
        (
            "489434",
            "85048",
            "LED ROSE",
            "12",
            "2009-12-01 07:45:00",
            "6.95",
            "13085",
            "United Kingdom",
        ),
        (
            "C489449",
            "85048",
            "LED ROSE",
            "-2",
            "2009-12-01 10:33:00",
            "6.95",
            "13085",
            "United Kingdom",
        ),
    ]
    path = write_csv(tmp_path / "retail-ii.csv", UCI_II_HEADER, data)
    summary = run_import(sqlite_engine, path)
    assert summary.layout == "uci-online-retail-ii"
    assert stored_lines(sqlite_engine) == [
        ("489434", 1, "13085", "85048", Decimal(12), Decimal("6.95"), Decimal("83.40"), "sale")
    ]
    assert rows(sqlite_engine, "SELECT document, kind, currency FROM returns, orders") == [
        ("C489449", "cancellation", "GBP")
    ]


def test_cdnow_whitespace_file_imports_without_options(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "cdnow.txt"
    path.write_text(
        " customer_id  date number_of_cds  dollar_value\n"
        " 00001 19970101  1   11.77\n"
        " 00002 19970112  1   12.00\n"
        " 00002 19970112  5   77.00\n"
        "\n"
        " 00003 19970102  2   20.76\n"
    )
    summary = run_import(sqlite_engine, path)
    assert (summary.layout, summary.delimiter, summary.rows_read) == ("cdnow", "whitespace", 4)
    assert summary.counts["orders_created"] == 4
    assert stored_lines(sqlite_engine) == [
        (
            "00001-19970101-1",
            1,
            "00001",
            None,
            Decimal(1),
            Decimal("11.77"),
            Decimal("11.77"),
            "sale",
        ),
        ("00002-19970112-1", 1, "00002", None, Decimal(1), Decimal("12"), Decimal("12"), "sale"),
        ("00002-19970112-2", 1, "00002", None, Decimal(5), Decimal("15.4"), Decimal("77"), "sale"),
        (
            "00003-19970102-1",
            1,
            "00003",
            None,
            Decimal(2),
            Decimal("10.38"),
            Decimal("20.76"),
            "sale",
        ),
    ]
    assert rows(sqlite_engine, "SELECT DISTINCT currency FROM orders") == [("USD",)]


def test_cdnow_line_with_a_missing_field_is_reported(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "cdnow.txt"
    path.write_text(
        "customer_id date number_of_cds dollar_value\n00001 19970101 1 11.77\n\n00002 19970112 1\n"
    )
    summary = run_import(sqlite_engine, path, skip_invalid=True)
    assert [(e["line"], e["reason"]) for e in summary.errors] == [(4, "expected 4 fields, found 3")]
    assert summary.counts["orders_created"] == 1


def test_a_canonical_header_is_not_mistaken_for_uci(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "o.csv", ORDER_HEADER, [("C1", "2024-01-02", "K", "A", "N", "1", "1")]
    )
    summary = run_import(sqlite_engine, path)
    # In Patron's layout, a "C" order number is just a name: the line is a sale.
    assert (summary.layout, summary.counts["lines_created"]) == ("patron", 1)
