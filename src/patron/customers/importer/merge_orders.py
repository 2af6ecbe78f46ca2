"""Merge staged order rows into customers, products, orders, order lines and returns.

Natural keys make re-imports idempotent: a customer by external id, a product by SKU, an order
by its external id, a line by (order, position in the file), a return by (document, position).
An order in the file is the whole order: lines it no longer has are removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from patron.customers.importer.convert import RowError
from patron.customers.importer.sql import Sql
from patron.customers.importer.staging import STAGE, StageColumn

COLUMNS = (
    StageColumn("row_no", "int"),
    StageColumn("order_key", "text"),
    StageColumn("line_kind", "text"),
    StageColumn("placed_at", "instant"),
    StageColumn("customer_key", "text"),
    StageColumn("sku", "text"),
    StageColumn("product_name", "text"),
    StageColumn("category", "text"),
    StageColumn("brand", "text"),
    StageColumn("quantity", "units"),
    StageColumn("unit_price", "units"),
    StageColumn("discount", "units"),
    StageColumn("unit_cost", "units"),
    StageColumn("amount", "units"),
    StageColumn("currency", "text"),
    StageColumn("channel", "text"),
    StageColumn("store", "text"),
    StageColumn("status", "text"),
    StageColumn("country", "text"),
    StageColumn("customer_name", "text"),
    StageColumn("customer_email", "text"),
    StageColumn("subscription_ref", "text"),
)


@dataclass
class OrderCounts:
    customers_created: int = 0
    customers_updated: int = 0
    customers_unchanged: int = 0
    products_created: int = 0
    products_updated: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    lines_created: int = 0
    lines_updated: int = 0
    lines_removed: int = 0
    lines_unchanged: int = 0
    returns_created: int = 0
    returns_updated: int = 0
    returns_removed: int = 0
    returns_unchanged: int = 0
    returns_linked: int = 0
    return_documents: int = 0


def prepare(sql: Sql, *, synthesize_keys: bool) -> None:
    """Index the stage and number key-less rows (CDNOW) per customer and day."""
    sql.run(f"CREATE UNIQUE INDEX ix_{STAGE}_row ON {STAGE} (row_no)")
    sql.run(f"CREATE INDEX ix_{STAGE}_order ON {STAGE} (order_key, row_no)")
    if synthesize_keys:
        sql.run(
            f"""UPDATE {STAGE} SET order_key = {STAGE}.order_key || '-' || CAST(n.rn AS VARCHAR(12))
            FROM (SELECT row_no, ROW_NUMBER() OVER (PARTITION BY order_key ORDER BY row_no) AS rn
                  FROM {STAGE}) AS n
            WHERE n.row_no = {STAGE}.row_no"""
        )
    sql.run(f"CREATE INDEX ix_{STAGE}_customer ON {STAGE} (customer_key, row_no)")
    sql.run(f"CREATE INDEX ix_{STAGE}_sku ON {STAGE} (sku, row_no)")
    sql.analyze(STAGE)


def conflicts(sql: Sql) -> list[RowError]:
    """Rows of one order that name different customers: the order cannot be stored as one."""
    rows = sql.rows(
        f"""SELECT s.row_no, s.order_key, s.customer_key FROM {STAGE} s JOIN (
              SELECT order_key FROM {STAGE} WHERE line_kind <> 'return' GROUP BY order_key
              HAVING COUNT(DISTINCT COALESCE(customer_key, '')) > 1) AS bad
            ON bad.order_key = s.order_key ORDER BY s.row_no"""
    )
    return [
        RowError(
            row.row_no,
            "customer_id",
            row.customer_key,
            f"order {row.order_key} has lines for more than one customer",
        )
        for row in rows
    ]


def drop_rows(sql: Sql, lines: list[int]) -> None:
    for start in range(0, len(lines), 500):
        chunk = lines[start : start + 500]
        marks = ", ".join(f":r{i}" for i in range(len(chunk)))
        sql.run(
            f"DELETE FROM {STAGE} WHERE row_no IN ({marks})",
            **{f"r{i}": v for i, v in enumerate(chunk)},
        )


def merge(sql: Sql, *, return_kind: str) -> OrderCounts:
    counts = OrderCounts()
    _customers(sql, counts)
    _products(sql, counts)
    _orders(sql, counts)
    _lines(sql, counts)
    _returns(sql, counts, return_kind)
    return counts


def _first_rows(sql: Sql, name: str, key: str) -> None:
    sql.run(f"DROP TABLE IF EXISTS {name}")
    sql.run(
        f"CREATE TEMPORARY TABLE {name} AS SELECT {key} AS key, MIN(row_no) AS row_no "
        f"FROM {STAGE} WHERE {key} IS NOT NULL GROUP BY {key}"
    )
    sql.analyze(name)


def _customers(sql: Sql, counts: OrderCounts) -> None:
    _first_rows(sql, "import_customers", "customer_key")
    total = int(sql.scalar("SELECT COUNT(*) FROM import_customers"))
    counts.customers_created = sql.run(
        f"""INSERT INTO customers (external_id, kind, name, email, country, created_at, updated_at)
            SELECT f.key, 'person', r.customer_name, r.customer_email, r.country, :now, :now
            FROM import_customers f JOIN {STAGE} r ON r.row_no = f.row_no
            WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.external_id = f.key)""",
        now=sql.now,
    )
    fill = ("country", "country"), ("name", "customer_name"), ("email", "customer_email")
    missing = " OR ".join(f"(customers.{t} IS NULL AND r.{s} IS NOT NULL)" for t, s in fill)
    sets = ", ".join(f"{t} = COALESCE(customers.{t}, r.{s})" for t, s in fill)
    counts.customers_updated = sql.run(
        f"""UPDATE customers SET {sets}, updated_at = :now
            FROM import_customers f JOIN {STAGE} r ON r.row_no = f.row_no
            WHERE customers.external_id = f.key AND ({missing})""",
        now=sql.now,
    )
    counts.customers_unchanged = total - counts.customers_created - counts.customers_updated


def _products(sql: Sql, counts: OrderCounts) -> None:
    _first_rows(sql, "import_products", "sku")
    counts.products_created = sql.run(
        f"""INSERT INTO products (sku, name, category, brand, active, is_partner, replenishable,
                                  created_at, updated_at)
            SELECT f.key, r.product_name, r.category, r.brand, :yes, :no, :no, :now, :now
            FROM import_products f JOIN {STAGE} r ON r.row_no = f.row_no
            WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = f.key)""",
        now=sql.now,
        yes=True,
        no=False,
    )
    fill = ("name", "product_name"), ("category", "category"), ("brand", "brand")
    missing = " OR ".join(f"(products.{t} IS NULL AND r.{s} IS NOT NULL)" for t, s in fill)
    sets = ", ".join(f"{t} = COALESCE(products.{t}, r.{s})" for t, s in fill)
    counts.products_updated = sql.run(
        f"""UPDATE products SET {sets}, updated_at = :now
            FROM import_products f JOIN {STAGE} r ON r.row_no = f.row_no
            WHERE products.sku = f.key AND ({missing})""",
        now=sql.now,
    )


def _orders(sql: Sql, counts: OrderCounts) -> None:
    sql.run("DROP TABLE IF EXISTS import_orders")
    sql.run(
        f"""CREATE TEMPORARY TABLE import_orders AS
            SELECT g.order_key, c.id AS customer_id, g.placed_at, r.currency, r.channel, r.store,
                   COALESCE(r.status, 'completed') AS status,
                   COALESCE(g.subscription_ref, o.subscription_ref) AS subscription_ref,
                   o.id AS existing_id, o.id AS order_id
            FROM (SELECT order_key, MIN(row_no) AS row_no, MIN(placed_at) AS placed_at,
                         MAX(subscription_ref) AS subscription_ref
                  FROM {STAGE} WHERE line_kind <> 'return' GROUP BY order_key) AS g
            JOIN {STAGE} r ON r.row_no = g.row_no
            LEFT JOIN customers c ON c.external_id = r.customer_key
            LEFT JOIN orders o ON o.external_id = g.order_key"""
    )
    sql.analyze("import_orders")
    # A file without a subscription reference keeps the one an order has (the shop may have
    # named it over the API afterwards); a reference is replaced, never cleared.
    header = (
        "customer_id",
        "placed_at",
        "currency",
        "channel",
        "store",
        "status",
        "subscription_ref",
    )
    changed = " OR ".join(sql.differs(f"orders.{c}", f"i.{c}") for c in header)
    sql.run("DROP TABLE IF EXISTS import_changed_orders")
    sql.run(
        f"""CREATE TEMPORARY TABLE import_changed_orders AS
            SELECT orders.id FROM orders JOIN import_orders i ON i.existing_id = orders.id
            WHERE {changed}"""
    )
    sql.run(
        f"UPDATE orders SET {', '.join(f'{c} = i.{c}' for c in header)} "
        "FROM import_orders i WHERE i.existing_id = orders.id "
        "AND orders.id IN (SELECT id FROM import_changed_orders)"
    )
    counts.orders_created = sql.run(
        """INSERT INTO orders (external_id, customer_id, placed_at, currency, channel, store, status,
                              subscription_ref)
           SELECT order_key, customer_id, placed_at, currency, channel, store, status,
                  subscription_ref
           FROM import_orders WHERE existing_id IS NULL"""
    )
    # Look up each new order's id once, so lines join this small table instead of orders.
    sql.run("CREATE UNIQUE INDEX ix_import_orders ON import_orders (order_key)")
    sql.run(
        """UPDATE import_orders SET order_id = (
               SELECT o.id FROM orders o WHERE o.external_id = import_orders.order_key)
           WHERE existing_id IS NULL"""
    )


LINE_VALUES = ("product_id", "quantity", "unit_price", "discount", "unit_cost", "amount", "kind")


def _staged_lines(sql: Sql, *, known_orders: bool) -> str:
    """The stage's sale and adjustment lines of new (or of already stored) orders, numbered."""
    return f"""SELECT i.order_id,
                   ROW_NUMBER() OVER (PARTITION BY r.order_key ORDER BY r.row_no) AS line_no,
                   p.id AS product_id, {sql.quantity("r.quantity")} AS quantity,
                   {sql.money("r.unit_price")} AS unit_price, {sql.money("r.discount")} AS discount,
                   {sql.money("r.unit_cost")} AS unit_cost, {sql.money("r.amount")} AS amount,
                   r.line_kind AS kind
            FROM {STAGE} r
            JOIN import_orders i ON i.order_key = r.order_key
            LEFT JOIN products p ON p.sku = r.sku
            WHERE r.line_kind <> 'return'
              AND i.existing_id IS {"NOT NULL" if known_orders else "NULL"}"""


