"""The recommendations section of the customer 360, its block forms, and the fit's page.

The 360 belongs to the customers area, which the layers keep from importing this one: the
section reaches it through the shell (``SECTIONS``). It shows the top offers of each kind with
their reasons worded in the reader's language (from the reason's code and figures, never its
English text), and the customer's blocked products. Blocking and unblocking are plain forms that
answer with a redirect back to the section, saying what was done or why not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.customers import service as customers
from patron.customers.models import Product
from patron.customers.pages import CUSTOMER_360, customer_href
from patron.customers.schemas import CustomerPublic
from patron.db import utcnow
from patron.errors import PatronError
from patron.recommend import service
from patron.recommend.schemas import BlockPublic, Kind, RecommendationsPublic
from patron.web.deps import SessionDep, csrf, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, Section, SectionSource, render

TEMPLATES = Path(__file__).parent / "templates"
READ = "customers:read"
WRITE = "customers:write"
ANALYTICS = "analytics:read"
NAV = (NavItem(N_("Recommendations"), "/recommendations", ANALYTICS, order=35),)
router = APIRouter(include_in_schema=False)

SHOWN = 5  # offers of each kind on the 360
SKU_MAX = 64
REASON_MAX = 200
KINDS = {
    Kind.cross: (N_("Cross-selling"), N_("What goes with what this customer buys.")),
    Kind.up: (N_("Upselling"), N_("The premium alternative in a category they buy from.")),
    Kind.partner: (N_("Partner offers"), N_("Matching products from partners’ catalogues.")),
}
BLOCK_ERRORS = {
    "recommend.no_sku": N_("Enter the SKU of the product to block."),
    "products.not_found": N_("No product has the SKU %(sku)s."),
    "recommend.already_blocked": N_("%(sku)s is already blocked for this customer."),
    "recommend.not_blocked": N_("%(sku)s is not blocked for this customer."),
}
# The ranking's features, as the fit's page names them (an unknown one is shown by its name).
FEATURES = {
    "bought": N_("Bought it before"),
    "share": N_("Share of the customer’s orders with it"),
    "log_count": N_("How often the customer bought it"),
    "log_days_since": N_("Days since the customer last bought it"),
    "due": N_("How due a re-buy is (days since ÷ usual interval)"),
    "in_last_basket": N_("In the customer’s last order"),
    "repurchase_rate": N_("Share of its buyers who buy it again"),
    "bought_x_repurchase_rate": N_("Bought before × share who buy it again"),
    "log_buyers": N_("How many customers buy it"),
    "log_trend": N_("Orders with it in the last 30 days"),
    "association": N_("Bought together with the customer’s products"),
    "after_last_basket": N_("Bought together with the customer’s last order"),
    "same_creator": N_("Same author or artist as the customer’s products"),
    "same_brand": N_("Same brand as the customer’s products"),
    "same_category": N_("Same category as the customer’s products"),
    "bought_x_log_gap": N_("Bought before × days since the customer’s last order"),
    "bought_x_log_baskets": N_("Bought before × the customer’s number of orders"),
    "bought_x_log_trend": N_("Bought before × orders with it in the last 30 days"),
    "due_closeness": N_("Re-buy due just now"),
    "share_x_log_gap": N_("Share of the customer’s orders × days since their last order"),
    "log_season": N_("Orders with it in the coming 30 days, a year ago"),
    "bought_last_season": N_("The customer bought it at this time last year"),
}
SETTINGS = {
    "exclude": N_("Never recommended (SKUs)"),
    "margin_floor": N_("Least margin of an offer"),
    "per_category": N_("Most offers per category"),
    "replenish_rate": N_("Offered again when this share of buyers re-buys"),
    "due_from": N_("…and this share of the usual interval has passed"),
}

Writer = Annotated[SignedIn, page(WRITE)]


# --- the customer 360's recommendations -----------------------------------------------------


def recommendations_section(request: Request, session: Session, customer_id: int) -> Section:
    """The top offers of each kind, the customer's blocks, and what a form just did."""
    offers = _offers(session, customer_id)
    blocks = service.blocks(session, customer_id=customer_id)
    values = {
        "customer_id": customer_id,
        "offers": offers,
        "fitted_at": offers[0][1].fitted_at if offers else None,
        "blocks": blocks,
        "kinds": KINDS,
        "notice": _notice(request, session, blocks),
        "error": _error(request),
        "sku_max": SKU_MAX,
        "reason_max": REASON_MAX,
    }
    return Section("recommendations", "recommend/_customer_recommendations.html", values)


