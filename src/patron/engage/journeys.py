"""The journeys Patron ships: what triggers each, whom it is for, its template and settings.

A journey is switched on per shop by creating a campaign from it (``campaigns.enable_journey``);
its trigger (``triggers.due``) then finds who is due, and the campaign's settings, the
defaults here overridden by the shop's, tune it.

Purpose decides who may get it: **marketing** needs the customer's consent on the channel and
leaves out the global control group; **transactional** is service communication about
something the customer did, and carries no offer. The line drawn here:

- ``thank_you``, ``loyalty_welcome``, ``tier_upgrade`` and ``complaint_follow_up`` are
  *transactional*: a personal note about the customer's own first order, membership, tier or
  complaint — and their templates hold no voucher, no recommendation, no advertising. A shop
  that adds an offer to one must make it marketing.
- ``feedback`` is *marketing*: asking for a rating by e-mail counts as advertising in German
  case law (BGH, 10 July 2018, VI ZR 225/17), so it waits for consent.
- Everything with an offer, a product or an invitation is marketing.

Pure: no database. Settings hold JSON values only (money as a string such as ``"10.00"``), as
they are stored with the campaign.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from patron.errors import PatronError

MARKETING = "marketing"
TRANSACTIONAL = "transactional"


class JourneyProblem(PatronError):
    """An unknown journey, or a setting a journey cannot run with."""

    code = "journey.invalid"
    status = 422


@dataclass(frozen=True)
class Journey:
    """A shipped journey. ``requires`` names context variables a message is pointless without
    (a cross-sell without recommendations): the campaign skips customers for whom they are
    empty. ``one_off`` journeys are sent once to a segment instead of being triggered.
    ``example`` is an occasion's variables as the trigger gives them, for previews and tests."""

    key: str
    name: str
    description: str
    purpose: str
    template: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    one_off: bool = False
    example: Mapping[str, Any] = field(default_factory=dict)


def _journey(key: str, name: str, description: str, purpose: str, **more: Any) -> Journey:
    settings = MappingProxyType(dict(more.pop("settings", {})))
    example = MappingProxyType(dict(EXAMPLES.get(key, {})))
    return Journey(key, name, description, purpose, key, settings, example=example, **more)


_ORDER = {"order": {"number": "10042", "date": date(2026, 3, 2)}}
_PRODUCT = {"name": "Espresso beans 1 kg", "sku": "ESP-1000", "price": Decimal("17.90")}
EXAMPLES: dict[str, dict[str, Any]] = {
    "thank_you": _ORDER,
    "loyalty_welcome": {"programme": "Patron Club"},
    "birthday": {"birthday": date(2026, 3, 2)},
    "tier_upgrade": {
        "new_tier": "Gold",
        "previous_tier": "Silver",
        "benefits": ["Free shipping", "Early access to new coffees"],
    },
    "cross_sell": _ORDER,
    "replenishment": {
        "product": _PRODUCT,
        "interval_days": 30,
        "expected_on": date(2026, 3, 5),
        "last_purchase_on": date(2026, 2, 3),
    },
    "price_drop": {
        "product": _PRODUCT | {"price": Decimal("14.90")},
        "old_price": Decimal("17.90"),
        "new_price": Decimal("14.90"),
        "saving": Decimal("3.00"),
        "saving_percent": 16,
    },
    "win_back": {"last_order": {"number": "9817", "date": date(2025, 6, 14)}, "days_since": 261},
    "feedback": _ORDER | {"survey_url": "https://shop.example/survey"},
    "complaint_follow_up": {"complaint": {"date": date(2026, 2, 27)}},
    "event_invitation": {},
    # care's service messages (patron.care): not journeys, but shipped and previewed alike
    "case_reply": {
        "case": {"id": 12, "subject": "Cup arrived broken"},
        "reply": ["We are sorry about the cup.", "A new one is on its way to you today."],
    },
    "case_csat": {
        "case": {"id": 12, "subject": "Cup arrived broken"},
        "survey_url": "https://shop.example/s/sample",
    },
    "survey_invitation": {"survey_url": "https://shop.example/s/sample", "survey_kind": "nps"},
    # the customer portal's one-time sign-in link (patron.portal.access)
    "portal_sign_in": {"sign_in_url": "https://shop.example/portal/sign-in/sample", "minutes": 20},
    # subscriptions' contract messages (patron.subscriptions.notices)
    "subscription_renewal": {
        "subscription": {"key": "S-000123"},
        "term_ends_on": date(2027, 2, 28),
        "next_term_ends_on": date(2028, 2, 29),
        "notice_deadline": date(2027, 1, 31),
        "can_still_cancel": True,
        "portal_url": "https://shop.example/portal",
    },
    "subscription_cancelled": {
        "subscription": {"key": "S-000123"},
        "ends_on": date(2027, 2, 28),
        "last_delivery": date(2027, 2, 15),
        "portal_url": "https://shop.example/portal",
    },
    # subscriptions' offer to a regular buyer (patron.subscriptions.offers), a one-off campaign
    "subscription_offer": {
        "offer": {
            "product": "Espresso beans 1 kg",
            "interval": "every 4 weeks",
            "discount": "10 %",
            "benefit": "free delivery",
            "url": "https://shop.example/subscribe",
        }
    },
}


