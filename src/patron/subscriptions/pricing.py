"""What a subscription is worth: the subscriber's unit price, one delivery, a month (MRR). Pure.

The discount comes off each unit price, rounded to the cent, as the delivery to the shop shows
it; a delivery's value is the sum of its lines; the monthly value spreads it over the rhythm's
average deliveries per month (``schedule.monthly_factor``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from patron.subscriptions import schedule

CENT = Decimal("0.01")


def unit_price(unit: Decimal | None, discount_percent: Decimal | None) -> Decimal | None:
    """The agreed (else list) price per unit less the discount, to the cent."""
    if unit is None:
        return None
    share = (Decimal(100) - (discount_percent or Decimal(0))) / Decimal(100)
    return (unit * share).quantize(CENT, rounding=ROUND_HALF_UP)


def line_total(price: Decimal | None, quantity: Decimal) -> Decimal | None:
    return None if price is None else (price * quantity).quantize(CENT, ROUND_HALF_UP)


def delivery_value(lines: Iterable[Decimal | None]) -> Decimal | None:
    """The sum of the line totals; None when a line has no price at all."""
    values = list(lines)
    if any(v is None for v in values):
        return None
    return sum((v for v in values if v is not None), Decimal("0.00"))


def monthly_value(rhythm: schedule.Rhythm, per_delivery: Decimal | None) -> Decimal | None:
    """One delivery's value times the rhythm's deliveries per month, to the cent."""
    if per_delivery is None:
        return None
    factor = schedule.monthly_factor(rhythm)
    exact = per_delivery * factor.numerator / factor.denominator
    return exact.quantize(CENT, ROUND_HALF_UP)
