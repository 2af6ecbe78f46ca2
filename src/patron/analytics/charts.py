"""Vega-Lite charts of the analysis results: ABC, RFM, CLV, P(alive), phases, cohorts, model fit.

Pure functions from Arrow tables to small Vega-Lite v5 specs: the data is aggregated here, so a
million customers become a few dozen inline values. Each chart comes with its title and a plain
table for readers without JavaScript; every text goes through the caller's ``gettext``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from patron.analytics import columns
from patron.analytics.columns import floats
from patron.analytics.figures import totals_by

Gettext = Callable[[str], str]
Kind = Literal["text", "count", "money", "share", "decimal"]
VEGA_LITE_VERSION = "5.21"  # what the specs are written and tested for (vl-convert's name)


def N_(text: str) -> str:
    """Marks a text for extraction (``pybabel extract -k N_``); it is translated where shown."""
    return text


BRAND = "#1f5f8b"
ACCENT = "#f2a93b"
MUTED = "#9aa7b4"
INK = "#243447"
WIDTH = 560
CHART_HEIGHT = 220
MAX_TEXT_COLUMNS = 13  # the cohort heat map labels its cells while "100%" still fits in one

SEGMENT_NAMES = {
    "champions": N_("Champions"),
    "loyal": N_("Loyal"),
    "potential loyalists": N_("Potential loyalists"),
    "new": N_("New customers"),
    "promising": N_("Promising"),
    "need attention": N_("Need attention"),
    "about to sleep": N_("About to sleep"),
    "at risk": N_("At risk"),
    "can't lose": N_("Can't lose them"),
    "hibernating": N_("Hibernating"),
    "lost": N_("Lost"),
}
PHASE_NAMES = {
    "awareness": N_("Awareness"),
    "exploration": N_("Exploration"),
    "expansion": N_("Expansion"),
    "commitment": N_("Commitment"),
    "dissolution": N_("Dissolution"),
}
LOYALTY_NAMES = {
    "true": N_("True loyalty"),
    "latent": N_("Latent loyalty"),
    "spurious": N_("Spurious loyalty"),
    "none": N_("No loyalty"),
    "unknown attitude": N_("Attitude unknown"),
}
FREQUENCY_BINS = ((0, "0"), (1, "1"), (2, "2"), (3, "3"), (4, "4–5"), (6, "6–9"), (10, "10+"))
TIME_UNITS = {"day": N_("days"), "week": N_("weeks"), "month": N_("months"), "year": N_("years")}

# Titles, axes, legends and tooltips.
PARETO = N_("Revenue concentration (Pareto curve)")
ABC_CLASSES = N_("ABC classes: customers and revenue")
RFM_GRID = N_("Customers by recency and frequency score")
SEGMENT_SIZES = N_("RFM segments: customers and revenue")
CLV_DISTRIBUTION = N_("Customer lifetime value")
P_ALIVE = N_("P(alive) by frequency and recency")
LIFECYCLE = N_("Lifecycle phases")
LOYALTY = N_("Loyalty types")
COHORTS = N_("Retention by cohort")
TRACKING = N_("Repeat purchases: actual and expected")
MODELS = N_("Models: predicted and actual holdout purchases")
CUSTOMERS = N_("Customers")
REVENUE = N_("Revenue")
SHARE = N_("Share")
SHARE_OF_CUSTOMERS = N_("Share of customers")
SHARE_OF_REVENUE = N_("Share of revenue")
SHARE_OF_MARGIN = N_("Share of margin")
SHARE_OF_CLV = N_("Share of total CLV")
CUSTOMERS_RANKED = N_("Share of customers, most valuable first")
YOUR_CUSTOMERS = N_("Your customers")
EQUAL_SHARES = N_("Every customer alike")
ABC_CLASS = N_("ABC class")
R_SCORE = N_("Recency score (5 = most recent)")
F_SCORE = N_("Frequency score (5 = most frequent)")
MEAN_REVENUE = N_("Mean revenue")
MEAN_CLV = N_("Mean CLV")
SEGMENT = N_("Segment")
CLV = N_("CLV")
CLV_FROM = N_("CLV from")
CLV_TO = N_("CLV up to")
MEDIAN = N_("Median")
FREQUENCY = N_("Repeat purchases (frequency)")
RECENCY_SHARE = N_("Last purchase, as share of the time since the first (recency ÷ T)")
RECENCY_FROM = N_("Recency ÷ T from")
RECENCY_TO = N_("Recency ÷ T up to")
MEAN_P_ALIVE = N_("Mean P(alive)")
PHASE = N_("Phase")
LOYALTY_TYPE = N_("Loyalty type")
COHORT = N_("Cohort (month of the first purchase)")
MONTHS_SINCE = N_("Months since the first purchase")
MONTH_N = N_("Month %(number)s")
RETENTION = N_("Retention")
ACTIVE = N_("Active customers")
TIME_SINCE_START = N_("Time since the start")
ACTUAL = N_("Actual")
EXPECTED = N_("Expected (model)")
PURCHASES = N_("Repeat purchases, cumulative")
CALIBRATION_END = N_("End of calibration")
MODEL = N_("Model")
PREDICTED_TOTAL = N_("Predicted holdout purchases")
ACTUAL_TOTAL = N_("Actual holdout purchases")
LOG_LIKELIHOOD = N_("Log-likelihood")
BIC = N_("BIC")
MAE = N_("MAE")
RMSE = N_("RMSE")
NO_VALUE = N_("None given")

QUANT, NOMINAL, ORDINAL = "quantitative", "nominal", "ordinal"
_BAR = {"type": "bar", "cornerRadiusEnd": 2, "tooltip": True}
_CELL = {"type": "rect", "tooltip": True, "stroke": "white", "strokeWidth": 1}
# The look of every chart, the overview page's too (patron.dashboard.pages uses these).
CHART_CONFIG: dict[str, Any] = {
    "font": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    "view": {"stroke": None},
    "axis": {
        "labelColor": "#5d6b7a",
        "titleColor": "#5d6b7a",
        "titleFontWeight": "normal",
        "gridColor": "#edf1f5",
        "domainColor": "#dde3ea",
        "tickColor": "#dde3ea",
        "labelFontSize": 11,
        "titleFontSize": 11,
        "titlePadding": 8,
    },
    "legend": {"labelColor": "#5d6b7a", "titleColor": "#5d6b7a", "orient": "top"},
    "text": {"font": 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'},
    "bar": {"color": BRAND},
}


@dataclass(frozen=True)
class TableColumn:
    """A column of a chart's plain table: the row key, its heading, how to format its values."""

    key: str
    label: str
    kind: Kind = "text"