JOURNEYS: dict[str, Journey] = {
    j.key: j
    for j in (
        _journey(
            "thank_you",
            "Thank you for the first order",
            "A personal thank-you right after a customer's first completed order; no offer.",
            TRANSACTIONAL,
        ),
        _journey(
            "loyalty_welcome",
            "Welcome to the loyalty programme",
            "Welcomes a new member of the loyalty programme with their tier and points.",
            TRANSACTIONAL,
        ),
        _journey(
            "birthday",
            "Birthday greeting",
            "Congratulates on the birthday (in the customer's time zone; 29 February on "
            "28 February in other years), with a voucher when voucher_value is set.",
            MARKETING,
            settings={"voucher_value": "10.00", "valid_days": 30, "programme": None},
        ),
        _journey(
            "tier_upgrade",
            "Congratulations on a higher tier",
            "Congratulates a member who moved up a tier and lists the new tier's benefits; "
            "a downgrade sends nothing.",
            TRANSACTIONAL,
        ),
        _journey(
            "cross_sell",
            "Recommended for you",
            "days_after a purchase, products that go with it (the customer's latest order only).",
            MARKETING,
            settings={"days_after": 3},
            requires=("recommended",),
        ),
        _journey(
            "replenishment",
            "Time to reorder",
            "Reminds a regular buyer days_before the expected next purchase of their regular "
            "product (analytics' subscription candidates) and offers a delivery subscription.",
            MARKETING,
            settings={"days_before": 3},
        ),
        _journey(
            "price_drop",
            "Price drop on a watched product",
            'A product the customer watches (interaction price_watch, payload {"price": '
            '"12.90"}) now costs less than when they started watching; watches older than '
            "watch_days, or followed by a purchase of the product, are left alone.",
            MARKETING,
            settings={"watch_days": 90},
        ),
        _journey(
            "win_back",
            "We miss you",
            "Once per lapse: the newest analytics says P(alive) is below p_alive_below; the "
            "most valuable customers first. A voucher only when voucher_value is set.",
            MARKETING,
            settings={"p_alive_below": 0.3, "voucher_value": None, "valid_days": 30},
        ),
        _journey(
            "feedback",
            "How was your purchase?",
            "Asks for a rating days_after an order (the customer's latest); with survey (a "
            "survey's key, e.g. nps) as a 0-10 recommendation question on a personal link "
            "whose answer is stored, with survey_url on a shared link, else as a request to "
            "reply.",
            MARKETING,
            settings={"days_after": 7, "survey_url": None, "survey": None},
        ),
        _journey(
            "complaint_follow_up",
            "Follow-up after a complaint",
            "Asks days_after a complaint whether it was solved: an interaction whose payload "
            'has {"topic": "complaint"} (not one marked "resolved": false). No offer.',
            TRANSACTIONAL,
            settings={"days_after": 3},
        ),
        _journey(
            "event_invitation",
            "Personal invitation to an event",
            "A personal invitation to an event or trade fair, sent once to a segment; contacts "
            "that went quiet come first, up to capacity.",
            MARKETING,
            settings={"event_name": "", "event_date": None, "event_place": "", "capacity": None},
            one_off=True,
        ),
    )
}

