"""A loyalty programme's rules in plain words, for ``patron loyalty show CODE``.

Pure: a ``ProgrammeSpec`` in, sentences by section out; the tiers' sentences are
``patron.loyalty.tiers.rules``, the ones a member's tier progress lists too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from patron.cli.loyalty_shared import number

if TYPE_CHECKING:
    from patron.loyalty.programme import ProgrammeSpec, Promotion


def describe(spec: ProgrammeSpec) -> dict[str, list[str]]:
    """The programme's rules as sentences, by section (tiers' sentences from ``tiers.rules``)."""
    from patron.loyalty.tiers import rules

    sections = {
        "Earning": _earning(spec),
        "Points": _lots(spec),
        "Bonuses": _bonuses(spec),
        "Tiers": list(rules(spec.tiers, currency=spec.currency)),
        "Promotions": [_promotion(promotion) for promotion in spec.promotions],
    }
    return {name: sentences for name, sentences in sections.items() if sentences}


def _earning(spec: ProgrammeSpec) -> list[str]:
    earning = spec.earning
    rounding = "rounded down" if earning.rounding.value == "floor" else "rounded half up"
    said = [
        f"{_points(earning.points_per_unit)} per {spec.currency} spent on "
        f"{', '.join(earning.earnable_kinds)}; {rounding} once per order."
    ]
    if earning.minimum_order:
        said.append(
            f"Orders with less than {earning.minimum_order:.2f} {spec.currency} of earnable "
            "spend earn no points."
        )
    for multiplier in earning.multipliers:
        target = f"category {multiplier.category}" if multiplier.category else multiplier.sku
        said.append(f"{target}: {number(multiplier.factor)}× points.")
    if len(earning.multipliers) > 1:
        said.append("Where several multipliers match a line, the highest applies.")
    if earning.cap is not None:
        said.append(
            f"At most {earning.cap.points:,} purchase points per member and {earning.cap.period}."
        )
    return said


def _lots(spec: ProgrammeSpec) -> list[str]:
    lots = spec.lots
    vesting = (
        f"Purchase points are pending for {lots.vesting_days} days (the return window), then usable."
        if lots.vesting_days
        else "Purchase points are usable at once."
    )
    expiry = lots.expiry
    if expiry.policy.value == "never":
        expires = "Points never expire."
    elif expiry.policy.value == "rolling_months":
        expires = f"Points expire {expiry.months} months after they were earned."
    elif expiry.years == 0:
        expires = "Points expire at the end of the year they were earned in."
    else:
        expires = f"Points expire at the end of the {_years(expiry.years)} after they were earned."
    worth = f"One point is worth {number(spec.point_value)} {spec.currency} when redeemed."
    return [vesting, expires, worth]


def _bonuses(spec: ProgrammeSpec) -> list[str]:
    bonuses = spec.bonuses
    said = []
    if bonuses.first_purchase:
        said.append(f"{bonuses.first_purchase:,} points for a member's first purchase.")
    if bonuses.birthday_month_factor != 1:
        said.append(f"{number(bonuses.birthday_month_factor)}× points in the birthday month.")
    if bonuses.referral:
        said.append(
            f"{bonuses.referral:,} points for recommending a new customer, at their first purchase."
        )
    said.extend(f"{points:,} points for a {event}." for event, points in bonuses.events.items())
    return said


def _promotion(promotion: Promotion) -> str:
    who = [
        f"{label} {', '.join(values)}"
        for label, values in (
            ("tiers", promotion.tiers),
            ("ABC classes", promotion.abc_classes),
            ("RFM segments", promotion.rfm_segments),
            ("lifecycle phases", promotion.lifecycle_phases),
        )
        if values
    ]
    return (
        f"{promotion.name}: {number(promotion.factor)}× points from {promotion.starts} to "
        f"{promotion.ends}" + (f" for {'; '.join(who)}" if who else "") + "."
    )


def _points(count: Decimal) -> str:
    return "1 point" if count == 1 else f"{number(count)} points"


def _years(count: int) -> str:
    return "year" if count == 1 else f"{count} years"
