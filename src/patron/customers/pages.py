"""Pages of the knowledge store: the customer list and the customer 360.

The list is a plain GET form over ``service.list_customers`` (indexed prefix search, one page
of 50, one grouped query for the page's order counts); the page's script asks for the results
alone (``X-Patron-Partial: 1``) and swaps them in. Whatever the query string holds, the list
answers with a page: an unknown sort falls back to the name, a page beyond the end shows the
last one.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from babel import Locale
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.customers import service
from patron.customers.models import CUSTOMER_KINDS
from patron.customers.schemas import CustomerPublic, CustomerSort, CustomersPublic
from patron.web.deps import SessionDep, SettingsDep, page
from patron.web.i18n import N_
from patron.web.rendering import (
    NavItem,
    is_partial,
    page_numbers,
    render,
    request_language,
    sections,
)

TEMPLATES = Path(__file__).parent / "templates"
NAV = (NavItem(N_("Customers"), "/customers", "customers:read", order=20),)
# The 360's name for the sections other areas add to it (``web.rendering.SectionSource``).
CUSTOMER_360 = "customer_360"
router = APIRouter(include_in_schema=False)

PER_PAGE = 50
TIMELINE_LIMIT = 100
DEFAULT_SORT = CustomerSort.name.value
SEARCH_MAX = 200
# The list's sortable columns (each served by an index), by sort key.
SORTABLE = {
    "name": N_("Name"),
    "external_id": N_("Customer no."),
    "created_at": N_("Customer since"),
}
KIND_LABELS = {"person": N_("Persons"), "organisation": N_("Organisations")}
INTERACTION_LABELS = {
    "visit": N_("Visit"),
    "product_view": N_("Viewed a product"),
    "price_watch": N_("Watches a price"),
    "wishlist": N_("Added to wish list"),
    "email_open": N_("Opened an e-mail"),
    "email_click": N_("Clicked in an e-mail"),
    "call": N_("Call"),
    "meeting": N_("Meeting"),
    "event_attendance": N_("Attended an event"),
}
CONSENT_CHANNELS = {
    "email": N_("E-mail"),
    "sms": N_("SMS"),
    "phone": N_("Phone"),
    "post": N_("Post"),
    "push": N_("Push"),
}
CONSENT_PURPOSES = {
    "marketing": N_("Marketing"),
    "transactional": N_("Transactional"),
    "profiling": N_("Profiling"),
    "surveys": N_("Surveys"),
}
SALES_CHANNELS = {
    "online": N_("Online shop"),
    "store": N_("Store"),
    "phone": N_("Phone"),
    "b2b": N_("B2B portal"),
}
RETURN_KINDS = {"return": N_("Return"), "cancellation": N_("Cancellation")}
ACQUISITION_CHANNELS = {
    "marketplace": N_("Marketplace"),
    "newsletter": N_("Newsletter"),
    "organic_search": N_("Organic search"),
    "paid_search": N_("Paid search"),
    "referral": N_("Referral"),
    "sales_call": N_("Sales call"),
    "social": N_("Social media"),
    "store": N_("Store"),
    "trade_fair": N_("Trade fair"),
}
# What later capabilities put on the 360, as placeholders until then: (hook, title, text).
COMING = {
    "points": (
        N_("Loyalty points & tier"),
        N_("Points balance, tier and how far it is to the next one."),
    ),
    "recommendations": (
        N_("Recommendations"),
        N_("Matching products to offer next, from the purchase history."),
    ),
    "messages": (
        N_("Messages sent"),
        N_("Newsletters and personal messages, with opens and clicks."),
    ),
    "cases": (N_("Cases"), N_("Complaints and requests, with their deadlines.")),
    "tasks": (N_("Tasks"), N_("Follow-ups for the account manager and the service team.")),
}
SCORES = (
    N_("ABC class"),
    N_("RFM segment"),
    N_("Customer lifetime value"),
    N_("P(alive)"),
    N_("Lifecycle phase"),
)


@router.get("/customers")
def customer_list(
    request: Request,
    session: SessionDep,
    me: Annotated[SignedIn, page("customers:read")],
    search: str | None = None,
    country: str | None = None,
    kind: str | None = None,
    sort: str | None = None,
    page_asked: Annotated[str | None, Query(alias="page")] = None,
) -> HTMLResponse:
    """One page of customers: search, filter, sort. Bad parameters give a page, never an error."""
    term = (search or "").strip()[:SEARCH_MAX]
    chosen_country = (country or "").strip()[:64] or None
    chosen_kind = kind if kind in CUSTOMER_KINDS else None
    notices: list[dict[str, Any]] = []
    chosen_sort = sort or DEFAULT_SORT
    if chosen_sort not in {member.value for member in CustomerSort}:
        notices.append({"code": "unknown_sort", "sort": chosen_sort[:40]})
        chosen_sort = DEFAULT_SORT
    number = _page_number(page_asked)

    def fetch(page_number: int) -> CustomersPublic:
        return service.list_customers(
            session,
            search=term,
            country=chosen_country,
            kind=chosen_kind,
            sort=chosen_sort,
            page=page_number,
            per_page=PER_PAGE,
        )

    found = fetch(number)
    pages = max(1, math.ceil(found.count / PER_PAGE))
    if number > pages:  # beyond the end (or a stale link after a new search): the last page
        if found.count:
            notices.append({"code": "beyond_end", "page": number, "last": pages})
        number = pages
        found = fetch(number) if found.count else found
    state = {"search": term, "country": chosen_country, "kind": chosen_kind, "sort": chosen_sort}
    filtered = bool(term or chosen_country or chosen_kind)
    partial = is_partial(request)
    known_countries = [] if partial else _countries(session)  # the fragment has no form
    if chosen_country and chosen_country not in known_countries:
        known_countries = sorted([*known_countries, chosen_country])
    context = {
        **state,
        "customers": found.data,
        "activity": service.order_activity(session, [c.id for c in found.data]),
        "count": found.count,
        "page": number,
        "pages": pages,
        "page_numbers": page_numbers(number, pages),
        "first": (number - 1) * PER_PAGE + 1,
        "last": (number - 1) * PER_PAGE + len(found.data),
        "filtered": filtered,
        "notices": notices,
        "countries": known_countries,
        "kinds": KIND_LABELS,
        "sortable": SORTABLE,
        "default_sort": DEFAULT_SORT,
        "link": _linker(state),
        "customer_key": customer_key,
        "customer_href": customer_href,
    }
    template = "customers/_results.html" if partial else "customers/list.html"
    # The fragment and the page share a URL: a cache must tell them apart.
    return render(request, template, context, headers={"Vary": "X-Patron-Partial"})


@router.get("/customers/{key}")
def customer_detail(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    me: Annotated[SignedIn, page("customers:read")],
    key: str,
) -> HTMLResponse:
    """The customer 360: profile, consent, key figures, the latest history, what comes next."""
    customer = service.find_customer(session, key=key)  # unknown: NotFound, the 404 page
    view = service.customer_overview(
        session,
        customer_id=customer.id,
        timeline_limit=TIMELINE_LIMIT,
        currency=settings.currency,
    )
    context = {
        "view": view,
        "customer": view.profile,
        "language_name": _language_name(view.profile.language, request_language(request)),
        "interaction_labels": INTERACTION_LABELS,
        "consent_channels": CONSENT_CHANNELS,
        "consent_purposes": CONSENT_PURPOSES,
        "sales_channels": SALES_CHANNELS,
        "return_kinds": RETURN_KINDS,
        "acquisition_channels": ACQUISITION_CHANNELS,
        "coming": COMING,
        "scores": SCORES,
        "sections": sections(request, CUSTOMER_360, session, customer.id),
        "timeline_limit": TIMELINE_LIMIT,
    }
    return render(request, "customers/detail.html", context)


def customer_key(customer: CustomerPublic) -> str:
    """What the 360's address names a customer by: the external id, else Patron's number.

    An external id with a slash cannot be one path segment, so such a customer goes by number.
    """
    if customer.external_id and "/" not in customer.external_id:
        return customer.external_id
    return str(customer.id)


def customer_href(customer: CustomerPublic) -> str:
    return "/customers/" + quote(customer_key(customer), safe="")


def _page_number(raw: str | None) -> int:
    """The page asked for, between 1 and ``service.MAX_PAGE``; anything unreadable is page 1."""
    try:
        number = int((raw or "1").strip())
    except ValueError:  # not a number, or one with thousands of digits
        return 1
    return min(max(number, 1), service.MAX_PAGE)


def _linker(state: dict[str, str | None]) -> Callable[..., str]:
    """``link(page=…, sort=…)``: the list's address with these changes, the rest kept."""

    def link(page: int = 1, sort: str | None = None) -> str:
        params: dict[str, str | int] = {
            name: value for name, value in state.items() if value and name != "sort"
        }
        chosen = sort or state["sort"] or DEFAULT_SORT
        if chosen != DEFAULT_SORT:
            params["sort"] = chosen
        if page > 1:
            params["page"] = page
        return "/customers" + (f"?{urlencode(params)}" if params else "")

    return link


def _language_name(code: str | None, reader: str) -> str | None:
    """A customer's language in the reader's language ("nb" → "Norwegian Bokmål")."""
    if not code:
        return None
    name = Locale.parse(reader).languages.get(code.replace("-", "_"))
    return str(name) if name else code


# The filter's countries need a pass over every customer (the column has no index), and they
# change only with an import: each app keeps them a minute.
_COUNTRIES_TTL = 60.0
_countries_cache: weakref.WeakKeyDictionary[Engine, tuple[float, list[str]]] = (
    weakref.WeakKeyDictionary()
)
_countries_lock = threading.Lock()


def _countries(session: Session) -> list[str]:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    now = time.monotonic()
    with _countries_lock:
        cached = _countries_cache.get(engine)
    if cached is not None and now - cached[0] < _COUNTRIES_TTL:
        return cached[1]
    found = service.countries(session)
    with _countries_lock:
        _countries_cache[engine] = (now, found)
    return found
