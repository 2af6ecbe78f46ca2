"""A customer's scores in plain language: one sentence per score, for the 360 page and the API.

Pure functions of one ``CustomerScore`` row and the rules its snapshot was scored with; every
text goes through the reader's catalogue and every number through the reader's formats, so the
same sentences serve a German page and an English API caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from gettext import NullTranslations
from typing import Any, Protocol

from patron.analytics.charts import LOYALTY_NAMES, PHASE_NAMES, SEGMENT_NAMES
from patron.analytics.lifecycle import LifecycleRules
from patron.analytics.snapshots import CustomerScore, ScoreSnapshot
from patron.analytics.summary import UNIT_DAYS

DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25


def N_(text: str) -> str:
    """Marks a text for extraction (``pybabel extract -k N_``); it is translated where shown."""
    return text


# The scores the 360 page and the API explain, in the order they are shown.
LABELS = {
    "abc": N_("ABC class"),
    "rfm": N_("RFM"),
    "p_alive": N_("P(alive)"),
    "expected_purchases": N_("Expected purchases"),
    "expected_spend": N_("Expected spend"),
    "clv": N_("Customer lifetime value"),
    "lifecycle_phase": N_("Lifecycle phase"),
    "loyalty_type": N_("Loyalty type"),
    "profit": N_("Profit"),
    "subscription": N_("Subscription"),
}
# What the default RFM segments mean (custom segments are shown by name only).
SEGMENT_MEANINGS = {
    "champions": N_("bought recently and often"),
    "loyal": N_("buy often, if not quite as recently"),
    "potential loyalists": N_("bought recently, and more than once"),
    "new": N_("bought for the first time only recently"),
    "promising": N_("bought recently, once"),
    "need attention": N_("neither recent nor frequent enough to be safe"),
    "about to sleep": N_("bought rarely, and a while ago"),
    "at risk": N_("bought often, but not for a long time"),
    "can't lose": N_("were among the most frequent buyers, but not for a long time"),
    "hibernating": N_("bought rarely, long ago"),
    "lost": N_("bought rarely, longest ago"),
}
LOYALTY_MEANINGS = {
    "true": N_("likes the brand and buys again"),
    "latent": N_("likes the brand but does not buy again"),
    "spurious": N_("buys again out of habit, without attachment, and may leave for a better offer"),
    "none": N_("neither attached to the brand nor buying again"),
    "unknown attitude": N_("no survey answer yet, so the attitude is unknown"),
}
NO_PURCHASE = N_("no purchase yet")
NO_MODEL = N_("not estimated, as no purchase model could be fitted in this analysis")


class Numbers(Protocol):
    """How the reader writes numbers (``patron.web.i18n.Formats`` is one)."""

    def number(self, value: float | None, digits: int = 0) -> str: ...

    def money(self, value: float | None, currency: str | None = None) -> str: ...

    def percent(self, value: float | None, digits: int = 1) -> str: ...


@dataclass(frozen=True)
class Rules:
    """What a snapshot was scored with, as far as the sentences need it."""

    time_unit: str = "week"
    horizon_months: int = 12
    abc_by: str = "revenue"
    abc_a: float = 0.80
    abc_b: float = 0.95
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)

    @classmethod
    def of(cls, snapshot: ScoreSnapshot) -> Rules:
        """The rules stored with ``snapshot`` (``ScoringSettings.describe()``); defaults for any
        a snapshot of an older version did not record."""
        settings: Mapping[str, Any] = snapshot.settings or {}
        abc: Mapping[str, Any] = settings.get("abc") or {}
        stored: Mapping[str, Any] = settings.get("lifecycle") or {}
        known = {f.name for f in fields(LifecycleRules)}
        default = cls()
        return cls(
            time_unit=snapshot.time_unit,
            horizon_months=int(settings.get("horizon_months", default.horizon_months)),
            abc_by=str(abc.get("by", default.abc_by)),
            abc_a=float(abc.get("a", default.abc_a)),
            abc_b=float(abc.get("b", default.abc_b)),
            lifecycle=LifecycleRules(**{k: v for k, v in stored.items() if k in known}),
        )


@dataclass(frozen=True)
class Explained:
    """One score: its label, its value as the reader writes it (None: the customer has none),
    why it is what it is, and all of it as one sentence."""

    key: str
    label: str
    value: str | None
    detail: str
    sentence: str


def purchase_gap_days(recency: float | None, frequency: int | None, unit: str) -> float | None:
    """The mean time between a customer's purchase days, in days: recency ÷ frequency (the time
    from the first to the last purchase day over the number of repeat purchase days)."""
    if recency is None or not frequency or frequency <= 0 or recency <= 0:
        return None
    return recency / frequency * UNIT_DAYS[unit]


def explain(
    score: CustomerScore,
    rules: Rules,
    *,
    translations: NullTranslations,
    formats: Numbers,
    product: str | None = None,
) -> list[Explained]:
    """Every score of ``score`` with its explanation; ``product`` names the subscription
    candidate's product (default: its SKU as stored)."""
    voice = _Voice(translations, formats)
    found = {
        "abc": _abc(score, rules, voice),
        "rfm": _rfm(score, voice),
        "p_alive": _p_alive(score, rules, voice),
        "expected_purchases": _expected_purchases(score, rules, voice),
        "expected_spend": _expected_spend(score, voice),
        "clv": _clv(score, rules, voice),
        "lifecycle_phase": _lifecycle(score, rules, voice),
        "loyalty_type": _loyalty(score, voice),
        "profit": _profit(score, voice),
        "subscription": _subscription(score, voice, product),
    }
    return [voice.explained(key, *found[key]) for key in LABELS]


