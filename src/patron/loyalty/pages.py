"""Pages of the loyalty programme, and the points section it adds to the customer 360.

The overview shows each programme's liability, a programme's page reads its stored rules back
in plain language, and the members list pages through its members. The 360 belongs to the
customers area, which the layers keep from importing loyalty: the section reaches it through the
shell (``SECTIONS``). A manual adjustment books through ``service.adjust`` under an idempotency
key generated into the form, so a double submit books once; it answers with a redirect back to
the 360. The settings form edits a programme's rules as the YAML of ``patron loyalty setup
FILE`` and saves them through ``setup.set_up`` (audited in the user's name), as does the form for
a new programme, which starts from the demo shop's programme file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.customers import service as customers
from patron.customers.pages import CUSTOMER_360, customer_href, customer_key
from patron.customers.schemas import CustomerPublic
from patron.db import utcnow
from patron.errors import PatronError
from patron.loyalty import reading, service, setup
from patron.loyalty.member_view import MemberView, digits, member_view
from patron.loyalty.models import AuditRecord, Event, Programme, Reward
from patron.loyalty.programme import (
    ProgrammeError,
    ProgrammeSpec,
    read_yaml,
    safe_reference,
    to_yaml,
)
from patron.loyalty.programme import Reward as RewardSpec
from patron.loyalty.schemas import (
    AdjustIn,
    MemberRow,
    MembersPublic,
)
from patron.web.deps import SessionDep, csrf, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, Section, SectionSource, is_partial, page_numbers, render

TEMPLATES = Path(__file__).parent / "templates"
READ = "loyalty:read"
WRITE = "loyalty:write"
NAV = (NavItem(N_("Loyalty"), "/loyalty", READ, order=30),)
router = APIRouter(include_in_schema=False)

Reader = Annotated[SignedIn, page(READ)]
Writer = Annotated[SignedIn, page(WRITE)]
PER_PAGE = 50
MAX_PAGE = 10_000
SEARCH_MAX = 200
AUDIT_LIMIT = 20
MAX_ADJUSTMENT = 1_000_000  # points in one manual booking; more is a typo
LARGEST_ID = 2**31 - 1  # customers.id is a 32-bit INTEGER on PostgreSQL
TEXT_MAX = 200_000  # characters of a programme's YAML in the settings form
# Where a new programme starts: the demo shop's file (read as data; the layers keep loyalty from
# importing the demo's modules). "new" cannot be a code: /loyalty/new is the form.
STARTER = Path(__file__).resolve().parents[1] / "demo" / "programme.yaml"
RESERVED_CODES = frozenset({"new"})

LINE_KINDS = {
    "product": N_("Products"),
    "service": N_("Services"),
    "shipping": N_("Shipping"),
    "voucher": N_("Vouchers"),
    "reward": N_("Rewards"),
    "gift_card": N_("Gift cards"),
    "fee": N_("Fees"),
}
CAPS = {
    "day": N_("At most %(points)s points from purchases per member and day."),
    "week": N_("At most %(points)s points from purchases per member and week."),
    "month": N_("At most %(points)s points from purchases per member and calendar month."),
    "year": N_("At most %(points)s points from purchases per member and calendar year."),
}
REWARD_KINDS = {
    "discount_voucher": N_("Discount voucher"),
    "free_product": N_("Free product"),
    "service": N_("Service"),
    "event": N_("Event"),
}
ENTRY_KINDS = {
    "earn": N_("Earned"),
    "redeem": N_("Redeemed"),
    "reverse": N_("Returned"),
    "expire": N_("Expired"),
    "adjust": N_("Adjusted by hand"),
}
LOT_SOURCES = {
    "purchase": N_("Purchase"),
    "bonus": N_("Bonus"),
    "event": N_("Event bonus"),
    "referral": N_("Referral"),
    "adjustment": N_("By hand"),
}
AUDIT_ACTIONS = {
    "programme.created": N_("Programme set up"),
    "programme.changed": N_("Settings changed"),
    "programme.withdrawn": N_("Programme switched off"),
    "reward.created": N_("Reward added"),
    "reward.changed": N_("Reward changed"),
    "reward.withdrawn": N_("Reward withdrawn"),
    "points.adjusted": N_("Points adjusted by hand"),
}
VOUCHER_STATES = {
    "valid": N_("valid"),
    "upcoming": N_("not yet valid"),
    "used": N_("used"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
}
ADJUST_ERRORS = {
    "loyalty.bad_adjustment": N_(
        "Enter a whole number of points other than 0 (at most %(max)s) and a reason of at least "
        "3 characters."
    ),
    "points.insufficient": N_(
        "The member does not hold that many points: nothing was taken off. Take off at most "
        "what the lots below still hold."
    ),
    "idempotency.mismatch": N_(
        "This form was already sent with other values. Nothing more was booked; enter the "
        "adjustment again in the form below."
    ),
    "loyalty.bad_reference": N_("The form was damaged in transit; enter the adjustment again."),
}


# --- the programmes -------------------------------------------------------------------------


@router.get("/loyalty")
def overview(request: Request, session: SessionDep, me: Reader) -> HTMLResponse:
    """Each programme's liability: outstanding points, their value, pending, expiring, debt."""
    now = utcnow()
    names = {spec.code: spec.name for _row, spec in setup.programmes(session)}
    context = {
        "rows": reading.liability(session, now=now),
        "names": names,
        "next_month": reading.next_month(now)[0].date(),
    }
    return render(request, "loyalty/overview.html", context)