def _lines(sql: Sql, counts: OrderCounts) -> None:
    # New orders' lines go straight in: nothing stored can differ from them.
    columns = ", ".join(("order_id", "line_no", *LINE_VALUES))
    new_lines = sql.run(
        f"INSERT INTO order_lines ({columns}) SELECT {columns} FROM ("
        f"{_staged_lines(sql, known_orders=False)}) AS l"
    )
    sql.run("DROP TABLE IF EXISTS import_lines")
    sql.run("CREATE TEMPORARY TABLE import_lines AS " + _staged_lines(sql, known_orders=True))
    sql.run("CREATE INDEX ix_import_lines ON import_lines (order_id, line_no)")
    sql.analyze("import_lines")
    differs = " OR ".join(sql.differs(f"order_lines.{c}", f"l.{c}") for c in LINE_VALUES)
    sql.run(
        f"""INSERT INTO import_changed_orders (id)
            SELECT DISTINCT l.order_id FROM import_lines l
            WHERE NOT EXISTS (
                SELECT 1 FROM order_lines x WHERE x.order_id = l.order_id AND x.line_no = l.line_no)
            UNION SELECT DISTINCT order_lines.order_id FROM order_lines
            JOIN import_lines l ON l.order_id = order_lines.order_id AND l.line_no = order_lines.line_no
            WHERE {differs}
            UNION SELECT DISTINCT x.order_id FROM order_lines x
            JOIN (SELECT order_id, MAX(line_no) AS n FROM import_lines GROUP BY order_id) AS m
              ON m.order_id = x.order_id WHERE x.line_no > m.n"""
    )
    counts.lines_updated, counts.lines_removed, counts.lines_created = _sync(
        sql,
        table="order_lines",
        staged="import_lines",
        parent="order_id",
        values=LINE_VALUES,
    )
    total = int(sql.scalar("SELECT COUNT(*) FROM import_lines"))
    counts.lines_unchanged = total - counts.lines_created - counts.lines_updated
    counts.lines_created += new_lines
    existing = int(sql.scalar("SELECT COUNT(*) FROM import_orders WHERE existing_id IS NOT NULL"))
    counts.orders_updated = int(sql.scalar("SELECT COUNT(DISTINCT id) FROM import_changed_orders"))
    counts.orders_unchanged = existing - counts.orders_updated


