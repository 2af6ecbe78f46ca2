"""The analysis report: one standalone HTML file with key figures, charts, tables and definitions.

Charts are drawn to inline SVG here (vl-convert runs Vega in-process), so the file needs no
JavaScript, no network and no other file: it can be mailed, archived or printed as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import vl_convert
from babel import Locale, UnknownLocaleError, dates, numbers
from babel.core import get_global
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from patron.analytics import charts

TEMPLATES = Path(__file__).parent / "templates"
TOP = 20  # rows of the top-CLV and the unprofitable customers
CANDIDATES = 50  # subscription candidates listed (the most valuable first)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|href="#)([^)"]+)')


def _identity(text: str) -> str:
    return text


@dataclass(frozen=True)
class ReportData:
    """What a report shows: the scores of one analysis run and what was computed beside them."""

    title: str
    generated_at: dt.datetime
    period_start: dt.date
    period_end: dt.date
    time_unit: str
    currency: str | None
    scores: pa.Table
    pareto: pa.Table
    cohorts: pa.Table
    tracking: pa.Table | None
    calibration_end: float | None
    comparison: pa.Table | None
    settings: dict[str, Any]


@dataclass(frozen=True)
class KeyFigures:
    customers: int
    buyers: int
    revenue: float
    classified: int  # customers with an ABC class
    a_customers: int
    a_share: float | None  # of the customers with a class
    scored: int  # customers with a P(alive)
    mean_p_alive: float | None
    total_clv: float
    unprofitable: int
    loss: float  # sum of the negative profits (≤ 0)
    subscription_candidates: int


def key_figures(scores: pa.Table) -> KeyFigures:
    """The figures at the top of the report, from the scores alone."""
    abc = scores.column("abc")
    classified = int(pc.count(abc).as_py())
    a_customers = int(pc.sum(pc.equal(abc, "A")).as_py() or 0)
    p_alive = scores.column("p_alive")
    profit = _floats(scores, "profit")
    losing = profit[profit < 0]
    return KeyFigures(
        customers=scores.num_rows,
        buyers=int(pc.sum(pc.greater(scores.column("purchase_days"), 0)).as_py() or 0),
        revenue=float(np.nansum(_floats(scores, "revenue"))),
        classified=classified,
        a_customers=a_customers,
        a_share=a_customers / classified if classified else None,
        scored=int(pc.count(p_alive).as_py()),
        mean_p_alive=pc.mean(p_alive).as_py(),
        total_clv=float(np.nansum(_floats(scores, "clv"))),
        unprofitable=int(losing.size),
        loss=float(losing.sum()),
        subscription_candidates=int(_candidates(scores).sum()),
    )


def top_by_clv(scores: pa.Table, k: int = TOP) -> list[dict[str, Any]]:
    """The ``k`` customers with the highest CLV, highest first (customers without one left out)."""
    wanted = ["customer_id", "clv", "p_alive", "expected_purchases", "revenue"]
    wanted += ["rfm_segment", "abc"]
    return _top(scores, "clv", pc.is_valid(scores.column("clv")), k, descending=True, keep=wanted)


def unprofitable_customers(scores: pa.Table, k: int = TOP) -> list[dict[str, Any]]:
    """The ``k`` customers with the largest loss (profit < 0), largest first."""
    wanted = ["customer_id", "profit", "revenue", "margin", "cost_to_serve", "return_rate"]
    wanted += ["orders"]
    losing = pc.less(scores.column("profit"), 0)
    return _top(scores, "profit", losing, k, descending=False, keep=wanted)


def subscription_candidates(scores: pa.Table, k: int = CANDIDATES) -> list[dict[str, Any]]:
    """Customers who reorder a product at a regular rhythm, the highest revenue first."""
    wanted = ["customer_id", "subscription_product", "subscription_interval_days"]
    wanted += ["purchase_days", "revenue"]
    mask = pa.array(_candidates(scores))
    return _top(scores, "revenue", mask, k, descending=True, keep=wanted)


def build_charts(
    data: ReportData, gettext: Callable[[str], str], *, month: Callable[[dt.date], str]
) -> dict[str, charts.Chart]:
    """Every chart of the report by name, in the reader's language."""
    scores, currency = data.scores, data.currency
    by_margin = _setting(data.settings, "abc", "by") == "margin"
    built = {
        "pareto": charts.pareto_curve(
            data.pareto, gettext, measure="margin" if by_margin else "revenue"
        ),
        "abc": charts.abc_classes(scores, gettext, currency=currency),
        "rfm": charts.rfm_grid(scores, gettext, currency=currency),
        "segments": charts.segment_sizes(scores, gettext, currency=currency),
        "clv": charts.clv_distribution(scores, gettext, currency=currency),
        "p_alive": charts.p_alive_heatmap(scores, gettext),
        "lifecycle": charts.lifecycle_funnel(scores, gettext),
        "loyalty": charts.loyalty_types(scores, gettext),
        "cohorts": charts.cohort_retention(data.cohorts, gettext, month=month),
    }
    if data.tracking is not None and data.tracking.num_rows:
        built["tracking"] = charts.tracking(
            data.tracking, data.calibration_end, gettext, time_unit=data.time_unit
        )
    if data.comparison is not None and data.comparison.num_rows:
        built["models"] = charts.model_comparison(data.comparison, gettext)
    return built


