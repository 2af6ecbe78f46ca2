"""Offline scores of hand-made lists: precision, recall, hit rate, NDCG, coverage, per part."""

from __future__ import annotations

import numpy as np
import pytest

from patron.recommend.evaluation import Evaluation, Scores, score

N, K = 10, 3
CUSTOMERS = np.array([2, 5, 9])  # sorted customer codes
TOP = np.array(
    [
        [4, 5, 6],  # customer 2
        [7, -1, -1],  # customer 5: a short list
        [1, 2, 3],  # customer 9
    ]
)
# held out: customer 2 bought 5 (had before) and 9 (new); 5 bought 8 (new); 9 bought 1 and 4
# (had both before), 2 and 3 (new)
TRUTH = np.array([2 * N + 5, 2 * N + 9, 5 * N + 8, 9 * N + 1, 9 * N + 2, 9 * N + 3, 9 * N + 4])
OWNED = np.array([2 * N + 5, 9 * N + 1, 9 * N + 4, 9 * N + 7])

D1, D2, D3 = 1.0, 1 / np.log2(3), 0.5  # discounts of ranks 1, 2, 3: 1 / log2(rank + 1)


def _score(part: str) -> Scores:
    return score(TOP, CUSTOMERS, TRUTH, OWNED, part, N, K)


def test_overall_scores_the_whole_held_out_basket() -> None:
    s = _score("overall")
    # customer 2: truth {5, 9}, list 4 5 6 → one hit at rank 2: P 1/3, R 1/2, NDCG D2 / (D1 + D2)
    # customer 5: truth {8}, list 7 → nothing
    # customer 9: truth {1, 2, 3, 4}, list 1 2 3 → three hits: P 1, R 3/4, NDCG 1 (ideal over
    #   min(4, k) = 3 ranks)
    assert s.customers == 3
    assert s.precision == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert s.recall == pytest.approx((1 / 2 + 0 + 3 / 4) / 3)
    assert s.hit_rate == pytest.approx(2 / 3)
    assert s.ndcg == pytest.approx((D2 / (D1 + D2) + 0 + 1) / 3)
    assert s.coverage == pytest.approx(7 / 10)  # 4 5 6 7 1 2 3 of 10 products


def test_bought_before_scores_only_what_was_bought_again() -> None:
    s = _score("bought before")
    # customer 2: truth {5}: hit at rank 2 → P 1/3, R 1, NDCG D2 / D1
    # customer 5: no truth in this part → not counted
    # customer 9: truth {1, 4}: hit at rank 1 → P 1/3, R 1/2, NDCG D1 / (D1 + D2)
    assert s.customers == 2
    assert s.precision == pytest.approx(1 / 3)
    assert s.recall == pytest.approx((1 + 1 / 2) / 2)
    assert s.hit_rate == 1.0
    assert s.ndcg == pytest.approx((D2 / D1 + D1 / (D1 + D2)) / 2)
    assert s.coverage == pytest.approx(6 / 10)  # the lists of customers 2 and 9


def test_new_scores_only_what_was_never_bought_before() -> None:
    s = _score("new")
    # customer 2: truth {9} → nothing; customer 5: truth {8} → nothing
    # customer 9: truth {2, 3}: hits at ranks 2 and 3 → P 2/3, R 1, NDCG (D2 + D3) / (D1 + D2)
    assert s.customers == 3
    assert s.precision == pytest.approx(2 / 9)
    assert s.recall == pytest.approx(1 / 3)
    assert s.hit_rate == pytest.approx(1 / 3)
    assert s.ndcg == pytest.approx((D2 + D3) / (D1 + D2) / 3)
    assert s.coverage == pytest.approx(7 / 10)


def test_a_part_without_any_truth_scores_zero() -> None:
    only_new = np.array([5 * N + 8])
    s = score(TOP, CUSTOMERS, only_new, OWNED, "bought before", N, K)
    assert s == Scores(0, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_a_perfect_list_scores_one() -> None:
    top = np.array([[3, 1], [4, 0]])
    truth = np.array([0 * 5 + 1, 0 * 5 + 3, 1 * 5 + 4])  # n = 5: customer 1 bought only 4
    s = score(top, np.array([0, 1]), truth, np.zeros(0, dtype=np.int64), "overall", 5, 2)
    assert s.recall == 1.0
    assert s.hit_rate == 1.0
    assert s.ndcg == pytest.approx(1.0)  # customer 1: ideal DCG over min(1, k) = 1 rank
    assert s.precision == pytest.approx((1 + 1 / 2) / 2)


def test_ratio_divides_by_the_better_baseline() -> None:
    def scores(ndcg: float) -> Scores:
        return Scores(10, 0.1, 0.1, 0.5, ndcg, 0.2)

    table = {
        ("patron", "new"): scores(0.09),
        ("popularity", "new"): scores(0.03),
        ("own + popularity", "new"): scores(0.06),
        ("patron", "overall"): scores(0.2),
        ("popularity", "overall"): scores(0.0),
        ("own + popularity", "overall"): scores(0.0),
    }
    evaluation = Evaluation(10, 10, 100, 50, table)
    assert evaluation.ratio("new") == pytest.approx(1.5)  # 0.09 / max(0.03, 0.06)
    assert evaluation.ratio("overall") == float("inf")
