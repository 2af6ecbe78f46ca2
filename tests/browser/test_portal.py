"""The customer portal in real headless Chromium on a phone (390×844, touch): sign in by the
e-mailed link, see points and tier progress, redeem a reward, pause a subscription, withdraw
e-mail consent and download my data — with no sideways scrolling, tap targets of at least
40 px and no console error on any page.

Every step leaves a screenshot in test-artefacts/browser/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from sqlalchemy import select

from patron.config import Settings, load_settings
from patron.customers.models import Customer, Product
from patron.customers.service import consent_state
from patron.db import session_factory, utcnow
from patron.engage import consent
from patron.engage.models import Message
from patron.loyalty import service as loyalty
from patron.loyalty import setup
from patron.loyalty.programme import read_spec
from patron.loyalty.schemas import PurchaseIn, PurchaseLineIn
from patron.subscriptions import service as subscriptions
from patron.subscriptions.models import Subscription
from patron.subscriptions.schemas import SubscriptionCreate

from .conftest import ARTEFACTS, TIMEOUT_MS, Console, LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (locally) or fails (in CI) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.xdist_group("browser")

PHONE = {"width": 390, "height": 844}
EMAIL = "petra.portal@example.com"
PROGRAMME = Path(__file__).resolve().parents[2] / "src" / "patron" / "demo" / "programme.yaml"
# Everything a thumb taps: visible links, buttons, fields and the <details> summaries.
SMALL_TARGETS = """() => [...document.querySelectorAll(
    'a, button, select, textarea, summary, label.check,'
    + ' input:not([type=hidden]):not([type=checkbox])'
  )].filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
   .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
   .filter(([, height]) => height < 40)"""


@dataclass(frozen=True)
class Member:
    customer_id: int
    subscription: str


def _settings(live_server: LiveServer) -> Settings:
    return load_settings(
        database_url=str(live_server.engine.url),
        environment="test",
        public_url=live_server.base_url,
    )


@pytest.fixture(scope="module")
def member(live_server: LiveServer) -> Member:
    """Petra, a new customer of the demo shop: 700 € bought a month ago (800 points with the
    first-purchase bonus: Silver, 700 short of Gold), a monthly subscription, and e-mail
    marketing allowed."""
    now = utcnow()
    settings = _settings(live_server)
    with session_factory(live_server.engine)() as session:
        petra = Customer(external_id="PETRA", name="Petra Portal", email=EMAIL, language="en")
        session.add(petra)
        session.commit()
        sku = session.scalars(select(Product.sku).order_by(Product.id).limit(1)).one()
        document = yaml.safe_load(PROGRAMME.read_text(encoding="utf-8"))["programme"]
        setup.set_up(session, spec=read_spec(document), actor="test", now=now)
        loyalty.record_purchase(
            session,
            programme_code="club",
            key="portal-browser-1",
            purchase=PurchaseIn(
                customer="PETRA",
                order="PORTAL-1",
                currency="EUR",
                lines=[PurchaseLineIn(amount=Decimal("700.00"), category="Kitchen")],
            ),
            actor="test",
            now=now - timedelta(days=30),
        )
        made = subscriptions.create(
            session,
            SubscriptionCreate.model_validate(
                {
                    "customer": "PETRA",
                    "items": [{"sku": sku, "quantity": 1}],
                    "interval": {"unit": "month", "count": 1},
                    "first_due": (now + timedelta(days=5)).date().isoformat(),
                }
            ),
            settings=settings,
            actor="test",
            now=now,
        )
        consent.record_consent(
            session,
            customer_id=petra.id,
            channel="email",
            purpose="marketing",
            granted=True,
            source="test",
            now=now,
        )
        return Member(petra.id, made.key)


def _check_phone_layout(page: Page, name: str) -> None:
    """No sideways scrolling, nothing too small to tap; and a screenshot."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{name} scrolls sideways on a phone: {width}"
    small: list[Any] = page.evaluate(SMALL_TARGETS)
    assert small == [], f"{name}: too small to tap: {small}"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"portal-{name}.png"), full_page=True)


def test_a_customer_uses_the_portal_on_a_phone(
    browser: Browser, live_server: LiveServer, member: Member
) -> None:
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="en-GB",
        accept_downloads=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    console = Console()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    try:
        _sign_in_by_the_emailed_link(page, live_server, member)
        _see_points_and_tier_progress(page)
        _redeem_a_reward(page)
        _pause_the_subscription(page, live_server, member)
        _withdraw_email_consent(page, live_server, member)
        _download_my_data(page, member)
        assert console.problems() == []
    finally:
        context.close()


