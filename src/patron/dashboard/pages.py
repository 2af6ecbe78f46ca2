"""The overview page: key figures and charts of the whole customer base.

The figures come from ``patron.dashboard.service``. The charts are Vega-Lite specs built here,
with their titles, legends and month names already in the reader's language (the page script
only draws them); each chart also comes as a plain table, for readers without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from patron.access.schemas import SignedIn
from patron.analytics.charts import ACCENT, BRAND, CHART_CONFIG, MUTED
from patron.config import Settings
from patron.dashboard import service
from patron.web.deps import SessionDep, page
from patron.web.i18n import N_, Formats, translations
from patron.web.rendering import NavItem, render, request_language

TEMPLATES = Path(__file__).parent / "templates"
NAV = (NavItem(N_("Overview"), "/overview", "customers:read", order=10),)
router = APIRouter(include_in_schema=False)

CHART_HEIGHT = 220
# Shown in the charts (axis titles, legends, tooltips): translated when a page is built.
MONTH = N_("Month")
NET_REVENUE = N_("Net revenue")
SALES = N_("Sales")
RETURNS = N_("Returns")
ORDERS = N_("Orders")
CUSTOMERS = N_("Customers")
NEW = N_("New")
RETURNING = N_("Returning")
COUNTRY = N_("Country")
OTHER_COUNTRIES = N_("Other countries")
NO_COUNTRY = N_("No country given")
KIND = N_("New or returning")


@router.get("/overview")
def overview(
    request: Request, session: SessionDep, me: Annotated[SignedIn, page("customers:read")]
) -> HTMLResponse:
    figures = service.cached_overview(session)
    language = request_language(request)
    settings: Settings = request.app.state.settings
    month = Formats(language, settings.tz, settings.currency).month
    charts = charts_of(figures, translations(language).gettext, month) if figures.has_orders else {}
    return render(request, "dashboard/overview.html", {"overview": figures, "charts": charts})


def charts_of(
    figures: service.Overview, gettext: Callable[[str], str], month: Callable[[date], str]
) -> dict[str, dict[str, Any]]:
    """The three Vega-Lite specs by element id, in the language of ``gettext`` and ``month``."""
    return {
        "chart-revenue": revenue_chart(figures, gettext, month),
        "chart-customers": customers_chart(figures, gettext, month),
        "chart-countries": countries_chart(figures, gettext),
    }


def revenue_chart(
    figures: service.Overview, gettext: Callable[[str], str], month: Callable[[date], str]
) -> dict[str, Any]:
    """Net revenue per month (bars), with sales, returns and orders in the tooltip."""
    values = [
        {
            "month": month(row.month),
            "revenue": _amount(row.revenue),
            "sales": _amount(row.sales),
            "returns": _amount(row.returns),
            "orders": row.orders,
        }
        for row in figures.by_month
    ]
    money = f"{gettext(NET_REVENUE)} ({figures.currency})"
    x = {"field": "month", "type": "ordinal", "sort": None, "title": None}
    return _spec(
        values,
        mark={"type": "bar", "color": BRAND, "cornerRadiusEnd": 2, "tooltip": True},
        encoding={
            "x": x | {"axis": {"labelAngle": 0, "labelOverlap": True}},
            "y": {"field": "revenue", "type": "quantitative", "title": money},
            "tooltip": [
                {"field": "month", "type": "ordinal", "title": gettext(MONTH)},
                {"field": "revenue", "type": "quantitative", "title": money, "format": ",.2f"},
                {
                    "field": "sales",
                    "type": "quantitative",
                    "title": gettext(SALES),
                    "format": ",.2f",
                },
                {
                    "field": "returns",
                    "type": "quantitative",
                    "title": gettext(RETURNS),
                    "format": ",.2f",
                },
                {
                    "field": "orders",
                    "type": "quantitative",
                    "title": gettext(ORDERS),
                    "format": ",d",
                },
            ],
        },
    )


def customers_chart(
    figures: service.Overview, gettext: Callable[[str], str], month: Callable[[date], str]
) -> dict[str, Any]:
    """Customers who ordered per month, stacked: new (first order ever) and returning."""
    new, returning = gettext(NEW), gettext(RETURNING)
    values = []
    for row in figures.customers_by_month:
        label = month(row.month)
        values.append({"month": label, "group": new, "rank": 0, "customers": row.new})
        values.append({"month": label, "group": returning, "rank": 1, "customers": row.returning})
    return _spec(
        values,
        mark={"type": "bar", "tooltip": True},
        encoding={
            "x": {
                "field": "month",
                "type": "ordinal",
                "sort": None,
                "title": None,
                "axis": {"labelAngle": 0, "labelOverlap": True},
            },
            "y": {
                "field": "customers",
                "type": "quantitative",
                "stack": "zero",
                "title": gettext(CUSTOMERS),
            },
            "color": {
                "field": "group",
                "type": "nominal",
                "title": None,
                "scale": {"domain": [new, returning], "range": [ACCENT, BRAND]},
            },
            "order": {"field": "rank", "type": "quantitative"},
            "tooltip": [
                {"field": "month", "type": "ordinal", "title": gettext(MONTH)},
                {"field": "group", "type": "nominal", "title": gettext(KIND)},
                {
                    "field": "customers",
                    "type": "quantitative",
                    "title": gettext(CUSTOMERS),
                    "format": ",d",
                },
            ],
        },
    )


def countries_chart(figures: service.Overview, gettext: Callable[[str], str]) -> dict[str, Any]:
    """Customers per country: the ten largest, then the other countries and those without one."""
    values = [
        {
            "country": country_label(row, gettext),
            "customers": row.customers,
            "kind": row.kind,
        }
        for row in figures.countries
    ]
    spec = _spec(
        values,
        mark={"type": "bar", "cornerRadiusEnd": 2, "tooltip": True},
        encoding={
            "y": {
                "field": "country",
                "type": "nominal",
                "sort": None,
                "title": None,
                "scale": {"paddingInner": 0.3},
            },
            "x": {"field": "customers", "type": "quantitative", "title": gettext(CUSTOMERS)},
            "color": {
                "field": "kind",
                "type": "nominal",
                "legend": None,
                "scale": {
                    "domain": ["country", "other", "unknown"],
                    "range": [BRAND, MUTED, MUTED],
                },
            },
            "tooltip": [
                {"field": "country", "type": "nominal", "title": gettext(COUNTRY)},
                {
                    "field": "customers",
                    "type": "quantitative",
                    "title": gettext(CUSTOMERS),
                    "format": ",d",
                },
            ],
        },
    )
    spec["height"] = CHART_HEIGHT + 30  # as tall as the stacked bars with their legend
    return spec


def country_label(row: service.CountryCustomers, gettext: Callable[[str], str]) -> str:
    if row.kind == "other":
        return gettext(OTHER_COUNTRIES)
    if row.kind == "unknown":
        return gettext(NO_COUNTRY)
    return row.country or ""


def _spec(values: list[dict[str, Any]], **layers: Any) -> dict[str, Any]:
    """A Vega-Lite spec with inline data, as wide as its card (no ``$schema``: nothing to fetch)."""
    return {
        "width": "container",
        "height": CHART_HEIGHT,
        "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": values},
        **layers,
        "config": CHART_CONFIG,
    }


def _amount(value: Decimal) -> float:
    """Money for a chart (plotted, never added up again): a number with two decimals."""
    return float(round(value, 2))
