"""Vega-Lite charts of the subscription report: MRR over the last 12 months, subscriber churn
per month, and the reasons for cancelling.

Pure functions from report rows to small specs with inline data, drawn by the page's vendored
Vega (``/vendor/vega.js``) and shown as a plain table until then (``analytics/_chart.html``);
every text goes through the caller's ``gettext``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from patron.analytics.charts import BRAND, CHART_HEIGHT, INK, WIDTH, Chart, TableColumn
from patron.subscriptions.report_schemas import ChurnMonth, MrrMonth, ReasonCount

Gettext = Callable[[str], str]
CONFIG = {"view": {"stroke": None}, "axis": {"labelColor": INK, "titleColor": INK}}
CHURN = "#b3261e"


def _spec(values: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    return {
        "width": WIDTH,
        "height": CHART_HEIGHT,
        "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": values},
        **parts,
        "config": CONFIG,
    }


def mrr_over_time(rows: Sequence[MrrMonth], currency: str, gettext: Gettext) -> Chart:
    """MRR on the last day of each month (bars), with the subscriptions behind it."""
    table = [
        {
            "month": row.month.isoformat(),
            "mrr": float(row.mrr),
            "subscriptions": row.subscriptions,
        }
        for row in rows
    ]
    title = f"MRR ({currency})"
    encoding = {
        "x": {
            "field": "month",
            "type": "ordinal",
            "timeUnit": "yearmonth",
            "title": gettext("Month"),
        },
        "y": {"field": "mrr", "type": "quantitative", "title": title},
        "tooltip": [
            {
                "field": "month",
                "type": "temporal",
                "timeUnit": "yearmonth",
                "title": gettext("Month"),
            },
            {"field": "mrr", "type": "quantitative", "title": title, "format": ",.2f"},
            {"field": "subscriptions", "type": "quantitative", "title": gettext("Subscriptions")},
        ],
    }
    columns = (
        TableColumn("month", gettext("Month")),
        TableColumn("mrr", title, "money"),
        TableColumn("subscriptions", gettext("Subscriptions"), "count"),
    )
    spec = _spec(table, mark={"type": "bar", "color": BRAND}, encoding=encoding)
    return Chart(spec, table, gettext("Monthly recurring revenue"), columns)


def churn_over_time(rows: Sequence[ChurnMonth], gettext: Gettext) -> Chart:
    """Subscriber churn per month (a line; months without subscribers are left out)."""
    table = [
        {
            "month": row.month.isoformat(),
            "rate": row.rate,
            "subscribers": row.subscribers_at_start,
            "churned": row.churned,
        }
        for row in rows
    ]
    shown = [row for row in table if row["rate"] is not None]
    encoding = {
        "x": {
            "field": "month",
            "type": "temporal",
            "timeUnit": "yearmonth",
            "title": gettext("Month"),
        },
        "y": {
            "field": "rate",
            "type": "quantitative",
            "title": gettext("Churn"),
            "axis": {"format": "%"},
        },
        "tooltip": [
            {
                "field": "month",
                "type": "temporal",
                "timeUnit": "yearmonth",
                "title": gettext("Month"),
            },
            {"field": "rate", "type": "quantitative", "title": gettext("Churn"), "format": ".1%"},
            {"field": "churned", "type": "quantitative", "title": gettext("Left")},
            {"field": "subscribers", "type": "quantitative", "title": gettext("Subscribers")},
        ],
    }
    columns = (
        TableColumn("month", gettext("Month")),
        TableColumn("subscribers", gettext("Subscribers at the start"), "count"),
        TableColumn("churned", gettext("Left"), "count"),
        TableColumn("rate", gettext("Churn"), "share"),
    )
    spec = _spec(shown, mark={"type": "line", "point": True, "color": CHURN}, encoding=encoding)
    return Chart(spec, table, gettext("Subscriber churn per month"), columns)


def reasons(rows: Sequence[ReasonCount], names: Mapping[str, str], gettext: Gettext) -> Chart:
    """Why subscriptions ended in the period: a bar per reason given at least once."""
    table = [
        {
            "reason": gettext(names[row.reason]) if row.reason in names else row.reason,
            "cancellations": row.cancellations,
            "share": row.share,
        }
        for row in rows
        if row.cancellations
    ]
    encoding = {
        "y": {"field": "reason", "type": "nominal", "title": None, "sort": None},
        "x": {"field": "cancellations", "type": "quantitative", "title": gettext("Cancellations")},
        "tooltip": [
            {"field": "reason", "type": "nominal", "title": gettext("Reason")},
            {"field": "cancellations", "type": "quantitative", "title": gettext("Cancellations")},
            {"field": "share", "type": "quantitative", "title": gettext("Share"), "format": ".0%"},
        ],
    }
    columns = (
        TableColumn("reason", gettext("Reason")),
        TableColumn("cancellations", gettext("Cancellations"), "count"),
        TableColumn("share", gettext("Share"), "share"),
    )
    spec = _spec(table, mark={"type": "bar", "color": BRAND}, encoding=encoding)
    return Chart(spec, table, gettext("Why subscribers cancel"), columns)
