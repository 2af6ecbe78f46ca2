"""A user's journey through the pages in real headless Chromium (Debian's, driven by Playwright).

Sign in, see the overview's charts drawn, search customers in place, open a customer's 360,
switch to German, sign out; and a marketer is turned away from the administration pages.
Every step leaves a screenshot in test-artefacts/browser/.
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus

import pytest

from .conftest import PASSWORD, Tab

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (locally) or fails (in CI) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.xdist_group("browser")

# Chromium logs every 4xx/5xx response as a console error: expected where a test asks for one.
FAILED_LOAD = "Failed to load resource"


def _no_horizontal_scroll(tab: Tab) -> tuple[int, int]:
    return tab.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


def _charts_drawn(tab: Tab) -> int:
    """Waits until every chart of the page is drawn (an svg inside); returns how many there are."""
    charts = tab.page.locator("div.chart[data-chart]")
    expect(charts.first).to_be_attached()
    count = charts.count()
    expect(tab.page.locator("div.chart[data-chart][data-rendered=true] svg")).to_have_count(count)
    expect(tab.page.locator("[data-chart][data-rendered=error]")).to_have_count(0)
    return count


def test_sign_in_refuses_a_wrong_password_then_lands_on_the_overview(tab: Tab) -> None:
    page = tab.page
    tab.sign_in("marketer", password="not the password at all")
    expect(page.locator(".alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.locator("nav.mainnav")).to_have_count(0)
    expect(page.locator("input[name=email]")).to_have_value(tab.server.users["marketer"])
    tab.shot("01-sign-in.png")

    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/sign-in'] button[type=submit]")
    expect(page).to_have_url(tab.server.url("/overview"))
    expect(page.locator("nav.mainnav a[href='/customers']")).to_be_visible()
    expect(page.locator("[data-testid=sign-out]")).to_be_visible()
    assert tab.console.problems(allow=(FAILED_LOAD,)) == []


def test_overview_draws_every_chart_without_console_errors(tab: Tab) -> None:
    page = tab.page
    tab.open_as("marketer", "/overview")
    count = _charts_drawn(tab)
    assert count >= 1
    page.wait_for_load_state("networkidle")
    tab.shot("02-overview.png")
    assert tab.console.problems() == []


@pytest.mark.parametrize("width", [1366, 1024])
def test_overview_fits_the_window_without_horizontal_scrolling(tab: Tab, width: int) -> None:
    page = tab.page
    page.set_viewport_size({"width": width, "height": 768})
    tab.open_as("marketer", "/overview")
    _charts_drawn(tab)
    scroll_width, inner_width = _no_horizontal_scroll(tab)
    assert scroll_width <= inner_width, f"the overview scrolls sideways at {width}px"
    if width != 1366:
        tab.shot(f"02-overview-{width}.png")


def test_search_updates_the_results_in_place(tab: Tab) -> None:
    page = tab.page
    customer = tab.server.customer
    term = customer.term
    tab.open_as("marketer", "/customers")
    results = page.locator("#results")
    expect(results).to_be_visible()
    rows = results.locator("tr[data-customer-key]")
    expect(rows.first).to_be_visible()

    # A full navigation would drop this marker and fire another load event.
    page.evaluate("() => { window.__patronMarker = 'kept'; }")
    loads: list[str] = []
    page.on("load", lambda _page: loads.append(page.url))
    page.locator("input[name=search]").press_sequentially(term, delay=30)

    expect(page).to_have_url(re.compile(r"[?&]search=" + re.escape(quote_plus(term)) + r"(&|$)"))
    expect(results.locator(f"tr[data-customer-key='{customer.key}']")).to_be_visible()
    expect(results).not_to_have_class(re.compile(r"\bbusy\b"))
    shown = {row.get_attribute("data-customer-key") for row in rows.all()}
    assert shown, "the search found nobody"
    assert shown <= customer.matches, f"rows that do not match {term!r}: {shown - customer.matches}"
    assert page.evaluate("() => window.__patronMarker") == "kept"
    assert loads == [], f"searching reloaded the page: {loads}"
    tab.shot("03-search.png")
    assert tab.console.problems() == []


def test_a_search_result_opens_the_customer_360(tab: Tab) -> None:
    page = tab.page
    customer = tab.server.customer
    tab.open_as("marketer", f"/customers?search={quote_plus(customer.term)}")
    row = page.locator(f"#results tr[data-customer-key='{customer.key}']")
    with page.expect_navigation():
        row.locator("a").first.click()
    expect(page).to_have_url(re.compile(rf"/customers/{re.escape(customer.key)}$"))
    expect(page.locator("h1")).to_have_text(customer.name)
    expect(page.locator("[data-placeholder]").first).to_be_visible()
    tab.shot("04-customer-360.png")
    assert tab.console.problems() == []


def test_the_analytics_page_draws_every_chart_and_links_to_the_360(tab: Tab) -> None:
    page = tab.page
    tab.open_as("marketer", "/analytics")
    assert _charts_drawn(tab) >= 7
    page.wait_for_load_state("networkidle")
    width, window = _no_horizontal_scroll(tab)
    assert width <= window
    tab.shot("05-analytics.png")
    assert tab.console.problems() == []
    # the top customer by CLV opens their 360, which explains their scores in words
    link = page.locator("a[href^='/customers/']").first
    with page.expect_navigation():
        link.click()
    scores = page.locator("[data-section=scores]")
    expect(scores).to_be_visible()
    expect(scores.locator("tr[data-score]").first).to_be_visible()
    expect(scores).to_contain_text("P(alive)")
    tab.shot("06-customer-scores.png")
    assert tab.console.problems() == []


def test_german_is_kept_in_the_profile(tab: Tab) -> None:
    page = tab.page
    tab.open_as("german", "/overview")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with page.expect_navigation():
        page.click("[data-testid=language-de]")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page).to_have_url(tab.server.url("/overview"))
    expect(page.locator("[data-testid=language-de]")).to_have_attribute("aria-pressed", "true")
    _charts_drawn(tab)
    tab.shot("05-german.png")
    expect(page.locator("nav.mainnav a[href='/customers']")).to_have_text("Kunden")

    # The choice lives in the profile, not the page: another page (and a reload) stays German.
    tab.goto("/customers")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Kunden")
    assert tab.console.problems() == []


def test_sign_out_ends_the_session(tab: Tab) -> None:
    page = tab.page
    tab.open_as("leaver", "/overview")
    cookies = page.context.cookies()
    with page.expect_navigation():
        page.click("[data-testid=sign-out]")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.locator(".notice")).to_be_visible()
    expect(page.locator("input[name=email]")).to_be_visible()
    expect(page.locator("nav.mainnav")).to_have_count(0)
    tab.shot("06-signed-out.png")

    tab.goto("/overview")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.locator("input[name=password]")).to_be_visible()

    # The session ended on the server too: its old cookie, sent again, no longer signs in.
    page.context.add_cookies(cookies)
    tab.goto("/overview")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.locator("nav.mainnav")).to_have_count(0)
    assert tab.console.problems() == []


def test_a_marketer_sees_the_friendly_403_on_user_administration(tab: Tab) -> None:
    page = tab.page
    tab.open_as("marketer", "/overview")
    response = tab.goto("/settings/users")
    assert response is not None
    assert response.status == 403
    expect(page.locator(".error-page")).to_be_visible()
    expect(page.locator(".error-page")).to_have_attribute("data-error-code", re.compile(r".+"))
    expect(page.locator("nav.mainnav")).to_be_visible()
    expect(page.locator("nav.mainnav a[href='/settings/users']")).to_have_count(0)
    tab.shot("07-forbidden.png")
    assert tab.console.problems(allow=(FAILED_LOAD,)) == []
