"""Which column of a file means what: Patron's fields per import kind, and the known layouts.

A layout is recognised from the header alone (Patron's canonical names, UCI Online Retail I/II,
CDNOW); anything else needs an explicit mapping. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from patron.errors import PatronError


class Kind(StrEnum):
    orders = "orders"
    customers = "customers"
    products = "products"


class FieldType(StrEnum):
    text = "text"
    money = "money"
    quantity = "quantity"
    instant = "instant"
    day = "day"
    flag = "flag"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType = FieldType.text
    required: bool = False
    max_length: int = 200
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()


def _f(name: str, type_: FieldType = FieldType.text, **kw: object) -> FieldSpec:
    return FieldSpec(name, type_, **kw)  # type: ignore[arg-type]


T, M, Q, INSTANT, D, B = (
    FieldType.text,
    FieldType.money,
    FieldType.quantity,
    FieldType.instant,
    FieldType.day,
    FieldType.flag,
)

FIELDS: dict[Kind, tuple[FieldSpec, ...]] = {
    Kind.orders: (
        _f("order_id", T, required=True, max_length=64, aliases=("order", "invoice", "order_no")),
        _f("placed_at", INSTANT, required=True, aliases=("date", "order_date", "timestamp")),
        _f("customer_id", T, max_length=64, aliases=("customer",)),
        _f("sku", T, max_length=64, aliases=("product_id", "stock_code", "article")),
        _f("product_name", T, max_length=300, aliases=("description", "product")),
        _f("category", T, max_length=100),
        _f("brand", T, max_length=100),
        _f("quantity", Q, required=True, aliases=("qty",)),
        _f("unit_price", M, aliases=("price",)),
        _f("amount", M, aliases=("line_total", "total")),
        _f("discount", M),
        _f("unit_cost", M, aliases=("cost",)),
        _f("currency", T, max_length=3),
        _f("channel", T, max_length=32),
        _f("store", T, max_length=64),
        _f("status", T, max_length=16),
        _f("line_type", T, max_length=16, choices=("sale", "return", "adjustment")),
        _f("country", T, max_length=64),
        _f("customer_name", T, max_length=200),
        _f("customer_email", T, max_length=254, aliases=("email",)),
        # the subscription delivery the order fulfils (its reference, ``S-000123/2026-12-01``)
        _f("subscription_ref", T, max_length=96, aliases=("subscription_reference",)),
    ),
    Kind.customers: (
        _f("customer_id", T, required=True, max_length=64, aliases=("external_id", "id")),
        _f("kind", T, max_length=16, choices=("person", "organisation")),
        _f("name", T, max_length=200),
        _f("email", T, max_length=254),
        _f("phone", T, max_length=40),
        _f("birthday", D),
        _f("language", T, max_length=8),
        _f("country", T, max_length=64),
        _f("city", T, max_length=100),
        _f("time_zone", T, max_length=64),
        _f("first_contact_at", INSTANT),
        _f("acquisition_channel", T, max_length=64),
    ),
    Kind.products: (
        _f("sku", T, required=True, max_length=64, aliases=("product_id", "stock_code")),
        _f("name", T, max_length=300, aliases=("description",)),
        _f("category", T, max_length=100),
        _f("brand", T, max_length=100),
        _f("creator", T, max_length=200, aliases=("author", "artist")),
        _f("price", M),
        _f("unit_cost", M, aliases=("cost",)),
        _f("active", B),
        _f("is_partner", B, aliases=("partner",)),
        _f("partner_name", T, max_length=100),
        _f("replenishable", B),
    ),
}


@dataclass(frozen=True)
class Layout:
    """How one file maps onto Patron's fields, plus the rules of its source system."""

    name: str
    kind: Kind
    columns: dict[str, str]  # Patron field -> source column
    currency: str | None = None
    # UCI: a "C" document is a cancellation; negative quantity elsewhere is a stock adjustment.
    cancellation_prefix: str | None = None
    adjustment_prefix: str | None = None
    # CDNOW: no order numbers; every row is one order, numbered per customer and day.
    synthesize_order_id: bool = False
    whitespace_separated: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


UCI_I = {
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
}
UCI_II = {
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
}
CDNOW = ("customer_id", "date", "number_of_cds", "dollar_value")