@router.get("/loyalty/new")
def new_programme(request: Request, me: Writer) -> HTMLResponse:
    """The form for a new programme, filled in with the demo shop's programme to start from."""
    return _settings_form(request, None, STARTER.read_text(encoding="utf-8"))


@router.post("/loyalty/new", dependencies=[csrf()])
def create_programme(
    request: Request,
    session: SessionDep,
    me: Writer,
    text: Annotated[str, Form(max_length=TEXT_MAX)] = "",
) -> Response:
    """Set up the programme the text describes, unless its code is taken."""
    return _save(request, session, me, None, text)


@router.get("/loyalty/{code}")
def programme_settings(
    request: Request, session: SessionDep, me: Reader, code: str
) -> HTMLResponse:
    """The programme's rules as stored, read in plain language, and the latest audit entries."""
    row, spec = setup.programme(session, code)
    context = {
        "programme": row,
        "spec": spec,
        "saved": _saved(request, session, row.id),
        "rewards": _catalogue(session, row.id),
        "audit": setup.audit_log(session, programme_code=code, limit=AUDIT_LIMIT),
        "today": utcnow().date(),
        "line_kinds": LINE_KINDS,
        "caps": CAPS,
        "reward_kinds": REWARD_KINDS,
        "audit_actions": AUDIT_ACTIONS,
        "digits": digits,
    }
    return render(request, "loyalty/programme.html", context)


@router.get("/loyalty/{code}/settings")
def settings_form(request: Request, session: SessionDep, me: Writer, code: str) -> HTMLResponse:
    """The programme's rules and rewards as YAML, to change and save."""
    _row, spec = setup.programme(session, code)
    return _settings_form(request, spec, to_yaml(setup.document(session, code)))


@router.post("/loyalty/{code}/settings", dependencies=[csrf()])
def save_settings(
    request: Request,
    session: SessionDep,
    me: Writer,
    code: str,
    text: Annotated[str, Form(max_length=TEXT_MAX)] = "",
) -> Response:
    """Bring the programme in line with the text; its code stays."""
    _row, spec = setup.programme(session, code)  # an unknown programme is the 404 page
    return _save(request, session, me, spec, text)


@router.get("/loyalty/{code}/members")
def members(
    request: Request,
    session: SessionDep,
    me: Reader,
    code: str,
    search: str | None = None,
    tier: str | None = None,
    page_asked: Annotated[str | None, Query(alias="page")] = None,
) -> HTMLResponse:
    """One page of the programme's members, with the most points first: search, tier filter."""
    _row, spec = setup.programme(session, code)
    term = (search or "").strip()[:SEARCH_MAX]
    chosen_tier = tier if spec.tier(tier) is not None else None
    number = _page_number(page_asked)

    def fetch(page_number: int) -> MembersPublic:
        return reading.members(
            session,
            programme_code=code,
            search=term or None,
            tier=chosen_tier,
            page=page_number,
            per_page=PER_PAGE,
        )

    found = fetch(number)
    pages = max(1, math.ceil(found.count / PER_PAGE))
    if number > pages:  # beyond the end: the last page
        number = pages
        found = fetch(number) if found.count else found

    def link(page: int = 1) -> str:
        params: dict[str, str | int] = {"search": term, "tier": chosen_tier or ""}
        params = {name: value for name, value in params.items() if value}
        if page > 1:
            params["page"] = page
        return f"/loyalty/{quote(code, safe='')}/members" + (
            f"?{urlencode(params)}" if params else ""
        )

    context = {
        "spec": spec,
        "search": term,
        "tier": chosen_tier,
        "members": found.data,
        "count": found.count,
        "page": number,
        "pages": pages,
        "page_numbers": page_numbers(number, pages),
        "first": (number - 1) * PER_PAGE + 1,
        "last": (number - 1) * PER_PAGE + len(found.data),
        "filtered": bool(term or chosen_tier),
        "link": link,
        "member_href": member_href,
    }
    template = "loyalty/_members_results.html" if is_partial(request) else "loyalty/members.html"
    return render(request, template, context, headers={"Vary": "X-Patron-Partial"})