def render_report(
    data: ReportData, *, gettext: Callable[[str], str] = _identity, language: str = "en"
) -> str:
    """The report as one HTML document, its texts through ``gettext``, numbers in ``language``."""
    formats = Formats(language, data.currency)
    built = build_charts(data, gettext, month=formats.month)
    d3_locale = _d3_locale(language)
    svgs = {
        name: render_svg(chart, d3_locale, prefix=f"chart-{name}") for name, chart in built.items()
    }
    environment = _environment(gettext, formats)
    segment_names = {key: gettext(name) for key, name in charts.SEGMENT_NAMES.items()}
    return environment.get_template("report.html").render(
        data=data,
        language=language,
        figures=key_figures(data.scores),
        charts=built,
        svgs=svgs,
        top_clv=top_by_clv(data.scores),
        unprofitable=unprofitable_customers(data.scores),
        candidates=subscription_candidates(data.scores),
        segment_names=segment_names,
        unit=gettext(charts.TIME_UNITS.get(data.time_unit, data.time_unit)),
        settings=data.settings,
    )


def render_svg(
    chart: charts.Chart, d3_locale: dict[str, Any] | None = None, *, prefix: str = "chart"
) -> Markup:
    """The chart as an ``<svg>`` element to put inline in HTML.

    Its ids (clip paths, gradients) get ``prefix``: the SVGs of one document share one id space,
    and vl-convert numbers them with a counter that nothing promises to keep unique (it is per
    process today). The XML namespaces go: the HTML parser puts an inline ``<svg>`` in the SVG
    namespace by itself, and the report then holds no "http://" at all."""
    spec = chart.spec | {"description": chart.title}
    svg = vl_convert.vegalite_to_svg(
        spec, vl_version=charts.VEGA_LITE_VERSION, format_locale=d3_locale
    )
    svg = _XMLNS.sub("", svg, count=2)
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(chart.title)}" ', 1))


class Formats:
    """Numbers, money, shares and dates as the readers of ``language`` write them (Babel)."""

    def __init__(self, language: str, currency: str | None) -> None:
        self.locale = Locale.parse(language.replace("-", "_"))
        self.currency = currency

    def number(self, value: float | None, digits: int = 0) -> str:
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return numbers.format_decimal(value, format=pattern, locale=self.locale)

    def money(self, value: float | None) -> str:
        if value is None or not np.isfinite(value):
            return "–"
        if self.currency:
            return numbers.format_currency(value, self.currency, locale=self.locale)
        return self.number(value, 2)

    def percent(self, value: float | None, digits: int = 1) -> str:
        if value is None or not np.isfinite(value):
            return "–"
        pattern = self.locale.percent_formats[None].pattern
        if digits:
            pattern = pattern.replace("0", "0." + "0" * digits, 1)
        return numbers.format_percent(value, format=pattern, locale=self.locale)

    def date(self, value: dt.date) -> str:
        return dates.format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: dt.datetime) -> str:
        return dates.format_datetime(value, format="medium", locale=self.locale)

    def month(self, value: dt.date) -> str:
        return dates.format_date(value, format="MMM yyyy", locale=self.locale)

    def cell(self, value: Any, kind: str) -> str:
        """A value of a chart's table, by its column's kind."""
        if value is None:
            return "–"
        if kind == "count":
            return self.number(value)
        if kind == "money":
            return self.money(value)
        if kind == "share":
            return self.percent(value)
        if kind == "decimal":
            return self.number(value, 2)
        return str(value)

    def setting(self, value: Any) -> str:
        """A scalar setting: numbers in the locale, the rest as written."""
        if isinstance(value, bool) or value is None:
            return str(value).lower()
        if isinstance(value, int | float):
            return numbers.format_decimal(value, locale=self.locale)
        return str(value)