def sentences(explained: list[Explained]) -> list[str]:
    return [item.sentence for item in explained]


class _Voice:
    """The reader's catalogue and formats, and the phrases built from them."""

    def __init__(self, translations: NullTranslations, formats: Numbers) -> None:
        self.gettext = translations.gettext
        self.ngettext = translations.ngettext
        self.formats = formats

    def explained(self, key: str, value: str | None, detail: str) -> Explained:
        _ = self.gettext
        label = _(LABELS[key])
        if value is None:
            sentence = _("%(label)s: %(detail)s") % {"label": label, "detail": detail}
        else:
            sentence = _("%(label)s %(value)s: %(detail)s") % {
                "label": label,
                "value": value,
                "detail": detail,
            }
        return Explained(key, label, value, detail, sentence)

    def every(self, days: float) -> str:
        """ "usually buys every 5 weeks": in days, weeks, months or years, as fits the gap."""
        ngettext = self.ngettext
        unit, count = _span(days)
        if unit == "day":
            text = ngettext("usually buys every day", "usually buys every %(num)s days", count)
        elif unit == "week":
            text = ngettext("usually buys every week", "usually buys every %(num)s weeks", count)
        elif unit == "month":
            text = ngettext("usually buys every month", "usually buys every %(num)s months", count)
        else:
            text = ngettext("usually buys every year", "usually buys every %(num)s years", count)
        return text % {"num": self.formats.number(count)}

    def ago(self, days: float) -> str:
        """ "last bought 24 weeks ago"."""
        if days < 1:
            return self.gettext("last bought today")
        ngettext = self.ngettext
        unit, count = _span(days)
        if unit == "day":
            text = ngettext("last bought %(num)s day ago", "last bought %(num)s days ago", count)
        elif unit == "week":
            text = ngettext("last bought %(num)s week ago", "last bought %(num)s weeks ago", count)
        elif unit == "month":
            text = ngettext(
                "last bought %(num)s month ago", "last bought %(num)s months ago", count
            )
        else:
            text = ngettext("last bought %(num)s year ago", "last bought %(num)s years ago", count)
        return text % {"num": self.formats.number(count)}


