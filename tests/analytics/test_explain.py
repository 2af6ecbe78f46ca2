"""The plain-language sentences of a customer's scores, on handmade score rows (no store)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from patron.analytics.abc import AbcSettings
from patron.analytics.explain import LABELS, Explained, Rules, explain, purchase_gap_days
from patron.analytics.lifecycle import LifecycleRules
from patron.analytics.scoring import ScoringSettings
from patron.analytics.snapshots import CustomerScore, ScoreSnapshot
from patron.web.i18n import Formats, translations

# A repeat buyer scored in weeks: first to last purchase day 20 weeks, 4 repeat purchase days
# (a purchase every 5 weeks), last one 24 weeks before the end of the period.
REGULAR: dict[str, Any] = {
    "purchase_days": 5,
    "frequency": 4,
    "recency": 20.0,
    "T": 44.0,
    "days_since_last": 168,
    "revenue": 480.0,
    "abc": "A",
    "r_score": 5,
    "f_score": 4,
    "m_score": 3,
    "rfm_segment": "champions",
    "p_alive": 0.31,
    "expected_purchases": 2.345,
    "expected_spend": 95.5,
    "clv": 210.25,
    "lifecycle_phase": "expansion",
    "loyalty_type": "spurious",
    "profit": 120.0,
}
# A lead: known, never bought. Everything purchase-based is empty.
LEAD: dict[str, Any] = {
    "purchase_days": 0,
    "lifecycle_phase": "awareness",
    "loyalty_type": "unknown attitude",
}


def _explain(
    fields: dict[str, Any], rules: Rules = Rules(), language: str = "en", **kw: Any
) -> list[Explained]:
    score = CustomerScore(snapshot_id=1, customer_id=1, **fields)
    formats = Formats(language, ZoneInfo("UTC"), "EUR")
    return explain(score, rules, translations=translations(language), formats=formats, **kw)


def _by_key(explained: list[Explained]) -> dict[str, Explained]:
    return {item.key: item for item in explained}


def test_p_alive_tells_the_rhythm_and_the_last_purchase() -> None:
    p_alive = _by_key(_explain(REGULAR))["p_alive"]
    assert p_alive.sentence == "P(alive) 0.31: usually buys every 5 weeks, last bought 24 weeks ago"
    assert (p_alive.label, p_alive.value) == ("P(alive)", "0.31")


def test_the_rhythm_is_recency_over_frequency_in_the_snapshots_unit() -> None:
    assert purchase_gap_days(20.0, 4, "week") == 35.0
    assert purchase_gap_days(30.0, 3, "day") == 10.0
    assert purchase_gap_days(0.0, 0, "week") is None  # one purchase day: no gap
    assert purchase_gap_days(None, None, "week") is None
    in_days = REGULAR | {"recency": 30.0, "frequency": 3, "days_since_last": 1}
    sentence = _by_key(_explain(in_days, Rules(time_unit="day")))["p_alive"].sentence
    assert sentence == "P(alive) 0.31: usually buys every 10 days, last bought 1 day ago"
    daily = in_days | {"recency": 5.0, "frequency": 5}
    assert _by_key(_explain(daily, Rules(time_unit="day")))["p_alive"].detail.startswith(
        "usually buys every day,"
    )


@pytest.mark.parametrize(
    ("recency", "frequency", "since", "expected"),
    [
        (1.0, 1, 0, "usually buys every 7 days, last bought today"),
        (60.0, 3, 400, "usually buys every 20 weeks, last bought 13 months ago"),
        (100.0, 1, 1000, "usually buys every 23 months, last bought 3 years ago"),
    ],
)
def test_times_are_said_in_the_unit_that_fits_them(
    recency: float, frequency: int, since: int, expected: str
) -> None:
    fields = REGULAR | {"recency": recency, "frequency": frequency, "days_since_last": since}
    assert _by_key(_explain(fields))["p_alive"].detail == expected


def test_a_one_time_buyer_has_no_rhythm_to_judge_by() -> None:
    once = REGULAR | {"purchase_days": 1, "frequency": 0, "recency": 0.0, "p_alive": 1.0}
    once["days_since_last"] = 3 * 365
    assert _by_key(_explain(once))["p_alive"].sentence == (
        "P(alive) 1.00: bought on one day only, last bought 3 years ago; "
        "without a repeat purchase the model has no rhythm to judge by"
    )


def test_without_a_model_p_alive_clv_and_spend_are_not_estimated() -> None:
    unmodelled = REGULAR | {"p_alive": None, "expected_purchases": None, "clv": None}
    unmodelled["expected_spend"] = None
    found = _by_key(_explain(unmodelled))
    assert found["p_alive"].value is None
    assert found["p_alive"].sentence == (
        "P(alive): not estimated, as no purchase model could be fitted in this analysis; "
        "usually buys every 5 weeks, last bought 24 weeks ago"
    )
    for key in ("expected_purchases", "expected_spend", "clv"):
        assert found[key].value is None
        assert found[key].detail.startswith("not estimated")


def test_abc_names_the_share_of_value_of_its_class() -> None:
    sentences = {
        klass: _by_key(_explain(REGULAR | {"abc": klass}))["abc"].sentence
        for klass in ("A", "B", "C")
    }
    assert sentences == {
        "A": "ABC class A: among the top customers who make 80% of revenue",
        "B": "ABC class B: among the customers who make the next 15% of revenue",
        "C": "ABC class C: among the remaining customers, who make the last 5% of revenue",
    }
    by_margin = Rules(abc_by="margin", abc_a=0.7, abc_b=0.9)
    assert _by_key(_explain(REGULAR, by_margin))["abc"].detail == (
        "among the top customers who make 70% of the margin"
    )


def test_rfm_shows_the_three_scores_and_what_the_segment_means() -> None:
    found = _by_key(_explain(REGULAR))
    assert found["rfm"].sentence == "RFM 5-4-3: Champions — bought recently and often"
    custom = _by_key(_explain(REGULAR | {"rfm_segment": "vip"}))
    assert custom["rfm"].sentence == "RFM 5-4-3: vip"  # a custom segment: its name only


def test_lifecycle_phase_says_why() -> None:
    found = _by_key(_explain(REGULAR))
    assert found["lifecycle_phase"].sentence == (
        "Lifecycle phase Expansion: spending more in the last 90 days than in the 90 days before"
    )
    rules = Rules(lifecycle=LifecycleRules(period_days=60, dissolution_p_alive=0.25))
    assert "last 60 days than in the 60 days before" in (
        _by_key(_explain(REGULAR, rules))["lifecycle_phase"].detail
    )
    fading = _by_key(_explain(REGULAR | {"lifecycle_phase": "dissolution"}, rules))
    assert fading["lifecycle_phase"].detail == (
        "the relationship is fading, with P(alive) below 0.25"
    )
    unmodelled = REGULAR | {"lifecycle_phase": "dissolution", "p_alive": None}
    assert _by_key(_explain(unmodelled))["lifecycle_phase"].detail == (
        "the relationship is fading, with no purchase for more than 365 days"
    )
    trial = REGULAR | {"lifecycle_phase": "exploration", "purchase_days": 2}
    assert _by_key(_explain(trial))["lifecycle_phase"].detail == (
        "first or trial purchases, on 2 days so far"
    )


def test_values_in_the_readers_formats() -> None:
    found = _by_key(_explain(REGULAR))
    assert found["expected_purchases"].value == "2.3"
    assert found["expected_spend"].value == "€95.50"
    assert found["clv"].value == "€210.25"
    assert found["profit"].sentence == (
        "Profit €120.00: revenue minus the cost of goods, returns and the cost to serve"
    )
    assert found["loyalty_type"].sentence == (
        "Loyalty type Spurious loyalty: buys again out of habit, without attachment, "
        "and may leave for a better offer"
    )


def test_an_unprofitable_customer_is_told_so() -> None:
    loss = _by_key(_explain(REGULAR | {"profit": -12.5}))["profit"]
    assert loss.value == "-€12.50"
    assert loss.detail.startswith("unprofitable, as revenue does not cover")


def test_a_subscription_candidate_names_the_product_and_the_rhythm() -> None:
    regular = REGULAR | {"subscription_product": "SKU-7", "subscription_interval_days": 14.0}
    found = _by_key(_explain(regular, product="Espresso beans"))
    assert found["subscription"].sentence == (
        "Subscription Espresso beans: reorders it about every 14 days, "
        "a candidate for a delivery subscription"
    )
    assert _by_key(_explain(regular))["subscription"].value == "SKU-7"  # no name known
    assert _by_key(_explain(REGULAR))["subscription"].sentence == (
        "Subscription: no product reordered at a regular rhythm"
    )


def test_a_lead_without_purchases_gets_every_score_explained() -> None:
    explained = _explain(LEAD)
    assert [item.key for item in explained] == list(LABELS)
    found = _by_key(explained)
    for key in ("abc", "rfm", "p_alive", "expected_purchases", "clv", "profit"):
        assert (found[key].value, found[key].detail) == (None, "no purchase yet"), key
    assert found["lifecycle_phase"].sentence == (
        "Lifecycle phase Awareness: a known contact who has not bought yet"
    )
    assert found["loyalty_type"].sentence == (
        "Loyalty type Attitude unknown: no survey answer yet, so the attitude is unknown"
    )


def test_in_german() -> None:
    found = _by_key(_explain(REGULAR, language="de"))
    assert found["p_alive"].sentence == (
        "Aktivitätswahrscheinlichkeit 0,31: kauft gewöhnlich alle 5 Wochen, "
        "zuletzt vor 24 Wochen gekauft"
    )
    assert found["abc"].sentence == (
        "ABC-Klasse A: unter den besten Kunden, die zusammen 80\xa0% des Umsatzes bringen"
    )
    assert found["clv"].value == "210,25\xa0€"


def test_rules_come_from_the_settings_stored_with_the_snapshot() -> None:
    settings = ScoringSettings(
        unit="day",
        horizon_months=24,
        abc=AbcSettings(by="margin", a=0.7, b=0.9),
        lifecycle=LifecycleRules(period_days=30),
    )
    snapshot = ScoreSnapshot(time_unit="day", settings=settings.describe())
    assert Rules.of(snapshot) == Rules(
        time_unit="day",
        horizon_months=24,
        abc_by="margin",
        abc_a=0.7,
        abc_b=0.9,
        lifecycle=LifecycleRules(period_days=30),
    )
    assert Rules.of(ScoreSnapshot(time_unit="week", settings={})) == Rules()
    found = _by_key(_explain(REGULAR, Rules.of(snapshot)))
    assert found["clv"].detail == ("the expected margin of the next 24 months, discounted to today")