def recognise(kind: Kind, header: list[str]) -> Layout:
    """The layout of a file from its header, or a PatronError that says how to map it."""
    present = {column.strip() for column in header}
    if kind is Kind.orders and present >= UCI_I:
        return _uci("uci-online-retail", header, "InvoiceNo", "UnitPrice", "CustomerID")
    if kind is Kind.orders and present >= UCI_II:
        return _uci("uci-online-retail-ii", header, "Invoice", "Price", "Customer ID")
    if kind is Kind.orders and tuple(normalise(c) for c in header) == CDNOW:
        return cdnow_layout(header)
    return canonical(kind, header)


def _uci(name: str, header: list[str], invoice: str, price: str, customer: str) -> Layout:
    exact = {column.strip(): column for column in header}
    columns = {
        "order_id": exact[invoice],
        "sku": exact["StockCode"],
        "product_name": exact["Description"],
        "quantity": exact["Quantity"],
        "placed_at": exact["InvoiceDate"],
        "unit_price": exact[price],
        "customer_id": exact[customer],
        "country": exact["Country"],
    }
    return Layout(
        name, Kind.orders, columns, currency="GBP", cancellation_prefix="C", adjustment_prefix="A"
    )


def cdnow_layout(header: list[str]) -> Layout:
    columns = dict(zip(("customer_id", "placed_at", "quantity", "amount"), header, strict=True))
    return Layout(
        "cdnow",
        Kind.orders,
        columns,
        currency="USD",
        synthesize_order_id=True,
        whitespace_separated=True,
    )


def canonical(kind: Kind, header: list[str], mapping: dict[str, str] | None = None) -> Layout:
    """Patron's own layout (field names or their aliases as headers), with an optional mapping."""
    specs = {spec.name: spec for spec in FIELDS[kind]}
    by_name: dict[str, str] = {}
    for column in header:
        key = normalise(column)
        for spec in specs.values():
            if key == spec.name or key in spec.aliases:
                by_name.setdefault(spec.name, column)
    for source, target in (mapping or {}).items():
        if target not in specs:
            raise PatronError(
                f"--map {source}={target}: {target!r} is not a field of {kind} imports; "
                f"known fields: {', '.join(specs)}",
                code="import.bad_mapping",
            )
        if source not in header:
            raise PatronError(
                f"--map {source}={target}: the file has no column {source!r}; "
                f"its columns are: {', '.join(header)}",
                code="import.bad_mapping",
            )
        by_name[target] = source
    layout = Layout("mapped" if mapping else "patron", kind, by_name)
    check_required(layout, header)
    return layout


def check_required(layout: Layout, header: list[str]) -> None:
    missing = [
        spec.name
        for spec in FIELDS[layout.kind]
        if spec.required
        and spec.name not in layout.columns
        and not (spec.name == "order_id" and layout.synthesize_order_id)
    ]
    if layout.kind is Kind.orders and not ({"unit_price", "amount"} & layout.columns.keys()):
        missing.append("unit_price (or amount)")
    if missing:
        raise PatronError(
            f"cannot import {layout.kind}: no column for {', '.join(missing)}. "
            f"The file's columns are: {', '.join(header) or '(none)'}. "
            "Name them as in Patron's layout (see the README) or map them with --map COLUMN=FIELD.",
            code="import.missing_columns",
            details={"missing": missing, "columns": header},
        )


def read_mapping(pairs: list[str], mapping_file: Path | None) -> dict[str, str]:
    """``--map col=field`` pairs and an optional mapping file (JSON object or ``col = field`` lines)."""
    mapping: dict[str, str] = {}
    if mapping_file is not None:
        try:
            text = mapping_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PatronError(
                f"cannot read mapping file {mapping_file}: {exc}", code="import.bad_mapping"
            ) from exc
        if text.lstrip().startswith("{"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PatronError(
                    f"mapping file {mapping_file}: {exc}", code="import.bad_mapping"
                ) from exc
            mapping.update({str(k): str(v) for k, v in loaded.items()})
        else:
            pairs = [
                line for line in text.splitlines() if line.strip() and not line.startswith("#")
            ] + pairs
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise PatronError(f"--map {pair!r}: write COLUMN=FIELD", code="import.bad_mapping")
        mapping[source.strip()] = target.strip()
    return mapping