# Every shipped template: one per journey, a generic one for one-off newsletters, and care's
# service messages: a personal survey invitation, a reply to a case and the CSAT survey after it;
# and a subscription's renewal notice and cancellation confirmation.
SERVICE_TEMPLATES: tuple[str, ...] = (
    "survey_invitation",
    "case_reply",
    "case_csat",
    "subscription_renewal",
    "subscription_cancelled",
    "portal_sign_in",
)
# Marketing that another area sends as one-off campaigns of its own, with the variables in the
# campaign's settings: subscriptions' offer of a delivery subscription to a regular buyer.
OFFER_TEMPLATES: tuple[str, ...] = ("subscription_offer",)
TEMPLATES: tuple[str, ...] = (
    *(j.template for j in JOURNEYS.values()),
    "newsletter",
    *SERVICE_TEMPLATES,
    *OFFER_TEMPLATES,
)


def journey(key: str) -> Journey:
    found = JOURNEYS.get(key)
    if found is None:
        raise JourneyProblem(
            f"unknown journey {key!r}; Patron ships {', '.join(sorted(JOURNEYS))}",
            details={"field": "journey", "journey": key},
        )
    return found


# --- settings ----------------------------------------------------------------------------------


def _days(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3650:
        raise _bad(name, value, "a whole number of days from 0 to 3650")
    return value


def _positive_days(name: str, value: Any) -> int:
    if _days(name, value) < 1:
        raise _bad(name, value, "a whole number of days from 1 to 3650")
    return int(value)


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise _bad(name, value, "a probability above 0 and at most 1, such as 0.3")
    return float(value)


def _money(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal(0)
    if isinstance(value, bool) or not amount.is_finite() or amount <= 0:
        raise _bad(name, value, 'an amount above 0 such as "10.00", or null for none')
    return str(amount.quantize(Decimal("0.01")))


def _url(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.match(r"^https?://\S+$", value):
        raise _bad(name, value, "an http:// or https:// address, or null")
    return value


def _survey(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.match(r"^[a-z0-9][a-z0-9_-]{0,63}$", value):
        raise _bad(name, value, "a survey's key such as nps, or null")
    return value


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 200:
        raise _bad(name, value, "a text of at most 200 characters")
    return value.strip()


def _day(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise _bad(name, value, "a date such as 2026-09-17") from None


def _capacity(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(name, value, "a number of places of at least 1, or null for no limit")
    return value


def _programme(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(name, value, "a loyalty programme's code, or null for the shop's programme")
    return value


def _bad(name: str, value: Any, wanted: str) -> JourneyProblem:
    return JourneyProblem(
        f"setting {name!r} is {value!r}; it must be {wanted}",
        details={"field": f"settings.{name}", "value": repr(value)},
    )


CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "days_after": _days,
    "days_before": _days,
    "watch_days": _positive_days,
    "valid_days": _positive_days,
    "p_alive_below": _share,
    "voucher_value": _money,
    "survey_url": _url,
    "survey": _survey,
    "event_name": _text,
    "event_place": _text,
    "event_date": _day,
    "capacity": _capacity,
    "programme": _programme,
}


def settings_for(key: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The journey's defaults overridden by ``given``, each known setting checked (a wrong one
    is refused naming it); settings the journey does not know are kept as they are."""
    return checked(dict(journey(key).settings) | dict(given or {}))


def checked(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with each known one checked and written the one way (a wrong one is
    refused naming it, ``journey.invalid``); the others kept as they are. For a campaign
    without a journey, such as a newsletter with a ``capacity``."""
    return {
        name: CHECKS[name](name, value) if name in CHECKS else value
        for name, value in settings.items()
    }
