"""How many points a purchase earns, when they vest and when they expire; pure, no clock.

Rules of ``points_for`` (every calendar is UTC; ``at`` is the purchase's instant):

- A line earns only if its kind is one of ``earning.earnable_kinds`` (by default products and
  services; shipping, vouchers, rewards, gift cards and fees do not). An earnable line with a
  negative amount is refused, naming the line (``lines[2]``); other lines may be negative (a
  voucher's discount), they simply earn nothing.
- A line's factor is the highest factor among the multipliers naming its sku or its category
  (1 if none; they do not compound). The line's exact points are amount × points per unit ×
  line factor.
- Order factors multiply: the member's tier factor, the birthday-month factor when the member's
  birthday falls in ``at``'s month, and the highest factor among the promotions running on
  ``at``'s date (first and last day included) whose every non-empty filter (tiers, ABC classes,
  RFM segments, lifecycle phases) matches the member. Factors of exactly 1 are not listed.
- An order whose earnable spend is below ``earning.minimum_order`` earns no purchase points.
- The order's exact points are rounded once (down, or half up), never line by line.
- With a cap, a purchase earns at most what the cap leaves in its period after
  ``earned_this_period``; what is cut off is reported as ``capped``.
- The first purchase earns ``bonuses.first_purchase`` on top, whatever its size, never capped.

``reasons`` say all of this in plain sentences; they number lines from 1, while errors and
``LinePoints.index`` count from 0 like the request's ``lines`` array.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from patron.errors import PatronError
from patron.loyalty.programme import (
    LINE_KINDS,
    Cap,
    ExpiryPolicy,
    Lots,
    ProgrammeSpec,
    Promotion,
    Rounding,
)

# Wide enough that no product of amounts and factors the spec allows is ever rounded.
_PRECISION = 120


class PurchaseError(PatronError):
    """A purchase or return the earning rules cannot price; the message names the line."""

    code = "loyalty.invalid_purchase"
    status = 422


@dataclass(frozen=True)
class PurchaseLine:
    amount: Decimal  # paid for the line, in the programme's currency
    kind: str = "product"  # one of programme.LINE_KINDS
    sku: str | None = None
    category: str | None = None
    quantity: Decimal = Decimal(1)


@dataclass(frozen=True)
class Member:
    """What the earning rules may look at."""

    tier: str | None = None
    birthday: date | None = None
    abc_class: str | None = None
    rfm_segment: str | None = None
    lifecycle_phase: str | None = None


@dataclass(frozen=True)
class LinePoints:
    """One line priced: ``exact`` = amount × rate × line factor, before order factors.

    A line that does not earn has factor 0 and exact 0.
    """

    index: int
    earnable: bool
    amount: Decimal
    factor: Decimal
    exact: Decimal


@dataclass(frozen=True)
class Earned:
    spend: Decimal  # earnable spend
    lines: tuple[LinePoints, ...]
    factors: tuple[tuple[str, Decimal], ...]  # order factors applied, e.g. ("tier gold", 1.5)
    exact: Decimal  # Σ line exact × Π order factors
    points: int  # purchase points after rounding, the minimum order and the cap
    capped: int  # points the cap cut off
    first_purchase_bonus: int
    reasons: tuple[str, ...]


def points_for(
    spec: ProgrammeSpec,
    lines: Sequence[PurchaseLine],
    *,
    member: Member,
    at: datetime,
    first_purchase: bool,
    earned_this_period: int,
) -> Earned:
    """The points a purchase earns under ``spec`` (see the module docstring for the rules)."""
    moment = utc("at", at)
    if isinstance(earned_this_period, bool) or not isinstance(earned_this_period, int):
        raise PurchaseError(f"earned_this_period is a whole number, not {earned_this_period!r}")
    if earned_this_period < 0:
        raise PurchaseError(f"earned_this_period cannot be negative ({earned_this_period})")
    currency = spec.currency
    reasons: list[str] = []
    with localcontext(prec=_PRECISION):
        priced = tuple(_price_line(spec, i, line, reasons) for i, line in enumerate(lines))
        spend = sum((lp.amount for lp in priced if lp.earnable), Decimal(0))
        from_lines = sum((lp.exact for lp in priced), Decimal(0))
        factors = _order_factors(spec, member, moment)
        exact = from_lines
        for _label, factor in factors:
            exact *= factor
    if spend < spec.earning.minimum_order:
        points = 0
        reasons.append(
            f"0 points: {_money(spend)} {currency} earnable spend is below the minimum order "
            f"of {_money(spec.earning.minimum_order)} {currency}"
        )
    elif spend == 0:
        points = 0
        reasons.append("0 points: nothing in this purchase earns points")
    else:
        points = _round(exact, spec.earning.rounding)
        reasons.append(_summary(spec, spend, from_lines, factors, exact, points))
    kept = points
    cap = spec.earning.cap
    if cap is not None and points > 0:
        kept = min(points, max(0, cap.points - earned_this_period))
        if kept < points:
            reasons.append(_cap_reason(cap, earned_this_period, points, kept))
    bonus = spec.bonuses.first_purchase if first_purchase else 0
    if bonus:
        reasons.append(f"{_plural(bonus, 'bonus point')} for the first purchase")
    return Earned(
        spend=spend,
        lines=priced,
        factors=factors,
        exact=exact,
        points=kept,
        capped=points - kept,
        first_purchase_bonus=bonus,
        reasons=tuple(reasons),
    )


def cap_period_start(cap: Cap, at: datetime) -> datetime:
    """The first instant (UTC) of the calendar day, ISO week (Monday), month or year of ``at``."""
    moment = utc("at", at)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if cap.period == "day":
        return day
    if cap.period == "week":
        return day - timedelta(days=day.weekday())
    if cap.period == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def vests_at(lots: Lots, earned_at: datetime) -> datetime:
    """When points earned at ``earned_at`` become usable: after the return window."""
    return utc("earned_at", earned_at) + timedelta(days=lots.vesting_days)


def expires_at(lots: Lots, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire (``None``: never).

    Rolling: the same day of the month (or the month's last day, if shorter) ``months`` later,
    at the same time of day. End of year: when the year ``years`` after the earning year ends,
    i.e. at the first instant of the following 1 January (UTC).
    """
    moment = utc("earned_at", earned_at)
    expiry = lots.expiry
    if expiry.policy is ExpiryPolicy.never:
        return None
    if expiry.policy is ExpiryPolicy.rolling_months:
        return add_months(moment, expiry.months)
    return datetime(moment.year + expiry.years + 1, 1, 1, tzinfo=UTC)


