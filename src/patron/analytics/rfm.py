"""RFM scores and named segments.

Each of recency (days since the last purchase, fewer is better), frequency (purchase days) and
monetary value (revenue) is scored 1..5 by quintile of the customer's percent rank
(``1 + floor(5 × percent_rank)``, 5 at the top). Equal values get equal scores — one-time buyers
all score F = 1 — so the result does not depend on row order or backend, though a class may then
hold more or less than a fifth. Revenue is compared in 1/10,000 of the currency unit
(``summary.money_key``), so sums that differ only in float rounding are equal.

Segments come from the recency and frequency scores by a table of rules; the first rule that
matches names the segment. The default table (``SEGMENT_RULES``) covers all 25 cells:

============================  ======  ======
segment                       R       F
============================  ======  ======
champions                     5       4–5
loyal                         3–4     4–5
potential loyalists           4–5     2–3
new                           5       1
promising                     4       1
need attention                3       3
about to sleep                3       1–2
at risk                       1–2     3–4
can't lose                    1–2     5
hibernating                   2       1–2
lost                          1       1–2
============================  ======  ======
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from patron.analytics.frames import TableLike, as_table
from patron.analytics.summary import money_key
from patron.errors import PatronError


class InvalidSegmentRules(PatronError):
    code = "analytics.invalid_segment_rules"
    status = 422


@dataclass(frozen=True)
class SegmentRule:
    name: str
    r: tuple[int, int]
    f: tuple[int, int]


SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("champions", (5, 5), (4, 5)),
    SegmentRule("loyal", (3, 4), (4, 5)),
    SegmentRule("potential loyalists", (4, 5), (2, 3)),
    SegmentRule("new", (5, 5), (1, 1)),
    SegmentRule("promising", (4, 4), (1, 1)),
    SegmentRule("need attention", (3, 3), (3, 3)),
    SegmentRule("about to sleep", (3, 3), (1, 2)),
    SegmentRule("at risk", (1, 2), (3, 4)),
    SegmentRule("can't lose", (1, 2), (5, 5)),
    SegmentRule("hibernating", (2, 2), (1, 2)),
    SegmentRule("lost", (1, 1), (1, 2)),
)


def check_rules(rules: Sequence[SegmentRule]) -> None:
    """Every (R, F) cell must be named, else some customers would fall through."""
    for index, rule in enumerate(rules):
        for field, (low, high) in (("r", rule.r), ("f", rule.f)):
            if not 1 <= low <= high <= 5:
                raise InvalidSegmentRules(
                    f"rule {index + 1} ({rule.name}): {field} range {low}..{high} is not within 1..5",
                    details={"rule": index + 1, "field": field},
                )
    for r in range(1, 6):
        for f in range(1, 6):
            if not any(_covers(rule, r, f) for rule in rules):
                raise InvalidSegmentRules(
                    f"no segment rule covers R={r}, F={f}",
                    details={"field": "rules", "r": r, "f": f},
                )


def _covers(rule: SegmentRule, r: int, f: int) -> bool:
    return rule.r[0] <= r <= rule.r[1] and rule.f[0] <= f <= rule.f[1]


def _score(value: ir.NumericValue) -> ir.IntegerValue:
    rank = ibis.percent_rank().over(order_by=value)
    return ibis.least((rank * 5).floor().cast("int64") + 1, 5)


def rfm_scores(summary: TableLike, rules: Sequence[SegmentRule] = SEGMENT_RULES) -> ir.Table:
    """customer_id, r_score, f_score, m_score, rfm_segment."""
    summary = as_table(summary)
    check_rules(rules)
    scored = summary.select(
        "customer_id",
        r_score=_score(-summary.days_since_last),
        f_score=_score(summary.purchase_days),
        m_score=_score(money_key(summary.revenue)),
    )
    segment = ibis.cases(
        *(
            (
                scored.r_score.between(rule.r[0], rule.r[1])
                & scored.f_score.between(rule.f[0], rule.f[1]),
                rule.name,
            )
            for rule in rules
        ),
        else_=ibis.null("string"),
    )
    return scored.mutate(rfm_segment=segment)
