"""Kano: the evaluation table cell by cell, the evaluation rule, Better/Worse, many features."""

from __future__ import annotations

import pytest

from patron.care.surveys.kano import (
    ANSWER_LABELS,
    CATEGORIES,
    FeatureResult,
    category,
    evaluate,
    evaluate_features,
)

# The Kano evaluation table as printed in Berger et al. (1993), CQM Journal 2(4), and reprinted
# in Matzler & Hinterhuber (1998), Technovation 18(1), Table 1. Rows: functional answer,
# columns: dysfunctional answer, both like / must-be (expect) / neutral / live with / dislike.
PUBLISHED = """
          like  expect  neutral  live  dislike
like       Q     A       A        A     O
expect     R     I       I        I     M
neutral    R     I       I        I     M
live       R     I       I        I     M
dislike    R     R       R        R     Q
"""


def published_cells() -> list[tuple[int, int, str]]:
    rows = [line.split()[1:] for line in PUBLISHED.strip().splitlines()[1:]]
    return [(f + 1, d + 1, cell) for f, row in enumerate(rows) for d, cell in enumerate(row)]


def test_the_published_table_has_25_cells() -> None:
    assert len(published_cells()) == 25


@pytest.mark.parametrize(("functional", "dysfunctional", "expected"), published_cells())
def test_every_cell_matches_the_published_table(
    functional: int, dysfunctional: int, expected: str
) -> None:
    assert category(functional, dysfunctional) == expected


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ((1, 5), "O"),
        ((1, 3), "A"),
        ((1, 2), "A"),
        ((1, 4), "A"),
        ((3, 5), "M"),
        ((2, 5), "M"),
        ((4, 5), "M"),
        ((3, 3), "I"),
        ((2, 4), "I"),
        ((5, 1), "R"),
        ((5, 3), "R"),
        ((2, 1), "R"),
        ((1, 1), "Q"),
        ((5, 5), "Q"),
    ],
)
def test_known_answer_pairs(pair: tuple[int, int], expected: str) -> None:
    assert category(*pair) == expected


@pytest.mark.parametrize("pair", [(0, 3), (6, 1), (3, 0), (3, 6), (True, 5), (2.0, 5), ("1", 5)])
def test_answers_outside_the_scale_are_rejected(pair: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"1\.\.5"):
        category(*pair)


def test_counts_shares_and_better_worse_by_hand() -> None:
    # 3 A, 2 O, 4 M, 1 I, 1 R, 1 Q: n = 12; A+O+M+I = 10
    pairs = [(1, 3)] * 3 + [(1, 5)] * 2 + [(2, 5)] * 4 + [(3, 3)] + [(5, 1)] + [(1, 1)]
    result = evaluate(pairs)
    assert result.n == 12
    assert result.counts == {"A": 3, "O": 2, "M": 4, "I": 1, "R": 1, "Q": 1}
    assert result.shares["M"] == pytest.approx(4 / 12)
    assert sum(result.shares.values()) == pytest.approx(1.0)
    assert result.dominant == "M"
    assert result.better == pytest.approx((3 + 2) / 10)  # 0.5
    assert result.worse == pytest.approx(-(2 + 4) / 10)  # -0.6


@pytest.mark.parametrize(
    ("pairs", "dominant"),
    [
        ([(1, 5), (1, 5), (2, 5), (2, 5)], "M"),  # O = M: must-be first
        ([(1, 3), (1, 3), (1, 5), (1, 5)], "O"),  # A = O
        ([(1, 3), (3, 3)], "A"),  # A = I
        ([(3, 3), (5, 1)], "I"),  # I = R
        ([(5, 1), (1, 1)], "R"),  # R = Q
        ([(3, 3), (3, 3), (1, 5)], "I"),  # a plain majority needs no rule
    ],
)
def test_ties_follow_m_o_a_i(pairs: list[tuple[int, int]], dominant: str) -> None:
    assert evaluate(pairs).dominant == dominant


def test_no_answers() -> None:
    result = evaluate([])
    assert result == FeatureResult(
        n=0,
        counts=dict.fromkeys(CATEGORIES, 0),
        shares=dict.fromkeys(CATEGORIES, 0.0),
        dominant=None,
        better=None,
        worse=None,
    )


def test_only_reverse_and_questionable_answers_have_no_coefficients() -> None:
    result = evaluate([(5, 1), (5, 1), (1, 1)])
    assert (result.dominant, result.better, result.worse) == ("R", None, None)


def test_evaluate_features_groups_by_feature_in_questionnaire_order() -> None:
    answers = [
        {"free_shipping": [2, 5], "gift_wrap": [1, 3]},
        {"free_shipping": [3, 5], "gift_wrap": [1, 4], "chat": [3, 3]},
        {"free_shipping": (1, 5)},  # skipped gift wrap and chat
    ]
    results = evaluate_features(answers)
    assert list(results) == ["free_shipping", "gift_wrap", "chat"]
    assert results["free_shipping"].counts["M"] == 2
    assert results["free_shipping"].counts["O"] == 1
    assert results["free_shipping"].dominant == "M"
    assert (results["gift_wrap"].n, results["gift_wrap"].dominant) == (2, "A")
    assert (results["chat"].n, results["chat"].dominant) == (1, "I")


@pytest.mark.parametrize("answer", [[1], [1, 2, 3], "15", [1, 9]])
def test_evaluate_features_rejects_bad_answers(answer: object) -> None:
    with pytest.raises(ValueError, match=r"gift_wrap|1\.\.5"):
        evaluate_features([{"gift_wrap": answer}])  # type: ignore[dict-item]


def test_answer_labels_cover_the_scale_in_every_language() -> None:
    assert set(ANSWER_LABELS) == {"de", "en", "nb"}
    for labels in ANSWER_LABELS.values():
        assert sorted(labels) == [1, 2, 3, 4, 5]
        assert all(label.strip() for label in labels.values())