def return_share(lines: Sequence[LinePoints], returned: Mapping[int, Decimal]) -> Fraction:
    """The share of a purchase's points that returned lines carried, exactly.

    ``returned`` maps a line's ``index`` to the share of its quantity that came back, in (0, 1].
    Order factors scale every line alike, so the share of the lines' exact points is the share
    of the purchase's. Returning only lines that earned nothing gives 0: nothing to take back.
    """
    by_index = {lp.index: lp for lp in lines}
    total = sum((Fraction(lp.exact) for lp in lines), Fraction(0))
    if total == 0:
        raise PurchaseError(
            "this purchase earned no points, so a return takes none back",
            code="loyalty.invalid_return",
        )
    part = Fraction(0)
    for index, quantity_share in returned.items():
        if index not in by_index:
            raise PurchaseError(
                f"lines[{index}] is not a line of this purchase", code="loyalty.invalid_return"
            )
        share = _fraction(f"lines[{index}] returned share", quantity_share)
        if not 0 < share <= 1:
            raise PurchaseError(
                f"lines[{index}]: a returned share is more than 0 and at most 1, "
                f"not {quantity_share}",
                code="loyalty.invalid_return",
            )
        part += Fraction(by_index[index].exact) * share
    return part / total


def amount_share(spend: Decimal, returned_amount: Decimal) -> Fraction:
    """``returned_amount`` as an exact share of a purchase's earnable ``spend``."""
    whole = _fraction("spend", spend)
    part = _fraction("returned amount", returned_amount)
    if whole <= 0:
        raise PurchaseError(
            "this purchase had no earnable spend, so a return takes no points back",
            code="loyalty.invalid_return",
        )
    if not 0 < part <= whole:
        raise PurchaseError(
            f"the returned amount {returned_amount} must be more than 0 and at most "
            f"the earnable spend {spend}",
            code="loyalty.invalid_return",
        )
    return part / whole


# --- calendar helpers (shared with tiers) ------------------------------------------------------


