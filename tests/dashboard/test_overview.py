"""The overview: its figures on a hand-built store (SQLite and PostgreSQL), and its page."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import load_settings
from patron.customers.models import Customer
from patron.dashboard import service
from patron.dashboard.pages import charts_of
from patron.db import session_factory
from patron.web.app import create_app

AS_OF = datetime(2024, 6, 15, 10, 0, tzinfo=UTC)  # the latest order of the store below
SINCE = datetime(2023, 6, 15, 10, 0, tzinfo=UTC)  # the last 12 months start at this instant


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _store(session: Session) -> None:
    """Five customers, an anonymous sale, an adjustment, a foreign-currency sale and returns.

    By hand, for the 12 months from 2023-06-15 10:00 up to 2024-06-15 10:00 (both included):
    sales 50 (Alice) + 20 (Bob, at 10:00) + 80 (Carol) + 40 (anonymous) = 190.00 in 4 orders;
    returns 30 (Carol) + 5 (anonymous, no line) + 10 (Alice's 2023 purchase) = 45.00;
    revenue 145.00; average order value 36.25. Left out: Bob's order one second before the
    period, the GBP order and its return, the adjustment lines, a return after the latest
    order, and everything older.
    """
    item = make.product(session)
    alice = make.customer(session, name="Alice", country="Germany")
    bob = make.customer(session, name="Bob", country="Germany")
    carol = make.customer(session, name="Carol", country="Austria")
    make.customer(session, name="Dave", country=None)
    eve = make.customer(session, name="Eve", country="  ")

    old = make.order(
        session, alice, placed_at=utc(2023, 3, 10, 9), lines=[make.line(item, unit_price="100.00")]
    )
    latest = make.order(
        session,
        alice,
        placed_at=AS_OF,
        lines=[
            make.line(item, quantity=2, unit_price="25.00"),
            make.line(None, unit_price="-7.00", kind="adjustment"),
        ],
    )
    make.return_(session, old.lines[0], amount=Decimal("10.00"), returned_at=utc(2023, 7, 1))
    make.return_(session, latest.lines[0], amount=Decimal("25.00"), returned_at=utc(2024, 6, 20))

    before = SINCE - timedelta(seconds=1)
    make.order(session, bob, placed_at=before, lines=[make.line(item, unit_price="30.00")])
    make.order(session, bob, placed_at=SINCE, lines=[make.line(item, unit_price="20.00")])

    carols = make.order(
        session, carol, placed_at=utc(2024, 2, 10), lines=[make.line(item, unit_price="80.00")]
    )
    make.return_(session, carols.lines[0], amount=Decimal("30.00"), returned_at=utc(2024, 2, 20))

    make.order(session, eve, placed_at=utc(2022, 5, 1), lines=[make.line(item, unit_price="60.00")])

    make.order(
        session, None, placed_at=utc(2024, 5, 5), lines=[make.line(item, unit_price="40.00")]
    )
    make.return_(session, None, amount=Decimal("5.00"), returned_at=utc(2024, 5, 6))
    make.order(
        session,
        None,
        placed_at=utc(2024, 3, 1),
        lines=[make.line(None, unit_price="-50.00", kind="adjustment")],
    )
    pounds = make.order(
        session,
        None,
        placed_at=utc(2024, 4, 1),
        currency="GBP",
        lines=[make.line(item, unit_price="1000.00")],
    )
    make.return_(session, pounds.lines[0], amount=Decimal("100.00"), returned_at=utc(2024, 4, 2))


@pytest.fixture
def figures(sessions: sessionmaker[Session]) -> service.Overview:
    with sessions.begin() as session:
        _store(session)
    with sessions() as session:
        return service.overview(session)


def test_the_period_is_the_year_up_to_the_latest_order(figures: service.Overview) -> None:
    assert figures.as_of == AS_OF
    assert figures.since == SINCE
    assert figures.currency == "EUR"


def test_customer_figures(figures: service.Overview) -> None:
    assert figures.customers == 5
    assert figures.buyers == 4  # Dave never ordered
    assert figures.active_customers == 3  # Alice, Bob (10:00 is inside), Carol; not Eve
    assert figures.repeat_buyers == 1  # Alice; Bob's two orders fell on one day
    assert figures.repeat_rate == 0.25


def test_revenue_is_sales_minus_returns_in_the_period(figures: service.Overview) -> None:
    assert figures.sales == Decimal("190.00")
    assert figures.returns == Decimal("45.00")
    assert figures.revenue == Decimal("145.00")
    assert figures.orders == 4
    assert figures.average_order_value == Decimal("36.25")
    assert figures.other_currency_orders == 1


def test_revenue_by_month(figures: service.Overview) -> None:
    months = [row.month for row in figures.by_month]
    assert months[0] == date(2022, 7, 1)
    assert months[-1] == date(2024, 6, 1)
    assert len(months) == 24
    assert len(set(months)) == 24
    shown = {
        row.month: (row.sales, row.returns, row.revenue, row.orders)
        for row in figures.by_month
        if row.sales or row.returns or row.orders
    }
    assert shown == {
        date(2023, 3, 1): (Decimal("100.00"), Decimal(0), Decimal("100.00"), 1),
        date(2023, 6, 1): (Decimal("50.00"), Decimal(0), Decimal("50.00"), 2),
        date(2023, 7, 1): (Decimal(0), Decimal("10.00"), Decimal("-10.00"), 0),
        date(2024, 2, 1): (Decimal("80.00"), Decimal("30.00"), Decimal("50.00"), 1),
        date(2024, 5, 1): (Decimal("40.00"), Decimal("5.00"), Decimal("35.00"), 1),
        date(2024, 6, 1): (Decimal("50.00"), Decimal(0), Decimal("50.00"), 1),
    }
    assert all(isinstance(row.sales, Decimal) for row in figures.by_month)


def test_new_and_returning_customers_by_month(figures: service.Overview) -> None:
    assert [row.month for row in figures.customers_by_month] == [
        row.month for row in figures.by_month
    ]
    shown = {
        row.month: (row.new, row.returning)
        for row in figures.customers_by_month
        if row.new or row.returning
    }
    # Eve's first order (May 2022) is before the chart; Bob ordered twice in June 2023.
    assert shown == {
        date(2023, 3, 1): (1, 0),
        date(2023, 6, 1): (1, 0),
        date(2024, 2, 1): (1, 0),
        date(2024, 6, 1): (0, 1),
    }


def test_customers_by_country(figures: service.Overview) -> None:
    assert [(row.kind, row.country, row.customers) for row in figures.countries] == [
        ("country", "Germany", 2),
        ("country", "Austria", 1),
        ("unknown", None, 2),  # no country, and a blank one
    ]


def test_the_ten_largest_countries_then_the_others(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for rank in range(12):  # "Land 00" has 13 customers, ... "Land 11" has 2
            for _ in range(13 - rank):
                make.customer(session, country=f"Land {rank:02d}")
        make.customer(session, country=None)
    with sessions() as session:
        figures = service.overview(session)
    assert figures.customers == sum(range(2, 14)) + 1
    assert not figures.has_orders
    rows = [(row.kind, row.country, row.customers) for row in figures.countries]
    assert rows[:10] == [("country", f"Land {rank:02d}", 13 - rank) for rank in range(10)]
    assert rows[10:] == [("other", None, 3 + 2), ("unknown", None, 1)]


def test_a_short_history_charts_only_its_months(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        buyer = make.customer(session)
        make.order(
            session, buyer, placed_at=utc(2011, 11, 30, 23), lines=[make.line(unit_price="5.50")]
        )
        make.order(
            session, buyer, placed_at=utc(2011, 12, 9, 12), lines=[make.line(unit_price="4.50")]
        )
    with sessions() as session:
        figures = service.overview(session)
    assert [row.month for row in figures.by_month] == [date(2011, 11, 1), date(2011, 12, 1)]
    assert [(row.new, row.returning) for row in figures.customers_by_month] == [(1, 0), (0, 1)]
    assert figures.revenue == Decimal("10.00")
    assert figures.average_order_value == Decimal("5.00")
    assert figures.repeat_rate == 1.0


def test_a_history_of_one_moment_is_one_month(sessions: sessionmaker[Session]) -> None:
    """Every order at one moment: one segment of time, which once made SQLite fail on
    GROUP BY 0 (a column position)."""
    with sessions.begin() as session:
        buyer = make.customer(session)
        make.order(
            session, buyer, placed_at=utc(2011, 12, 9, 12), lines=[make.line(unit_price="4.50")]
        )
    with sessions() as session:
        figures = service.overview(session)
    assert [row.month for row in figures.by_month] == [date(2011, 12, 1)]
    assert figures.revenue == Decimal("4.50")


def test_refunds_of_an_old_sale_in_another_currency_are_left_out(
    sessions: sessionmaker[Session],
) -> None:
    """No order of the charted months is in pounds, but a refund in them is of an older one."""
    with sessions.begin() as session:
        buyer = make.customer(session)
        old = make.order(
            session,
            buyer,
            placed_at=utc(2020, 1, 10),
            currency="GBP",
            lines=[make.line(unit_price="900.00")],
        )
        make.order(session, buyer, placed_at=AS_OF, lines=[make.line(unit_price="100.00")])
        make.return_(session, old.lines[0], amount=Decimal("900.00"), returned_at=utc(2024, 1, 5))
        make.return_(session, None, amount=Decimal("7.00"), returned_at=utc(2024, 1, 6))
    with sessions() as session:
        figures = service.overview(session)
    assert figures.currency == "EUR"
    assert figures.returns == Decimal("7.00")
    assert figures.revenue == Decimal("93.00")
    assert figures.other_currency_orders == 0  # the pound sale is older than 12 months
    january = next(row for row in figures.by_month if row.month == date(2024, 1, 1))
    assert january.returns == Decimal("7.00")


def test_without_orders_only_customers_are_counted(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        make.customer(session, country="Norway")
    with sessions() as session:
        figures = service.overview(session)
    assert figures.as_of is None
    assert not figures.has_orders
    assert figures.customers == 1
    assert figures.revenue == Decimal(0)
    assert figures.average_order_value is None
    assert figures.repeat_rate is None
    assert figures.by_month == []


def test_one_year_before_and_chart_months() -> None:
    assert service.one_year_before(utc(2024, 2, 29, 8)) == utc(2023, 2, 28, 8)
    assert service.one_year_before(utc(2024, 6, 15, 10)) == utc(2023, 6, 15, 10)
    months = service.chart_months(date(2000, 1, 1), date(2024, 1, 31))
    assert (len(months), months[0], months[-1]) == (24, date(2022, 2, 1), date(2024, 1, 1))
    assert service.chart_months(date(2023, 12, 5), date(2024, 1, 2)) == [
        date(2023, 12, 1),
        date(2024, 1, 1),
    ]


def test_the_specs_compile_to_vega(figures: service.Overview) -> None:
    """Each chart is a Vega-Lite spec that Vega-Lite itself compiles, offline."""
    vl_convert = pytest.importorskip("vl_convert")
    specs = charts_of(figures, lambda message: message, lambda month: month.strftime("%b %Y"))
    assert set(specs) == {"chart-revenue", "chart-customers", "chart-countries"}
    for spec in specs.values():
        assert "$schema" not in spec
        assert spec["width"] == "container"
        vega = vl_convert.vegalite_to_vega(spec)
        assert vega["marks"], spec


# --- the page --------------------------------------------------------------------------------


@dataclass
class Reader:
    client: TestClient

    def page(self) -> str:
        response = self.client.get("/overview")
        assert response.status_code == 200, response.text
        return response.text


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


def _page_store(engine: Engine) -> None:
    """Revenue 1,234.56 + 1,000.00 − 0.56 = 2,234.00 in two orders (average 1,117.00), and a
    sale in pounds that is left out of them."""
    with session_factory(engine).begin() as session:
        anna = make.customer(session, country="Germany")
        ben = make.customer(session, country="Norway")
        make.order(session, anna, placed_at=AS_OF, lines=[make.line(unit_price="1234.56")])
        earlier = make.order(
            session,
            ben,
            placed_at=utc(2024, 5, 20),
            lines=[make.line(quantity=2, unit_price="500")],
        )
        make.return_(
            session, earlier.lines[0], amount=Decimal("0.56"), returned_at=utc(2024, 5, 21)
        )
        make.order(session, ben, placed_at=utc(2023, 1, 2), lines=[make.line(unit_price="1")])
        make.order(session, None, placed_at=utc(2024, 3, 1), currency="GBP", lines=[make.line()])


def _read(app: FastAPI, engine: Engine, language: str) -> str:
    email = f"marketer-{language}@example.com"
    with session_factory(engine)() as session:
        make.user(session, "marketer", email=email, language=language)
    with TestClient(app) as client:
        make.sign_in(client, email)
        return Reader(client).page()


def _kpi(html: str, name: str) -> str:
    found = re.search(rf'data-kpi="{name}">.*?<div class="value">(.*?)</div>', html, re.S)
    assert found is not None, f"no KPI {name}"
    return found[1].replace("\xa0", " ").replace("\u202f", " ")


def _spec(html: str, chart: str) -> dict[str, object]:
    assert f'data-chart="{chart}"' in html
    found = re.search(rf'<script type="application/json" id="{chart}">(.*?)</script>', html, re.S)
    assert found is not None, f"no spec {chart}"
    spec: dict[str, object] = json.loads(found[1])
    return spec


def _values(spec: dict[str, object]) -> list[dict[str, object]]:
    data = spec["data"]
    assert isinstance(data, dict)
    values: list[dict[str, object]] = data["values"]
    return values


def test_the_page_in_english(app: FastAPI, engine: Engine) -> None:
    _page_store(engine)
    html = _read(app, engine, "en")
    assert "12 months to June 15, 2024" in html
    assert _kpi(html, "customers") == "2"
    assert _kpi(html, "active") == "2"
    assert _kpi(html, "repeat-rate") == "50.0%"  # Ben bought on two days, Anna on one
    assert _kpi(html, "revenue") == "€2,234.00"
    assert _kpi(html, "orders") == "2"
    assert _kpi(html, "aov") == "€1,117.00"
    assert '<script src="/vendor/vega.js" defer></script>' in html
    note = "1 order of the last 12 months is in another currency than EUR"
    assert note in html

    revenue = _values(_spec(html, "chart-revenue"))
    assert len(revenue) == 18  # January 2023 to June 2024
    assert revenue[0] == {
        "month": "Jan 2023",
        "revenue": 1.0,
        "sales": 1.0,
        "returns": 0.0,
        "orders": 1,
    }
    assert revenue[-2:] == [
        {"month": "May 2024", "revenue": 999.44, "sales": 1000.0, "returns": 0.56, "orders": 1},
        {"month": "Jun 2024", "revenue": 1234.56, "sales": 1234.56, "returns": 0.0, "orders": 1},
    ]
    customers = _values(_spec(html, "chart-customers"))
    assert [row for row in customers if row["customers"]] == [
        {"month": "Jan 2023", "group": "New", "rank": 0, "customers": 1},
        {"month": "May 2024", "group": "Returning", "rank": 1, "customers": 1},
        {"month": "Jun 2024", "group": "New", "rank": 0, "customers": 1},
    ]
    countries = _spec(html, "chart-countries")
    assert [(row["country"], row["customers"]) for row in _values(countries)] == [
        ("Germany", 1),
        ("Norway", 1),
    ]
    assert "chart-fallback" in html  # a table of the same figures, without JavaScript
    assert "€999.44" in html


def test_the_page_in_german(app: FastAPI, engine: Engine) -> None:
    _page_store(engine)
    html = _read(app, engine, "de")
    assert '<html lang="de">' in html
    assert "15. Juni 2024" in html
    assert _kpi(html, "repeat-rate") == "50,0 %"
    assert _kpi(html, "revenue") == "2.234,00 €"
    assert _kpi(html, "aov") == "1.117,00 €"
    revenue = _values(_spec(html, "chart-revenue"))
    assert [row["month"] for row in revenue[-2:]] == ["Mai 2024", "Juni 2024"]


def test_the_page_without_orders(app: FastAPI, engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        make.customer(session)
    html = _read(app, engine, "en")
    assert 'data-testid="overview-empty"' in html
    assert "<code>patron import orders FILE</code>" in html
    assert "<code>patron demo</code>" in html
    assert "The store holds 1 customer but no orders." in html
    assert "data-chart" not in html
    assert "vega.js" not in html
    assert 'data-kpi="' not in html


def test_the_cached_overview_follows_new_rows_and_expires(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with sessions.begin() as session:
        _store(session)
    with sessions() as session:
        first = service.cached_overview(session)
        assert service.cached_overview(session) is first  # nothing changed: from the cache
    with sessions.begin() as session:  # a new order (a new line) is seen at once
        buyer = make.customer(session, external_id="LATE", country="DE")
        make.order(session, buyer, placed_at=first.as_of, lines=[make.line(unit_price="10.00")])
    with sessions() as session:
        added = service.cached_overview(session)
        assert added is not first
        assert added.orders == first.orders + 1
        assert added.revenue == first.revenue + Decimal("10.00")
    with sessions.begin() as session:  # an edit adds no row: kept until the time runs out
        session.execute(update(Customer).values(country="ZZ"))
    with sessions() as session:
        assert service.cached_overview(session) is added
        monkeypatch.setattr(service, "OVERVIEW_TTL_SECONDS", 0.0)
        fresh = service.cached_overview(session)
        assert fresh is not added
        assert "ZZ" in {row.country for row in fresh.countries}