def _span(days: float) -> tuple[str, int]:
    """A time in the unit a person would say it in: days under two weeks, weeks under half a
    year, months under two years, years beyond."""
    if days < 14:
        return "day", max(round(days), 1)
    if days < DAYS_PER_YEAR / 2:
        return "week", round(days / 7)
    if days < 2 * DAYS_PER_YEAR:
        return "month", round(days / DAYS_PER_MONTH)
    return "year", round(days / DAYS_PER_YEAR)


def _bought(score: CustomerScore) -> bool:
    return bool(score.purchase_days)


def _abc(score: CustomerScore, rules: Rules, voice: _Voice) -> tuple[str | None, str]:
    _, percent = voice.gettext, voice.formats.percent
    if score.abc is None or not _bought(score):
        return score.abc, _(NO_PURCHASE)  # a lead may be classed C: nothing to explain
    by_margin = rules.abc_by == "margin"
    if score.abc == "A":
        share = percent(rules.abc_a, 0)
        if by_margin:
            detail = _("among the top customers who make %(share)s of the margin")
        else:
            detail = _("among the top customers who make %(share)s of revenue")
    elif score.abc == "B":
        share = percent(rules.abc_b - rules.abc_a, 0)
        if by_margin:
            detail = _("among the customers who make the next %(share)s of the margin")
        else:
            detail = _("among the customers who make the next %(share)s of revenue")
    else:
        share = percent(1 - rules.abc_b, 0)
        if by_margin:
            detail = _("among the remaining customers, who make the last %(share)s of the margin")
        else:
            detail = _("among the remaining customers, who make the last %(share)s of revenue")
    return score.abc, detail % {"share": share}


def _rfm(score: CustomerScore, voice: _Voice) -> tuple[str | None, str]:
    _ = voice.gettext
    parts = (score.r_score, score.f_score, score.m_score)
    if any(part is None for part in parts) or score.rfm_segment is None:
        return None, _(NO_PURCHASE)
    value = "-".join(str(part) for part in parts)
    segment = score.rfm_segment
    name = _(SEGMENT_NAMES[segment]) if segment in SEGMENT_NAMES else segment
    if segment not in SEGMENT_MEANINGS:
        return value, name
    meaning = _(SEGMENT_MEANINGS[segment])
    return value, _("%(segment)s — %(meaning)s") % {"segment": name, "meaning": meaning}


def _p_alive(score: CustomerScore, rules: Rules, voice: _Voice) -> tuple[str | None, str]:
    _ = voice.gettext
    if not _bought(score):
        return None, _(NO_PURCHASE)
    clauses = []
    gap = purchase_gap_days(score.recency, score.frequency, rules.time_unit)
    if gap is not None:
        clauses.append(voice.every(gap))
    else:
        clauses.append(_("bought on one day only"))
    if score.days_since_last is not None:
        clauses.append(voice.ago(score.days_since_last))
    rhythm = ", ".join(clauses)
    if score.p_alive is None:
        return None, _("%(reason)s; %(rhythm)s") % {"reason": _(NO_MODEL), "rhythm": rhythm}
    if gap is None:
        # BG/NBD lets a customer drop out only after a repeat purchase: a one-time buyer stays
        # "alive" in it however long ago they bought. The reader should know.
        rhythm = _("%(rhythm)s; without a repeat purchase the model has no rhythm to judge by") % {
            "rhythm": rhythm
        }
    return voice.formats.number(score.p_alive, 2), rhythm


def _expected_purchases(
    score: CustomerScore, rules: Rules, voice: _Voice
) -> tuple[str | None, str]:
    _ = voice.gettext
    if score.expected_purchases is None:
        return None, _(NO_MODEL) if _bought(score) else _(NO_PURCHASE)
    detail = _("purchase days the model expects in the next %(months)s months")
    value = voice.formats.number(score.expected_purchases, 1)
    return value, detail % {"months": voice.formats.number(rules.horizon_months)}


