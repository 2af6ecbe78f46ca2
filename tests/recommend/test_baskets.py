"""Baskets: which lines count, one pair per basket and product, and the last basket held out."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from patron.analytics.facts import LINES
from patron.recommend.baskets import (
    Baskets,
    baskets_per_customer,
    from_arrays,
    from_lines,
    last_basket,
    split_last,
    with_products,
)
from recommend.shops import baskets

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _lines(*rows: tuple[str | None, str, str, str | None, float]) -> pa.Table:
    """Rows of (customer, order, "YYYY-MM-DD HH:MM", product, quantity)."""
    customer, order, when, product, quantity = zip(*rows, strict=True)
    return pa.table(
        {
            "customer_id": list(customer),
            "order_id": list(order),
            "placed_at": [datetime.fromisoformat(w) for w in when],
            "product": list(product),
            "quantity": list(quantity),
            "amount": [1.0] * len(rows),
            "discount": [0.0] * len(rows),
            "cost": [None] * len(rows),
        },
        schema=LINES,
    )


def _pairs(b: Baskets) -> set[tuple[str, int, str]]:
    """(customer id, basket code, product id) of every pair, through the code tables."""
    return {
        (str(b.customers[c]), int(k), str(b.products[p]))
        for c, k, p in zip(b.customer.tolist(), b.basket.tolist(), b.product.tolist(), strict=True)
    }


def _days(text: str) -> float:
    return (datetime.fromisoformat(text).replace(tzinfo=UTC) - EPOCH).total_seconds() / 86_400


LINES_TABLE = _lines(
    ("ann", "o1", "2011-01-01 12:00", "85123A", 2.0),
    ("ann", "o1", "2011-01-01 12:00", "85123A", 10.0),  # the same product again: one pair
    ("ann", "o1", "2011-01-01 12:00", "POST", 1.0),  # postage: excluded
    ("ann", "o1", "2011-01-01 12:00", None, 1.0),  # no product: left out
    ("ann", "o2", "2011-01-03 06:00", "22423", 1.0),
    (None, "o3", "2011-01-02 09:00", "22423", 1.0),  # anonymous sale: left out
    ("bob", "o4", "2011-01-02 18:00", "85123A", 3.0),
    ("bob", "o4", "2011-01-02 18:00", "84029G", 1.0),
    ("cid", "o5", "2011-01-05 00:00", "POST", 1.0),  # only postage: cid disappears
)


def test_from_lines_keeps_one_pair_per_basket_and_product_of_known_customers() -> None:
    b = from_lines(LINES_TABLE, exclude={"POST"})
    assert b.customers.tolist() == ["ann", "bob"]
    assert b.products.tolist() == ["22423", "84029G", "85123A"]
    basket = {"o1": 0, "o2": 1, "o4": 2}  # the order ids that remain, in sorted order
    assert _pairs(b) == {
        ("ann", basket["o1"], "85123A"),
        ("ann", basket["o2"], "22423"),
        ("bob", basket["o4"], "85123A"),
        ("bob", basket["o4"], "84029G"),
    }
    assert len(b) == 4
    assert b.n_customers == 2
    assert b.n_products == 3


def test_from_lines_times_are_days_since_the_epoch() -> None:
    b = from_lines(LINES_TABLE, exclude={"POST"})
    when = {"o1": "2011-01-01 12:00", "o2": "2011-01-03 06:00", "o4": "2011-01-02 18:00"}
    # 2011-01-01 is day 14975 since 1970-01-01 (41 years, 10 of them leap years: 41*365 + 10);
    # noon adds half a day
    assert _days("2011-01-01 12:00") == 14_975.5
    by_basket = {int(k): float(t) for k, t in zip(b.basket, b.time, strict=True)}
    for order, code in {"o1": 0, "o2": 1, "o4": 2}.items():
        assert by_basket[code] == _days(when[order])


def test_from_lines_without_exclusions_keeps_service_lines() -> None:
    b = from_lines(LINES_TABLE)
    assert "POST" in b.products.tolist()
    assert b.customers.tolist() == ["ann", "bob", "cid"]
    assert len(b) == 6  # the four pairs above, ann's postage in o1 and cid's in o5


def test_from_arrays_counts_a_product_once_per_basket_whatever_the_quantity() -> None:
    b = from_arrays(
        np.array(["b", "a", "a", "a", "b"], dtype=object),
        np.array([7, 3, 3, 4, 7]),
        np.array([2.0, 1.0, 1.0, 5.0, 2.0]),
        np.array(["tea", "tea", "tea", "jam", "tea"], dtype=object),
    )
    assert b.customers.tolist() == ["a", "b"]
    assert b.products.tolist() == ["jam", "tea"]
    assert len(b) == 3  # (3, tea), (4, jam), (7, tea)
    assert sorted(zip(b.customer.tolist(), b.product.tolist(), b.time.tolist(), strict=True)) == [
        (0, 0, 5.0),
        (0, 1, 1.0),
        (1, 1, 2.0),
    ]


def test_with_products_recodes_over_a_larger_catalogue() -> None:
    b = baskets(("a", 1, 0.0, "JAM TEA"), ("b", 2, 1.0, "TEA"))
    wider = with_products(b, np.array(["BREAD", "JAM", "SALT", "TEA"], dtype=object))
    assert wider.products.tolist() == ["BREAD", "JAM", "SALT", "TEA"]
    assert _pairs(wider) == _pairs(b)


SPLIT = baskets(
    ("a", 1, 1.0, "X Y"),
    ("a", 2, 5.0, "Y"),
    ("a", 3, 5.0, "Z"),  # same moment as basket 2: the higher code is the last
    ("b", 4, 2.0, "X Y"),  # one basket only: stays whole
    ("c", 5, 1.0, "X"),
    ("c", 6, 3.0, "Y Z"),
    ("d", 8, 2.0, "Z"),
    ("d", 7, 9.0, "X"),  # later in time though lower in code: the last
)


def test_split_last_holds_out_each_repeat_customers_latest_basket() -> None:
    history, last = split_last(SPLIT)
    # order numbers 1..8 are basket codes 0..7
    assert _pairs(last) == {("a", 2, "Z"), ("c", 5, "Y"), ("c", 5, "Z"), ("d", 6, "X")}
    assert _pairs(history) == _pairs(SPLIT) - _pairs(last)
    assert "b" not in {customer for customer, _, _ in _pairs(last)}
    assert len(history) + len(last) == len(SPLIT)
    assert history.products is SPLIT.products  # the same code space
    assert history.customers is SPLIT.customers


def test_last_basket_and_baskets_per_customer() -> None:
    assert last_basket(SPLIT).tolist() == [2, 3, 5, 6]  # a: 3 (tie), b: 4, c: 6, d: 7 (by time)
    assert baskets_per_customer(SPLIT).tolist() == [3, 1, 2, 2]  # baskets, not pairs
    only_b = SPLIT.take(SPLIT.customer == 1)
    assert last_basket(only_b).tolist() == [-1, 3, -1, -1]
    assert baskets_per_customer(only_b).tolist() == [0, 1, 0, 0]


def test_one_basket_customers_have_nothing_held_out() -> None:
    single = baskets(("a", 1, 0.0, "X"), ("b", 2, 1.0, "X Y"))
    history, last = split_last(single)
    assert len(last) == 0
    assert _pairs(history) == _pairs(single)


def test_exclusions_take_skus_and_shell_wildcards() -> None:
    from patron.recommend.baskets import excluded

    products = ["POST", "gift_0001_10", "gift_0001_20", "DCGS0003", "85123A", "post"]
    # exact SKUs are case-sensitive; gift_* and DCGS* match by shell rules
    assert excluded(products, ["POST", "gift_*", "DCGS*"]).tolist() == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert excluded(products, []).tolist() == [False] * 6
