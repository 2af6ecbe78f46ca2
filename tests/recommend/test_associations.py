"""Product statistics and neighbours on a five-customer shop worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from patron.recommend.associations import (
    TrendWindow,
    customer_products,
    neighbours,
    product_stats,
)
from recommend.shops import baskets

# Products A, B, C, D are codes 0..3, customers c1..c5 codes 0..4.
SHOP = baskets(
    ("c1", 1, 0.0, "A B"),
    ("c1", 2, 10.0, "A"),
    ("c1", 3, 30.0, "A C"),
    ("c2", 4, 5.0, "A B"),
    ("c2", 5, 25.0, "B"),
    ("c3", 6, 2.0, "B C"),
    ("c4", 7, 40.0, "D"),
    ("c4", 8, 50.0, "D"),
    ("c4", 9, 60.0, "A D"),
    ("c5", 10, 55.0, "C"),
)
A, B, C, D = 0, 1, 2, 3
# Baskets per (customer, product):  A    B    C    D
#                              c1   3    1    1    .
#                              c2   1    2    .    .
#                              c3   .    1    1    .
#                              c4   1    .    .    3
#                              c5   .    .    1    .


def test_customer_products_counts_baskets() -> None:
    assert customer_products(SHOP).toarray().tolist() == [
        [3, 1, 1, 0],
        [1, 2, 0, 0],
        [0, 1, 1, 0],
        [1, 0, 0, 3],
        [0, 0, 1, 0],
    ]


def test_buyers_repeat_buyers_and_repurchase_rate() -> None:
    stats = product_stats(SHOP)
    assert stats.buyers.tolist() == [3, 3, 3, 1]  # A: c1 c2 c4; B: c1 c2 c3; C: c1 c3 c5; D: c4
    assert stats.repeat_buyers.tolist() == [1, 1, 0, 1]  # A: c1; B: c2; D: c4
    # (repeat + 1) / (buyers + 2): A 2/5, B 2/5, C 1/5, D 2/3
    assert stats.repurchase_rate == pytest.approx([0.4, 0.4, 0.2, 2 / 3])
    assert stats.customers == 5


def test_interval_pools_the_repeat_buyers_spans_with_a_thirty_day_prior() -> None:
    stats = product_stats(SHOP)
    # (sum of first-to-last spans + 30) / (sum of (baskets - 1) + 1):
    # A: c1 bought on days 0, 10, 30 → span 30, 2 gaps → (30 + 30) / 3 = 20
    # B: c2 bought on days 5, 25 → span 20, 1 gap → (20 + 30) / 2 = 25
    # C: nobody bought it twice → 30 / 1 = 30
    # D: c4 on days 40, 50, 60 → span 20, 2 gaps → (20 + 30) / 3
    assert stats.interval == pytest.approx([20.0, 25.0, 30.0, 50 / 3])


def test_trend_counts_baskets_in_the_thirty_days_before_as_of() -> None:
    # as of the last basket (day 60, just after it): the window is (30, 60]
    # A: c4 on day 60 (c1's day 30 falls out); B: none; C: c5 on 55; D: c4 on 40, 50, 60
    assert product_stats(SHOP).trend.tolist() == [1, 0, 1, 3]
    # as of day 31: [1, 31): A on 5, 10, 30; B on 2, 5, 25; C on 2, 30; D none
    assert product_stats(SHOP, as_of=31.0).trend.tolist() == [3, 3, 2, 0]


def test_trend_window_is_closed_below_and_open_above() -> None:
    window = TrendWindow(SHOP)
    product = np.array([D, D, D, D, D, A, B, C])
    now = np.array([50.0, 50.5, 70.0, 90.0, 90.5, 40.0, 62.0, 1_000.0])
    # D bought on 40, 50, 60:
    #   now 50 → [20, 50): 40;  50.5 → 40, 50;  70 → [40, 70): all three;  90 → [60, 90): 60;
    #   90.5 → none
    # A on 0, 5, 10, 30, 60 at now 40 → [10, 40): 10, 30
    # B on 0, 2, 5, 25 at now 62 → [32, 62): none (A's and D's day 60 are other products)
    # C at day 1000: none
    assert window.counts(product, now).tolist() == [1, 2, 3, 1, 0, 2, 0, 0]
    assert window.counts(np.array([A, D]), np.array([-500.0, 10_000.0])).tolist() == [0, 0]
    assert len(window.counts(np.zeros(0, dtype=np.int64), np.zeros(0))) == 0


def test_cosine_similarity_and_co_buyers() -> None:
    near = neighbours(SHOP)
    # buyers as sets: A {c1 c2 c4}, B {c1 c2 c3}, C {c1 c3 c5}, D {c4}
    # A·B = |{c1, c2}| = 2 → 2 / sqrt(3 · 3) = 2/3;  A·C = |{c1}| = 1 → 1/3
    # A·D = |{c4}| = 1 → 1 / sqrt(3 · 1);  B·C = |{c1, c3}| = 2 → 2/3;  B·D = C·D = 0
    third = 1 / np.sqrt(3)
    expected = {
        A: [(B, 2 / 3, 2), (D, third, 1), (C, 1 / 3, 1)],
        B: [(A, 2 / 3, 2), (C, 2 / 3, 2)],  # a tie: lower code first
        C: [(B, 2 / 3, 2), (A, 1 / 3, 1)],
        D: [(A, third, 1)],
    }
    for product, rows in expected.items():
        found = near.of(product)
        assert [(j, n) for j, _, n in found] == [(j, n) for j, _, n in rows], product
        assert [s for _, s, _ in found] == pytest.approx([s for _, s, _ in rows]), product
    assert near.similarity.diagonal().tolist() == [0, 0, 0, 0]  # not its own neighbour


def test_only_the_top_neighbours_are_kept() -> None:
    near = neighbours(SHOP, keep=1)
    assert [j for j, _, _ in near.of(A)] == [B]  # 2/3 beats D's 0.577 and C's 1/3
    assert [j for j, _, _ in near.of(C)] == [B]
    assert [j for j, _, _ in near.of(D)] == [A]
    tied = near.of(B)  # A and C tie at 2/3: either, but only one
    assert len(tied) == 1
    assert tied[0][0] in (A, C)
    assert tied[0][1] == pytest.approx(2 / 3)
    assert near.co_buyers.nnz == near.similarity.nnz == 4
    two = neighbours(SHOP, keep=2)
    assert [j for j, _, _ in two.of(A)] == [B, D]