def _sign_in_by_the_emailed_link(page: Page, live_server: LiveServer, member: Member) -> None:
    page.goto(live_server.url("/portal"))
    expect(page.locator("body[data-page=sign-in]")).to_be_visible()  # sent to sign in
    _check_phone_layout(page, "01-sign-in")
    page.locator("input[name=email]").fill(EMAIL)
    with page.expect_navigation():
        page.locator("form[action='/portal/sign-in'] button[type=submit]").tap()
    expect(page.locator("body[data-page=link-sent]")).to_be_visible()
    with session_factory(live_server.engine)() as session:
        mail = session.scalars(
            select(Message.html).where(
                Message.customer_id == member.customer_id,
                Message.template_key == "portal_sign_in",
            )
        ).one()
    link = re.search(r'href="([^"]+/portal/sign-in/[^"]+)"', mail)
    assert link, "the e-mail carries no sign-in link"
    assert link[1].startswith(live_server.base_url)
    page.goto(link[1])
    expect(page.locator("body[data-page=link-valid]")).to_be_visible()
    _check_phone_layout(page, "02-link")
    with page.expect_navigation():
        page.locator("body[data-page=link-valid] button[type=submit]").tap()
    expect(page.locator("body[data-page=home]")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["patron_portal"]["httpOnly"]
    assert cookies["patron_portal"]["path"] == "/portal"


def _see_points_and_tier_progress(page: Page) -> None:
    expect(page.locator("[data-points]")).to_have_attribute("data-points", "800")
    expect(page.locator("[data-tier]")).to_have_attribute("data-tier", "silver")
    bar = page.locator("[data-tier] .bar")
    expect(bar).to_have_attribute("data-progress", "30")
    expect(page.locator("[data-missing]")).to_contain_text("700 points more to reach Gold")
    fill = bar.locator("span").bounding_box()
    whole = bar.bounding_box()
    assert fill
    assert whole
    assert 0.25 < fill["width"] / whole["width"] < 0.35
    page.locator("[data-tier] summary").tap()  # how the tiers work
    expect(page.locator("[data-tier-rules]")).to_contain_text("Gold: from 1,500 points")
    _check_phone_layout(page, "03-home")


def _redeem_a_reward(page: Page) -> None:
    with page.expect_navigation():
        page.locator("nav.tabs a[href='/portal/rewards']").tap()
    offer = page.locator("[data-reward=voucher-5]")
    expect(offer).to_be_visible()
    _check_phone_layout(page, "04-rewards")
    with page.expect_navigation():
        offer.locator("button[type=submit]").tap()
    expect(page.locator("[data-done=redeemed]")).to_be_visible()
    expect(page.locator("[data-voucher]")).to_have_count(1)
    _check_phone_layout(page, "05-redeemed")
    with page.expect_navigation():
        page.locator("nav.tabs a[href='/portal']").tap()
    expect(page.locator("[data-points]")).to_have_attribute("data-points", "300")


def _pause_the_subscription(page: Page, live_server: LiveServer, member: Member) -> None:
    with page.expect_navigation():
        page.locator("nav.tabs a[href='/portal/subscriptions']").tap()
    card = page.locator(f"[data-subscription='{member.subscription}']")
    expect(card).to_have_attribute("data-status", "active")
    card.locator("details summary", has_text="Pause").tap()
    until = (utcnow() + timedelta(days=21)).date()
    card.locator("input[name=until]").fill(until.isoformat())
    _check_phone_layout(page, "06-subscription")
    with page.expect_navigation():
        card.locator("form[action$='/pause'] button[type=submit]").tap()
    expect(page.locator("[data-done=paused]")).to_be_visible()
    expect(card).to_have_attribute("data-status", "paused")
    expect(card.locator("[data-paused-until]")).to_have_attribute(
        "data-paused-until", until.isoformat()
    )
    _check_phone_layout(page, "07-paused")
    with session_factory(live_server.engine)() as session:
        row = session.scalars(
            select(Subscription).where(Subscription.key == member.subscription)
        ).one()
        assert (row.status, row.paused_until) == ("paused", until)


def _withdraw_email_consent(page: Page, live_server: LiveServer, member: Member) -> None:
    with page.expect_navigation():
        page.locator("nav.tabs a[href='/portal/data']").tap()
    email = page.locator("[data-consent=email]")
    expect(email).to_have_attribute("data-granted", "yes")
    _check_phone_layout(page, "08-data")
    with page.expect_navigation():
        email.locator("button[type=submit]").tap()
    expect(page.locator("[data-done=consent]")).to_be_visible()
    expect(email).to_have_attribute("data-granted", "no")
    with session_factory(live_server.engine)() as session:
        state = {
            (s.channel, s.purpose): (s.granted, s.source)
            for s in consent_state(session, customer_id=member.customer_id)
        }
    assert state[("email", "marketing")] == (False, "portal")


def _download_my_data(page: Page, member: Member) -> None:
    with page.expect_download() as caught:
        page.locator("[data-export]").tap()
    download = caught.value
    assert download.suggested_filename.startswith("my-data-")
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert data["format"] == "patron-person-export"
    assert data["customer"]["email"] == EMAIL
    assert {"subscriptions", "loyalty_accounts", "consents"} <= set(data["tables"])
    keys = [row.get("key") for row in data["tables"]["subscriptions"]]
    assert member.subscription in keys