def _environment(gettext: Callable[[str], str], formats: Formats) -> Environment:
    """A Jinja2 environment for one render (its gettext is this reader's; nothing is shared)."""
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def ngettext(singular: str, plural: str, count: int) -> str:
        return gettext(singular if count == 1 else plural)

    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(
        number=formats.number,
        money=formats.money,
        percent=formats.percent,
        date=formats.date,
        datetime=formats.datetime,
        cell=formats.cell,
        setting=formats.setting,
    )
    environment.tests.update(
        mapping=lambda value: isinstance(value, Mapping),
        listing=lambda value: isinstance(value, Sequence) and not isinstance(value, str | bytes),
        scalar=lambda value: value is None or isinstance(value, str | int | float | dt.date),
    )
    return environment


@cache
def _d3_locale(language: str) -> dict[str, Any]:
    """The d3 number format of ``language`` ("de" → "de-DE"), for the charts' axis labels."""
    tag = language.replace("_", "-")
    candidates = [tag]
    try:
        likely = get_global("likely_subtags").get(Locale.parse(tag, sep="-").language)
        if likely:
            candidates.append(f"{tag.split('-')[0]}-{Locale.parse(likely).territory}")
    except (ValueError, UnknownLocaleError):
        pass
    for candidate in [*candidates, "en-US"]:
        try:
            return vl_convert.get_format_locale(candidate)  # type: ignore[arg-type]
        except ValueError:
            continue
    raise AssertionError("vl-convert knows en-US")


def _top(
    scores: pa.Table,
    by: str,
    mask: pa.Array | pa.ChunkedArray,
    k: int,
    *,
    descending: bool,
    keep: list[str],
) -> list[dict[str, Any]]:
    """The first ``k`` rows where ``mask`` holds, by ``by`` (ties: customer id), as dicts.

    A partial selection finds the ``k``-th value; only the rows up to it are sorted."""
    chosen = scores.select(keep).filter(pc.and_kleene(mask, pc.is_valid(scores.column(by))))
    order = "descending" if descending else "ascending"
    if chosen.num_rows > k:
        kth = chosen.take(pc.select_k_unstable(chosen, k, sort_keys=[(by, order)]))
        bound = pc.min(kth[by]) if descending else pc.max(kth[by])
        compare = pc.greater_equal if descending else pc.less_equal
        chosen = chosen.filter(compare(chosen[by], bound))
    keys = [(by, order), ("customer_id", "ascending")]
    return chosen.take(pc.sort_indices(chosen, sort_keys=keys)[:k]).to_pylist()


def _candidates(scores: pa.Table) -> np.ndarray:
    """Customers with a subscription product (an empty string is none)."""
    product = scores.column("subscription_product")
    named = pc.and_(pc.is_valid(product), pc.not_equal(product, ""))
    return np.asarray(pc.fill_null(named, False).to_numpy(zero_copy_only=False), dtype=bool)


def _floats(table: pa.Table, name: str) -> np.ndarray:
    column = pc.cast(table.column(name), pa.float64())
    return np.asarray(column.to_numpy(), dtype=np.float64)


def _setting(settings: Mapping[str, Any], *path: str) -> Any:
    value: Any = settings
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _attr(text: str) -> str:
    return str(Markup.escape(text))