RETURN_VALUES = ("customer_id", "product_id", "quantity", "amount", "returned_at", "kind")


def _returns(sql: Sql, counts: OrderCounts, return_kind: str) -> None:
    sql.run("DROP TABLE IF EXISTS import_returns")
    sql.run(
        f"""CREATE TEMPORARY TABLE import_returns AS
            SELECT r.order_key AS document,
                   ROW_NUMBER() OVER (PARTITION BY r.order_key ORDER BY r.row_no) AS line_no,
                   c.id AS customer_id, p.id AS product_id,
                   {sql.quantity("r.quantity")} AS quantity, {sql.money("r.amount")} AS amount,
                   r.placed_at AS returned_at, CAST(:kind AS VARCHAR(16)) AS kind
            FROM {STAGE} r
            LEFT JOIN customers c ON c.external_id = r.customer_key
            LEFT JOIN products p ON p.sku = r.sku
            WHERE r.line_kind = 'return'""",
        kind=return_kind,
    )
    sql.run("CREATE INDEX ix_import_returns ON import_returns (document, line_no)")
    sql.analyze("import_returns")
    counts.return_documents = int(sql.scalar("SELECT COUNT(DISTINCT document) FROM import_returns"))
    counts.returns_updated, counts.returns_removed, counts.returns_created = _sync(
        sql,
        table="returns",
        staged="import_returns",
        parent="document",
        values=RETURN_VALUES,
        reset="order_line_id = NULL",
    )
    total = int(sql.scalar("SELECT COUNT(*) FROM import_returns"))
    counts.returns_unchanged = total - counts.returns_created - counts.returns_updated
    counts.returns_linked = _link_returns(sql)