@dataclass(frozen=True)
class Chart:
    """A Vega-Lite spec, its title, and the same numbers as a table (rows keyed by column key)."""

    spec: dict[str, Any]
    table: list[dict[str, Any]]
    title: str
    columns: tuple[TableColumn, ...] = ()


def display_name(key: str | None, names: dict[str, str], gettext: Gettext) -> str:
    """A segment, phase or loyalty type in the reader's language (unknown values as they are)."""
    if key is None:
        return gettext(NO_VALUE)
    return gettext(names[key]) if key in names else key


def pareto_curve(
    pareto: pa.Table, gettext: Gettext, *, measure: Literal["revenue", "margin"] = "revenue"
) -> Chart:
    """The cumulative share of value by share of customers, the diagonal, and the 80/20 guide."""
    x, y = floats(pareto, "customer_share"), floats(pareto, "value_share")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    x, y = np.concatenate(([0.0], x)), np.concatenate(([0.0], y))
    grid = np.linspace(0.0, x[-1], 201)
    ours, alike = gettext(YOUR_CUSTOMERS), gettext(EQUAL_SHARES)
    values = [
        {"x": _short(a), "y": _short(b), "series": ours}
        for a, b in zip(grid, np.interp(grid, x, y), strict=True)
    ]
    values += [{"x": 0.0, "y": 0.0, "series": alike}, {"x": 1.0, "y": 1.0, "series": alike}]
    share_title = gettext(SHARE_OF_MARGIN if measure == "margin" else SHARE_OF_REVENUE)
    axis = {"format": ".0%", "values": [0, 0.2, 0.4, 0.6, 0.8, 1]}
    x_enc = _enc("x", QUANT, scale={"domain": [0, 1]})
    y_enc = _enc("y", QUANT, scale={"domain": [0, 1]})
    guide = {"type": "rule", "color": ACCENT, "strokeDash": [3, 3], "opacity": 0.8}
    layers: list[dict[str, Any]] = [
        _layer(guide, {"x": x_enc}, [{"x": 0.2}]),
        _layer(guide, {"y": y_enc}, [{"y": 0.8}]),
        _layer(
            {"type": "line", "strokeWidth": 2},
            {
                "x": x_enc | {"title": gettext(CUSTOMERS_RANKED), "axis": axis},
                "y": y_enc | {"title": share_title, "axis": axis},
                "color": _legend("series", [ours, alike], [BRAND, MUTED]),
                "strokeDash": _dashes("series", [ours, alike]),
            },
        ),
    ]
    if x[-1] >= 0.2:
        point = [{"x": 0.2, "y": _num(np.interp(0.2, x, y))}]
        dot = {"type": "point", "filled": True, "color": ACCENT, "size": 60}
        text = {"type": "text", "align": "left", "dx": 8, "dy": 10, "color": INK}
        layers.append(_layer(dot, {"x": x_enc, "y": y_enc}, point))
        label = {"x": x_enc, "y": y_enc, "text": {"field": "y", "format": ".0%"}}
        layers.append(_layer(text, label, point))
    deciles = [round(0.1 * k, 1) for k in range(1, 11) if 0.1 * k <= x[-1] + 1e-9]
    table = [{"customer_share": d, "value_share": _num(np.interp(d, x, y))} for d in deciles]
    columns_ = (
        TableColumn("customer_share", gettext(CUSTOMERS_RANKED), "share"),
        TableColumn("value_share", share_title, "share"),
    )
    spec = _spec(values, layer=layers) | {"width": 360, "height": 300}
    return Chart(spec, table, gettext(PARETO), columns_)


