"""The recommendations on the customer 360 and the fit's page, as signed-in staff see them.

The shop (``pasta_shop``): spaghetti buyers buy tomato sauce too; ANNA and BEN have bought
spaghetti alone. The pages read the clock, so the shop's orders are placed relative to it.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import load_settings
from patron.db import utcnow
from patron.recommend import reasons as why
from patron.recommend import service
from patron.recommend.models import RecommendationBlock
from patron.web.app import create_app
from recommend.pasta_shop import PastaShop, build

HTML = {"Accept": "text/html"}


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> PastaShop:
    return build(sessions, utcnow())


@pytest.fixture
def fitted(engine: Engine, shop: PastaShop) -> PastaShop:
    service.fit(engine, now=shop.now)
    return shop


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def agent(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """A service agent: reads and changes customers, does not read analytics."""
    with make.browser(app, sessions, "service_agent", email="agent@example.com") as browser:
        yield browser


@pytest.fixture
def analyst(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """Reads everything, changes nothing."""
    with make.browser(app, sessions, "analyst") as browser:
        yield browser


def _page(browser: TestClient, path: str) -> str:
    response = browser.get(path)
    assert response.status_code == 200, response.text
    return response.text


def _section(html: str) -> str:
    found = re.search(r'data-section="recommendations">(.*?)\n</section>', html, re.S)
    assert found is not None, "no recommendations section"
    return found[1]


def _kind(section: str, kind: str) -> str:
    found = re.search(rf'data-kind="{kind}">(.*?)</article>', section, re.S)
    assert found is not None, kind
    return found[1]


def _rows(part: str) -> dict[str, str]:
    """Each offer's row by SKU."""
    return dict(re.findall(r'<tr data-sku="([^"]+)"(.*?)</tr>', part, re.S))