SECTIONS = (SectionSource(CUSTOMER_360, READ, recommendations_section),)


def _offers(session: Session, customer_id: int) -> list[tuple[Kind, RecommendationsPublic]] | None:
    """The top offers of each kind, now; None before the first fit."""
    now = utcnow()
    try:
        return [
            (
                kind,
                service.recommendations(
                    session, customer_id=customer_id, kind=kind, k=SHOWN, now=now
                ),
            )
            for kind in KINDS
        ]
    except service.NotFitted:
        return None


@router.post("/recommendations/customers/{customer_id}/block", dependencies=[csrf()])
def block(
    session: SessionDep,
    me: Writer,
    customer_id: int,
    sku: Annotated[str, Form(max_length=SKU_MAX)] = "",
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
) -> RedirectResponse:
    """Keep a product out of this customer's offers (the signed-in user is recorded)."""
    customer = _customer(session, customer_id)
    wanted = sku.strip()
    if not wanted:
        return _back(customer, error="recommend.no_sku")
    try:
        service.block(
            session,
            customer_id=customer.id,
            sku=wanted,
            reason=reason.strip() or None,
            by=me.user.email,
        )
    except PatronError as exc:
        return _back(customer, error=exc.code, sku=wanted)
    return _back(customer, blocked=wanted)


@router.post("/recommendations/customers/{customer_id}/unblock", dependencies=[csrf()])
def unblock(
    session: SessionDep,
    me: Writer,
    customer_id: int,
    sku: Annotated[str, Form(max_length=SKU_MAX)] = "",
) -> RedirectResponse:
    """Lift a block: the product may be offered to this customer again."""
    customer = _customer(session, customer_id)
    try:
        service.unblock(session, customer_id=customer.id, sku=sku)
    except PatronError as exc:
        return _back(customer, error=exc.code, sku=sku)
    return _back(customer, unblocked=sku)


def _notice(request: Request, session: Session, blocks: list[BlockPublic]) -> dict[str, Any] | None:
    """What a form just did (``?blocked=SKU`` / ``?unblocked=SKU``), if the store agrees."""
    blocked = request.query_params.get("blocked")
    if blocked:
        for row in blocks:
            if row.sku == blocked:
                return {"kind": "blocked", "name": row.name or row.sku, "sku": row.sku}
        return None
    unblocked = request.query_params.get("unblocked")
    if not unblocked or len(unblocked) > SKU_MAX or unblocked in {row.sku for row in blocks}:
        return None
    product = session.execute(select(Product.name).where(Product.sku == unblocked)).first()
    if product is None:
        return None
    return {"kind": "unblocked", "name": product.name or unblocked, "sku": unblocked}


def _error(request: Request) -> dict[str, str] | None:
    """Why the form just sent did nothing (``?recommend_error=CODE&sku=SKU``)."""
    code = request.query_params.get("recommend_error")
    if not code:
        return None
    sku = request.query_params.get("sku", "")[:SKU_MAX]
    return {"code": code[:60], "message": BLOCK_ERRORS.get(code, ""), "sku": sku}


def _back(
    customer: CustomerPublic,
    *,
    blocked: str | None = None,
    unblocked: str | None = None,
    error: str | None = None,
    sku: str | None = None,
) -> RedirectResponse:
    """To the 360's recommendations, with what was done or why not."""
    params: dict[str, str]
    if blocked is not None:
        params = {"blocked": blocked}
    elif unblocked is not None:
        params = {"unblocked": unblocked}
    else:
        params = {"recommend_error": error or ""} | ({"sku": sku} if sku else {})
    target = f"{customer_href(customer)}?{urlencode(params)}#recommendations"
    return RedirectResponse(target, status_code=303)


def _customer(session: Session, customer_id: int) -> CustomerPublic:
    return customers.customer_by_number(session, customer_id=customer_id)


# --- the fit --------------------------------------------------------------------------------


@router.get("/recommendations")
def fit_page(
    request: Request, session: SessionDep, me: Annotated[SignedIn, page(ANALYTICS)]
) -> HTMLResponse:
    """When and on what the recommender was fitted, its rules and what each feature weighs."""
    try:
        fitted = service.fit_public(session)
    except service.NotFitted:
        return render(request, "recommend/fit.html", {"fit": None})
    weights = sorted(fitted.weights.items(), key=lambda item: (-abs(item[1]), item[0]))
    context = {
        "fit": fitted,
        "weights": weights,
        "features": FEATURES,
        "settings_labels": SETTINGS,
    }
    return render(request, "recommend/fit.html", context)
