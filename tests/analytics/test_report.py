"""The HTML report: one offline document, inline SVG charts, the right customers, translated."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pytest
from babel.numbers import format_decimal

from analytics.scores_factory import (
    fake_cohorts,
    fake_comparison,
    fake_pareto,
    fake_scores,
    fake_tracking,
    shout,
)
from patron.analytics import charts, columns
from patron.analytics.figures import (
    key_figures,
    subscription_candidates,
    top_by_clv,
    unprofitable_customers,
)
from patron.analytics.report import (
    CANDIDATES,
    TOP,
    Formats,
    ReportData,
    render_report,
    render_svg,
)

N = 3000
CHARTS = ("pareto", "abc", "rfm", "segments", "clv", "p_alive", "lifecycle", "loyalty")
CHARTS += ("cohorts", "tracking", "models")
SETTINGS = {
    "unit": "week",
    "model": "bgnbd",
    "horizon_months": 12,
    "annual_discount_rate": 0.1,
    "abc": {"by": "revenue", "a": 0.8, "b": 0.95},
    "compare": ["bgnbd", "pnbd", "mbgnbd"],
}


def report_data(scores: pa.Table, **changes: object) -> ReportData:
    data = ReportData(
        title="Customer analysis",
        generated_at=datetime(2025, 1, 2, 9, 30, tzinfo=UTC),
        period_start=date(2022, 1, 1),
        period_end=date(2024, 12, 31),
        time_unit="week",
        currency="EUR",
        scores=scores,
        pareto=fake_pareto(scores),
        cohorts=fake_cohorts(18),
        tracking=fake_tracking(),
        calibration_end=52.0,
        comparison=fake_comparison(),
        settings=SETTINGS,
    )
    return replace(data, **changes)  # type: ignore[arg-type]


class Document(HTMLParser):
    """The parts of a report the tests read: tags, attributes, tables by ``data-table``."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.kpis: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._kpi: str | None = None
        self._value = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("data-table") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._table is not None:
            self._cell = []
        elif tag == "div" and "data-kpi" in attributes:
            self._kpi = attributes["data-kpi"]
        elif tag == "div" and attributes.get("class") == "value" and self._kpi:
            self._value = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td" and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "div" and self._value:
            self._value = False
            self._kpi = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._value and self._kpi:
            self.kpis[self._kpi] = self.kpis.get(self._kpi, "") + data.strip()

    def rows(self, table: str) -> list[list[str]]:
        return [row for row in self.tables[table] if row]  # the header row has no <td>


@pytest.fixture(scope="module")
def scores() -> pa.Table:
    return fake_scores(N, seed=11)


@pytest.fixture(scope="module")
def html(scores: pa.Table) -> str:
    return render_report(report_data(scores))


@pytest.fixture(scope="module")
def document(html: str) -> Document:
    return Document(html)


def test_the_report_is_one_standalone_document(html: str, document: Document) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert [tag for tag, _ in document.tags].count("html") == 1
    assert html.rstrip().endswith("</html>")
    kinds = {tag for tag, _ in document.tags}
    assert not kinds & {"script", "link", "iframe", "img", "object", "embed"}


def test_nothing_is_fetched_from_the_network(html: str, document: Document) -> None:
    for _tag, attributes in document.tags:
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            value = attributes.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (name, value)
    assert re.findall(r"url\(\s*['\"]?\s*(?:https?:)?//", html) == []
    assert re.findall(r"@import", html) == []
    assert "http://" not in html  # not even an XML namespace: the HTML parser sets it
    assert "https://" not in html


def test_every_chart_is_an_inline_svg(html: str, document: Document) -> None:
    figures = re.findall(r'<figure data-chart="(\w+)">\s*<svg\b', html)
    assert sorted(figures) == sorted(CHARTS)
    assert html.count("<svg") == len(figures)
    ids = [attributes["id"] for _tag, attributes in document.tags if attributes.get("id")]
    assert len(ids) == len(set(ids)), "two inline SVGs share an id"
    for reference in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', html):
        assert (reference[0] or reference[1]) in ids


def test_svg_ids_get_the_chart_prefix(scores: pa.Table) -> None:
    """vl-convert numbers clip paths and gradients itself; two inline SVGs must not share one."""
    chart = charts.rfm_grid(scores, shout)
    svg = str(render_svg(chart, prefix="first"))
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids
    assert all(i.startswith("first-") for i in ids)
    assert set(re.findall(r"url\(#([^)]+)\)", svg)) <= set(ids)
    assert svg.startswith(f'<svg role="img" aria-label="{charts.RFM_GRID.upper()}"')