def _text(fragment: str) -> str:
    """The words of an HTML fragment (no-break spaces kept: money and percentages have them)."""
    return re.sub(r"[ \t\r\n]+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def _blocked(sessions: sessionmaker[Session]) -> list[tuple[int, str | None, str | None]]:
    with sessions() as session:
        rows = session.execute(
            select(
                RecommendationBlock.customer_id,
                RecommendationBlock.reason,
                RecommendationBlock.created_by,
            )
        ).all()
    return [tuple(row) for row in rows]


# --- the 360's section ----------------------------------------------------------------------


def test_before_a_fit_the_section_says_how_to_make_one(agent: TestClient, shop: PastaShop) -> None:
    html = _page(agent, "/customers/ANNA")
    section = _section(html)
    assert 'data-testid="not-fitted"' in section
    assert "<code>patron recommend fit</code>" in section
    assert 'data-placeholder="recommendations"' not in html  # the section took its place


def test_the_section_shows_each_kind_with_price_partner_and_reason(
    analyst: TestClient, fitted: PastaShop
) -> None:
    section = _section(_page(analyst, "/customers/ANNA"))
    cross = _rows(_kind(section, "cross"))
    assert 'data-reason="bought_together"' in cross["SAUCE-1"]
    sauce = _text(cross["SAUCE-1"])
    assert "Tomato sauce" in sauce
    assert "€3.50" in sauce
    assert re.search(r"Bought together with Spaghetti by \d+% of its buyers", sauce)
    assert len(cross) <= 5

    up = _rows(_kind(section, "up"))
    assert "A premium alternative to Spaghetti (€3.20 instead of €2.50)" in _text(up["PASTA-2"])

    partner = _rows(_kind(section, "partner"))
    assert set(partner) <= {"WINE-1", "CHEESE-1"}
    assert "from Vino GmbH" in _text(partner["WINE-1"])

    assert "No product is blocked for this customer." in section
    assert 'data-testid="fitted-at"' in section
    assert 'href="/recommendations"' in section  # the analyst reads analytics
    # The analyst may not block.
    assert "block-form" not in section
    assert 'data-testid="block-form"' not in section


def test_a_customer_with_nothing_to_offer_is_told_so(
    analyst: TestClient, fitted: PastaShop
) -> None:
    section = _section(_page(analyst, "/customers/NEWBIE"))
    assert 'data-testid="nothing"' in _kind(section, "up")  # nothing bought, nothing to upgrade
    assert "Nothing to recommend" in _kind(section, "up")


# --- blocking from the 360 ------------------------------------------------------------------


def _block_form(section: str, sku: str) -> str:
    row = _rows(_kind(section, "cross"))[sku]
    assert 'class="block-form"' in row
    return make.csrf_token(row)


def test_a_product_is_blocked_and_unblocked_from_the_360(
    agent: TestClient, sessions: sessionmaker[Session], fitted: PastaShop
) -> None:
    anna = fitted.customers["ANNA"]
    section = _section(_page(agent, "/customers/ANNA"))
    assert 'href="/recommendations"' not in section  # an agent does not read analytics
    token = _block_form(section, "SAUCE-1")
    action = f"/recommendations/customers/{anna}/block"
    response = agent.post(
        action,
        data={"csrf_token": token, "sku": "SAUCE-1", "reason": " allergic "},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/customers/ANNA?blocked=SAUCE-1#recommendations"
    assert _blocked(sessions) == [(anna, "allergic", "agent@example.com")]

    section = _section(_page(agent, response.headers["location"].split("#")[0]))
    notice = _text(re.search(r'data-testid="recommend-notice"(.*?)</p>', section, re.S)[1])
    assert "Tomato sauce is no longer offered to this customer." in notice
    assert "SAUCE-1" not in _rows(_kind(section, "cross"))
    blocked = re.search(r'<tr data-blocked="SAUCE-1">(.*?)</tr>', section, re.S)
    assert blocked is not None
    assert "allergic" in blocked[1]
    assert "by agent@example.com" in _text(blocked[1])
    # Only hers: Ben is still offered the sauce.
    assert "SAUCE-1" in _rows(_kind(_section(_page(agent, "/customers/BEN")), "cross"))

    again = agent.post(action, data={"csrf_token": token, "sku": "SAUCE-1"})
    alert = re.search(r'data-testid="recommend-error"(.*?)</p>', again.text, re.S)
    assert alert is not None
    assert 'data-error-code="recommend.already_blocked"' in alert[1]
    assert "SAUCE-1 is already blocked for this customer." in _text(alert[1])

    unblock = f"/recommendations/customers/{anna}/unblock"
    done = agent.post(unblock, data={"csrf_token": token, "sku": "SAUCE-1"}, follow_redirects=False)
    assert done.headers["location"] == "/customers/ANNA?unblocked=SAUCE-1#recommendations"
    assert _blocked(sessions) == []
    section = _section(_page(agent, done.headers["location"].split("#")[0]))
    assert "Tomato sauce may be offered to this customer again." in _text(section)
    assert "SAUCE-1" in _rows(_kind(section, "cross"))


@pytest.mark.parametrize(
    ("sku", "code"),
    [("", "recommend.no_sku"), ("  ", "recommend.no_sku"), ("NO-SUCH", "products.not_found")],
)
def test_a_refused_block_changes_nothing_and_says_why(
    agent: TestClient, sessions: sessionmaker[Session], fitted: PastaShop, sku: str, code: str
) -> None:
    token = make.csrf_token(_page(agent, "/customers/ANNA"))
    action = f"/recommendations/customers/{fitted.customers['ANNA']}/block"
    response = agent.post(action, data={"csrf_token": token, "sku": sku})
    assert response.status_code == 200
    assert f'data-error-code="{code}"' in _section(response.text)
    assert _blocked(sessions) == []


def test_the_general_form_blocks_a_product_not_on_offer(
    agent: TestClient, sessions: sessionmaker[Session], fitted: PastaShop
) -> None:
    html = _page(agent, "/customers/BEN")
    form = re.search(r'data-testid="block-form">(.*?)</form>', html, re.S)
    assert form is not None
    action = f"/recommendations/customers/{fitted.customers['BEN']}/block"
    data = {"csrf_token": make.csrf_token(form[1]), "sku": "CHEESE-1", "reason": ""}
    agent.post(action, data=data)
    assert _blocked(sessions) == [(fitted.customers["BEN"], None, "agent@example.com")]


def test_blocking_needs_customers_write_and_the_forms_token(
    app: FastAPI,
    sessions: sessionmaker[Session],
    agent: TestClient,
    analyst: TestClient,
    fitted: PastaShop,
) -> None:
    action = f"/recommendations/customers/{fitted.customers['ANNA']}/block"
    forged = agent.post(action, data={"csrf_token": "forged", "sku": "SAUCE-1"})
    assert forged.status_code == 403
    assert 'data-error-code="auth.csrf"' in forged.text
    token = make.csrf_token(_page(analyst, "/overview"))
    for path in (action, action.replace("/block", "/unblock")):
        refused = analyst.post(path, data={"csrf_token": token, "sku": "SAUCE-1"})
        assert refused.status_code == 403
        assert 'data-error-code="auth.forbidden"' in refused.text
    assert _blocked(sessions) == []


@pytest.mark.parametrize("customer", ["999999", "99999999999999999999"])
def test_blocking_for_an_unknown_customer_is_the_404_page(
    agent: TestClient, fitted: PastaShop, customer: str
) -> None:
    token = make.csrf_token(_page(agent, "/customers/ANNA"))
    response = agent.post(
        f"/recommendations/customers/{customer}/block", data={"csrf_token": token, "sku": "JAM-1"}
    )
    assert response.status_code == 404
    assert 'data-error-code="customers.not_found"' in response.text


# --- the fit's page -------------------------------------------------------------------------


def test_the_fit_page_shows_when_counts_rules_and_weights(
    analyst: TestClient, fitted: PastaShop
) -> None:
    html = _page(analyst, "/recommendations")
    assert 'data-testid="fitted"' in html
    assert re.search(r'data-figure="customers">.*?<div class="value">62</div>', html, re.S)
    assert re.search(r'data-figure="baskets">.*?<div class="value">122</div>', html, re.S)
    assert re.search(r'data-setting="per_category">3<', html)
    weights = re.findall(r'<tr data-feature="([^"]+)">', html)
    assert "association" in weights
    assert "Bought together with the customer’s products" in html


def test_the_fit_page_before_a_fit_and_who_may_see_it(
    agent: TestClient, analyst: TestClient, shop: PastaShop
) -> None:
    assert 'data-testid="not-fitted"' in _page(analyst, "/recommendations")
    assert 'href="/recommendations"' in _page(analyst, "/overview")  # in the navigation
    refused = agent.get("/recommendations")
    assert refused.status_code == 403
    assert 'href="/recommendations"' not in _page(agent, "/overview")


# --- in German ------------------------------------------------------------------------------


def test_in_german_the_reasons_are_worded_in_german(
    app: FastAPI, sessions: sessionmaker[Session], fitted: PastaShop
) -> None:
    with make.browser(app, sessions, "account_manager", language="de") as browser:
        section = _section(_page(browser, "/customers/ANNA"))
        fit_page = _page(browser, "/recommendations")
    text = _text(section)
    assert "Empfehlungen" in text
    assert "Cross-Selling" in text
    assert "Partnerangebote" in text
    sauce = _text(_rows(_kind(section, "cross"))["SAUCE-1"])
    assert re.search(r"Von \d+\xa0% der Käufer von Spaghetti zusammen damit gekauft", sauce)
    assert "3,50\xa0€" in sauce
    premium = _text(_rows(_kind(section, "up"))["PASTA-2"])
    assert "Eine Premium-Alternative zu Spaghetti (3,20\xa0€ statt 2,50\xa0€)" in premium
    assert "von Vino GmbH" in _text(_rows(_kind(section, "partner"))["WINE-1"])
    for english in ("Bought together", "premium alternative", "Selling well", "Bought again"):
        assert english not in text
    assert "Ein Produkt sperren" in text
    assert "Was zählt" in fit_page


def test_the_language_follows_the_browser_too(app: FastAPI, fitted: PastaShop) -> None:
    with app.state.sessions() as session:
        email = make.user(session, "analyst").email
    with TestClient(app, headers=HTML | {"Accept-Language": "de-DE,de;q=0.9"}) as browser:
        make.sign_in(browser, email)
        section = _section(_page(browser, "/customers/ANNA"))
    assert "zusammen damit gekauft" in _text(section)


def test_each_row_blocks_once_even_if_sent_twice(
    agent: TestClient, sessions: sessionmaker[Session], fitted: PastaShop
) -> None:
    token = _block_form(_section(_page(agent, "/customers/ANNA")), "SAUCE-1")
    action = f"/recommendations/customers/{fitted.customers['ANNA']}/block"
    for _ in range(2):
        agent.post(action, data={"csrf_token": token, "sku": "SAUCE-1"})
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RecommendationBlock)) == 1


