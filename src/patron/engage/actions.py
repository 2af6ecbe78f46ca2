"""Next best action: for every customer the one thing to do next, and why.

It follows from value (ABC class), phase (lifecycle phase, loyalty type), risk (P(alive), RFM
segment, profit) and consent, by an ordered table of rules whose conditions are written in the
segment language; the first rule a customer matches wins, the last one catches everyone else.
Because the conditions are segments, one table gives both answers: ``for_customer`` evaluates
it on one customer's row (``segments.matches``), and ``column`` compiles it to one SQL ``CASE``
over the columns ``audience`` builds, so ``next_best_action = "personal_call"`` is a segment.

A condition on a score that is missing (no analysis yet, no purchase) is unknown and so does
not match: such a customer falls through to the rules that do not need it.

=== ========================= =====================================================
 #  action                    when
=== ========================= =====================================================
 1  none                      no marketing consent on any channel
 2  personal_call             A-customer, fading (P(alive) < 0.5 or dissolution)
 3  profitability_review      unprofitable (profit below zero)
 4  loyalty_reward            committed A- or B-customer
 5  automated_win_back        fading (dissolution, P(alive) < 0.5, RFM at risk), digital consent
 6  loyalty_invitation        spurious loyalty, digital consent
 7  upsell_offer              expansion phase, digital consent
 8  thank_you                 first purchase within the last 30 days
 9  cross_sell_offer          exploration phase, digital consent
10  first_purchase_incentive  awareness phase, digital consent
11  personal_letter           consent to post or phone only
12  newsletter                everyone else
=== ========================= =====================================================

"Digital consent" is a marketing consent by e-mail, SMS or push: what an automated message needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, case, literal
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.engage import audience
from patron.engage.segment_sql import where
from patron.engage.segments import Segment, matches
from patron.errors import NotFound

FIELD = "next_best_action"  # the segment field (``audience.catalogue``)
DIGITAL = "(consent.email or consent.sms or consent.push)"
ANY_CONSENT = "(consent.email or consent.sms or consent.push or consent.phone or consent.post)"
FADING = '(p_alive < 0.5 or lifecycle_phase = "dissolution")'
OTHERWISE = "otherwise"


@dataclass(frozen=True)
class Rule:
    code: str
    label: str
    condition: str | None  # a segment expression; None: everyone the rules above left
    reason: str


def N_(message: str) -> str:
    """Marks a text for the translation catalogue (``make messages``): pages show it in the
    reader's language, the API and CLI as it is."""
    return message


RULES: tuple[Rule, ...] = (
    Rule(
        "none",
        N_("No marketing"),
        f"not {ANY_CONSENT}",
        N_("No marketing consent on any channel: service only."),
    ),
    Rule(
        "personal_call",
        N_("Personal call"),
        f'abc = "A" and {FADING}',
        N_("An A-customer is fading: their account manager calls personally before they are lost."),
    ),
    Rule(
        "profitability_review",
        N_("Make profitable"),
        "unprofitable",
        N_(
            "Costs more than they bring (profit below zero): no incentives; review returns, "
            "discounts and cost to serve first."
        ),
    ),
    Rule(
        "loyalty_reward",
        N_("Reward loyalty"),
        'lifecycle_phase = "commitment" and abc in ("A", "B")',
        N_(
            "Loyal and valuable: thank them with an exclusive benefit or a surprise, not a discount."
        ),
    ),
    Rule(
        "automated_win_back",
        N_("Automated win-back"),
        f'(lifecycle_phase = "dissolution" or p_alive < 0.5 or rfm_segment in '
        f'("at risk", "about to sleep")) and {DIGITAL}',
        N_(
            "The relationship is fading and the value does not call for a personal call: an "
            "automated win-back message."
        ),
    ),
    Rule(
        "loyalty_invitation",
        N_("Invite to the loyalty programme"),
        f'loyalty_type = "spurious" and {DIGITAL}',
        N_(
            "Rebuys out of habit, without attachment: bind them with the loyalty programme before "
            "a competitor's offer lures them away."
        ),
    ),
    Rule(
        "upsell_offer",
        N_("Upselling offer"),
        f'lifecycle_phase = "expansion" and {DIGITAL}',
        N_("Buying more and more often: offer the premium alternative (upselling)."),
    ),
    Rule(
        "thank_you",
        N_("Personal thank-you"),
        "orders = 1 and days_since_last <= 30",
        N_("Just made their first purchase: a personal thank-you note."),
    ),
    Rule(
        "cross_sell_offer",
        N_("Cross-selling offer"),
        f'lifecycle_phase = "exploration" and {DIGITAL}',
        N_("Still trying the shop: recommend what goes with what they bought (cross-selling)."),
    ),
    Rule(
        "first_purchase_incentive",
        N_("First-purchase incentive"),
        f'lifecycle_phase = "awareness" and {DIGITAL}',
        N_("In contact but no purchase yet: a welcome offer for the first purchase."),
    ),
    Rule(
        "personal_letter",
        N_("Personal letter"),
        f"not {DIGITAL}",
        N_("Agreed to post or phone only: a personal letter (or call) instead of e-mail."),
    ),
    Rule(
        "newsletter",
        N_("Newsletter"),
        None,
        N_("No particular moment: the regular newsletter with personal recommendations."),
    ),
)
CODES: tuple[str, ...] = tuple(rule.code for rule in RULES)
LABELS: dict[str, str] = {rule.code: rule.label for rule in RULES}


@dataclass(frozen=True)
class Action:
    code: str
    label: str
    reason: str
    rule: str  # the condition that matched, or "otherwise"


@cache
def _compiled() -> tuple[tuple[Rule, Segment | None], ...]:
    """The rules parsed against the segment catalogue (once: they never change)."""
    return tuple(
        (rule, None if rule.condition is None else audience.compile_segment(rule.condition))
        for rule in RULES
    )


@cache
def _reads() -> Segment:
    """One segment reading every field of the rules, so the row holds them all."""
    conditions = [rule.condition for rule in RULES if rule.condition is not None]
    return audience.compile_segment(" or ".join(f"({text})" for text in conditions))


def choose(row: Mapping[str, Any]) -> Action:
    """The action for one customer's row (field name → value, None where missing)."""
    for rule, segment in _compiled():
        if segment is None or matches(segment, row):
            return Action(rule.code, rule.label, rule.reason, rule.condition or OTHERWISE)
    raise AssertionError("the last rule catches everyone")  # pragma: no cover


def column(columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[str]:
    """The action as one SQL ``CASE`` over ``columns`` (those ``audience`` builds): the same
    first-match-wins order, with SQL's unknown falling through as ``matches`` does."""
    whens = [
        (where(segment, columns), literal(rule.code))
        for rule, segment in _compiled()
        if segment is not None
    ]
    fallback = next(rule.code for rule, segment in _compiled() if segment is None)
    return case(*whens, else_=literal(fallback))


def for_customer(session: Session, customer_id: int) -> Action:
    """The next best action for one customer, from their current scores and consent."""
    segment = _reads()
    names = sorted(segment.fields)
    columns, query = audience._base(session, segment)
    found = session.execute(
        query.add_columns(*(columns[name] for name in names)).where(Customer.id == customer_id)
    ).first()
    if found is None:
        raise NotFound(f"no customer {customer_id}", code="customers.not_found")
    return choose(dict(zip(names, found[1:], strict=True)))