def _expected_spend(score: CustomerScore, voice: _Voice) -> tuple[str | None, str]:
    _ = voice.gettext
    if score.expected_spend is None:
        return None, _(NO_MODEL) if _bought(score) else _(NO_PURCHASE)
    if score.frequency:
        detail = _(
            "the expected value of one future purchase, their own average drawn towards "
            "that of all customers"
        )
    else:
        detail = _(
            "the expected value of one future purchase, the average of all customers as they "
            "have not bought again yet"
        )
    return voice.formats.money(score.expected_spend), detail


def _clv(score: CustomerScore, rules: Rules, voice: _Voice) -> tuple[str | None, str]:
    _ = voice.gettext
    if score.clv is None:
        return None, _(NO_MODEL) if _bought(score) else _(NO_PURCHASE)
    detail = _("the expected margin of the next %(months)s months, discounted to today")
    return voice.formats.money(score.clv), detail % {
        "months": voice.formats.number(rules.horizon_months)
    }


def _lifecycle(score: CustomerScore, rules: Rules, voice: _Voice) -> tuple[str | None, str]:
    _, ngettext, formats = voice.gettext, voice.ngettext, voice.formats
    phase, lifecycle = score.lifecycle_phase, rules.lifecycle
    if phase is None:
        return None, _("not determined")
    name = _(PHASE_NAMES[phase]) if phase in PHASE_NAMES else phase
    if phase == "awareness":
        detail = _("a known contact who has not bought yet")
    elif phase == "exploration":
        days = score.purchase_days or 0
        detail = ngettext(
            "first or trial purchases, on %(num)s day so far",
            "first or trial purchases, on %(num)s days so far",
            days,
        ) % {"num": formats.number(days)}
    elif phase == "expansion":
        detail = _("spending more in the last %(days)s days than in the %(days)s days before") % {
            "days": formats.number(lifecycle.period_days)
        }
    elif phase == "commitment":
        detail = _("a stable repeat buyer who is still active")
    elif phase == "dissolution" and score.p_alive is not None:
        detail = _("the relationship is fading, with P(alive) below %(threshold)s") % {
            "threshold": formats.number(lifecycle.dissolution_p_alive, 2)
        }
    elif phase == "dissolution":
        detail = _("the relationship is fading, with no purchase for more than %(days)s days") % {
            "days": formats.number(lifecycle.dissolution_days)
        }
    else:
        detail = name
    return name, detail


def _loyalty(score: CustomerScore, voice: _Voice) -> tuple[str | None, str]:
    _ = voice.gettext
    kind = score.loyalty_type
    if kind is None:
        return None, _("not determined")
    name = _(LOYALTY_NAMES[kind]) if kind in LOYALTY_NAMES else kind
    return name, _(LOYALTY_MEANINGS[kind]) if kind in LOYALTY_MEANINGS else name


def _profit(score: CustomerScore, voice: _Voice) -> tuple[str | None, str]:
    _ = voice.gettext
    if score.profit is None or not _bought(score):
        return None, _(NO_PURCHASE)
    if score.profit < 0:
        detail = _(
            "unprofitable, as revenue does not cover the cost of goods, returns and service; "
            "first try to make this customer profitable"
        )
    else:
        detail = _("revenue minus the cost of goods, returns and the cost to serve")
    return voice.formats.money(score.profit), detail


def _subscription(
    score: CustomerScore, voice: _Voice, product: str | None
) -> tuple[str | None, str]:
    _ = voice.gettext
    if not score.subscription_product:
        return None, _("no product reordered at a regular rhythm")
    name = product or score.subscription_product
    if score.subscription_interval_days is None:
        return name, _("reorders it at a regular rhythm, a candidate for a delivery subscription")
    detail = _("reorders it about every %(days)s days, a candidate for a delivery subscription") % {
        "days": voice.formats.number(score.subscription_interval_days)
    }
    return name, detail
