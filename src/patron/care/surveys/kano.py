"""The Kano model: which features are must-be, one-dimensional, attractive or indifferent.

Each respondent answers two questions per feature on the same five-point scale: how they feel
if the product *has* the feature (functional) and if it does *not* (dysfunctional). The pair is
looked up in the Kano evaluation table, and a feature's category is the one most respondents
land in. Better/Worse coefficients say how much having the feature raises satisfaction and how
much lacking it raises dissatisfaction.

References
----------
.. [1] Kano, N., Seraku, N., Takahashi, F. and Tsuji, S. (1984). Attractive quality and
   must-be quality. Journal of the Japanese Society for Quality Control 14(2), 39-48.
.. [2] Berger, C. et al. (1993). Kano's methods for understanding customer-defined quality.
   Center for Quality Management Journal 2(4), 3-36 (the evaluation table).
.. [3] Matzler, K. and Hinterhuber, H. H. (1998). How to make product development projects
   more successful by integrating Kano's model of customer satisfaction into quality function
   deployment. Technovation 18(1), 25-38 (the evaluation rule M > O > A > I).
.. [4] Timko, M. (1993). An experiment in continuous analysis. Center for Quality Management
   Journal 2(4), 17-20 (the customer satisfaction coefficients Better and Worse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Final

LIKE, EXPECT, NEUTRAL, LIVE_WITH, DISLIKE = 1, 2, 3, 4, 5
ANSWERS: Final = (LIKE, EXPECT, NEUTRAL, LIVE_WITH, DISLIKE)

ATTRACTIVE = "A"
ONE_DIMENSIONAL = "O"
MUST_BE = "M"
INDIFFERENT = "I"
REVERSE = "R"
QUESTIONABLE = "Q"
CATEGORIES: Final = (ATTRACTIVE, ONE_DIMENSIONAL, MUST_BE, INDIFFERENT, REVERSE, QUESTIONABLE)
CATEGORY_NAMES: Final = {
    ATTRACTIVE: "attractive",
    ONE_DIMENSIONAL: "one-dimensional",
    MUST_BE: "must-be",
    INDIFFERENT: "indifferent",
    REVERSE: "reverse",
    QUESTIONABLE: "questionable",
}
# Ties between categories go to the one that matters more for product decisions: first remove
# what dissatisfies (M), then what scales satisfaction (O), then what delights (A) [3]. Reverse
# and questionable come last: they say the feature or the question is wrong.
DOMINANCE_ORDER: Final = (MUST_BE, ONE_DIMENSIONAL, ATTRACTIVE, INDIFFERENT, REVERSE, QUESTIONABLE)

# Labels of the answer scale on the public survey page, per language.
ANSWER_LABELS: Final[dict[str, dict[int, str]]] = {
    "en": {
        LIKE: "I like it",
        EXPECT: "I expect it",
        NEUTRAL: "I am neutral",
        LIVE_WITH: "I can live with it",
        DISLIKE: "I dislike it",
    },
    "de": {
        LIKE: "Das würde mich sehr freuen",
        EXPECT: "Das setze ich voraus",
        NEUTRAL: "Das ist mir egal",
        LIVE_WITH: "Das könnte ich in Kauf nehmen",
        DISLIKE: "Das würde mich sehr stören",
    },
    "nb": {
        LIKE: "Det liker jeg",
        EXPECT: "Det forventer jeg",
        NEUTRAL: "Det er likegyldig for meg",
        LIVE_WITH: "Det kan jeg leve med",
        DISLIKE: "Det misliker jeg",
    },
}

# The evaluation table of [2]: row = functional answer, column = dysfunctional answer, both in
# scale order like, expect, neutral, live with, dislike.
EVALUATION_TABLE: Final = (
    # like  expect neutral live  dislike   <- dysfunctional
    ("Q", "A", "A", "A", "O"),  # functional: like
    ("R", "I", "I", "I", "M"),  # functional: expect
    ("R", "I", "I", "I", "M"),  # functional: neutral
    ("R", "I", "I", "I", "M"),  # functional: live with
    ("R", "R", "R", "R", "Q"),  # functional: dislike
)


@dataclass(frozen=True)
class FeatureResult:
    """How the respondents classify one feature.

    ``counts`` and ``shares`` hold all six categories (shares of ``n``, 0.0 when ``n`` is 0);
    ``dominant`` is the most frequent category, ties broken by ``DOMINANCE_ORDER`` (None when
    nobody answered). ``better`` lies in 0..1, ``worse`` in -1..0; both are None when no answer
    is A, O, M or I.
    """

    n: int
    counts: Mapping[str, int]
    shares: Mapping[str, float]
    dominant: str | None
    better: float | None
    worse: float | None


def _check_answer(answer: int, question: str) -> None:
    if isinstance(answer, bool) or not isinstance(answer, Integral) or answer not in ANSWERS:
        raise ValueError(f"{question} answer must be an integer 1..5, got {answer!r}")


def category(functional: int, dysfunctional: int) -> str:
    """The Kano category (A, O, M, I, R or Q) of one answer pair."""
    _check_answer(functional, "functional")
    _check_answer(dysfunctional, "dysfunctional")
    return EVALUATION_TABLE[int(functional) - 1][int(dysfunctional) - 1]


def _dominant(counts: Mapping[str, int]) -> str | None:
    if not any(counts.values()):
        return None
    return max(DOMINANCE_ORDER, key=lambda c: (counts[c], -DOMINANCE_ORDER.index(c)))


def _coefficients(counts: Mapping[str, int]) -> tuple[float | None, float | None]:
    a, o, m, i = (counts[c] for c in (ATTRACTIVE, ONE_DIMENSIONAL, MUST_BE, INDIFFERENT))
    total = a + o + m + i
    if total == 0:
        return None, None
    return (a + o) / total, -(o + m) / total


def evaluate(pairs: Iterable[tuple[int, int]]) -> FeatureResult:
    """Classify one feature from its (functional, dysfunctional) answer pairs."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for functional, dysfunctional in pairs:
        counts[category(functional, dysfunctional)] += 1
    n = sum(counts.values())
    shares = {c: (counts[c] / n if n else 0.0) for c in CATEGORIES}
    better, worse = _coefficients(counts)
    return FeatureResult(
        n=n, counts=counts, shares=shares, dominant=_dominant(counts), better=better, worse=worse
    )


def _pair(feature: str, answer: Sequence[int]) -> tuple[int, int]:
    if isinstance(answer, str | bytes) or len(answer) != 2:
        raise ValueError(
            f"answer for {feature!r} must be [functional, dysfunctional], got {answer!r}"
        )
    return answer[0], answer[1]


def evaluate_features(answers: Iterable[Mapping[str, Sequence[int]]]) -> dict[str, FeatureResult]:
    """Classify every feature from many respondents' ``{feature: [functional, dysfunctional]}``.

    A respondent who skipped a feature simply does not count for it. Features come out in the
    order they were first seen, which is the questionnaire's order when answers are complete.
    """
    pairs: dict[str, list[tuple[int, int]]] = {}
    for respondent in answers:
        for feature, answer in respondent.items():
            pairs.setdefault(feature, []).append(_pair(feature, answer))
    return {feature: evaluate(feature_pairs) for feature, feature_pairs in pairs.items()}
