"""The loyalty pages and the points on the customer 360, as signed-in staff see them.

The pages read the clock (``utcnow``), so the bookings here are placed relative to it: a purchase
old enough to be usable, one still in its return window, a redemption and a return that leaves
return debt.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.access import permissions
from patron.config import load_settings
from patron.db import session_factory, utcnow
from patron.loyalty import reading, service, setup
from patron.loyalty.models import AuditRecord, Entry, Programme, Reward
from patron.loyalty.programme import read_spec, to_yaml
from patron.loyalty.schemas import (
    PurchaseIn,
    PurchaseLineIn,
    RedeemIn,
    ReturnIn,
)
from patron.web.app import create_app

DEMO = Path(__file__).resolve().parents[2] / "src" / "patron" / "demo" / "programme.yaml"
FORM_KEY = re.compile(r'name="key" value="([^"]+)"')
TEXTAREA = re.compile(r'<textarea[^>]*name="text"[^>]*>\n?(.*?)</textarea>', re.S)


@dataclass(frozen=True)
class Shop:
    """The demo programme with three members: ANN (silver, some points pending), BOB (return
    debt and a voucher) and CAT (bronze); DAN is a customer who is no member."""

    now: datetime
    ids: dict[str, int]


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> Shop:
    now = utcnow()
    with sessions() as session:
        people = {
            "ANN": make.customer(session, external_id="ANN", name="Anna Berg"),
            "BOB": make.customer(session, external_id="BOB", name="Bob Stone"),
            "CAT": make.customer(session, external_id="CAT", name="Cat Lind", email="cat@x.org"),
            "DAN": make.customer(session, external_id="DAN", name="Dan Ek"),
        }
        ids = {key: row.id for key, row in people.items()}
        session.commit()
        spec = read_spec(yaml.safe_load(DEMO.read_text()))
        setup.set_up(session, spec=spec, actor="setup@example.com", now=now - timedelta(days=90))
        _buy(session, "ANN", "A1", "120.50", at=now - timedelta(days=60), category="Coffee")
        _buy(session, "ANN", "A2", "300.00", at=now - timedelta(days=2))
        _buy(session, "BOB", "B1", "600.00", at=now - timedelta(days=40))
        redeem = RedeemIn(customer="BOB", reward="voucher-5")
        service.redeem(
            session, programme_code="club", key="r1", request=redeem, actor=None, now=now - _d(20)
        )
        gone = ReturnIn(customer="BOB", order="B1", share=Decimal(1))
        service.record_return(
            session, programme_code="club", key="ret1", returned=gone, actor=None, now=now - _d(10)
        )
        _buy(session, "CAT", "C1", "20.00", at=now - timedelta(days=30))
    return Shop(now=now, ids=ids)


def _d(days: int) -> timedelta:
    return timedelta(days=days)


def _buy(
    session: Session, customer: str, order: str, amount: str, *, at: datetime, **line: Any
) -> None:
    purchase = PurchaseIn(
        customer=customer,
        order=order,
        currency="EUR",
        lines=[PurchaseLineIn(amount=Decimal(amount), **line)],
    )
    service.record_purchase(
        session, programme_code="club", key=f"p-{order}", purchase=purchase, actor=None, now=at
    )


@pytest.fixture
def analyst(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with make.browser(app, sessions, "analyst") as browser:
        yield browser


@pytest.fixture
def marketer(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with make.browser(app, sessions, "marketer", email="marketer@example.com") as browser:
        yield browser


def _page(browser: TestClient, path: str, **params: Any) -> str:
    response = browser.get(path, params=params or None)
    assert response.status_code == 200, response.text
    return response.text


def _between(html: str, start: str, end: str = "</section>") -> str:
    found = re.search(re.escape(start) + r"(.*?)" + re.escape(end), html, re.S)
    assert found is not None, start
    return found[1]


def _kpi(html: str, name: str) -> str:
    found = re.search(rf'data-liability="{name}">.*?<div class="value">(.*?)</div>', html, re.S)
    assert found is not None, name
    return found[1]


def _figure(html: str, name: str) -> str:
    found = re.search(rf'data-points="{name}"[^>]*>(?:<strong>)?([^<\s]+)', html)
    assert found is not None, name
    return found[1]


# --- the overview ---------------------------------------------------------------------------


def test_the_overview_shows_each_programmes_liability(
    analyst: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        (row,) = reading.liability(session, now=utcnow())
    html = _page(analyst, "/loyalty")
    card = _between(html, '<section class="card loyalty-programme" data-programme="club">')
    assert "Patron Club" in card
    assert (row.points > 0, row.pending > 0, row.debt > 0, row.members) == (True, True, True, 3)
    assert _kpi(card, "points") == f"{row.points:,}"
    assert _kpi(card, "value") == f"€{row.value:,.2f}"
    assert _kpi(card, "pending") == f"{row.pending:,}"
    assert _kpi(card, "expiring") == f"{row.expiring_next_month:,}"
    assert _kpi(card, "debt") == f"{row.debt:,}"
    assert _kpi(card, "members") == "3"
    assert 'href="/loyalty/club/members"' in card
    nav = _between(html, '<nav class="mainnav"', "</nav>")
    assert 'href="/loyalty" aria-current="page"' in nav


def test_without_a_programme_the_overview_says_how_to_set_one_up(analyst: TestClient) -> None:
    html = _page(analyst, "/loyalty")
    assert 'data-empty="programmes"' in html
    assert "<code>patron loyalty setup FILE</code>" in html


# --- a programme's rules ----------------------------------------------------------------------


def test_the_programme_page_reads_the_rules_back(analyst: TestClient, shop: Shop) -> None:
    html = _page(analyst, "/loyalty/club")
    assert "patron loyalty setup FILE" in _between(html, 'data-testid="how-to-change">', "</p>")
    earning = _between(html, 'data-section="earning">')
    assert "Category Coffee: <strong>2×</strong>" in earning
    assert "Category Books: <strong>1.5×</strong>" in earning
    assert "€5.00" in earning  # the minimum order
    assert "5,000 points from purchases per member and calendar month" in earning
    lots = _between(html, 'data-section="lots">')
    assert "pending for 14 days" in lots
    assert "expires 24 months after" in lots
    assert "First purchase: 100 points" in lots
    tiers = _between(html, 'data-section="tiers">')
    assert re.search(r'data-tier="gold">.*?1,500 points earned in the last 12 months', tiers, re.S)
    assert re.search(r'data-tier="bronze">.*?open to every member', tiers, re.S)
    assert "Free shipping, Early access to new coffees" in tiers
    assert "keeps the tier for 90 more days" in tiers
    rewards = _between(html, 'data-section="rewards">')
    assert re.findall(r'data-reward="([\w-]+)"', rewards) == [
        "gift-wrap",
        "voucher-5",
        "espresso-cups",
        "voucher-15",
        "tasting",
    ]
    tasting = _between(rewards, 'data-reward="tasting">', "</tr>")
    assert "2,500 points" in tasting
    assert '<td class="num" data-stock>24</td>' in tasting
    assert "1 time per member" in tasting
    assert "Gold members and above" in tasting
    assert "unlimited" in _between(rewards, 'data-reward="voucher-5">', "</tr>")
    audit = _between(html, 'data-section="audit">')
    assert 'data-audit="programme.created"' in audit
    assert "setup@example.com" in audit


def test_an_unknown_programme_is_the_404_page(analyst: TestClient, shop: Shop) -> None:
    response = analyst.get("/loyalty/nope")
    assert response.status_code == 404
    assert 'data-error-code="loyalty.unknown_programme"' in response.text


# --- changing a programme's rules -------------------------------------------------------------


def _text(html: str) -> str:
    """The programme's YAML in the settings form, as the browser shows it."""
    found = TEXTAREA.search(html)
    assert found is not None, "the page has no programme text"
    return htmllib.unescape(found[1])