def utc(name: str, value: datetime) -> datetime:
    """``value`` in UTC, refusing a naive datetime (there is no clock to guess a zone from)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise PatronError(
            f"{name} must be a timezone-aware datetime, not {value!r}", code="loyalty.naive_time"
        )
    return value.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by whole calendar months (either way), the day clamped to the month end."""
    years, month0 = divmod(moment.month - 1 + months, 12)
    year = moment.year + years
    day = min(moment.day, monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


# --- internals ---------------------------------------------------------------------------------


def _price_line(
    spec: ProgrammeSpec, index: int, line: PurchaseLine, reasons: list[str]
) -> LinePoints:
    if line.kind not in LINE_KINDS:
        raise PurchaseError(
            f"lines[{index}]: unknown kind {line.kind!r}; known: {', '.join(LINE_KINDS)}"
        )
    amount = _decimal(f"lines[{index}] amount", line.amount)
    if line.kind not in spec.earning.earnable_kinds:
        if amount:
            reasons.append(f"line {index + 1} ({line.kind}) earns no points")
        return LinePoints(index, False, amount, Decimal(0), Decimal(0))
    if amount < 0:
        raise PurchaseError(
            f"lines[{index}]: a {line.kind} line's amount cannot be negative ({amount}); "
            "book a return instead"
        )
    factor, source = Decimal(1), ""
    for multiplier in spec.earning.multipliers:
        if (multiplier.sku is not None and multiplier.sku == line.sku) or (
            multiplier.category is not None and multiplier.category == line.category
        ):
            target = (
                f"sku {line.sku}" if multiplier.sku is not None else f"category {line.category}"
            )
            if not source or multiplier.factor > factor:
                factor, source = multiplier.factor, target
    if source and factor != 1:
        reasons.append(f"line {index + 1} earns {_num(factor)}× points ({source})")
    exact = amount * spec.earning.points_per_unit * factor
    return LinePoints(index, True, amount, factor, exact)


def _order_factors(
    spec: ProgrammeSpec, member: Member, at: datetime
) -> tuple[tuple[str, Decimal], ...]:
    factors: list[tuple[str, Decimal]] = []
    tier = spec.tier(member.tier)
    if tier is not None:
        factors.append((f"tier {tier.code}", tier.factor))
    if member.birthday is not None and member.birthday.month == at.month:
        factors.append(("birthday month", spec.bonuses.birthday_month_factor))
    running = [p for p in spec.promotions if _promotion_applies(p, member, at.date())]
    if running:
        best = max(running, key=lambda p: p.factor)
        factors.append((f"promotion {best.code}", best.factor))
    return tuple((label, factor) for label, factor in factors if factor != 1)


def _promotion_applies(promotion: Promotion, member: Member, day: date) -> bool:
    filters = (
        (promotion.tiers, member.tier),
        (promotion.abc_classes, member.abc_class),
        (promotion.rfm_segments, member.rfm_segment),
        (promotion.lifecycle_phases, member.lifecycle_phase),
    )
    return promotion.starts <= day <= promotion.ends and all(
        not allowed or value in allowed for allowed, value in filters
    )


def _round(exact: Decimal, rounding: Rounding) -> int:
    mode = ROUND_FLOOR if rounding is Rounding.floor else ROUND_HALF_UP
    return int(exact.to_integral_value(rounding=mode))


def _summary(
    spec: ProgrammeSpec,
    spend: Decimal,
    from_lines: Decimal,
    factors: tuple[tuple[str, Decimal], ...],
    exact: Decimal,
    points: int,
) -> str:
    currency = spec.currency
    rate = spec.earning.points_per_unit
    unit = "point" if rate == 1 else "points"
    text = (
        f"{_plural(points, 'point')}: {_money(spend)} {currency} earnable spend "
        f"× {_num(rate)} {unit} per {currency}"
    )
    with localcontext(prec=_PRECISION):
        plain = spend * rate
    if from_lines != plain:
        text += f", {_num(from_lines)} with line multipliers"
    text += "".join(f" × {_num(factor)} ({label})" for label, factor in factors)
    if exact != spend:
        text += f" = {_num(exact)}"
    if exact != points:
        text += ", rounded down" if spec.earning.rounding is Rounding.floor else ", rounded half up"
    return text


def _cap_reason(cap: Cap, earned: int, points: int, kept: int) -> str:
    counted = "none" if kept == 0 else str(kept)
    return (
        f"capped at {_plural(cap.points, 'point')} per {cap.period}: {earned} already earned "
        f"this {cap.period}, so {counted} of the {_plural(points, 'point')} count"
    )


def _decimal(name: str, value: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise PurchaseError(f"{name} is a Decimal, not {value!r}")
    number = Decimal(value)
    if not number.is_finite():
        raise PurchaseError(f"{name} must be a finite number, not {value}")
    return number


def _fraction(name: str, value: Decimal | Fraction | int) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, Decimal | Fraction | int):
        raise PurchaseError(f"{name} is a Decimal, Fraction or int, not {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise PurchaseError(f"{name} must be a finite number, not {value}")
    return Fraction(value)


def _num(value: Decimal) -> str:
    """A factor or a point count without trailing zeros: 1.5, 2, 26.1."""
    return format(value.normalize(), "f") if value else "0"


def _money(value: Decimal) -> str:
    return format(value, ",f")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
