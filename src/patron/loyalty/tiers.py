"""Which tier a member holds, and what is missing for the next one; pure, no clock.

A member's qualifying value is what they earned (points, or earnable spend, by
``tiers.qualify_on``) in the last ``window_months`` calendar months, less returns, never below 0.
Reaching a higher tier's threshold upgrades at once. Falling below the current tier's threshold
starts a grace period of ``grace_days``; requalifying within it cancels the review, otherwise the
member moves to the tier the value then reaches (several levels at once if need be). Calendars
are UTC, as for caps and expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from patron.loyalty.earning import add_months, utc
from patron.loyalty.programme import QualifyOn, Tier, Tiers


@dataclass(frozen=True)
class Contribution:
    """Points or spend that count toward a tier; a return is negative."""

    at: datetime
    value: Decimal


@dataclass(frozen=True)
class TierState:
    code: str | None
    since: datetime | None
    review_at: datetime | None  # when a pending downgrade takes effect


@dataclass(frozen=True)
class Progress:
    tier: Tier | None
    value: Decimal
    next_tier: Tier | None
    missing: Decimal | None
    by: datetime | None  # reach the next tier before this, when the oldest value drops out
    keep_until: datetime | None  # the tier is kept until then unless requalified
    needed_to_keep: Decimal | None  # current threshold - value, when positive
    rules: tuple[str, ...]


def window_start(tiers: Tiers, at: datetime) -> datetime:
    """``at`` (UTC) less ``window_months`` calendar months; what is not later does not count."""
    return add_months(utc("at", at), -tiers.window_months)


def qualifying_value(tiers: Tiers, contributions: Iterable[Contribution], at: datetime) -> Decimal:
    """The sum of the contributions in (window start, at], never below 0."""
    start, end = window_start(tiers, at), utc("at", at)
    total = sum(
        (c.value for c in contributions if start < utc("contribution at", c.at) <= end),
        Decimal(0),
    )
    return max(total, Decimal(0))


def qualified_for(tiers: Tiers, value: Decimal) -> Tier | None:
    """The highest tier whose threshold ``value`` reaches (None without tiers)."""
    reached = [tier for tier in tiers.levels if tier.threshold <= value]
    return reached[-1] if reached else None


def decide(tiers: Tiers, state: TierState, value: Decimal, at: datetime) -> TierState:
    """The member's tier at ``at`` given their qualifying ``value`` (see the module docstring).

    A member whose tier is not (or no longer) in the programme is placed as a new member.
    """
    now = utc("at", at)
    target = qualified_for(tiers, value)
    if target is None:
        return TierState(None, None, None)
    current = _tier(tiers, state.code)
    if current is None or _rank(tiers, target) > _rank(tiers, current):
        return TierState(target.code, now, None)
    if value >= current.threshold:
        return TierState(current.code, state.since, None)
    review_at = state.review_at
    if review_at is None:
        review_at = now + timedelta(days=tiers.grace_days)
    if utc("review_at", review_at) <= now:
        return TierState(target.code, now, None)
    return TierState(current.code, state.since, review_at)


def progress(
    tiers: Tiers,
    state: TierState,
    contributions: Sequence[Contribution],
    at: datetime,
    *,
    currency: str | None = None,
) -> Progress:
    """Where the member stands: their value, what the next tier needs and by when, what keeping
    the current tier needs, and every tier's rule. ``currency`` names spend in the rules."""
    now = utc("at", at)
    value = qualifying_value(tiers, contributions, now)
    current = _tier(tiers, state.code)
    above = _rank(tiers, current) + 1 if current is not None else 0
    next_tier = tiers.levels[above] if above < len(tiers.levels) else None
    missing = max(next_tier.threshold - value, Decimal(0)) if next_tier is not None else None
    by = _first_drop(tiers, contributions, now) if next_tier is not None else None
    short = current.threshold - value if current is not None else Decimal(0)
    return Progress(
        tier=current,
        value=value,
        next_tier=next_tier,
        missing=missing,
        by=by,
        keep_until=state.review_at,
        needed_to_keep=short if short > 0 else None,
        rules=rules(tiers, currency=currency),
    )


def rules(tiers: Tiers, *, currency: str | None = None) -> tuple[str, ...]:
    """Every tier's entry rule and benefits, then the window and the grace period, as sentences."""
    if not tiers.levels:
        return ()
    sentences = [_tier_rule(tiers, tier, currency) for tier in tiers.levels]
    counted = (
        "Points earned from purchases and bonuses, less returns,"
        if tiers.qualify_on is QualifyOn.points
        else "Earnable spend, less returns,"
    )
    sentences.append(
        f"{counted} count for the last {_months(tiers.window_months)}; "
        "reaching a higher tier upgrades at once."
    )
    if tiers.grace_days:
        sentences.append(
            f"A member below their tier's threshold keeps the tier for {tiers.grace_days} "
            "more days, then moves to the tier their value reaches."
        )
    else:
        sentences.append(
            "A member below their tier's threshold moves at once to the tier their value reaches."
        )
    return tuple(sentences)


# --- internals ---------------------------------------------------------------------------------


def _tier(tiers: Tiers, code: str | None) -> Tier | None:
    return next((tier for tier in tiers.levels if tier.code == code), None)


def _rank(tiers: Tiers, tier: Tier) -> int:
    return tiers.levels.index(tier)


def _first_drop(
    tiers: Tiers, contributions: Sequence[Contribution], at: datetime
) -> datetime | None:
    """When the oldest positive contribution in the window stops counting (None if none).

    A contribution at ``c`` counts while ``window_start(t) < c``: normally until exactly
    ``window_months`` later; when that day does not exist (31 Jan + 1 month), until the first
    instant of the month after.
    """
    start = window_start(tiers, at)
    counted = [
        utc("contribution at", c.at)
        for c in contributions
        if c.value > 0 and start < utc("contribution at", c.at) <= at
    ]
    if not counted:
        return None
    oldest = min(counted)
    drop = add_months(oldest, tiers.window_months)
    if drop.day == oldest.day:
        return drop
    year, month = (drop.year + 1, 1) if drop.month == 12 else (drop.year, drop.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _tier_rule(tiers: Tiers, tier: Tier, currency: str | None) -> str:
    amount = _number(tier.threshold)
    if tier.threshold == 0:
        entry = "open to every member"
    elif tiers.qualify_on is QualifyOn.points:
        entry = f"{amount} points earned in the last {_months(tiers.window_months)}"
    else:
        spent = f"{amount} {currency}" if currency else amount
        entry = f"{spent} of earnable spend in the last {_months(tiers.window_months)}"
    parts = [entry]
    if tier.factor != 1:
        parts.append(f"earns {_number(tier.factor)}× points")
    parts.extend(tier.benefits)
    return f"{tier.name}: {'; '.join(parts)}"


def _months(count: int) -> str:
    return "month" if count == 1 else f"{count} months"


def _number(value: Decimal) -> str:
    """2,000 or 1.5: thousands separated, no trailing zeros."""
    if value == value.to_integral_value():
        return format(int(value), ",")
    return format(value.normalize(), ",f")
