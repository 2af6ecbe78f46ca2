"""The customer list and the customer 360 as a signed-in user sees them, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from factories import at
from patron.config import load_settings
from patron.customers import service
from patron.customers.models import Customer
from patron.customers.schemas import CustomerSort
from patron.db import session_factory
from patron.web.app import create_app

HTML = {"Accept": "text/html"}
PARTIAL = {"X-Patron-Partial": "1", "Accept": "text/html"}
AGENT = "agent@example.com"
KEY = re.compile(r'data-customer-key="([^"]*)"')
ENTRY = re.compile(r'<li data-entry="(\w+)">')


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """A browser signed in as a service agent (who may read customers)."""
    app = create_app(load_settings(database_url=database_url, environment="test"), engine=engine)
    with session_factory(engine)() as session:
        make.user(session, "service_agent", email=AGENT)
    with TestClient(app, headers=HTML) as browser:
        _sign_in(browser, AGENT)
        yield browser


def _sign_in(browser: TestClient, email: str) -> None:
    """Sign in through the form and come back to the list (not to the overview, another area)."""
    form = browser.get("/sign-in", params={"next": "/customers"})
    response = browser.post(
        "/sign-in",
        data={
            "email": email,
            "password": make.PASSWORD,
            "csrf_token": make.csrf_token(form.text),
            "next": "/customers",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/customers"


def _page(client: TestClient, path: str = "/customers", **params: object) -> str:
    response = client.get(path, params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.text


def _keys(html: str) -> list[str]:
    return KEY.findall(html)


def _many(session: Session, customers: list[dict[str, object]]) -> None:
    """Many customers in one statement (the factory flushes each one)."""
    session.execute(insert(Customer), [{"kind": "person", **fields} for fields in customers])


def _people(session: Session) -> None:
    make.customer(
        session,
        external_id="B-2",
        name="Berit Hansen",
        email="berit@fjord.no",
        country="Norway",
        created_at=at(2),
    )
    make.customer(
        session,
        external_id="A-1",
        name="Anna Berg",
        email="anna@example.org",
        country="Germany",
        created_at=at(3),
    )
    make.customer(
        session,
        external_id="C-3",
        name="Anders Lie",
        email="lie@example.org",
        country="Norway",
        created_at=at(1),
    )
    make.customer(
        session,
        external_id="ORG-7",
        kind="organisation",
        name="Fjord Bakeri AS",
        email="post@fjordbakeri.no",
        country="Norway",
        created_at=at(4),
    )


# --- the list ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("an", ["C-3", "A-1"]),  # name prefix, any case
        ("ANNA@", ["A-1"]),  # e-mail prefix
        ("b-", ["B-2"]),  # external id prefix
        ("post@", ["ORG-7"]),
        ("berg", []),  # a word inside a name is no prefix
        ("", ["C-3", "A-1", "B-2", "ORG-7"]),
    ],
)
def test_search_by_the_start_of_name_email_or_customer_number(
    client: TestClient, sessions: sessionmaker[Session], search: str, expected: list[str]
) -> None:
    with sessions.begin() as session:
        _people(session)
    html = _page(client, search=search)
    assert _keys(html) == expected
    assert f'name="search" value="{search}"' in html  # the form keeps what was typed


def test_country_and_kind_filters_combine_with_the_search(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        _people(session)
    html = _page(client, country="Norway")
    assert _keys(html) == ["C-3", "B-2", "ORG-7"]
    assert '<option value="Norway" selected>' in html
    assert '<option value="Germany">' in html  # every country is offered
    assert _keys(_page(client, country="Norway", search="an")) == ["C-3"]
    assert _keys(_page(client, country="Norway", kind="organisation")) == ["ORG-7"]
    assert _keys(_page(client, kind="person")) == ["C-3", "A-1", "B-2"]
    assert _keys(_page(client, kind="robot")) == ["C-3", "A-1", "B-2", "ORG-7"]  # ignored
    assert "1–3 of 3 customers" in _page(client, country="Norway")


@pytest.mark.parametrize(
    ("sort", "expected", "column", "aria", "next_sort"),
    [
        ("name", ["C-3", "A-1", "B-2", "ORG-7"], "name", "ascending", "-name"),
        ("-name", ["ORG-7", "B-2", "A-1", "C-3"], "name", "descending", None),
        ("external_id", ["A-1", "B-2", "C-3", "ORG-7"], "external_id", "ascending", "-external_id"),
        (
            "-external_id",
            ["ORG-7", "C-3", "B-2", "A-1"],
            "external_id",
            "descending",
            "external_id",
        ),
        ("created_at", ["C-3", "B-2", "A-1", "ORG-7"], "created_at", "ascending", "-created_at"),
        ("-created_at", ["ORG-7", "A-1", "B-2", "C-3"], "created_at", "descending", "created_at"),
    ],
)
def test_sort_by_a_column_both_ways(
    client: TestClient,
    sessions: sessionmaker[Session],
    sort: str,
    expected: list[str],
    column: str,
    aria: str,
    next_sort: str | None,
) -> None:
    with sessions.begin() as session:
        _people(session)
    html = _page(client, sort=sort)
    assert _keys(html) == expected
    headers = re.findall(
        r'<th scope="col" class="sortable"( aria-sort="\w+")?>\s*<a href="([^"]*)"', html
    )
    assert len(headers) == 3
    sorted_by = [href for aria_sort, href in headers if aria_sort]
    assert re.findall(r'aria-sort="(\w+)"', html) == [aria]
    # The sorted column's link turns the order round (name ascending is the default: no sort).
    assert sorted_by == ["/customers" + (f"?sort={next_sort}" if next_sort else "")]
    assert f'data-sort="{column}"' in html
    # The search form sends the sort along, so a new search keeps the order.
    hidden = sort if sort != "name" else ""
    assert f'<input type="hidden" name="sort" value="{hidden}" form="customer-search">' in html


def test_pages_of_fifty_with_counts_and_links_that_keep_the_filters(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        _many(
            session,
            [
                {"external_id": f"K{n:03d}", "name": f"Kim {n:03d}", "country": "Norway"}
                for n in range(120)
            ],
        )
        make.customer(session, external_id="X", name="Kim Elsewhere", country="Ireland")
    first = _page(client, search="kim", country="Norway", sort="-name")
    assert "1–50 of 120 customers" in first
    assert _keys(first)[:2] == ["K119", "K118"]
    assert len(_keys(first)) == 50
    assert "Page 1 of 3" in first
    assert '<span class="current" aria-current="page">1</span>' in first
    query = "search=kim&amp;country=Norway&amp;sort=-name"
    assert f'<a href="/customers?{query}&amp;page=2" data-partial-link data-page="2">2</a>' in first
    assert f'href="/customers?{query}&amp;page=3" data-partial-link data-page="3"' in first
    assert 'rel="prev"' not in first

    last = _page(client, search="kim", country="Norway", sort="-name", page=3)
    assert "101–120 of 120 customers" in last
    assert _keys(last) == [f"K{n:03d}" for n in range(19, -1, -1)]
    assert f'<a href="/customers?{query}&amp;page=2" data-partial-link rel="prev"' in last
    assert 'rel="next"' not in last
    assert f'<a href="/customers?{query}" data-partial-link data-page="1">1</a>' in last

    assert "Page 1 of" not in _page(client, country="Ireland")  # one page: no pager


def test_the_script_gets_only_the_results_fragment(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        _people(session)
    whole = client.get("/customers", params={"search": "an"})
    assert '<div id="results">' in whole.text
    assert 'data-partial="results"' in whole.text
    assert '<input type="search" name="search"' in whole.text
    assert "X-Patron-Partial" in whole.headers["vary"]

    fragment = client.get("/customers", params={"search": "an"}, headers=PARTIAL)
    assert fragment.status_code == 200
    assert _keys(fragment.text) == ["C-3", "A-1"]
    assert "1–2 of 2 customers" in fragment.text
    for outside in ("<html", "<body", "<header", 'id="results"', "<form", 'type="search"'):
        assert outside not in fragment.text
    assert "X-Patron-Partial" in fragment.headers["vary"]


@pytest.mark.parametrize(
    ("page", "shown", "notice"),
    [
        ("0", "1–50 of 60", None),
        ("-3", "1–50 of 60", None),
        ("abc", "1–50 of 60", None),
        ("2", "51–60 of 60", None),
        ("3", "51–60 of 60", "beyond_end"),
        ("99999999999", "51–60 of 60", "beyond_end"),
        ("9" * 5000, "1–50 of 60", None),  # too long to be a number at all
    ],
)
def test_a_page_out_of_range_shows_a_page_that_exists(
    client: TestClient, sessions: sessionmaker[Session], page: str, shown: str, notice: str | None
) -> None:
    with sessions.begin() as session:
        _many(session, [{"name": f"Person {n:02d}"} for n in range(60)])
    html = _page(client, page=page)
    assert f"{shown} customers" in html
    notices = re.findall(r'data-notice="(\w+)"', html)
    assert notices == ([notice] if notice else [])
    if notice:
        assert "this is the last page, 2." in html


def test_an_unknown_sort_falls_back_to_the_name_and_says_so(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        _people(session)
    html = _page(client, sort="<b>email</b>")
    assert _keys(html) == ["C-3", "A-1", "B-2", "ORG-7"]
    assert 'data-notice="unknown_sort"' in html
    assert "“&lt;b&gt;email&lt;/b&gt;”" in html
    assert "<b>email</b>" not in html


def test_order_count_and_last_purchase_of_each_customer_on_the_page(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        buyer = make.customer(session, external_id="BUY", name="Buyer")
        make.customer(session, external_id="NEW", name="Newcomer")
        for day in (3, 40, 10):
            make.order(session, buyer, placed_at=at(day), lines=[make.line()])
    html = _page(client)
    rows = dict(re.findall(r'data-customer-key="(\w+)">(.*?)</tr>', html, flags=re.S))
    assert re.search(r'<td class="num">3</td>\s*<td>Feb 10, 2024</td>', rows["BUY"])
    assert re.search(r'<td class="num">0</td>\s*<td>–</td>', rows["NEW"])
    with sessions() as session:
        ids = [service.find_customer(session, key=key).id for key in ("BUY", "NEW")]
        activity = service.order_activity(session, ids)
    assert list(activity) == [ids[0]]
    assert activity[ids[0]].orders == 3
    assert activity[ids[0]].last_purchase_at == at(40)


def test_an_empty_store_points_to_the_import_and_the_demo(client: TestClient) -> None:
    html = _page(client)
    assert 'data-empty="store"' in html
    assert "patron import customers FILE" in html
    assert "patron demo" in html
    assert "<table" not in html


def test_a_search_without_matches_says_so(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        _people(session)
    html = _page(client, search="zebra")
    assert 'data-empty="search"' in html
    assert "No customer found for “zebra”" in html
    assert 'data-empty="store"' not in html
    assert 'data-empty="search"' in _page(client, country="Atlantis")


def test_customers_go_by_external_id_else_by_number(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        plain = make.customer(session, external_id=None, name="No Number")
        slashed = make.customer(session, external_id="A/7", name="Slashed")
        make.customer(session, external_id="K 1", name="Spaced")
    html = _page(client)
    assert _keys(html) == [str(plain.id), str(slashed.id), "K 1"]
    assert f'href="/customers/{plain.id}"' in html
    assert 'href="/customers/K%201"' in html
    assert "<h1>Spaced</h1>" in _page(client, "/customers/K%201")
    assert "<h1>Slashed</h1>" in _page(client, f"/customers/{slashed.id}")


def test_html_in_customer_data_is_shown_as_text(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    evil = '<script>alert("x")</script> & Co'
    with sessions.begin() as session:
        person = make.customer(session, external_id="EVIL", name=evil, city="<i>Town</i>")
        make.interaction(session, person, kind="call", note="<img src=x onerror=alert(1)>")
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co"
    listing = _page(client, search="<script")
    detail = _page(client, "/customers/EVIL")
    for html in (listing, detail):
        assert "<script>alert" not in html
        assert escaped in html
    assert f"<h1>{escaped}</h1>" in detail
    assert "<img src=x" not in detail
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail
    assert "<i>Town</i>" not in detail
    nothing = _page(client, search='<b onmouseover="x">')
    assert "<b onmouseover" not in nothing
    assert "No customer found for “&lt;b onmouseover=&#34;x&#34;&gt;”" in nothing


# --- the customer 360 ---------------------------------------------------------------------


def test_360_shows_the_profile(
    client: TestClient, sessions: sessionmaker[Session], engine: Engine
) -> None:
    with session_factory(engine)() as session:
        manager = make.user(session, "account_manager", email="km@example.com", name="Kari Moe")
    with sessions.begin() as session:
        make.customer(
            session,
            external_id="K-1",
            name="Anna Berg",
            email="anna@example.org",
            phone="+47 900 00 000",
            city="Bergen",
            country="Norway",
            language="nb",
            birthday=date(1990, 5, 17),
            account_manager_id=manager.id,
            created_at=at(0),
        )
        make.customer(session, external_id="K-2", name="Bare Minimum", email=None)
    html = _page(client, "/customers/K-1")
    assert "<h1>Anna Berg</h1>" in html
    assert "<title>Anna Berg · Patron</title>" in html
    for text in (
        'href="mailto:anna@example.org"',
        'href="tel:+4790000000"',
        "Bergen, Norway",
        "<dd>May 17, 1990</dd>",
        "Norwegian Bokmål",
        '<dd data-field="account-manager">Kari Moe</dd>',
        "<dd>Jan 1, 2024</dd>",
    ):
        assert text in html, text
    bare = _page(client, "/customers/K-2")
    assert "<h1>Bare Minimum</h1>" in bare
    assert "Birthday" not in bare
    assert '<dd data-field="account-manager">none</dd>' in bare
    assert "No consent recorded" in bare


def test_360_shows_the_latest_consent_per_channel_and_purpose(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="K-1", name="Anna")
        make.consent(session, anna, channel="email", granted=True, recorded_at=at(0))
        make.consent(
            session, anna, channel="email", granted=False, source="unsubscribe", recorded_at=at(9)
        )
        make.consent(session, anna, channel="sms", granted=True, recorded_at=at(5))
    html = _page(client, "/customers/K-1")
    states = re.findall(r'data-consent="([\w:]+)" data-granted="(\w+)">(.*?)</tr>', html, re.S)
    assert [(subject, granted) for subject, granted, _row in states] == [
        ("email:marketing", "false"),
        ("sms:marketing", "true"),
    ]
    assert '<span class="badge bad">withdrawn</span>' in states[0][2]
    assert "unsubscribe" in states[0][2]
    assert "Jan 10, 2024" in states[0][2]
    assert '<span class="badge good">granted</span>' in states[1][2]


def test_360_key_figures_count_revenue_net_of_returns(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="K-1", name="Anna")
        first = make.order(
            session,
            anna,
            placed_at=at(1),
            lines=[make.line(quantity=2, unit_price="50.00"), make.line(unit_price="20.00")],
        )
        make.order(
            session,
            anna,
            placed_at=at(30),
            lines=[
                make.line(unit_price="30.00"),
                make.line(unit_price="-5.00", kind="adjustment"),  # not revenue
            ],
        )
        make.return_(session, first.lines[1], returned_at=at(4))  # 20.00 back
        make.interaction(session, anna, occurred_at=at(2))
    html = _page(client, "/customers/K-1")
    figures = dict(re.findall(r'data-figure="([\w-]+)">(.*?)</div>\s*</div>', html, re.S))
    assert '<div class="value">2</div>' in figures["orders"]
    assert "since Jan 2, 2024" in figures["orders"]
    assert '<div class="value">€130.00</div>' in figures["revenue"]  # 100 + 20 + 30 − 20
    assert '<div class="value">Jan 31, 2024</div>' in figures["last-purchase"]
    assert '<div class="value">1</div>' in figures["returns"]
    assert "€20.00 refunded" in figures["returns"]
    assert '<div class="value">1</div>' in figures["interactions"]


def test_360_revenue_in_each_currency(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="K-1", name="Anna")
        make.order(session, anna, currency="GBP", lines=[make.line(unit_price="10.00")])
        make.order(session, anna, currency="EUR", lines=[make.line(unit_price="7.00")])
        make.return_(session, None, customer=anna, amount=Decimal("2.00"))  # purchase unknown
    with sessions() as session:
        view = service.customer_overview(session, customer_id=anna.id, currency="NOK")
    assert [(r.currency, r.gross, r.returned, r.net) for r in view.figures.revenue] == [
        ("EUR", Decimal("7.0000"), Decimal("0.0000"), Decimal("7.0000")),
        ("GBP", Decimal("10.0000"), Decimal("0.0000"), Decimal("10.0000")),
        ("NOK", Decimal("0.0000"), Decimal("2.0000"), Decimal("-2.0000")),
    ]


def test_360_timeline_merges_orders_returns_and_contacts_newest_first(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="K-1", name="Anna")
        tea = make.product(session, name="Green tea")
        early = make.order(
            session,
            anna,
            external_id="O-EARLY",
            placed_at=at(1),
            lines=[make.line(tea, quantity=3, unit_price="4.00")],
        )
        make.interaction(session, anna, kind="visit", occurred_at=at(2))
        make.return_(
            session, early.lines[0], quantity=Decimal(1), amount=Decimal("4.00"), returned_at=at(3)
        )
        make.order(
            session,
            anna,
            external_id="O-LATE",
            placed_at=at(4),
            lines=[make.line(tea)],
            currency="GBP",
        )
        make.interaction(
            session, anna, kind="call", occurred_at=at(5), note="asked for a catalogue"
        )
        make.interaction(session, make.customer(session), occurred_at=at(6))  # someone else's
    html = _page(client, "/customers/K-1")
    assert ENTRY.findall(html) == ["interaction", "order", "return", "interaction", "order"]
    items = re.findall(r'<li data-entry="\w+">(.*?)</li>', html, re.S)
    expected = [
        ("Call", "asked for a catalogue"),
        ("Order", "O-LATE", "£10.00"),
        ("Return", "1 × Green tea", "−€4.00"),
        ("Visit",),
        ("Order", "O-EARLY", "3 items", "Green tea", "€12.00"),
    ]
    for item, texts in zip(items, expected, strict=True):
        assert [text for text in texts if text not in item] == [], item
    assert "data-timeline-note" not in html  # everything is shown


def test_360_timeline_shows_the_latest_100_entries(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        busy = make.customer(session, external_id="BUSY", name="Busy")
        for day in range(103):
            make.interaction(session, busy, kind="visit", occurred_at=at(day))
        make.order(session, busy, placed_at=at(200), lines=[make.line()])
        make.order(session, busy, placed_at=at(-5), lines=[make.line()])
    html = _page(client, "/customers/BUSY")
    entries = ENTRY.findall(html)
    assert len(entries) == 100
    assert entries[0] == "order"  # the newest
    assert entries[1:] == ["interaction"] * 99  # the oldest order and visits fall off
    assert "showing the latest 100 of 105" in html
    assert 'datetime="2024-04-12T12:00:00+00:00"' in html  # at(102), the newest visit
    assert 'datetime="2024-01-05T12:00:00+00:00"' in html  # at(4), the oldest one shown
    assert 'datetime="2024-01-04T12:00:00+00:00"' not in html


def test_360_marks_what_is_coming(client: TestClient, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="K-1", name="Anna")
    html = _page(client, "/customers/K-1")
    hooks = re.findall(r'<section class="placeholder" data-placeholder="(\w+)">', html)
    # The recommendations, cases and tasks sections are there from the start (saying how to
    # make the first fit, or that there is nothing open).
    assert hooks == ["scores", "points", "messages"]
    assert html.count('<span class="soon">coming</span>') == 3
    for section in ("recommendations", "cases", "tasks"):
        assert f'data-section="{section}"' in html
    for score in ("ABC class", "RFM segment", "Customer lifetime value", "P(alive)", "Lifecycle"):
        assert score in html


@pytest.mark.parametrize("key", ["nobody", "999999", "99999999999999999999"])
def test_an_unknown_customer_is_the_friendly_404_page(client: TestClient, key: str) -> None:
    response = client.get(f"/customers/{key}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-error-code="customers.not_found"' in response.text
    assert "Nothing here" in response.text


def test_numbers_money_and_dates_in_german(engine: Engine, database_url: str) -> None:
    app = create_app(load_settings(database_url=database_url, environment="test"), engine=engine)
    with session_factory(engine)() as session:
        make.user(session, "service_agent", email="de@example.com", language="de")
    with session_factory(engine).begin() as session:
        anna = make.customer(session, external_id="K-1", name="Anna", created_at=at(10))
        make.order(
            session, anna, placed_at=at(40), lines=[make.line(quantity=1, unit_price="1234.50")]
        )
        _many(session, [{"name": f"Zed {n:04d}"} for n in range(1234)])
    with TestClient(app, headers=HTML) as browser:
        _sign_in(browser, "de@example.com")
        listing = _page(browser)
        detail = _page(browser, "/customers/K-1")
    assert "1–50 von 1.235 Kunden" in listing
    assert "<td>11.01.2024</td>" in listing
    assert "<td>10.02.2024</td>" in listing
    assert "1.234,50\xa0€" in detail
    assert '<div class="value">10.02.2024</div>' in detail


# --- what the pages need from the service ------------------------------------------------


@pytest.mark.parametrize("sort", [member.value for member in CustomerSort])
def test_a_filtered_page_is_the_same_whether_walked_or_sorted_apart(
    engine: Engine,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    sort: str,
) -> None:
    with sessions.begin() as session:
        _many(
            session,
            [
                {
                    "name": None if n % 7 == 0 else f"N{n % 13:02d}",
                    "external_id": None if n % 5 == 0 else f"E{n:03d}",
                    "country": "Norway" if n % 3 else "Ireland",
                    "created_at": at(n % 11),
                }
                for n in range(90)
            ],
        )

    def pages(longest_walk: int) -> list[list[int]]:
        monkeypatch.setattr(service, "_LONGEST_INDEX_WALK", longest_walk)
        with sessions() as session:
            return [
                [
                    c.id
                    for c in service.list_customers(
                        session, country="Ireland", sort=sort, page=page, per_page=7
                    ).data
                ]
                for page in range(1, 6)
            ]

    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        apart = pages(0)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    walked = pages(10**9)
    assert apart == walked
    assert [len(page) for page in apart] == [7, 7, 7, 7, 2]
    assert len({customer_id for page in apart for customer_id in page}) == 30
    if engine.dialect.name == "sqlite":  # the other plan was really taken
        assert any("||" in statement for statement in statements)


def test_countries_are_distinct_and_sorted(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _many(
            session,
            [{"country": country} for country in ("Norway", "Austria", None, "", "Norway")],
        )
    with sessions() as session:
        assert service.countries(session) == ["Austria", "Norway"]
        assert service.countries(session, limit=1) == ["Austria"]
