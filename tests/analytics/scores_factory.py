"""Synthetic analysis results for tests: customer scores with every column, Pareto, cohorts, fits.

``fake_scores`` follows the data contract of ``patron.analytics.columns.SCORES`` (names, order,
Arrow types) with values that hang together the way real ones do: revenue = sales - returns,
ABC from cumulative revenue, RFM scores as quintiles, a heavy-tailed CLV, P(alive) that falls
with the time since the last purchase, and a few leads without any purchase (awareness), whose
purchase-based columns are null.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pyarrow as pa

from patron.analytics import columns

PERIOD_END = date(2024, 12, 31)
PERIOD_DAYS = 3 * 365
ARROW_TYPES = columns.ARROW_TYPES
# (R scores, F scores) → segment, checked in this order; the last one takes the rest.
SEGMENT_RULES = (
    ({5}, {4, 5}, "champions"),
    ({3, 4}, {4, 5}, "loyal"),
    ({4, 5}, {2, 3}, "potential loyalists"),
    ({5}, {1}, "new"),
    ({4}, {1}, "promising"),
    ({3}, {3}, "need attention"),
    ({3}, {1, 2}, "about to sleep"),
    ({1, 2}, {3, 4}, "at risk"),
    ({1, 2}, {5}, "can't lose"),
    ({2}, {1, 2}, "hibernating"),
    ({1}, {1, 2}, "lost"),
)


def fake_scores(n: int, seed: int = 0, *, leads: float = 0.03) -> pa.Table:
    """``n`` customers' scores; a share ``leads`` of them never bought (phase awareness)."""
    rng = np.random.default_rng(seed)
    buyer = rng.random(n) >= leads
    tenure = rng.integers(0, PERIOD_DAYS, n)
    purchase_days = 1 + np.minimum(rng.negative_binomial(0.6, 0.25, n), 80)
    purchase_days = np.minimum(purchase_days, tenure + 1)
    frequency = purchase_days - 1
    span = np.where(frequency > 0, np.maximum(tenure * rng.beta(2.5, 1.2, n), frequency), 0)
    recency_days = np.minimum(np.round(span), tenure).astype(np.int64)
    days_since_last = tenure - recency_days
    orders = purchase_days + rng.binomial(purchase_days, 0.08)
    spend = rng.lognormal(3.6, 1.0, n)  # one purchase day's value
    sales = np.round(purchase_days * spend * rng.lognormal(0, 0.15, n), 2)
    return_rate = np.where(rng.random(n) < 0.6, 0.0, rng.beta(1.2, 8, n))
    returns = np.round(sales * return_rate, 2)
    revenue = sales - returns
    discount_share = np.where(rng.random(n) < 0.5, 0.0, rng.beta(1, 10, n))
    discounts = np.round(sales * discount_share / (1 - discount_share), 2)
    cost_of_goods = np.round(revenue * rng.uniform(0.45, 0.8, n), 2)
    margin = revenue - cost_of_goods
    cases = rng.poisson(0.3, n)
    cost_to_serve = orders * 3.5 + (returns > 0) * orders * 6.0 + cases * 18.0
    profit = margin - cost_to_serve
    monetary = np.where(frequency > 0, np.round(revenue / purchase_days, 2), 0.0)
    weeks = 7.0
    recency, age = recency_days / weeks, tenure / weeks
    r_score = _quintile(-days_since_last, buyer)
    f_score = _quintile(purchase_days, buyer)
    m_score = _quintile(revenue, buyer)
    segment = _segments(r_score, f_score)
    rate = (frequency + 0.5) / (age + 8)  # purchases per week
    p_alive = np.where(
        frequency == 0, 1.0, np.exp(-0.9 * rate * np.maximum(days_since_last / weeks - 2, 0))
    )
    p_alive = np.clip(p_alive * rng.uniform(0.9, 1.0, n), 0.0, 1.0)
    expected_purchases = p_alive * rate * 52
    expected_spend = np.where(frequency > 0, 0.7 * monetary + 0.3 * 55, 55.0)
    clv = expected_purchases * expected_spend * 0.35 * 0.93
    abc, abc_share = _abc(revenue, buyer)
    phase = _phases(frequency, p_alive, buyer)
    loyalty = _loyalty(frequency, rng)
    subscriber = buyer & (frequency >= 4) & (rng.random(n) < 0.15)
    end = np.datetime64(PERIOD_END, "D")
    first = end - tenure.astype("timedelta64[D]")
    last = first + recency_days.astype("timedelta64[D]")
    scored = buyer & (rng.random(n) >= 0.01)  # a few buyers the model could not score
    products = np.array([f"P{k:04d}" for k in range(500)], dtype=object)[rng.integers(0, 500, n)]
    everyone = np.ones(n, dtype=bool)
    data: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "customer_id": (np.array([f"C{i:07d}" for i in range(n)], dtype=object), everyone),
        "first_purchase": (first, buyer),
        "last_purchase": (last, buyer),
        "orders": (np.where(buyer, orders, 0), everyone),
        "purchase_days": (np.where(buyer, purchase_days, 0), everyone),
        "frequency": (frequency, buyer),
        "recency": (recency, buyer),
        "T": (age, buyer),
        "monetary": (np.where(buyer, monetary, 0.0), everyone),
        "sales": (np.where(buyer, sales, 0.0), everyone),
        "returns": (np.where(buyer, returns, 0.0), everyone),
        "revenue": (np.where(buyer, revenue, 0.0), everyone),
        "discounts": (np.where(buyer, discounts, 0.0), everyone),
        "cost_of_goods": (np.where(buyer, cost_of_goods, 0.0), everyone),
        "margin": (np.where(buyer, margin, 0.0), everyone),
        "return_rate": (return_rate, buyer),
        "discount_share": (discount_share, buyer),
        "tenure_days": (tenure, buyer),
        "days_since_last": (days_since_last, buyer),
        "abc": (abc, buyer),
        "abc_share": (abc_share, buyer),
        "r_score": (r_score, buyer),
        "f_score": (f_score, buyer),
        "m_score": (m_score, buyer),
        "rfm_segment": (segment, buyer),
        "p_alive": (p_alive, scored),
        "expected_purchases": (expected_purchases, scored),
        "expected_spend": (expected_spend, scored),
        "clv": (clv, scored),
        "lifecycle_phase": (phase, everyone),
        "loyalty_type": (loyalty, everyone),
        "cost_to_serve": (np.where(buyer, cost_to_serve, 0.0), everyone),
        "profit": (np.where(buyer, profit, 0.0), everyone),
        "subscription_product": (products, subscriber),
        "subscription_interval_days": (np.round(rng.uniform(10, 60, n), 1), subscriber),
    }
    arrays = [
        pa.array(data[c.name][0], type=ARROW_TYPES[c.type], mask=~data[c.name][1])
        for c in columns.SCORES
    ]
    return pa.table(arrays, names=list(columns.SCORE_NAMES))