def _settings(browser: TestClient, path: str = "/loyalty/club/settings") -> tuple[str, str]:
    """The settings form's text and CSRF token."""
    html = _page(browser, path)
    return _text(html), make.csrf_token(_between(html, 'data-testid="settings-form"', "</form>"))


def _stored(sessions: sessionmaker[Session]) -> tuple[Any, ...]:
    """What the store holds of the programmes: rules, rewards and the audit log."""
    with sessions() as session:
        programmes = session.execute(
            select(Programme.code, Programme.name, Programme.point_value, Programme.settings)
        ).all()
        rewards = session.execute(
            select(Reward.code, Reward.active, Reward.stock, Reward.spec).order_by(Reward.id)
        ).all()
        audit = session.scalar(select(func.count()).select_from(AuditRecord))
    return [tuple(row) for row in programmes], [tuple(row) for row in rewards], audit


def test_the_settings_form_holds_the_current_rules_as_yaml(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    html = _page(marketer, "/loyalty/club")
    assert 'href="/loyalty/club/settings" data-testid="edit-rules">Edit the rules</a>' in html
    how = _between(html, 'data-testid="how-to-change">', "</p>")
    assert "Edit the rules" in how
    assert "patron loyalty setup FILE" in how
    text, _token = _settings(marketer)
    assert text.startswith("code: club\nname: Patron Club\n")
    assert "name: 5 € voucher" in text  # as written, not escaped
    shown = yaml.safe_load(text)
    demo = read_spec(yaml.safe_load(DEMO.read_text()))
    assert read_spec(shown) == demo  # the rules and the rewards, in the file's order
    assert [reward["code"] for reward in shown["rewards"]] == [r.code for r in demo.rewards]


def test_saving_the_unchanged_form_changes_nothing(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:  # redemptions count the stock down: saving keeps the count
        session.execute(update(Reward).where(Reward.code == "tasting").values(stock=20))
        session.commit()
        document = yaml.safe_load(to_yaml(setup.document(session, "club")))
        done = setup.set_up(session, spec=read_spec(document), actor="x", now=utcnow())
    assert done["changes"] == []
    before = _stored(sessions)
    text, token = _settings(marketer)
    response = marketer.post(
        "/loyalty/club/settings", data={"text": text, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/loyalty/club?saved=nothing"
    assert _stored(sessions) == before
    notice = _between(
        _page(marketer, "/loyalty/club?saved=nothing"), 'data-testid="settings-saved"', "</div>"
    )
    assert "nothing had changed" in notice


def test_a_change_is_stored_audited_in_the_users_name_and_shown(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    text, token = _settings(marketer)
    document = yaml.safe_load(text)
    document["earning"]["points_per_unit"] = 2
    document["rewards"] = [r for r in document["rewards"] if r["code"] != "gift-wrap"]
    changed = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    response = marketer.post("/loyalty/club/settings", data={"text": changed, "csrf_token": token})
    assert response.status_code == 200
    (redirect,) = response.history
    assert re.fullmatch(r"/loyalty/club\?saved=\d+-\d+", redirect.headers["location"])
    with sessions() as session:
        _row, spec = setup.programme(session, "club")
        gift_wrap = session.scalar(select(Reward).where(Reward.code == "gift-wrap"))
        records = session.scalars(
            select(AuditRecord).where(AuditRecord.actor == "marketer@example.com")
        ).all()
    assert spec.earning.points_per_unit == 2
    assert gift_wrap is not None
    assert not gift_wrap.active
    assert sorted((r.action, r.subject) for r in records) == [
        ("programme.changed", "club"),
        ("reward.withdrawn", "gift-wrap"),
    ]
    notice = _between(response.text, 'data-testid="settings-saved"', "</div>")
    assert re.search(r'data-change="programme.changed">Settings changed: earning</li>', notice)
    assert re.search(
        r'data-change="reward.withdrawn">Reward withdrawn <code>gift-wrap</code>', notice
    )
    earning = _between(response.text, 'data-section="earning">')
    assert '<dd data-rule="rate">2 ' in earning
    rewards = _between(response.text, 'data-section="rewards">')
    assert 'data-reward="gift-wrap"' not in rewards
    audit = _between(response.text, 'data-section="audit">')
    assert "marketer@example.com" in audit
    assert _text(_page(marketer, "/loyalty/club/settings")).count("code: gift-wrap") == 0


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (  # the tiers must go up
            lambda text: text.replace("threshold: '500'", "threshold: '5000'"),
            ("tiers.levels", "tiers go up"),
        ),
        (lambda text: text.replace("currency: EUR", "currency: euro"), ("currency", "")),
        (
            lambda text: text.replace("code: voucher-5", "code: voucher-5\n  colour: red"),
            ("rewards.0.colour", "Extra inputs are not permitted"),
        ),
    ],
)
def test_a_wrong_field_is_named_and_nothing_is_stored(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop, change: Any, problem: Any
) -> None:
    before = _stored(sessions)
    text, token = _settings(marketer)
    wrong = change(text)
    assert wrong != text
    response = marketer.post("/loyalty/club/settings", data={"text": wrong, "csrf_token": token})
    assert response.status_code == 422
    error = _between(response.text, 'data-testid="settings-error"', "</div>")
    assert 'data-error="invalid"' in error
    assert "Nothing was saved." in error
    field, words = problem
    item = _between(error, f'<li data-field="{field}">', "</li>")
    assert f"<code>{field}</code>" in item
    assert words in htmllib.unescape(item)
    assert _text(response.text) == wrong  # the text is kept
    assert _stored(sessions) == before


def test_a_yaml_syntax_error_names_its_line_and_stores_nothing(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    before = _stored(sessions)
    text, token = _settings(marketer)
    lines = text.splitlines()
    lines[3] = "  " + lines[3] + ": ["
    broken = "\n".join(lines)
    response = marketer.post("/loyalty/club/settings", data={"text": broken, "csrf_token": token})
    assert response.status_code == 422
    error = _between(response.text, 'data-testid="settings-error"', "</div>")
    assert 'data-error="yaml"' in error
    assert re.search(r"The text is not valid YAML: see line \d+, column \d+\.", error)
    assert "line 4," in error
    assert _text(response.text) == broken
    assert _stored(sessions) == before


def test_the_code_of_a_programme_cannot_be_changed(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    before = _stored(sessions)
    text, token = _settings(marketer)
    other = text.replace("code: club\n", "code: other-club\n", 1)
    response = marketer.post("/loyalty/club/settings", data={"text": other, "csrf_token": token})
    assert response.status_code == 422
    error = _between(response.text, 'data-testid="settings-error"', "</div>")
    assert 'data-error="code_changed"' in error
    assert "the text names other-club" in error
    assert _stored(sessions) == before


def test_a_new_programme_starts_from_the_demo_file_and_is_set_up(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    overview = _page(marketer, "/loyalty")
    assert 'href="/loyalty/new" data-testid="new-programme">New programme</a>' in overview
    text, token = _settings(marketer, "/loyalty/new")
    assert text == DEMO.read_text()
    before = _stored(sessions)
    for code, kind in (("club", "code_taken"), ("new", "code_reserved")):
        taken = text.replace("code: club", f"code: {code}", 1)
        response = marketer.post("/loyalty/new", data={"text": taken, "csrf_token": token})
        assert response.status_code == 409
        error = _between(response.text, 'data-testid="settings-error"', "</div>")
        assert f'data-error="{kind}"' in error
        assert _text(response.text) == taken
    assert _stored(sessions) == before
    fresh = text.replace("code: club", "code: shop-two", 1).replace("Patron Club", "Shop Two")
    response = marketer.post("/loyalty/new", data={"text": fresh, "csrf_token": token})
    assert response.status_code == 200
    assert response.history[0].headers["location"].startswith("/loyalty/shop-two?saved=")
    assert "<h1>Shop Two</h1>" in response.text
    notice = _between(response.text, 'data-testid="settings-saved"', "</div>")
    assert 'data-change="programme.created"' in notice
    assert notice.count('data-change="reward.created"') == 5
    with sessions() as session:
        spec = read_spec(setup.document(session, "shop-two"))
        created = session.scalar(
            select(AuditRecord).where(
                AuditRecord.action == "programme.created", AuditRecord.subject == "shop-two"
            )
        )
    assert spec == read_spec(yaml.safe_load(fresh))
    assert created is not None
    assert created.actor == "marketer@example.com"


def test_changing_the_rules_needs_loyalty_write_and_the_forms_token(
    app: FastAPI, sessions: sessionmaker[Session], marketer: TestClient, shop: Shop
) -> None:
    before = _stored(sessions)
    text, _token = _settings(marketer)
    changed = text.replace("first_purchase: 100", "first_purchase: 1000")
    for path in ("/loyalty/club/settings", "/loyalty/new"):
        refused = marketer.post(path, data={"text": changed, "csrf_token": "forged"})
        assert refused.status_code == 403, path
        assert 'data-error-code="auth.csrf"' in refused.text
    with make.browser(app, sessions, "account_manager") as manager:  # reads loyalty, may not change
        overview = _page(manager, "/loyalty")
        rules = _page(manager, "/loyalty/club")
        token = make.csrf_token(overview)
        for path in ("/loyalty/club/settings", "/loyalty/new"):
            for response in (
                manager.get(path),
                manager.post(path, data={"text": changed, "csrf_token": token}),
            ):
                assert response.status_code == 403, path
                assert 'data-error-code="auth.forbidden"' in response.text
    assert 'data-testid="new-programme"' not in overview
    assert 'data-testid="edit-rules"' not in rules
    assert _stored(sessions) == before


# --- members ------------------------------------------------------------------------------------


def test_members_search_and_tier_filter(analyst: TestClient, shop: Shop) -> None:
    def members(**params: str) -> list[int]:
        html = _page(analyst, "/loyalty/club/members", **params)
        return [int(i) for i in re.findall(r'data-member="(\d+)"', html)]

    everyone = members()
    assert sorted(everyone) == sorted(shop.ids[k] for k in ("ANN", "BOB", "CAT"))
    assert members(search="anna") == [shop.ids["ANN"]]
    assert members(search="CAT@X") == [shop.ids["CAT"]]  # e-mail, any case
    assert sorted(members(tier="silver")) == sorted([shop.ids["ANN"], shop.ids["BOB"]])
    assert members(tier="bronze") == [shop.ids["CAT"]]
    assert members(tier="silver", search="bob") == [shop.ids["BOB"]]
    assert members(tier="bronze", search="bob") == []
    assert members(tier="no-such-tier") == everyone  # an unknown tier filters nothing
    html = _page(analyst, "/loyalty/club/members", search="anna")
    assert 'href="/customers/ANN">Anna Berg</a>' in html
    partial = analyst.get(
        "/loyalty/club/members", params={"search": "anna"}, headers={"X-Patron-Partial": "1"}
    )
    assert partial.status_code == 200
    assert "<form" not in partial.text
    assert 'data-member="' in partial.text


# --- the customer 360 ------------------------------------------------------------------------


def test_the_360_shows_balance_tier_progress_lots_and_statement(
    analyst: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    now = utcnow()
    with sessions() as session:
        balance = reading.balance(session, programme_code="club", customer="ANN", now=now)
        progress = reading.progress(session, programme_code="club", customer="ANN", now=now)
        statement = reading.statement(session, programme_code="club", customer="ANN")
    html = _page(analyst, "/customers/ANN")
    assert 'data-placeholder="points"' not in html
    section = _between(html, '<section class="card loyalty-points" data-section="points">')
    assert _figure(section, "balance") == f"{balance.balance:,}"
    assert _figure(section, "available") == f"{balance.available:,}"
    assert _figure(section, "pending") == f"{balance.pending:,}"
    assert balance.pending == 300
    assert 'data-points="debt"' not in section
    assert f"worth €{balance.value:,.2f}" in section
    assert progress.tier is not None
    assert progress.tier.code == "silver"
    assert progress.missing is not None
    assert progress.by is not None
    nxt = _between(section, 'data-testid="next-tier">', "</p>")
    assert f"{progress.missing:,} more points for Gold by" in nxt
    assert f"{progress.value:,} points earned in the last 12 months" in section
    lots = re.findall(r'<tr data-lot="(\d+)" data-state="(\w+)">', section)
    assert sorted(lots) == sorted((str(lot.number), state) for lot, state in _states(statement))
    assert ("2", "pending") in lots or ("3", "pending") in lots
    running = re.findall(r"<td class=\"num\" data-running>([\d,]+)</td>", section)
    assert running[0] == f"{balance.balance:,}"  # the newest entry first, with the balance after it
    assert len(running) == statement.count


def _states(statement: Any) -> list[tuple[Any, str]]:
    now = utcnow()
    return [
        (lot, "pending" if lot.available_from > now else "available")
        for lot in statement.lots
        if lot.remaining > 0
    ]


def test_the_360_shows_return_debt_and_vouchers_plainly(
    analyst: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        balance = reading.balance(session, programme_code="club", customer="BOB", now=utcnow())
        (voucher,) = reading.vouchers_of(session, programme_code="club", customer="BOB")
    assert balance.debt > 0
    section = _between(_page(analyst, "/customers/BOB"), 'data-section="points">')
    assert _figure(section, "debt") == f"{balance.debt:,}"
    assert _figure(section, "available") == f"{balance.available:,}"
    assert f'data-voucher="{voucher.code}" data-state="valid"' in section
    assert "€5.00" in section
    # the return took BOB below silver: the tier is kept through the grace period
    assert balance.tier is not None
    assert balance.tier_review_at is not None
    kept = _between(section, 'data-testid="tier-kept">', "</p>")
    assert "Silver is kept until" in kept
    assert "more points keep it" in kept


def test_a_customer_who_is_no_member_is_told_so(analyst: TestClient, shop: Shop) -> None:
    section = _between(_page(analyst, "/customers/DAN"), 'data-section="points">')
    assert 'data-testid="not-a-member"' in section
    assert 'data-testid="adjust-form"' not in section  # the analyst may not book


# --- the adjustment form -------------------------------------------------------------------


def _form(browser: TestClient, customer: str) -> dict[str, str]:
    html = _page(browser, f"/customers/{customer}")
    form = _between(html, 'data-testid="adjust-form">', "</form>")
    key = FORM_KEY.search(form)
    assert key is not None
    return {"csrf_token": make.csrf_token(form), "key": key[1]}


def test_an_adjustment_books_once_however_often_the_form_is_sent(
    marketer: TestClient, sessions: sessionmaker[Session], shop: Shop
) -> None:
    ann = shop.ids["ANN"]
    form = _form(marketer, "ANN") | {"points": "50", "reason": "Goodwill: late delivery"}
    action = f"/loyalty/club/members/{ann}/adjust"
    with sessions() as session:
        before = reading.balance(session, programme_code="club", customer="ANN", now=utcnow())
    first = marketer.post(action, data=form, follow_redirects=False)
    again = marketer.post(action, data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert re.fullmatch(r"/customers/ANN\?adjusted=\d+#points-club", first.headers["location"])
    with sessions() as session:
        after = reading.balance(session, programme_code="club", customer="ANN", now=utcnow())
        adjustments = session.scalars(select(Entry).where(Entry.kind == "adjust")).all()
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "points.adjusted")
        ).all()
    assert after.balance == before.balance + 50
    assert [(e.amount, e.reason, e.actor) for e in adjustments] == [
        (50, "Goodwill: late delivery", "marketer@example.com")
    ]
    assert [a.actor for a in audit] == ["marketer@example.com"]
    html = _page(marketer, first.headers["location"].split("#")[0])
    notice = _between(html, 'data-testid="points-adjusted">', "</p>")
    assert notice == "Booked +50 points: Goodwill: late delivery"
    assert _figure(html, "balance") == f"{after.balance:,}"
    assert _form(marketer, "ANN")["key"] != form["key"]  # a new form books anew


@pytest.mark.parametrize(
    ("points", "reason", "code"),
    [
        ("0", "nothing", "loyalty.bad_adjustment"),
        ("1.5", "half a point", "loyalty.bad_adjustment"),
        ("10", "no", "loyalty.bad_adjustment"),
        ("-100000", "take them all", "points.insufficient"),
    ],
)
def test_a_refused_adjustment_books_nothing_and_says_why(
    marketer: TestClient,
    sessions: sessionmaker[Session],
    shop: Shop,
    points: str,
    reason: str,
    code: str,
) -> None:
    form = _form(marketer, "CAT") | {"points": points, "reason": reason}
    response = marketer.post(f"/loyalty/club/members/{shop.ids['CAT']}/adjust", data=form)
    assert response.status_code == 200
    (redirect,) = response.history
    assert redirect.headers["location"] == (
        f"/customers/CAT?points_error={code}&programme=club#points-club"
    )
    alert = _between(response.text, 'data-testid="points-error"', "</p>")
    assert f'data-error-code="{code}"' in alert
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Entry.kind == "adjust")) == 0


@pytest.mark.parametrize("customer", ["999999", "99999999999999999999"])
def test_an_adjustment_for_an_unknown_customer_is_the_404_page(
    marketer: TestClient, shop: Shop, customer: str
) -> None:
    form = _form(marketer, "ANN") | {"points": "5", "reason": "for nobody"}
    response = marketer.post(f"/loyalty/club/members/{customer}/adjust", data=form)
    assert response.status_code == 404
    assert 'data-error-code="customers.not_found"' in response.text


def test_an_adjustment_needs_loyalty_write_and_the_forms_token(
    app: FastAPI, sessions: sessionmaker[Session], marketer: TestClient, shop: Shop
) -> None:
    action = f"/loyalty/club/members/{shop.ids['ANN']}/adjust"
    data = {"points": "5", "reason": "sneaky", "key": "k-1"}
    refused = marketer.post(action, data=data | {"csrf_token": "forged"})
    assert refused.status_code == 403
    assert 'data-error-code="auth.csrf"' in refused.text
    with make.browser(app, sessions, "account_manager") as manager:  # reads loyalty, may not book
        section = _between(_page(manager, "/customers/ANN"), 'data-section="points">')
        assert 'data-testid="adjust-form"' not in section
        token = make.csrf_token(_page(manager, "/loyalty"))
        response = manager.post(action, data=data | {"csrf_token": token})
    assert response.status_code == 403
    assert 'data-error-code="auth.forbidden"' in response.text
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Entry.kind == "adjust")) == 0


def test_a_role_without_loyalty_read_sees_neither_pages_nor_points(
    app: FastAPI, sessions: sessionmaker[Session], shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every role reads loyalty today; a role that may not must be refused all the same.
    roles = dict(permissions.ROLE_PERMISSIONS)
    roles["analyst"] = roles["analyst"] - {"loyalty:read"}
    monkeypatch.setattr(permissions, "ROLE_PERMISSIONS", MappingProxyType(roles))
    with make.browser(app, sessions, "analyst") as browser:
        for path in ("/loyalty", "/loyalty/club", "/loyalty/club/members"):
            response = browser.get(path)
            assert response.status_code == 403, path
            assert 'data-error-code="auth.forbidden"' in response.text
        html = _page(browser, "/customers/ANN")
    assert 'data-section="points"' not in html
    assert 'data-placeholder="points"' in html
    assert 'href="/loyalty"' not in html


# --- in German ----------------------------------------------------------------------------------


def test_in_german(app: FastAPI, sessions: sessionmaker[Session], shop: Shop) -> None:
    with make.browser(app, sessions, "marketer", language="de") as browser:
        overview = _page(browser, "/loyalty")
        rules = _page(browser, "/loyalty/club")
        detail = _page(browser, "/customers/ANN")
        form = _page(browser, "/loyalty/club/settings")
        token = make.csrf_token(_between(form, 'data-testid="settings-form"', "</form>"))
        wrong = browser.post(
            "/loyalty/club/settings", data={"text": "code: [", "csrf_token": token}
        )
    assert "<h1>Treueprogramm</h1>" in overview
    assert "Ausstehende Punkte" in overview
    assert "1.500 Punkte in den letzten 12 Monaten gesammelt" in rules
    assert "5,00\xa0€" in rules
    assert "Treuepunkte & Stufe" in detail
    assert "Punkte von Hand buchen" in detail
    assert "Regeln bearbeiten" in rules
    assert "Regeln speichern" in form
    assert "Nichts wurde gespeichert." in wrong.text
