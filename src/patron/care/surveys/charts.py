"""Vega-Lite charts of the survey reports: NPS over time, Kano categories per feature and the
Kano better/worse diagram.

Pure functions from report rows to small specs with inline data, drawn by the page's vendored
Vega (``/vendor/vega.js``) and shown as a plain table until then (``analytics/_chart.html``);
every text goes through the caller's ``gettext``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from patron.analytics.charts import (
    ACCENT,
    BRAND,
    CHART_HEIGHT,
    INK,
    MUTED,
    WIDTH,
    Chart,
    TableColumn,
)
from patron.care.surveys import kano
from patron.care.surveys.schemas import KanoRow, NpsRow

Gettext = Callable[[str], str]


def N_(text: str) -> str:
    """Marks a text for extraction; it is translated where shown."""
    return text


CATEGORY_LABELS = {
    kano.ATTRACTIVE: N_("Attractive"),
    kano.ONE_DIMENSIONAL: N_("One-dimensional"),
    kano.MUST_BE: N_("Must-be"),
    kano.INDIFFERENT: N_("Indifferent"),
    kano.REVERSE: N_("Reverse"),
    kano.QUESTIONABLE: N_("Questionable"),
}
CATEGORY_COLOURS = {
    kano.ATTRACTIVE: "#2e7d4f",
    kano.ONE_DIMENSIONAL: BRAND,
    kano.MUST_BE: ACCENT,
    kano.INDIFFERENT: MUTED,
    kano.REVERSE: "#b3261e",
    kano.QUESTIONABLE: "#d9dee4",
}
CONFIG = {"view": {"stroke": None}, "axis": {"labelColor": INK, "titleColor": INK}}


def _spec(values: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    return {
        "width": WIDTH,
        "height": CHART_HEIGHT,
        "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": values},
        **parts,
        "config": CONFIG,
    }


def nps_over_time(rows: Sequence[NpsRow], gettext: Gettext) -> Chart:
    """NPS per period with its 95 % interval as a band."""
    table = [
        {
            "period": row.group,
            "n": row.n,
            "nps": row.nps,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
        }
        for row in rows
    ]
    x = {"field": "period", "type": "temporal", "title": gettext("Period")}
    nps_axis = {
        "field": "nps",
        "type": "quantitative",
        "title": "NPS",
        "scale": {"domain": [-100, 100]},
    }
    tooltip = [
        {"field": "period", "type": "temporal", "title": gettext("Period")},
        {"field": "nps", "type": "quantitative", "title": "NPS", "format": ".1f"},
        {"field": "n", "type": "quantitative", "title": gettext("Answers")},
    ]
    layers = [
        {
            "mark": {"type": "area", "opacity": 0.18, "color": BRAND},
            "encoding": {
                "x": x,
                "y": {"field": "ci_low", "type": "quantitative", "scale": {"domain": [-100, 100]}},
                "y2": {"field": "ci_high"},
            },
        },
        {
            "mark": {"type": "line", "point": True, "color": BRAND},
            "encoding": {"x": x, "y": nps_axis, "tooltip": tooltip},
        },
    ]
    columns = (
        TableColumn("period", gettext("Period")),
        TableColumn("n", gettext("Answers"), "count"),
        TableColumn("nps", "NPS", "decimal"),
        TableColumn("ci_low", gettext("Interval from"), "decimal"),
        TableColumn("ci_high", gettext("to"), "decimal"),
    )
    return Chart(_spec(table, layer=layers), table, gettext("NPS over time"), columns)


def kano_categories(rows: Sequence[KanoRow], gettext: Gettext) -> Chart:
    """Per feature a stacked bar of the shares of its answers in each Kano category."""
    names = {code: gettext(label) for code, label in CATEGORY_LABELS.items()}
    values = [
        {
            "feature": row.name,
            "category": names[code],
            "order": position,
            "answers": row.counts[code],
            "share": row.shares[code],
        }
        for row in rows
        for position, code in enumerate(kano.CATEGORIES)
    ]
    domain = [names[code] for code in kano.CATEGORIES]
    encoding = {
        "y": {"field": "feature", "type": "nominal", "title": None, "sort": None},
        "x": {
            "field": "share",
            "type": "quantitative",
            "title": gettext("Share of answers"),
            "axis": {"format": "%"},
            "stack": "normalize",
        },
        "color": {
            "field": "category",
            "type": "nominal",
            "title": gettext("Category"),
            "scale": {"domain": domain, "range": [CATEGORY_COLOURS[c] for c in kano.CATEGORIES]},
        },
        "order": {"field": "order", "type": "quantitative"},
        "tooltip": [
            {"field": "feature", "type": "nominal", "title": gettext("Feature")},
            {"field": "category", "type": "nominal", "title": gettext("Category")},
            {"field": "answers", "type": "quantitative", "title": gettext("Answers")},
            {"field": "share", "type": "quantitative", "title": gettext("Share"), "format": ".0%"},
        ],
    }
    table = [
        {"feature": row.name, "n": row.n}
        | {code: row.shares[code] for code in kano.CATEGORIES}
        | {"dominant": names[row.dominant] if row.dominant else None}
        for row in rows
    ]
    columns = (
        TableColumn("feature", gettext("Feature")),
        TableColumn("n", gettext("Answers"), "count"),
        *(TableColumn(code, names[code], "share") for code in kano.CATEGORIES),
        TableColumn("dominant", gettext("Category")),
    )
    spec = _spec(values, mark={"type": "bar"}, encoding=encoding) | {
        "height": max(120, 36 * len(rows))
    }
    return Chart(spec, table, gettext("Kano categories per feature"), columns)


def better_worse(rows: Sequence[KanoRow], gettext: Gettext) -> Chart:
    """The features in the better/worse plane: right means lacking it dissatisfies (|worse|),
    up means having it satisfies (better)."""
    table = [
        {
            "feature": row.name,
            "better": row.better,
            "worse": row.worse,
            "dissatisfaction": -row.worse if row.worse is not None else None,
        }
        for row in rows
        if row.better is not None
    ]
    x = {
        "field": "dissatisfaction",
        "type": "quantitative",
        "title": gettext("Dissatisfaction if missing (|worse|)"),
        "scale": {"domain": [0, 1]},
    }
    y = {
        "field": "better",
        "type": "quantitative",
        "title": gettext("Satisfaction if present (better)"),
        "scale": {"domain": [0, 1]},
    }
    tooltip = [
        {"field": "feature", "type": "nominal", "title": gettext("Feature")},
        {"field": "better", "type": "quantitative", "title": "Better", "format": ".2f"},
        {"field": "worse", "type": "quantitative", "title": "Worse", "format": ".2f"},
    ]
    rule = {"mark": {"type": "rule", "strokeDash": [4, 4], "color": MUTED}}
    layers = [
        rule
        | {
            "data": {"values": [{"at": 0.5}]},
            "encoding": {"x": {"field": "at", "type": "quantitative"}},
        },
        rule
        | {
            "data": {"values": [{"at": 0.5}]},
            "encoding": {"y": {"field": "at", "type": "quantitative"}},
        },
        {
            "mark": {"type": "point", "filled": True, "size": 90, "color": BRAND},
            "encoding": {"x": x, "y": y, "tooltip": tooltip},
        },
        {
            "mark": {"type": "text", "align": "left", "dx": 8, "color": INK},
            "encoding": {"x": x, "y": y, "text": {"field": "feature"}},
        },
    ]
    columns = (
        TableColumn("feature", gettext("Feature")),
        TableColumn("better", "Better", "decimal"),
        TableColumn("worse", "Worse", "decimal"),
    )
    spec = _spec(table, layer=layers) | {"height": 320}
    return Chart(spec, table, gettext("Better and worse coefficients"), columns)