def fake_pareto(scores: pa.Table) -> pa.Table:
    """Customers ranked by revenue: cumulative share of customers and of revenue, ending at 1, 1."""
    revenue = np.sort(np.nan_to_num(scores.column("revenue").to_numpy()))[::-1]
    n = revenue.size
    return pa.table(
        {
            "customer_share": np.arange(1, n + 1) / n,
            "value_share": np.cumsum(revenue) / revenue.sum(),
        }
    )


def fake_cohorts(months: int = 24, seed: int = 0) -> pa.Table:
    """Monthly cohorts, each observed from its first month to the end (a triangle)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for k in range(months):
        cohort = date(2023 + (k // 12), k % 12 + 1, 1)
        size = int(rng.integers(200, 900))
        for period in range(months - k):
            rate = 1.0 if period == 0 else 0.35 * (period**-0.45) * rng.uniform(0.85, 1.15)
            active = size if period == 0 else int(rng.binomial(size, min(rate, 1.0)))
            rows.append(
                {
                    "cohort": cohort,
                    "period": period,
                    "customers": size,
                    "active": active,
                    "retention": active / size,
                }
            )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("cohort", pa.date32()),
                ("period", pa.int64()),
                ("customers", pa.int64()),
                ("active", pa.int64()),
                ("retention", pa.float64()),
            ]
        ),
    )


def fake_tracking(weeks: int = 78, seed: int = 0) -> pa.Table:
    """Cumulative repeat purchases per week, and a model's expectation close to them."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, weeks + 1, dtype=np.float64)
    actual = np.cumsum(rng.poisson(40 + 10 * np.sin(t / 8), weeks)).astype(np.float64)
    expected = np.cumsum(40 + 0.5 * rng.standard_normal(weeks))
    return pa.table({"t": t, "actual": actual, "expected": expected})


