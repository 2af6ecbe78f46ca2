"""Order imports on SQLite and PostgreSQL: exact money, returns, anonymous sales, idempotent
re-imports that change exactly what changed, all-or-nothing validation and --skip-invalid."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from customers.importer.support import (
    ORDER_HEADER,
    UCI_HEADER,
    counts,
    error_file,
    rows,
    run_import,
    stored_lines,
    stored_returns,
    write_csv,
)
from patron.customers.importer.summary import SHOWN_ERRORS
from patron.errors import ImportFailed

UCI_ROWS = [
    ("536365", "85123A", "WHITE HEART", "6", "12/1/2010 8:26", "2.55", "17850", "United Kingdom"),
    ("536365", "71053", "LANTERN", "6", "12/1/2010 8:26", "3.39", "17850", "United Kingdom"),
    ("536366", "22633", "HAND WARMER", "6", "12/1/2010 8:28", "1.85", "", "United Kingdom"),
    ("536367", "22633", "HAND WARMER", "3", "12/1/2010 9:02", "1.85", "12583", "France"),
    ("536367", "22633", "HAND WARMER", "3", "12/1/2010 9:02", "1.85", "12583", "France"),
    ("C536379", "85123A", "WHITE HEART", "-2", "12/1/2010 9:41", "2.55", "17850", "United Kingdom"),
    ("C536379", "99999", "NEVER BOUGHT", "-1", "12/1/2010 9:41", "1.00", "17850", "United Kingdom"),
    ("C536380", "22633", "HAND WARMER", "-1", "12/1/2010 9:45", "1.85", "", "United Kingdom"),
    ("536381", "22633", "HAND WARMER", "-5", "12/1/2010 9:50", "0", "", "United Kingdom"),
    ("A563185", "B", "Adjust bad debt", "1", "8/12/2011 14:50", "-11062.06", "", "United Kingdom"),
]


def _uci(tmp_path: Path, data: list[tuple[str, ...]] = UCI_ROWS, name: str = "uci.csv") -> Path:
    return write_csv(tmp_path / name, UCI_HEADER, data)


def _orders(tmp_path: Path, data: list[tuple[str, ...]], name: str = "orders.csv") -> Path:
    return write_csv(tmp_path / name, ORDER_HEADER, data)


def _line(
    order: str, sku: str, quantity: str, price: str, customer: str = "K-1"
) -> tuple[str, ...]:
    return (order, "2024-01-02 10:00:00", customer, sku, f"Product {sku}", quantity, price)


# --- money ----------------------------------------------------------------------------------


def test_money_is_exact_on_every_backend(engine: Engine, tmp_path: Path) -> None:
    path = _orders(
        tmp_path,
        [
            _line("O-1", "A", "3", "0.1"),
            _line("O-1", "B", "3", "0.3333"),
            _line("O-1", "C", "100000", "12345678.9999"),
            _line("O-1", "D", "0.5", "0.00005"),  # half-even: 0.000025 rounds to 0.0000
            _line("O-1", "E", "1", "0.00015"),  # price itself rounds half-even to 0.0002
        ],
    )
    run_import(engine, path)
    amounts = [line[6] for line in stored_lines(engine)]
    assert amounts == [
        Decimal("0.3"),
        Decimal("0.9999"),
        Decimal("1234567899990"),
        Decimal(0),
        Decimal("0.0002"),
    ]
    assert all(type(amount) is Decimal for amount in amounts)
    assert sum(amounts[:2]) == Decimal("1.2999")
    assert stored_lines(engine)[3][4] == Decimal("0.5")


def test_a_money_amount_too_large_for_the_store_is_rejected(engine: Engine, tmp_path: Path) -> None:
    path = _orders(tmp_path, [_line("O-1", "A", "100000000", "100000000")])
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, path)
    assert failure.value.details["errors"][0]["line"] == 2
    assert counts(engine)["orders"] == 0


def test_a_given_amount_wins_and_unit_price_follows_from_it(engine: Engine, tmp_path: Path) -> None:
    header = ("order_id", "placed_at", "customer_id", "quantity", "amount")
    path = write_csv(tmp_path / "a.csv", header, [("O-1", "2024-01-02", "K-1", "3", "10")])
    run_import(engine, path)
    (line,) = stored_lines(engine)
    assert (line[4], line[5], line[6]) == (Decimal(3), Decimal("3.3333"), Decimal(10))


# --- returns, cancellations, anonymous sales --------------------------------------------------


def test_uci_lines_become_sales_returns_adjustments_and_anonymous_sales(
    engine: Engine, tmp_path: Path
) -> None:
    summary = run_import(engine, _uci(tmp_path))

    assert summary.layout == "uci-online-retail"
    assert summary.counts["orders_created"] == 5  # 536365, 536366, 536367, 536381, A563185
    assert summary.counts["return_documents"] == 2
    assert summary.counts["returns_created"] == 3
    assert summary.counts["returns_linked"] == 1
    assert summary.counts["customers_created"] == 2
    assert summary.line_kinds == {
        "anonymous_lines": 4,
        "stock_adjustment_lines": 1,
        "nonpositive_price_lines": 2,
        "adjustment_lines": 2,
        "return_lines": 3,
        "duplicate_lines": 1,
    }
    assert stored_returns(engine) == [
        ("C536379", 1, "17850", "85123A", Decimal(2), Decimal("5.10"), "cancellation", "536365"),
        ("C536379", 2, "17850", "99999", Decimal(1), Decimal("1.00"), "cancellation", None),
        ("C536380", 1, None, "22633", Decimal(1), Decimal("1.85"), "cancellation", None),
    ]
    lines = {(line[0], line[1]): line for line in stored_lines(engine)}
    assert lines["536366", 1][2] is None  # anonymous sale: stored, without a customer
    assert lines["536367", 2] == (lines["536367", 1][0], 2, *lines["536367", 1][2:])
    assert lines["536381", 1][4:] == (Decimal(-5), Decimal(0), Decimal(0), "adjustment")
    assert lines["A563185", 1][6:] == (Decimal("-11062.06"), "adjustment")
    assert rows(engine, "SELECT DISTINCT currency FROM orders") == [("GBP",)]


def test_a_linked_return_points_at_the_same_customer_and_product(
    engine: Engine, tmp_path: Path
) -> None:
    run_import(engine, _uci(tmp_path))
    mismatched = rows(
        engine,
        """SELECT r.id FROM returns r JOIN order_lines l ON l.id = r.order_line_id
           JOIN orders o ON o.id = l.order_id
           WHERE o.customer_id <> r.customer_id OR l.product_id <> r.product_id
              OR l.kind <> 'sale' OR o.placed_at > r.returned_at""",
    )
    assert mismatched == []
    assert rows(engine, "SELECT COUNT(*) FROM returns WHERE order_line_id IS NOT NULL") == [(1,)]


def test_a_return_links_to_the_latest_earlier_purchase(engine: Engine, tmp_path: Path) -> None:
    data = [
        ("100", "X", "Mug", "1", "12/1/2010 8:00", "2", "1", "UK"),
        ("101", "X", "Mug", "1", "12/2/2010 8:00", "2", "1", "UK"),
        ("C102", "X", "Mug", "-1", "12/3/2010 8:00", "2", "1", "UK"),
        ("103", "X", "Mug", "1", "12/4/2010 8:00", "2", "1", "UK"),
    ]
    run_import(engine, _uci(tmp_path, data))
    assert [r[7] for r in stored_returns(engine)] == ["101"]


def test_in_patrons_layout_a_negative_quantity_is_a_return(engine: Engine, tmp_path: Path) -> None:
    path = _orders(tmp_path, [_line("O-1", "A", "2", "5"), _line("R-1", "A", "-1", "5")])
    summary = run_import(engine, path)
    assert summary.counts["returns_linked"] == 1
    assert stored_returns(engine) == [
        ("R-1", 1, "K-1", "A", Decimal(1), Decimal(5), "return", "O-1")
    ]
    assert [line[0] for line in stored_lines(engine)] == ["O-1"]


def test_line_type_column_marks_returns_and_adjustments(engine: Engine, tmp_path: Path) -> None:
    header = (*ORDER_HEADER, "line_type")
    data = [
        (*_line("O-1", "A", "2", "5"), "sale"),
        (*_line("O-1", "B", "1", "-3"), "Adjustment"),
        (*_line("R-9", "A", "1", "5"), "RETURN"),
    ]
    run_import(engine, write_csv(tmp_path / "typed.csv", header, data))
    assert [line[7] for line in stored_lines(engine)] == ["sale", "adjustment"]
    assert [(r[0], r[4], r[5]) for r in stored_returns(engine)] == [("R-9", Decimal(1), Decimal(5))]


def test_an_unknown_line_type_is_rejected(engine: Engine, tmp_path: Path) -> None:
    header = (*ORDER_HEADER, "line_type")
    path = write_csv(tmp_path / "typed.csv", header, [(*_line("O-1", "A", "2", "5"), "gift")])
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, path)
    (error,) = failure.value.details["errors"]
    assert (error["line"], error["column"], error["value"]) == (2, "line_type", "gift")


# --- idempotent re-imports -------------------------------------------------------------------


def _nothing_changed(summary_counts: dict[str, int]) -> bool:
    return not any(
        value
        for name, value in summary_counts.items()
        if name.endswith(("_created", "_updated", "_removed", "_linked"))
    )


def test_importing_the_same_file_twice_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = _uci(tmp_path)
    first = run_import(engine, path)
    stored = (stored_lines(engine), stored_returns(engine), counts(engine))

    second = run_import(engine, path)

    assert first.changed
    assert not second.changed
    assert second.stored
    assert _nothing_changed(second.counts)
    assert second.counts["customers_unchanged"] == first.counts["customers_created"]
    assert second.counts["orders_unchanged"] == first.counts["orders_created"]
    assert second.counts["lines_unchanged"] == first.counts["lines_created"]
    assert second.counts["returns_unchanged"] == first.counts["returns_created"]
    after = counts(engine)
    assert after.pop("import_runs") == stored[2].pop("import_runs") + 1
    assert (stored_lines(engine), stored_returns(engine), after) == (*stored[:2], stored[2])


def test_changing_one_line_updates_exactly_that_line(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, _uci(tmp_path))
    changed = list(UCI_ROWS)
    changed[1] = (
        "536365",
        "71053",
        "LANTERN",
        "7",
        "12/1/2010 8:26",
        "3.39",
        "17850",
        "United Kingdom",
    )
    before = stored_lines(engine)

    summary = run_import(engine, _uci(tmp_path, changed, "changed.csv"))

    assert summary.changed
    assert (summary.counts["orders_updated"], summary.counts["lines_updated"]) == (1, 1)
    assert summary.counts["orders_unchanged"] == 4
    assert summary.counts["lines_created"] == summary.counts["lines_removed"] == 0
    assert summary.counts["returns_updated"] == summary.counts["returns_created"] == 0
    after = stored_lines(engine)
    differences = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert differences == [
        (
            ("536365", 2, "17850", "71053", Decimal(6), Decimal("3.39"), Decimal("20.34"), "sale"),
            ("536365", 2, "17850", "71053", Decimal(7), Decimal("3.39"), Decimal("23.73"), "sale"),
        )
    ]


def test_removing_a_line_from_an_order_removes_it(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, _uci(tmp_path))
    shorter = [row for i, row in enumerate(UCI_ROWS) if i != 4]  # 536367's duplicate line

    summary = run_import(engine, _uci(tmp_path, shorter, "shorter.csv"))

    assert summary.counts["lines_removed"] == 1
    assert summary.counts["orders_updated"] == 1
    assert summary.counts["lines_updated"] == summary.counts["lines_created"] == 0
    assert [line[:2] for line in stored_lines(engine) if line[0] == "536367"] == [("536367", 1)]


def test_adding_a_line_to_an_order_creates_it(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, _uci(tmp_path))
    longer = [
        *UCI_ROWS[:2],
        ("536365", "22633", "HAND WARMER", "1", "12/1/2010 8:26", "1.85", "17850", "UK"),
        *UCI_ROWS[2:],
    ]

    summary = run_import(engine, _uci(tmp_path, longer, "longer.csv"))

    assert (summary.counts["lines_created"], summary.counts["orders_updated"]) == (1, 1)
    assert summary.counts["lines_updated"] == summary.counts["lines_removed"] == 0


def test_removing_a_return_line_removes_it(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, _uci(tmp_path))
    without = [row for i, row in enumerate(UCI_ROWS) if i != 6]
    summary = run_import(engine, _uci(tmp_path, without, "without.csv"))
    assert summary.counts["returns_removed"] == 1
    assert [r[:2] for r in stored_returns(engine)] == [("C536379", 1), ("C536380", 1)]


def test_a_re_import_never_leaves_a_return_linked_to_another_product(
    engine: Engine, tmp_path: Path
) -> None:
    """Line 1 of 536365 changes product: the return of 85123A may no longer point at it."""
    run_import(engine, _uci(tmp_path))
    assert stored_returns(engine)[0][7] == "536365"
    swapped = list(UCI_ROWS)
    swapped[0] = ("536365", "22633", "HAND WARMER", "6", "12/1/2010 8:26", "1.85", "17850", "UK")

    run_import(engine, _uci(tmp_path, swapped, "swapped.csv"))

    mismatched = rows(
        engine,
        """SELECT r.document FROM returns r JOIN order_lines l ON l.id = r.order_line_id
           JOIN orders o ON o.id = l.order_id
           WHERE o.customer_id <> r.customer_id OR l.product_id <> r.product_id""",
    )
    assert mismatched == []


# --- validation: all-or-nothing, --skip-invalid, the error file ------------------------------


def _good_and_bad(tmp_path: Path, bad: int) -> Path:
    data = [_line(f"O-{i}", "A", "1", "2") for i in range(30)]
    for i in range(bad):
        data[i] = _line(f"O-{i}", "A", "1", f"two-{i}")
    return _orders(tmp_path, data, "mixed.csv")


def test_a_file_with_any_bad_row_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, _uci(tmp_path))
    before = (counts(engine), stored_lines(engine))
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, _good_and_bad(tmp_path, bad=1))
    assert failure.value.code == "import.bad_rows"
    assert "--skip-invalid" in failure.value.message
    assert (counts(engine), stored_lines(engine)) == before
    details = failure.value.details
    assert (details["stored"], details["rows_read"], details["rows_rejected"]) == (False, 30, 1)


def test_every_rejected_row_is_in_the_error_file(engine: Engine, tmp_path: Path) -> None:
    errors_path = tmp_path / "rejected.csv"
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, _good_and_bad(tmp_path, bad=25), errors_path=errors_path)
    shown = failure.value.details["errors"]
    assert len(shown) == SHOWN_ERRORS < 25
    assert shown[0] == {
        "line": 2,
        "column": "unit_price",
        "value": "two-0",
        "reason": "not a number (or too large for a money)",
    }
    written = error_file(errors_path)
    assert [(row["line"], row["column"], row["value"]) for row in written] == [
        (str(i + 2), "unit_price", f"two-{i}") for i in range(25)
    ]
    assert str(errors_path) in failure.value.message
    assert failure.value.details["errors_file"] == str(errors_path)


def test_skip_invalid_stores_the_valid_rows_and_reports_the_rest(
    engine: Engine, tmp_path: Path
) -> None:
    summary = run_import(engine, _good_and_bad(tmp_path, bad=3), skip_invalid=True)
    assert (summary.stored, summary.rows_read, summary.rows_rejected) == (True, 30, 3)
    assert summary.counts["orders_created"] == 27
    assert [e["line"] for e in summary.errors] == [2, 3, 4]
    assert len(error_file(Path(summary.errors_file or ""))) == 3
    assert counts(engine)["orders"] == 27


def test_rows_rejected_counts_rows_not_problems(engine: Engine, tmp_path: Path) -> None:
    data = [
        ("O-1", "2011-02-30 10:00:00", "K-1", "A", "N", "many", "x"),
        _line("O-2", "A", "1", "1"),
    ]
    summary = run_import(engine, _orders(tmp_path, data), skip_invalid=True)
    assert len(summary.errors) == 3
    assert {e["line"] for e in summary.errors} == {2}
    assert summary.rows_rejected == 1
    assert summary.counts["orders_created"] == 1


def test_an_order_with_two_customers_is_rejected_line_by_line(
    engine: Engine, tmp_path: Path
) -> None:
    data = [
        _line("O-1", "A", "1", "1", "K-1"),
        _line("O-1", "B", "1", "1", "K-2"),
        _line("O-2", "A", "1", "1"),
    ]
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, _orders(tmp_path, data))
    assert [(e["line"], e["value"]) for e in failure.value.details["errors"]] == [
        (2, "K-1"),
        (3, "K-2"),
    ]
    assert "O-1" in failure.value.details["errors"][0]["reason"]

    summary = run_import(engine, _orders(tmp_path, data), skip_invalid=True)
    assert [line[0] for line in stored_lines(engine)] == ["O-2"]
    assert summary.rows_rejected == 2


def test_a_successful_import_is_recorded_in_the_audit_trail(engine: Engine, tmp_path: Path) -> None:
    summary = run_import(engine, _uci(tmp_path))
    ((kind, layout, recorded),) = rows(engine, "SELECT kind, layout, summary FROM import_runs")
    assert (kind, layout) == ("orders", "uci-online-retail")
    assert "orders_created" in str(recorded)
    with pytest.raises(ImportFailed):
        run_import(engine, _good_and_bad(tmp_path, bad=1))
    assert counts(engine)["import_runs"] == 1
    assert summary.seconds >= 0