def abc_classes(scores: pa.Table, gettext: Gettext, *, currency: str | None = None) -> Chart:
    """Per ABC class, its share of the customers beside its share of the revenue."""
    groups = _groups(scores, "abc", ("A", "B", "C"), {}, gettext, skip_null=True)
    table = _with_shares(groups, "abc")
    spec = _paired_shares(table, "abc", gettext(ABC_CLASS), gettext, currency, horizontal=False)
    return Chart(
        spec, table, gettext(ABC_CLASSES), _share_columns("abc", ABC_CLASS, gettext, currency)
    )


def segment_sizes(scores: pa.Table, gettext: Gettext, *, currency: str | None = None) -> Chart:
    """Per RFM segment (in ``columns.SEGMENTS`` order): share of customers beside share of revenue,
    and the mean CLV in the table."""
    groups = _groups(
        scores, "rfm_segment", columns.SEGMENTS, SEGMENT_NAMES, gettext, skip_null=True
    )
    table = _with_shares(groups, "segment")
    spec = _paired_shares(table, "segment", gettext(SEGMENT), gettext, currency, horizontal=True)
    spec["height"] = max(CHART_HEIGHT, 30 * len(table))
    mean_clv = TableColumn("mean_clv", _money(gettext, MEAN_CLV, currency), "money")
    table_columns = (*_share_columns("segment", SEGMENT, gettext, currency), mean_clv)
    return Chart(spec, table, gettext(SEGMENT_SIZES), table_columns)


def rfm_grid(scores: pa.Table, gettext: Gettext, *, currency: str | None = None) -> Chart:
    """A 5 × 5 heat map of customers by R score (rows) and F score, with each cell's segment
    (the most common one in the cell: the rules name segments by R and F, so it is the only one
    unless the scores came from elsewhere)."""
    r, f = floats(scores, "r_score"), floats(scores, "f_score")
    valid = np.isin(r, (1, 2, 3, 4, 5)) & np.isin(f, (1, 2, 3, 4, 5))
    cell = ((r[valid] - 1) * 5 + (f[valid] - 1)).astype(np.int64)
    counts = np.bincount(cell, minlength=25)
    revenue = np.nan_to_num(floats(scores, "revenue")[valid])
    sums = np.bincount(cell, weights=revenue, minlength=25)
    codes, segments = _codes(scores, "rfm_segment")
    codes, width = codes[valid], max(len(segments), 1)
    named = codes >= 0
    votes = np.bincount(cell[named] * width + codes[named], minlength=25 * width)
    votes = votes.reshape(25, width)
    table = []
    for r_score in range(5, 0, -1):
        for f_score in range(1, 6):
            i = (r_score - 1) * 5 + f_score - 1
            count = int(counts[i])
            segment = segments[int(votes[i].argmax())] if votes[i].any() else None
            table.append(
                {
                    "r_score": r_score,
                    "f_score": f_score,
                    "customers": count,
                    "mean_revenue": _num(sums[i] / count) if count else None,
                    "segment": display_name(segment, SEGMENT_NAMES, gettext) if segment else None,
                }
            )
    money = _money(gettext, MEAN_REVENUE, currency)
    encoding = {
        "x": _enc("f_score", ORDINAL, gettext(F_SCORE), axis={"labelAngle": 0}),
        "y": _enc("r_score", ORDINAL, gettext(R_SCORE), sort="descending"),
    }
    tooltip = [
        _tip("segment", gettext(SEGMENT), kind=NOMINAL),
        _tip("customers", gettext(CUSTOMERS), ",d"),
        _tip("mean_revenue", money, ",.2f"),
        _tip("r_score", gettext(R_SCORE), kind=ORDINAL),
        _tip("f_score", gettext(F_SCORE), kind=ORDINAL),
    ]
    colour = _enc("customers", QUANT, gettext(CUSTOMERS), scale={"scheme": "blues"})
    dark = f"datum.customers > {0.6 * max(int(counts.max()), 1)}"
    layers = [
        _layer(_CELL, encoding | {"color": colour, "tooltip": tooltip}),
        _cell_text(encoding, "customers", ",d", dark),
    ]
    table_columns = (
        TableColumn("r_score", gettext(R_SCORE)),
        TableColumn("f_score", gettext(F_SCORE)),
        TableColumn("customers", gettext(CUSTOMERS), "count"),
        TableColumn("mean_revenue", money, "money"),
        TableColumn("segment", gettext(SEGMENT)),
    )
    spec = _spec(table, layer=layers) | {"width": 420, "height": 300}
    return Chart(spec, table, gettext(RFM_GRID), table_columns)