@router.post("/loyalty/{code}/members/{customer_id}/adjust", dependencies=[csrf()])
def adjust(
    session: SessionDep,
    me: Annotated[SignedIn, page(WRITE)],
    code: str,
    customer_id: int,
    points: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    key: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    """Book points by hand (the signed-in user is the actor) and go back to the customer's 360."""
    setup.programme(session, code)  # an unknown programme is the 404 page
    customer = _customer(session, customer_id)
    amount, text = _whole(points), reason.strip()
    if amount is None or len(text) < 3:
        return _back(customer, code, error="loyalty.bad_adjustment")
    try:
        booked = service.adjust(
            session,
            programme_code=code,
            key=safe_reference(key),
            request=AdjustIn(customer=customer_key(customer), points=amount, reason=text),
            actor=me.user.email,
            now=utcnow(),
        )
    except PatronError as exc:
        return _back(customer, code, error=exc.code)
    return _back(customer, code, adjusted=booked.booking.event_id)


def _save(
    request: Request, session: Session, me: SignedIn, current: ProgrammeSpec | None, text: str
) -> Response:
    """Set up the programme ``text`` describes (``current``'s, or a new one) in the user's name
    and go to its page, which lists what changed; or the form again, saying why not."""
    try:
        spec = read_yaml(text, source="the form")
    except ProgrammeError as exc:
        details = exc.details or {}
        if "problems" in details:
            error = {"kind": "invalid", "problems": details["problems"]}
        else:
            error = {"kind": "yaml"} | details
        return _settings_form(request, current, text, error, 422)
    if current is not None and spec.code != current.code:
        error = {"kind": "code_changed", "code": current.code, "other": spec.code}
        return _settings_form(request, current, text, error, 422)
    if current is None:
        taken = session.scalar(select(Programme.id).where(Programme.code == spec.code))
        if taken is not None or spec.code in RESERVED_CODES:
            kind = "code_taken" if taken is not None else "code_reserved"
            return _settings_form(request, None, text, {"kind": kind, "code": spec.code}, 409)
    before = session.scalar(select(func.max(AuditRecord.id))) or 0
    done = setup.set_up(session, spec=spec, actor=me.user.email, now=utcnow())
    written = session.scalars(
        select(AuditRecord.id).where(
            AuditRecord.id > before,
            AuditRecord.programme_id == done["id"],
            AuditRecord.actor == me.user.email,
        )
    ).all()
    saved = f"{min(written)}-{max(written)}" if written else "nothing"
    target = f"/loyalty/{quote(spec.code, safe='')}?{urlencode({'saved': saved})}"
    return RedirectResponse(target, status_code=303)


def _settings_form(
    request: Request,
    current: ProgrammeSpec | None,
    text: str,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {"spec": current, "text": text, "error": error}
    return render(request, "loyalty/settings.html", context, status=status)


def _saved(request: Request, session: Session, programme_id: int) -> dict[str, Any] | None:
    """What the settings form just saved (``?saved=FIRST-LAST`` audit records, or ``nothing``):
    each record with the fields it changed (the settings' sections by name)."""
    raw = request.query_params.get("saved", "")
    if raw == "nothing":
        return {"changes": []}
    found = re.fullmatch(r"(\d{1,10})-(\d{1,10})", raw)
    if found is None or not 0 < int(found[1]) <= int(found[2]) <= LARGEST_ID:
        return None
    records = session.scalars(
        select(AuditRecord)
        .where(
            AuditRecord.programme_id == programme_id,
            AuditRecord.id.between(int(found[1]), int(found[2])),
        )
        .order_by(AuditRecord.id)
        .limit(AUDIT_LIMIT * 5)
    ).all()
    changes = [(record, setup.changed_fields(record)) for record in records]
    return {"changes": changes} if changes else None


# --- the customer 360's points --------------------------------------------------------------


def points_section(request: Request, session: Session, customer_id: int) -> Section | None:
    """Per programme: balance, tier progress, expiring points, lots, statement, vouchers.

    None while no programme is set up (the 360 keeps its "coming" placeholder).
    """
    programmes = setup.programmes(session)
    if not programmes:
        return None
    customer = _customer(session, customer_id)
    now = utcnow()
    key = customer_key(customer)
    views = [member_view(session, spec, key, now) for _row, spec in programmes]
    values = {
        "customer_id": customer.id,
        "views": views,
        "notice": _notice(request, session, views),
        "error": _error(request, views),
        "max_adjustment": MAX_ADJUSTMENT,
        "entry_kinds": ENTRY_KINDS,
        "lot_sources": LOT_SOURCES,
        "voucher_states": VOUCHER_STATES,
        "digits": digits,
    }
    return Section("points", "loyalty/_customer_points.html", values)


SECTIONS = (SectionSource(CUSTOMER_360, READ, points_section),)


def _notice(request: Request, session: Session, views: list[MemberView]) -> dict[str, Any] | None:
    """The adjustment just booked (``?adjusted=EVENT``), if it is one of this customer's."""
    raw = request.query_params.get("adjusted", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    event = session.get(Event, int(raw))
    accounts = {view.account_id: view for view in views if view.account_id is not None}
    if event is None or event.operation != "adjust" or event.account_id not in accounts:
        return None
    view = accounts[event.account_id]
    return {
        "programme": view.spec.code,
        "name": view.spec.name,
        "points": event.points,
        "reason": (event.detail or {}).get("reason"),
    }


def _error(request: Request, views: list[MemberView]) -> dict[str, str] | None:
    """Why the adjustment just sent was not booked (``?points_error=CODE&programme=CODE``)."""
    code = request.query_params.get("points_error")
    programme = request.query_params.get("programme")
    if not code or programme not in {view.spec.code for view in views}:
        return None
    message = ADJUST_ERRORS.get(code)
    return {"programme": programme or "", "code": code[:60], "message": message or ""}


def _back(
    customer: CustomerPublic, code: str, *, adjusted: int | None = None, error: str | None = None
) -> RedirectResponse:
    """To the 360's points section, with the booking to confirm or the error to explain."""
    params: dict[str, str | int]
    if adjusted is not None:
        params = {"adjusted": adjusted}
    else:
        params = {"points_error": error or "", "programme": code}
    target = f"{customer_href(customer)}?{urlencode(params)}#points-{quote(code, safe='')}"
    return RedirectResponse(target, status_code=303)


# --- helpers ----------------------------------------------------------------------------


def member_href(row: MemberRow) -> str:
    """The member's 360, addressed by the rule of ``customers.pages.customer_key``: the external
    id, or Patron's number when the external id cannot be one path segment."""
    external = row.external_id
    key = external if external and "/" not in external else str(row.customer_id)
    return "/customers/" + quote(key, safe="")


def _catalogue(session: Session, programme_id: int) -> list[tuple[Reward, RewardSpec]]:
    """The active rewards with their rules (the stored spec) and their current stock."""
    rows = session.scalars(
        select(Reward)
        .where(Reward.programme_id == programme_id, Reward.active)
        .order_by(Reward.cost, Reward.code)
    )
    return [(row, RewardSpec.model_validate(row.spec)) for row in rows]


def _customer(session: Session, customer_id: int) -> CustomerPublic:
    return customers.customer_by_number(session, customer_id=customer_id)


def _whole(raw: str) -> int | None:
    """A non-zero whole number of points within ``MAX_ADJUSTMENT``, else None."""
    text = raw.strip().replace("\u2212", "-").lstrip("+")
    digits_only = text[1:] if text.startswith("-") else text
    if not digits_only.isascii() or not digits_only.isdigit():
        return None
    amount = int(text)
    return amount if 0 < abs(amount) <= MAX_ADJUSTMENT else None


def _page_number(raw: str | None) -> int:
    try:
        number = int((raw or "1").strip())
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)