def test_the_key_figures_are_those_of_the_figures(scores: pa.Table, document: Document) -> None:
    figures = key_figures(scores)
    formats = Formats("en", "EUR")
    assert document.kpis == {
        "customers": "3,000",
        "revenue": formats.money(figures.revenue),
        "a-share": formats.percent(figures.a_share_of_value),
        "p-alive": formats.percent(figures.mean_p_alive),
        "clv": formats.money(figures.total_clv),
        "unprofitable": formats.number(figures.unprofitable),
        "subscriptions": formats.number(figures.subscription_candidates),
    }


def test_the_customer_tables_are_those_of_the_figures(scores: pa.Table, document: Document) -> None:
    tables = {
        "top-clv": top_by_clv(scores, TOP),
        "unprofitable": unprofitable_customers(scores, TOP),
        "subscriptions": subscription_candidates(scores, CANDIDATES),
    }
    for name, rows in tables.items():
        assert rows, name
        assert [row[0] for row in document.rows(name)] == [row["customer_id"] for row in rows]
    products = [row[1] for row in document.rows("subscriptions")]
    assert products == [row["subscription_product"] for row in tables["subscriptions"]]


def test_the_segments_table(scores: pa.Table, document: Document) -> None:
    segments = document.rows(charts.SEGMENT_SIZES)
    assert [row[0] for row in segments] == [charts.SEGMENT_NAMES[s] for s in columns.SEGMENTS]
    champions = np.array(scores.column("rfm_segment").to_pylist()) == "champions"
    assert segments[0][1] == format_decimal(champions.sum(), locale="en")


def test_the_a_share_is_of_the_measure_abc_ranks_by(scores: pa.Table) -> None:
    small = scores.slice(0, 600)
    settings = SETTINGS | {"abc": {"by": "margin", "a": 0.8, "b": 0.95}}
    html = render_report(report_data(small, settings=settings))
    assert "Margin from A customers" in html
    share = key_figures(small, by="margin").a_share_of_value
    assert Document(html).kpis["a-share"] == Formats("en", "EUR").percent(share)


def test_settings_are_listed(html: str) -> None:
    assert re.search(r"<dt>horizon_months</dt>\s*<dd>\s*12\s*</dd>", html)
    assert re.search(r"<dt>compare</dt>\s*<dd>\s*bgnbd, pnbd, mbgnbd\s*</dd>", html)
    assert re.search(r"<dt>by</dt>\s*<dd>\s*revenue\s*</dd>", html)


def test_texts_go_through_gettext(scores: pa.Table) -> None:
    html = render_report(report_data(scores.slice(0, 600)), gettext=shout)
    assert "KEY FIGURES" in html
    assert f'<h3 id="chart-rfm">{charts.RFM_GRID.upper()}</h3>' in html
    assert re.search(r"<text[^>]*>SHARE OF CUSTOMERS</text>", html), "texts inside the SVGs too"
    assert "CHAMPIONS" in html
    assert "Key figures" not in html


def test_numbers_in_the_readers_language(scores: pa.Table) -> None:
    html = render_report(report_data(scores), language="de")
    kpis = Document(html).kpis
    assert kpis["customers"] == "3.000"
    assert kpis["revenue"].endswith("\xa0€")
    assert '<html lang="de">' in html
    assert re.search(r">\d\.\d{3}</text>", html), "axis labels in the German number format"
    assert not re.search(r">\d,\d{3}</text>", html)


def test_user_data_is_escaped(scores: pa.Table) -> None:
    ids = scores.column("customer_id").to_pylist()
    clv = scores.column("clv").to_pylist()
    best = int(np.nanargmax(np.array([np.nan if v is None else v for v in clv])))
    ids[best] = '<script>alert("x")</script>'
    changed = scores.set_column(0, "customer_id", pa.array(ids))
    html = render_report(report_data(changed, title="Q1 <b>test</b>"))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "Q1 &lt;b&gt;test&lt;/b&gt;" in html


def test_without_a_holdout_the_model_section_is_left_out(scores: pa.Table) -> None:
    html = render_report(report_data(scores, tracking=None, calibration_end=None, comparison=None))
    assert 'data-chart="tracking"' not in html
    assert 'data-chart="models"' not in html
    assert 'data-chart="cohorts"' in html


def test_a_report_of_200_000_customers_stays_small() -> None:
    scores = fake_scores(200_000, seed=3)
    html = render_report(report_data(scores, cohorts=fake_cohorts(36)))
    assert len(html.encode()) < 3_000_000
    assert Document(html).kpis["customers"] == "200,000"