def clv_distribution(scores: pa.Table, gettext: Gettext, *, currency: str | None = None) -> Chart:
    """Customers per CLV band on a log scale (bands 1-2-5 per decade), with the median.

    A lifetime value has a long tail: on a linear axis nearly every customer falls in the first
    bar. Bands of equal ratio show the bulk and the tail alike; the first band starts at the 1st
    percentile and also takes the few below it. Customers without a value are left out; those
    with a CLV of 0 or less are counted in the table only (a log axis has no 0).
    """
    clv = floats(scores, "clv")
    clv = clv[np.isfinite(clv)]
    positive = clv[clv > 0]
    total = float(clv.sum())
    table: list[dict[str, Any]] = []
    if positive.size < clv.size:
        rest = clv[clv <= 0]
        row = {"from": None, "to": 0.0, "customers": int(rest.size)}
        table.append(row | {"clv_share": _share(rest.sum(), total)})
    values: list[dict[str, Any]] = []
    if positive.size:
        edges = _nice_edges(np.quantile(positive, 0.01), positive.max())
        index = np.clip(np.searchsorted(edges, positive, side="right") - 1, 0, edges.size - 2)
        counts = np.bincount(index, minlength=edges.size - 1)
        sums = np.bincount(index, weights=positive, minlength=edges.size - 1)
        for i, count in enumerate(counts):  # the first band takes the 1 % below its edge
            row = {"from": 0.0 if i == 0 else _num(edges[i]), "to": _num(edges[i + 1])}
            row["customers"] = int(count)
            table.append(row | {"clv_share": _share(sums[i], total)})
            values.append(row | {"bar_from": _num(edges[i])})
    money = _money(gettext, CLV, currency)
    x_axis = {"format": ",.2~f", "values": _ticks(values), "grid": False}
    x = _enc("bar_from", QUANT, money, scale={"type": "log"})
    tooltip = [
        _tip("from", gettext(CLV_FROM), ",.2f"),
        _tip("to", gettext(CLV_TO), ",.2f"),
        _tip("customers", gettext(CUSTOMERS), ",d"),
    ]
    bars = {
        "x": x | {"axis": x_axis},
        "x2": {"field": "to"},
        "y": _enc("customers", QUANT, gettext(CUSTOMERS)),
        "y2": {"datum": 0},
        "tooltip": tooltip,
    }
    layers = [_layer({"type": "bar", "tooltip": True, "binSpacing": 1}, bars)]
    if positive.size:
        marker = [{"bar_from": _num(np.median(positive)), "label": gettext(MEDIAN)}]
        text = {"type": "text", "align": "left", "dx": 4, "y": 6, "color": INK}
        layers.append(_layer({"type": "rule", "color": ACCENT, "strokeWidth": 2}, {"x": x}, marker))
        layers.append(_layer(text, {"x": x, "text": {"field": "label"}}, marker))
    table_columns = (
        TableColumn("from", _money(gettext, CLV_FROM, currency), "money"),
        TableColumn("to", _money(gettext, CLV_TO, currency), "money"),
        TableColumn("customers", gettext(CUSTOMERS), "count"),
        TableColumn("clv_share", gettext(SHARE_OF_CLV), "share"),
    )
    return Chart(_spec(values, layer=layers), table, gettext(CLV_DISTRIBUTION), table_columns)