def _sync(
    sql: Sql,
    *,
    table: str,
    staged: str,
    parent: str,
    values: tuple[str, ...],
    reset: str | None = None,
) -> tuple[int, int, int]:
    """Make the rows of each staged parent in ``table`` equal the staged ones, keyed by
    (parent, line_no): update what differs, remove what is gone, insert what is new.

    ``reset`` is set on every updated row. Returns (updated, removed, created).
    """
    differs = " OR ".join(sql.differs(f"{table}.{c}", f"l.{c}") for c in values)
    sets = ", ".join([*(f"{c} = l.{c}" for c in values), *([reset] if reset else [])])
    updated = sql.run(
        f"UPDATE {table} SET {sets} FROM {staged} l WHERE {table}.{parent} = l.{parent} "
        f"AND {table}.line_no = l.line_no AND ({differs})"
    )
    removed = sql.run(
        f"""DELETE FROM {table} WHERE {parent} IN (SELECT {parent} FROM {staged})
            AND line_no > (SELECT MAX(l.line_no) FROM {staged} l
                           WHERE l.{parent} = {table}.{parent})"""
    )
    columns = ", ".join((parent, "line_no", *values))
    missing = (
        f"NOT EXISTS (SELECT 1 FROM {table} x "
        f"WHERE x.{parent} = l.{parent} AND x.line_no = l.line_no)"
    )
    created = sql.run(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged} l WHERE {missing}"
    )
    return updated, removed, created


def _link_returns(sql: Sql) -> int:
    """Point each new return at the customer's latest earlier purchase line of the same product."""
    # A re-import may have given a linked line another product, kind or customer: unlink it.
    sql.run(
        """UPDATE returns SET order_line_id = NULL
           WHERE order_line_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM order_lines ol JOIN orders o ON o.id = ol.order_id
               WHERE ol.id = returns.order_line_id AND ol.kind = 'sale'
                 AND o.customer_id = returns.customer_id AND ol.product_id = returns.product_id
                 AND o.placed_at <= returns.returned_at)"""
    )
    linked = "SELECT COUNT(*) FROM returns WHERE order_line_id IS NOT NULL AND document IN (SELECT document FROM import_returns)"
    before = int(sql.scalar(linked))
    sql.run(
        """UPDATE returns SET order_line_id = (
               SELECT ol.id FROM order_lines ol JOIN orders o ON o.id = ol.order_id
               WHERE o.customer_id = returns.customer_id AND ol.product_id = returns.product_id
                 AND ol.kind = 'sale' AND o.placed_at <= returns.returned_at
               ORDER BY o.placed_at DESC, ol.id DESC LIMIT 1)
           WHERE order_line_id IS NULL AND customer_id IS NOT NULL AND product_id IS NOT NULL
             AND document IN (SELECT document FROM import_returns)"""
    )
    return int(sql.scalar(linked)) - before