def fake_comparison(actual_total: float = 1234.0) -> pa.Table:
    """Three fitted models with their fit statistics and holdout totals."""
    return pa.table(
        {
            "model": ["BG/NBD", "Pareto/NBD", "MBG/NBD"],
            "log_likelihood": [-9582.4, -9595.0, -9581.9],
            "bic": [19197.9, 19223.1, 19196.9],
            "mae": [0.61, 0.63, 0.60],
            "rmse": [1.12, 1.15, 1.11],
            "predicted_total": [actual_total * 1.04, actual_total * 0.93, actual_total * 1.01],
            "actual_total": [actual_total] * 3,
        }
    )


def shout(text: str) -> str:
    """A "translation" that upper-cases the text and keeps its placeholders."""
    return re.sub(
        r"%\(\w+\)s|[^%]+", lambda m: m[0] if m[0].startswith("%(") else m[0].upper(), text
    )


def _quintile(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Scores 1..5 as ``patron.analytics.rfm`` gives them: 1 + floor(5 × percent rank), ties
    equal, ranked ``among`` the buyers."""
    ranked = np.sort(values[among])
    below = np.searchsorted(ranked, values, side="left")
    return np.minimum(1 + (5 * below) // max(ranked.size - 1, 1), 5)


def _segments(r_score: np.ndarray, f_score: np.ndarray) -> np.ndarray:
    segment = np.full(r_score.size, "lost", dtype=object)
    done = np.zeros(r_score.size, dtype=bool)
    for rs, fs, name in SEGMENT_RULES:
        hit = ~done & np.isin(r_score, list(rs)) & np.isin(f_score, list(fs))
        segment[hit] = name
        done |= hit
    return segment


def _abc(revenue: np.ndarray, buyer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As ``patron.analytics.abc`` classes: a customer is in the class where their own revenue
    starts (A before 80 % of the total, B before 95 %, C after); leads get no class."""
    value = np.where(buyer, np.maximum(revenue, 0.0), 0.0)
    order = np.argsort(-value, kind="stable")
    cumulative = np.empty(value.size)
    cumulative[order] = np.cumsum(value[order]) / max(value.sum(), 1e-9)
    before = cumulative - value / max(value.sum(), 1e-9)
    positive = value > 0
    classes = np.where(
        positive & (before < 0.8), "A", np.where(positive & (before < 0.95), "B", "C")
    )
    return classes.astype(object), cumulative


def _phases(frequency: np.ndarray, p_alive: np.ndarray, buyer: np.ndarray) -> np.ndarray:
    phase = np.where(
        p_alive < 0.3,
        "dissolution",
        np.where(
            frequency <= 1, "exploration", np.where(frequency >= 5, "commitment", "expansion")
        ),
    ).astype(object)
    phase[~buyer] = "awareness"
    return phase


def _loyalty(frequency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Attitude from a survey answered by 40 %; behaviour from repeat purchases."""
    answered = rng.random(frequency.size) < 0.4
    likes = rng.random(frequency.size) < 0.55
    rebuys = frequency >= 2
    kind = np.where(
        likes, np.where(rebuys, "true", "latent"), np.where(rebuys, "spurious", "none")
    ).astype(object)
    kind[~answered] = "unknown attitude"
    return kind
