"""The portal's pages through the whole app (SQLite and PostgreSQL): points, tier progress,
rewards, subscriptions, cases and surveys, consents, the data download and the erasure request,
in German, English and Norwegian."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.config import Settings
from patron.customers.models import Consent
from patron.portal.texts import LANGUAGES, TEXTS
from patron.privacy.models import ErasureRequest
from patron.subscriptions.models import Subscription, SubscriptionChange
from portal.conftest import Shop, form_token, sign_in

PAGES = (
    "/portal",
    "/portal/points",
    "/portal/rewards",
    "/portal/subscriptions",
    "/portal/service",
    "/portal/data",
)


def test_every_language_has_every_text() -> None:
    assert set(LANGUAGES) == {"de", "en", "nb"}
    for language in LANGUAGES:
        assert set(TEXTS[language]) == set(TEXTS["en"]), language


@pytest.mark.parametrize("language", ["de", "en", "nb"])
def test_every_page_renders_in_each_language(
    phone: TestClient,
    sessions: sessionmaker[Session],
    settings: Settings,
    shop: Shop,
    language: str,
) -> None:
    sign_in(phone, sessions, settings, "ben@example.org")  # Ben has no language of his own
    for path in PAGES:
        page = phone.get(f"{path}?lang={language}")
        assert page.status_code == 200, path
        assert f'<html lang="{language}">' in page.text, path
        assert TEXTS[language]["nav_data"] in html.unescape(page.text), path
        assert "--brand: #0a5c36" in page.text  # the shop's colours
        assert "Fjord &amp; Co" in page.text
    # the choice is kept for the next page
    assert f'<html lang="{language}">' in phone.get("/portal").text


def test_the_customers_own_language_wins(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "anna@example.org")
    page = phone.get("/portal?lang=nb")
    assert '<html lang="de">' in page.text
    assert "Hallo Anna" in page.text


def test_home_shows_points_expiry_tier_and_progress(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "anna@example.org")
    page = html.unescape(phone.get("/portal?lang=en").text)
    # 700 € earn 700 points and the first-purchase bonus 100: Silver (500), Gold at 1,500
    assert 'data-points="800"' in page
    assert 'data-tier="silver"' in page
    assert 'data-progress="30"' in page  # (800 - 500) / (1500 - 500)
    assert "Noch 700 Punkte bis Gold" in page  # Anna reads German
    assert "Gold: ab 1.500 Punkte" in page  # every tier's rule is shown
    assert "Free shipping" in page  # her benefits


def test_the_statement_lists_the_ledger(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "ben@example.org")
    assert "You are not collecting points yet" in phone.get("/portal/points").text
    phone.cookies.clear()
    sign_in(phone, sessions, settings, "anna@example.org")
    page = phone.get("/portal/points").text
    assert page.count('data-entry="earn"') >= 1
    assert "+800" in page or "+700" in page


def test_a_reward_is_redeemed_once_however_often_the_form_is_sent(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "anna@example.org")
    page = phone.get("/portal/rewards").text
    assert 'data-reward="voucher-5"' in page  # 500 points, she has 800
    assert 'data-reward="voucher-15"' not in page  # 1,400
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key
    form = {
        "csrf_token": form_token(page),
        "programme": "club",
        "reward": "voucher-5",
        "key": key[1],
    }
    first = phone.post("/portal/rewards/redeem", data=form, follow_redirects=False)
    assert first.status_code == 303
    again = phone.post("/portal/rewards/redeem", data=form, follow_redirects=False)
    assert again.status_code == 303  # a replay: nothing booked twice
    after = phone.get("/portal").text
    assert 'data-points="300"' in after
    rewards = phone.get("/portal/rewards?done=redeemed").text
    assert "data-voucher=" in rewards
    assert 'data-done="redeemed"' in rewards


def test_pause_skip_interval_and_cancel_a_subscription(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "ben@example.org")
    key = shop.ben_subscription
    page = phone.get("/portal/subscriptions").text
    token = form_token(page)
    assert f'data-subscription="{key}"' in page
    with sessions() as session:
        before = session.scalars(select(Subscription).where(Subscription.key == key)).one()
        next_due = before.next_due
    skip = phone.post(f"/portal/subscriptions/{key}/skip", data={"csrf_token": token})
    assert skip.status_code == 200
    assert 'data-done="skipped"' in skip.text
    interval = phone.post(
        f"/portal/subscriptions/{key}/interval",
        data={"csrf_token": token, "count": "2", "unit": "month"},
    )
    assert 'data-done="interval"' in interval.text
    assert "Every 2 months" in interval.text
    pause = phone.post(f"/portal/subscriptions/{key}/pause", data={"csrf_token": token})
    assert 'data-status="paused"' in pause.text
    resume = phone.post(f"/portal/subscriptions/{key}/resume", data={"csrf_token": token})
    assert 'data-status="active"' in resume.text
    terms = phone.get(f"/portal/subscriptions/{key}/cancel").text
    earliest = re.search(r'data-earliest-end="([^"]+)"', terms)
    assert earliest
    assert 'data-notice-deadline="' in terms
    cancel = phone.post(
        f"/portal/subscriptions/{key}/cancel",
        data={"csrf_token": token, "reason": "too_expensive", "note": ""},
    )
    assert 'data-done="cancelled"' in cancel.text
    with sessions() as session:
        row = session.scalars(select(Subscription).where(Subscription.key == key)).one()
        kinds = session.scalars(
            select(SubscriptionChange.kind)
            .where(
                SubscriptionChange.subscription_id == row.id, SubscriptionChange.actor == "portal"
            )
            .order_by(SubscriptionChange.id)
        ).all()
    assert row.status == "cancelled"
    assert row.ends_on is not None
    assert row.ends_on.isoformat() == earliest[1]
    assert row.cancel_reason == "too_expensive"
    assert next_due is not None
    assert list(kinds) == ["skipped", "interval_changed", "paused", "resumed", "cancelled"]


def test_another_customers_subscription_is_refused(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "ben@example.org")
    token = form_token(phone.get("/portal/subscriptions").text)
    with sessions() as session:
        before = session.scalars(
            select(Subscription).where(Subscription.key == shop.anna_subscription)
        ).one()
        state = (before.status, before.next_due, before.paused_until)
    for action in ("pause", "skip", "resume", "interval", "cancel"):
        refused = phone.post(
            f"/portal/subscriptions/{shop.anna_subscription}/{action}",
            data={"csrf_token": token, "reason": "other", "count": "1", "unit": "week"},
        )
        assert refused.status_code == 404, action
    assert phone.get(f"/portal/subscriptions/{shop.anna_subscription}/cancel").status_code == 404
    with sessions() as session:
        after = session.scalars(
            select(Subscription).where(Subscription.key == shop.anna_subscription)
        ).one()
        assert (after.status, after.next_due, after.paused_until) == state


def test_a_refused_change_says_why_and_changes_nothing(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "ben@example.org")
    key = shop.ben_subscription
    token = form_token(phone.get("/portal/subscriptions").text)
    far = phone.post(
        f"/portal/subscriptions/{key}/pause", data={"csrf_token": token, "until": "2099-01-01"}
    )
    assert far.status_code == 409
    assert "data-problem" in far.text
    assert "183 days" in far.text
    bad = phone.post(
        f"/portal/subscriptions/{key}/interval",
        data={"csrf_token": token, "count": "x", "unit": "month"},
    )
    assert bad.status_code == 409
    assert 'data-status="active"' in bad.text


def test_consent_is_withdrawn_and_given_from_the_portal(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "ben@example.org")
    page = phone.get("/portal/data").text
    assert 'data-consent="email" data-granted="no"' in page
    token = form_token(page)
    given = phone.post("/portal/data/consents/email", data={"csrf_token": token, "granted": "1"})
    assert 'data-consent="email" data-granted="yes"' in given.text
    withdrawn = phone.post(
        "/portal/data/consents/email", data={"csrf_token": token, "granted": "0"}
    )
    assert 'data-consent="email" data-granted="no"' in withdrawn.text
    assert (
        phone.post(
            "/portal/data/consents/fax", data={"csrf_token": token, "granted": "1"}
        ).status_code
        == 400
    )
    with sessions() as session:
        events = session.execute(
            select(Consent.channel, Consent.purpose, Consent.granted, Consent.source)
            .where(Consent.customer_id == shop.ben)
            .order_by(Consent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("email", "marketing", True, "portal"),
        ("email", "marketing", False, "portal"),
    ]


def test_the_download_is_json_with_the_persons_tables(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "anna@example.org")
    download = phone.get("/portal/data/export")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"].startswith('attachment; filename="my-data-')
    data = json.loads(download.content)
    assert data["format"] == "patron-person-export"
    assert data["customer"]["email"] == "anna@example.org"
    tables = data["tables"]
    assert {"subscriptions", "subscription_items", "loyalty_accounts", "portal_sessions"} <= set(
        tables
    )
    assert "ben@example.org" not in download.text


def test_an_erasure_request_is_queued_for_staff(
    phone: TestClient, sessions: sessionmaker[Session], settings: Settings, shop: Shop
) -> None:
    sign_in(phone, sessions, settings, "anna@example.org")
    token = form_token(phone.get("/portal/data").text)
    unconfirmed = phone.post("/portal/data/erasure", data={"csrf_token": token})
    assert unconfirmed.status_code == 422
    done = phone.post("/portal/data/erasure", data={"csrf_token": token, "confirm": "yes"})
    assert 'data-erasure="requested"' in done.text
    again = phone.post("/portal/data/erasure", data={"csrf_token": token, "confirm": "yes"})
    assert again.status_code == 200
    with sessions() as session:
        rows = session.execute(
            select(ErasureRequest.customer_id, ErasureRequest.source, ErasureRequest.status)
        ).all()
    assert [tuple(r) for r in rows] == [(shop.anna, "portal", "requested")]