# --- every reason in both languages ---------------------------------------------------------

REASONS = {
    "bought_together": why.bought_together("Spaghetti", "PASTA-1", 0.38),
    "same_creator": why.same_creator("Emma", "BOOK-1", "Jane Austen"),
    "new_from_brand": why.new_alike("new_from_brand", "Cat Snacks", "CAT-1", "Purrfect"),
    "new_in_category": why.new_alike("new_in_category", "Cat Snacks", "CAT-1", "Cat food"),
    "reorder_due": why.reorder_due(30, 41),
    "premium_alternative": why.premium_alternative("Spaghetti", "PASTA-1", 3.2, 2.5),
    "popular_now": why.popular_now(120),
    "bought_by": why.bought_by(12),
    "from_partner": why.from_partner("Vino GmbH"),
    "new_product": why.Reason("new_product", "New in the range", {}),
}


def _worded(app: FastAPI, language: str, reason: why.Reason) -> str:
    env = app.state.pages.environments[language]
    macro = env.from_string('{% from "recommend/_reasons.html" import reason %}{{ reason(item) }}')
    item = SimpleNamespace(reason=reason)
    return " ".join(macro.render(item=item).split())


def test_every_reason_the_recommender_gives_is_worded_in_each_language(app: FastAPI) -> None:
    documented = set(re.findall(r"``([a-z_]+)``", why.__doc__ or ""))
    assert documented == set(REASONS)  # a new reason needs its wording in _reasons.html
    fallback = {language: _worded(app, language, why.NONE) for language in ("en", "de")}
    for code, reason in REASONS.items():
        assert reason.code == code
        english, german = _worded(app, "en", reason), _worded(app, "de", reason)
        assert english not in (fallback["en"], ""), code
        assert german not in (fallback["de"], english), code
        assert "%(" not in english + german, code
