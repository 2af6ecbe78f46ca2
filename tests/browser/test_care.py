"""A service agent's case, in real headless Chromium: open it from the queue, reply, resolve;
then the customer answers the CSAT survey from the e-mail's link on a phone-sized screen.

Every step leaves a screenshot in test-artefacts/browser/.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from patron.care.models import Case, CaseEntry
from patron.db import session_factory
from patron.engage.models import Message

from .conftest import ARTEFACTS, TIMEOUT_MS, Console, LiveServer, Tab

if TYPE_CHECKING:
    from playwright.sync_api import Browser

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (locally) or fails (in CI) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.xdist_group("browser")

PHONE = {"width": 390, "height": 844}
REPLY = "We are sorry: two new cups are on their way to you today."


def test_an_agent_replies_to_and_resolves_a_case_and_the_customer_rates_it_on_a_phone(
    tab: Tab, browser: Browser, live_server: LiveServer
) -> None:
    page, case_id = tab.page, live_server.case_id
    tab.open_as("agent", "/cases")
    row = page.locator(f"tr[data-case='{case_id}']")
    expect(row).to_have_attribute("data-status", "new")
    tab.shot("care-01-queue.png")
    with page.expect_navigation():
        row.locator(f"a[href='/cases/{case_id}']").first.click()
    head = page.locator(f".page-head[data-case='{case_id}']")
    expect(head).to_have_attribute("data-status", "new")

    page.fill("form[data-action=reply] textarea[name=body]", REPLY)
    with page.expect_navigation():
        page.click("form[data-action=reply] button[type=submit]")
    expect(page.locator("[data-entry-kind=reply]")).to_contain_text(REPLY)
    expect(head).to_have_attribute("data-status", "in_progress")
    tab.shot("care-02-replied.png")

    with page.expect_navigation():
        page.click("button[data-status=resolved]")
    expect(head).to_have_attribute("data-status", "resolved")
    tab.shot("care-03-resolved.png")
    assert tab.console.problems() == []

    with session_factory(live_server.engine)() as session:
        row_case = session.get(Case, case_id)
        assert row_case is not None
        assert row_case.first_response_at is not None
        replies = session.scalars(
            select(CaseEntry.body).where(CaseEntry.case_id == case_id, CaseEntry.kind == "reply")
        ).all()
        assert replies == [REPLY]
        mail = session.scalars(
            select(Message).where(
                Message.customer_id == row_case.customer_id, Message.template_key == "case_csat"
            )
        ).one()
        reply_mail = session.scalars(
            select(Message).where(
                Message.customer_id == row_case.customer_id, Message.template_key == "case_reply"
            )
        ).one()
    assert f"[Case #{case_id}]" in reply_mail.subject
    link = re.search(r'href="([^"]+/s/[^"?]+)', mail.html)
    assert link is not None, "the CSAT e-mail carries no survey link"
    survey = urlsplit(link.group(1))
    assert f"{survey.scheme}://{survey.netloc}" == live_server.base_url

    # The customer, on a phone: no sign-in, the link is the credential.
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="de-DE"
    )
    context.set_default_timeout(TIMEOUT_MS)
    phone = context.new_page()
    console = Console()
    phone.on("console", console.on_console)
    phone.on("pageerror", console.on_page_error)
    try:
        phone.goto(link.group(1))
        expect(phone.locator("[data-survey=csat]")).to_be_visible()
        width = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], "the answer page scrolls sideways on a phone"
        choice = phone.locator("label.choice", has=phone.locator("[data-score='4']"))
        box = choice.bounding_box()
        assert box is not None
        assert box["height"] >= 40, "a choice is too small to tap"
        choice.tap()
        expect(phone.locator("[data-score='4']")).to_be_checked()
        phone.fill("[data-comment]", "Schnell und freundlich, danke!")
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        phone.screenshot(path=str(ARTEFACTS / "care-04-csat-phone.png"), full_page=True)
        with phone.expect_navigation():
            phone.locator("[data-submit]").tap()
        expect(phone.locator("[data-survey]")).to_have_count(0)
        phone.screenshot(path=str(ARTEFACTS / "care-05-csat-thanks.png"), full_page=True)
        assert console.problems() == []
    finally:
        context.close()

    with session_factory(live_server.engine)() as session:
        answered = session.get(Case, case_id)
        assert answered is not None
        assert answered.csat_score == 4

    # The agent sees the customer's answer on the case.
    tab.goto(f"/cases/{case_id}")
    expect(page.locator("[data-testid=csat]")).to_contain_text("4")