def p_alive_heatmap(scores: pa.Table, gettext: Gettext) -> Chart:
    """Mean P(alive) by repeat purchases (rows) and recency as a share of the customer's T.

    Recency ÷ T puts customers of every tenure on one scale: 0 = nothing bought after the first
    day, 1 = bought at the end of the period. Cells without customers stay empty.
    """
    frequency, recency = floats(scores, "frequency"), floats(scores, "recency")
    age, p_alive = floats(scores, "T"), floats(scores, "p_alive")
    valid = np.isfinite(frequency) & np.isfinite(recency) & np.isfinite(age) & np.isfinite(p_alive)
    frequency, recency, age, p_alive = frequency[valid], recency[valid], age[valid], p_alive[valid]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip(np.where(age > 0, recency / age, 1.0), 0.0, 1.0)
    column = np.minimum((share * 10).astype(np.int64), 9)
    lows = np.array([low for low, _label in FREQUENCY_BINS[1:]])
    cell = np.searchsorted(lows, frequency, side="right") * 10 + column
    size = len(FREQUENCY_BINS) * 10
    counts = np.bincount(cell, minlength=size)
    sums = np.bincount(cell, weights=p_alive, minlength=size)
    table = [
        {
            "frequency": FREQUENCY_BINS[i // 10][1],
            "recency_from": round(0.1 * (i % 10), 1),
            "recency_to": round(0.1 * (i % 10 + 1), 1),
            "customers": int(counts[i]),
            "p_alive": _num(sums[i] / counts[i]),
        }
        for i in range(size)
        if counts[i]
    ]
    rows = [label for _low, label in reversed(FREQUENCY_BINS)]
    axis = {"format": ".0%", "values": [0, 0.2, 0.4, 0.6, 0.8, 1], "grid": False}
    encoding: dict[str, Any] = {
        "x": _enc(
            "recency_from", QUANT, gettext(RECENCY_SHARE), scale={"domain": [0, 1]}, axis=axis
        ),
        "x2": {"field": "recency_to"},
        "y": _enc("frequency", ORDINAL, gettext(FREQUENCY), sort=rows),
    }
    tooltip = [
        _tip("frequency", gettext(FREQUENCY), kind=ORDINAL),
        _tip("recency_from", gettext(RECENCY_FROM), ".0%"),
        _tip("recency_to", gettext(RECENCY_TO), ".0%"),
        _tip("customers", gettext(CUSTOMERS), ",d"),
        _tip("p_alive", gettext(MEAN_P_ALIVE), ".0%"),
    ]
    colour = _enc(
        "p_alive",
        QUANT,
        gettext(MEAN_P_ALIVE),
        scale={"scheme": "blues", "domain": [0, 1]},
        legend={"format": ".0%"},
    )
    centre = {"x": _enc("centre", QUANT, scale={"domain": [0, 1]}), "y": encoding["y"]}
    layers = [
        _layer(_CELL, encoding | {"color": colour, "tooltip": tooltip}),
        {"transform": [{"calculate": "datum.recency_from + 0.05", "as": "centre"}]}
        | _cell_text(centre, "p_alive", ".0%", "datum.p_alive > 0.6"),
    ]
    table_columns = (
        TableColumn("frequency", gettext(FREQUENCY)),
        TableColumn("recency_from", gettext(RECENCY_FROM), "share"),
        TableColumn("recency_to", gettext(RECENCY_TO), "share"),
        TableColumn("customers", gettext(CUSTOMERS), "count"),
        TableColumn("p_alive", gettext(MEAN_P_ALIVE), "share"),
    )
    spec = _spec(table, layer=layers) | {"height": 26 * len(FREQUENCY_BINS)}
    return Chart(spec, table, gettext(P_ALIVE), table_columns)


def lifecycle_funnel(scores: pa.Table, gettext: Gettext) -> Chart:
    """Customers per lifecycle phase, from awareness to dissolution."""
    groups = _groups(scores, "lifecycle_phase", columns.PHASES, PHASE_NAMES, gettext)
    colours = {gettext(PHASE_NAMES["dissolution"]): ACCENT}
    return _count_chart(groups, gettext, LIFECYCLE, PHASE, colours)


def loyalty_types(scores: pa.Table, gettext: Gettext) -> Chart:
    """Customers per loyalty type (attitude × behaviour)."""
    groups = _groups(scores, "loyalty_type", columns.LOYALTY_TYPES, LOYALTY_NAMES, gettext)
    colours = {gettext(LOYALTY_NAMES["unknown attitude"]): MUTED, gettext(NO_VALUE): MUTED}
    return _count_chart(groups, gettext, LOYALTY, LOYALTY_TYPE, colours)


def cohort_retention(
    cohorts: pa.Table, gettext: Gettext, *, month: Callable[[date], str] | None = None
) -> Chart:
    """Share of each monthly cohort buying again, by months since its first purchase.

    ``month`` names a cohort (default ``2024-01``; the report passes the reader's locale)."""
    name = month or (lambda day: day.strftime("%Y-%m"))
    wanted = ["cohort", "period", "customers", "active", "retention"]
    rows = [row for row in cohorts.select(wanted).to_pylist() if row["retention"] is not None]
    rows.sort(key=lambda row: (_day(row["cohort"]), row["period"]))
    values: list[dict[str, Any]] = [
        {
            "cohort": name(_day(row["cohort"])),
            "period": int(row["period"]),
            "customers": int(row["customers"]),
            "active": int(row["active"]),
            "retention": _num(row["retention"]),
        }
        for row in rows
    ]
    later = [v["retention"] for v in values if v["period"] >= 1]
    top = max([0.05, *later])  # month 0 is 100 % by definition: it would wash out the colours
    encoding = {
        "x": _enc(
            "period", ORDINAL, gettext(MONTHS_SINCE), axis={"labelAngle": 0, "labelOverlap": True}
        ),
        "y": _enc("cohort", ORDINAL, gettext(COHORT), sort=None),
    }
    tooltip = [
        _tip("cohort", gettext(COHORT), kind=ORDINAL),
        _tip("period", gettext(MONTHS_SINCE), kind=ORDINAL),
        _tip("customers", gettext(CUSTOMERS), ",d"),
        _tip("active", gettext(ACTIVE), ",d"),
        _tip("retention", gettext(RETENTION), ".1%"),
    ]
    colour = _enc(
        "retention",
        QUANT,
        gettext(RETENTION),
        scale={"scheme": "blues", "domain": [0, top], "clamp": True},
        legend={"format": ".0%"},
    )
    layers = [_layer(_CELL, encoding | {"color": colour, "tooltip": tooltip})]
    if len({v["period"] for v in values}) <= MAX_TEXT_COLUMNS:
        layers.append(_cell_text(encoding, "retention", ".0%", f"datum.retention > {0.6 * top}"))
    table: dict[str, dict[str, Any]] = {}
    for v in values:
        entry = table.setdefault(v["cohort"], {"cohort": v["cohort"], "customers": v["customers"]})
        entry[f"m{v['period']}"] = v["retention"]
    periods = sorted({v["period"] for v in values})
    table_columns = (
        TableColumn("cohort", gettext(COHORT)),
        TableColumn("customers", gettext(CUSTOMERS), "count"),
        *(TableColumn(f"m{p}", gettext(MONTH_N) % {"number": p}, "share") for p in periods),
    )
    spec = _spec(values, layer=layers) | {"height": max(CHART_HEIGHT, 18 * len(table))}
    return Chart(spec, list(table.values()), gettext(COHORTS), table_columns)


def tracking(
    tracking: pa.Table,
    calibration_end: float | None,
    gettext: Gettext,
    *,
    time_unit: str | None = None,
) -> Chart:
    """Cumulative repeat purchases, actual and expected, split at the end of the calibration."""
    t = floats(tracking, "t")
    actual, expected = floats(tracking, "actual"), floats(tracking, "expected")
    order = np.argsort(t, kind="stable")
    t, actual, expected = t[order], actual[order], expected[order]
    series = ((gettext(ACTUAL), actual), (gettext(EXPECTED), expected))
    names = [name for name, _values in series]
    values = [
        {"t": _short(t[i]), "series": name, "purchases": _short(line[i])}
        for name, line in series
        for i in _spread(t.size, 500)
        if np.isfinite(line[i])
    ]
    unit = gettext(TIME_UNITS[time_unit]) if time_unit in TIME_UNITS else time_unit
    time_title = gettext(TIME_SINCE_START) + (f" ({unit})" if unit else "")
    x = _enc("t", QUANT, time_title)
    lines = {
        "x": x,
        "y": _enc("purchases", QUANT, gettext(PURCHASES)),
        "color": _legend("series", names, [BRAND, ACCENT]),
        "strokeDash": _dashes("series", names),
    }
    layers = [_layer({"type": "line", "strokeWidth": 2}, lines)]
    if calibration_end is not None:
        marker = [{"t": float(calibration_end), "label": gettext(CALIBRATION_END)}]
        rule = {"type": "rule", "color": MUTED, "strokeDash": [4, 3]}
        text = {"type": "text", "align": "right", "dx": -4, "y": 6, "color": INK}
        layers.append(_layer(rule, {"x": x}, marker))
        layers.append(_layer(text, {"x": x, "text": {"field": "label"}}, marker))
    table = [
        {"t": _num(t[i]), "actual": _num(actual[i]), "expected": _num(expected[i])}
        for i in _spread(t.size, 24)
    ]
    table_columns = (
        TableColumn("t", time_title, "decimal"),
        TableColumn("actual", gettext(ACTUAL), "decimal"),
        TableColumn("expected", gettext(EXPECTED), "decimal"),
    )
    return Chart(_spec(values, layer=layers), table, gettext(TRACKING), table_columns)


def model_comparison(comparison: pa.Table, gettext: Gettext) -> Chart:
    """Per model its predicted holdout purchases (bars) against the actual ones (ticks)."""
    keys = ("model", "log_likelihood", "bic", "mae", "rmse", "predicted_total", "actual_total")
    table = [
        {key: row[key] if key == "model" else _num(row[key]) for key in keys}
        for row in comparison.select(list(keys)).to_pylist()
    ]
    predicted, actual = gettext(PREDICTED_TOTAL), gettext(ACTUAL_TOTAL)
    y = _enc("model", NOMINAL, None, sort=None)
    legend = {"scale": {"domain": [predicted, actual], "range": [BRAND, ACCENT]}, "title": None}
    tooltip = [
        _tip("model", gettext(MODEL), kind=NOMINAL),
        _tip("predicted_total", predicted, ",.1f"),
        _tip("actual_total", actual, ",.1f"),
    ]
    bars = {
        "y": y,
        "x": _enc("predicted_total", QUANT, predicted),
        "color": {"datum": predicted} | legend,
        "tooltip": tooltip,
    }
    ticks = {
        "y": y,
        "x": _enc("actual_total", QUANT),
        "color": {"datum": actual} | legend,
        "tooltip": tooltip,
    }
    layers = [
        _layer({"type": "bar", "cornerRadiusEnd": 2, "tooltip": True}, bars),
        _layer({"type": "tick", "thickness": 3, "tooltip": True}, ticks),
    ]
    table_columns = (
        TableColumn("model", gettext(MODEL)),
        TableColumn("log_likelihood", gettext(LOG_LIKELIHOOD), "decimal"),
        TableColumn("bic", gettext(BIC), "decimal"),
        TableColumn("mae", gettext(MAE), "decimal"),
        TableColumn("rmse", gettext(RMSE), "decimal"),
        TableColumn("predicted_total", predicted, "decimal"),
        TableColumn("actual_total", actual, "decimal"),
    )
    spec = _spec(table, layer=layers) | {"height": max(80, 36 * len(table))}
    return Chart(spec, table, gettext(MODELS), table_columns)


# Building blocks.


def _count_chart(
    groups: list[dict[str, Any]],
    gettext: Gettext,
    title: str,
    axis_title: str,
    colours: dict[str, str],
) -> Chart:
    """Horizontal bars of customers per category, in the given order, each with its share."""
    total = sum(g["customers"] for g in groups)
    table = [
        {"label": g["label"], "customers": g["customers"], "share": _share(g["customers"], total)}
        for g in groups
    ]
    labels = [row["label"] for row in table]
    y, x = _enc("label", NOMINAL, None, sort=None), _enc("customers", QUANT, gettext(CUSTOMERS))
    colour = _enc(
        "label",
        NOMINAL,
        legend=None,
        scale={"domain": labels, "range": [colours.get(k, BRAND) for k in labels]},
    )
    tooltip = [
        _tip("label", gettext(axis_title), kind=NOMINAL),
        _tip("customers", gettext(CUSTOMERS), ",d"),
        _tip("share", gettext(SHARE), ".1%"),
    ]
    text = {"type": "text", "align": "left", "dx": 4, "color": INK}
    layers = [
        _layer(_BAR, {"y": y, "x": x, "color": colour, "tooltip": tooltip}),
        _layer(text, {"y": y, "x": x, "text": {"field": "share", "format": ".0%"}}),
    ]
    table_columns = (
        TableColumn("label", gettext(axis_title)),
        TableColumn("customers", gettext(CUSTOMERS), "count"),
        TableColumn("share", gettext(SHARE), "share"),
    )
    spec = _spec(table, layer=layers) | {"height": max(120, 32 * len(table))}
    return Chart(spec, table, gettext(title), table_columns)


def _with_shares(groups: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    customers = sum(g["customers"] for g in groups)
    revenue = sum(g["revenue"] for g in groups)
    return [
        {
            key: g["label"],
            "customers": g["customers"],
            "customer_share": _share(g["customers"], customers),
            "revenue": g["revenue"],
            "revenue_share": _share(g["revenue"], revenue),
            "mean_clv": g["mean_clv"],
        }
        for g in groups
    ]


def _share_columns(
    key: str, title: str, gettext: Gettext, currency: str | None
) -> tuple[TableColumn, ...]:
    return (
        TableColumn(key, gettext(title)),
        TableColumn("customers", gettext(CUSTOMERS), "count"),
        TableColumn("customer_share", gettext(SHARE_OF_CUSTOMERS), "share"),
        TableColumn("revenue", _money(gettext, REVENUE, currency), "money"),
        TableColumn("revenue_share", gettext(SHARE_OF_REVENUE), "share"),
    )


def _paired_shares(
    table: list[dict[str, Any]],
    key: str,
    title: str,
    gettext: Gettext,
    currency: str | None,
    *,
    horizontal: bool,
) -> dict[str, Any]:
    """Bars of the share of customers beside the share of revenue, per group."""
    of_customers, of_revenue = gettext(SHARE_OF_CUSTOMERS), gettext(SHARE_OF_REVENUE)
    values = [
        {key: row[key], "measure": name, "share": row[share]}
        | {"customers": row["customers"], "revenue": row["revenue"]}
        for row in table
        for name, share in ((of_customers, "customer_share"), (of_revenue, "revenue_share"))
    ]
    group, offset, measure = ("y", "yOffset", "x") if horizontal else ("x", "xOffset", "y")
    tooltip = [
        _tip(key, title, kind=NOMINAL),
        _tip("measure", None, kind=NOMINAL),
        _tip("share", gettext(SHARE), ".1%"),
        _tip("customers", gettext(CUSTOMERS), ",d"),
        _tip("revenue", _money(gettext, REVENUE, currency), ",.2f"),
    ]
    encoding = {
        group: _enc(key, NOMINAL, None if horizontal else title, sort=None, axis={"labelAngle": 0}),
        offset: {"field": "measure", "type": NOMINAL, "sort": None},
        measure: _enc("share", QUANT, gettext(SHARE), axis={"format": ".0%"}),
        "color": _legend("measure", [of_customers, of_revenue], [MUTED, BRAND]),
        "tooltip": tooltip,
    }
    return _spec(values, mark=_BAR, encoding=encoding)


def _groups(
    scores: pa.Table,
    key: str,
    order: Sequence[str],
    names: dict[str, str],
    gettext: Gettext,
    *,
    skip_null: bool = False,
) -> list[dict[str, Any]]:
    """Customers, revenue and mean CLV per value of ``key``: ``order`` first, then the unknown."""
    found = {
        value: {"customers": row.customers, "revenue": row.revenue, "mean_clv": row.mean_clv}
        for value, row in totals_by(scores, key).items()
    }
    keys: list[str | None] = [*order, *sorted(k for k in found if k is not None and k not in order)]
    if None in found and not skip_null:
        keys.append(None)
    empty = {"customers": 0, "revenue": 0.0, "mean_clv": None}
    return [
        {"key": k, "label": display_name(k, names, gettext)} | found.get(k, empty) for k in keys
    ]


def _enc(field: str, kind: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"field": field, "type": kind, "title": title, **extra}


def _tip(field: str, title: str | None, number: str | None = None, *, kind: str = QUANT) -> dict:
    tip: dict[str, Any] = {"field": field, "type": kind, "title": title}
    return tip | {"format": number} if number else tip


def _layer(
    mark: dict[str, Any], encoding: dict[str, Any], values: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    layer = {"mark": mark, "encoding": encoding}
    return layer | {"data": {"values": values}} if values is not None else layer


def _cell_text(
    encoding: dict[str, Any], field: str, number_format: str, dark_when: str
) -> dict[str, Any]:
    """The value written into each heat-map cell, white on the dark ones."""
    text = {"field": field, "type": QUANT, "format": number_format}
    colour = {"condition": {"test": dark_when, "value": "white"}, "value": INK}
    position = {"x": encoding["x"], "y": encoding["y"]}
    return _layer({"type": "text", "fontSize": 10}, position | {"text": text, "color": colour})


def _legend(field: str, domain: list[str], colours: list[str]) -> dict[str, Any]:
    return _enc(field, NOMINAL, None, scale={"domain": domain, "range": colours})


def _dashes(field: str, domain: list[str]) -> dict[str, Any]:
    """Solid for the first series, dashed for the second (told apart without colour); one legend
    with the colours, as both encode the same field."""
    return _enc(field, NOMINAL, None, scale={"domain": domain, "range": [[1, 0], [5, 3]]})


def _spec(values: list[dict[str, Any]], **layers: Any) -> dict[str, Any]:
    """A Vega-Lite spec with inline data (no ``$schema``: nothing to fetch)."""
    return {
        "width": WIDTH,
        "height": CHART_HEIGHT,
        "autosize": {"type": "fit-x", "contains": "padding"},
        # Room for labels drawn in a wider font than the one they were measured in (an SVG
        # made by vl-convert and shown in a browser).
        "padding": {"left": 12, "right": 12, "top": 4, "bottom": 4},
        "data": {"values": values},
        **layers,
        "config": CHART_CONFIG,
    }


def _codes(table: pa.Table, name: str) -> tuple[np.ndarray, list[str]]:
    """A string column as integer codes (-1 for null) and the strings they stand for."""
    encoded = table.column(name).combine_chunks().dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return np.asarray(codes, dtype=np.int64), encoded.dictionary.to_pylist()


def _nice_edges(low: float, high: float) -> np.ndarray:
    """Band edges 1, 2, 5, 10, 20 … from the largest at or below ``low`` past ``high``."""
    first, last = math.floor(math.log10(low)), math.floor(math.log10(high)) + 1
    edges = np.array([m * 10.0**k for k in range(first, last + 1) for m in (1, 2, 5)])
    start = max(int(np.searchsorted(edges, low, side="right")) - 1, 0)
    stop = int(np.searchsorted(edges, high, side="right")) + 1
    return edges[start:stop]


def _ticks(values: list[dict[str, Any]]) -> list[float]:
    """Ticks at the powers of ten the bands span (1-2-5 ticks would crowd a log axis)."""
    if not values:
        return []
    low, high = values[0]["bar_from"], values[-1]["to"]
    first, last = math.ceil(math.log10(low) - 1e-9), math.floor(math.log10(high) + 1e-9)
    decades = [10.0**k for k in range(first, last + 1)]
    return decades if len(decades) >= 2 else [v["bar_from"] for v in values] + [high]


def _spread(size: int, most: int) -> list[int]:
    """At most ``most`` indices spread evenly over ``range(size)``, first and last included."""
    if size <= most:
        return list(range(size))
    return sorted({round(i) for i in np.linspace(0, size - 1, most)})


def _share(part: float, whole: float) -> float | None:
    return _num(part / whole) if whole else None


def _num(value: Any) -> float | None:
    """A JSON-safe number: a Python float, or None for null and NaN."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _short(value: Any) -> float | None:
    """A point of a long curve, to 6 significant digits (the inline data stays small)."""
    number = _num(value)
    return None if number is None else float(f"{number:.6g}")


def _money(gettext: Gettext, text: str, currency: str | None) -> str:
    return f"{gettext(text)} ({currency})" if currency else gettext(text)


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def every_chart(
    scores: pa.Table,
    gettext: Gettext,
    *,
    pareto: pa.Table,
    cohorts: pa.Table | None = None,
    tracking_rows: pa.Table | None = None,
    calibration_end: float | None = None,
    comparison: pa.Table | None = None,
    currency: str | None = None,
    measure: Literal["revenue", "margin"] = "revenue",
    month: Callable[[date], str] | None = None,
    time_unit: str | None = None,
) -> dict[str, Chart]:
    """Every chart of a scoring run by name: what the analytics page and the report both draw.

    Cohorts, tracking and the model comparison only where the run made them."""
    built = {
        "pareto": pareto_curve(pareto, gettext, measure=measure),
        "abc": abc_classes(scores, gettext, currency=currency),
        "rfm": rfm_grid(scores, gettext, currency=currency),
        "segments": segment_sizes(scores, gettext, currency=currency),
        "clv": clv_distribution(scores, gettext, currency=currency),
        "p_alive": p_alive_heatmap(scores, gettext),
        "lifecycle": lifecycle_funnel(scores, gettext),
        "loyalty": loyalty_types(scores, gettext),
    }
    if cohorts is not None and cohorts.num_rows:
        built["cohorts"] = cohort_retention(cohorts, gettext, month=month)
    if tracking_rows is not None and tracking_rows.num_rows:
        built["tracking"] = tracking(tracking_rows, calibration_end, gettext, time_unit=time_unit)
    if comparison is not None and comparison.num_rows:
        built["models"] = model_comparison(comparison, gettext)
    return built
