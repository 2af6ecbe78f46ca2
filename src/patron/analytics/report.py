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
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import vl_convert
from babel import Locale, UnknownLocaleError, dates, numbers
from babel.core import get_global
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from patron.analytics import charts
from patron.analytics.figures import (
    key_figures,
    subscription_candidates,
    top_by_clv,
    unprofitable_customers,
)

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


def build_charts(
    data: ReportData, gettext: Callable[[str], str], *, month: Callable[[dt.date], str]
) -> dict[str, charts.Chart]:
    """Every chart of the report by name, in the reader's language."""
    return charts.every_chart(
        data.scores,
        gettext,
        pareto=data.pareto,
        cohorts=data.cohorts,
        tracking_rows=data.tracking,
        calibration_end=data.calibration_end,
        comparison=data.comparison,
        currency=data.currency,
        measure=abc_by(data.settings),
        month=month,
        time_unit=data.time_unit,
    )


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
    by = abc_by(data.settings)
    return environment.get_template("report.html").render(
        data=data,
        language=language,
        figures=key_figures(data.scores, by=by),
        abc_by=by,
        charts=built,
        svgs=svgs,
        top_clv=top_by_clv(data.scores, TOP),
        unprofitable=unprofitable_customers(data.scores, TOP),
        candidates=subscription_candidates(data.scores, CANDIDATES),
        segment_names=segment_names,
        unit=gettext(charts.TIME_UNITS.get(data.time_unit, data.time_unit)),
        settings=data.settings,
    )


def abc_by(settings: Mapping[str, Any]) -> Literal["revenue", "margin"]:
    """What the run's ABC classes were ranked by: revenue (the default) or margin."""
    return "margin" if _setting(settings, "abc", "by") == "margin" else "revenue"


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


def _setting(settings: Mapping[str, Any], *path: str) -> Any:
    value: Any = settings
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _attr(text: str) -> str:
    return str(Markup.escape(text))
