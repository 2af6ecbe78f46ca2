"""JSON routes of the loyalty programme under ``/api/v1/loyalty``: parse, call the service, answer.

Every booking needs an ``Idempotency-Key`` header, so a shop can safely send it again after a
timeout: the same key and body answer the stored result (``Idempotent-Replayed: true``) and book
nothing twice.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from patron.customers import service as customers
from patron.db import utcnow
from patron.errors import Conflict, PatronError
from patron.loyalty import reading, service
from patron.loyalty.programme import ProgrammeSpec
from patron.loyalty.schemas import (
    TEXT,
    AdjustIn,
    BalancePublic,
    BookingPublic,
    EventIn,
    LiabilityRow,
    MembersPublic,
    ProgressPublic,
    PurchaseIn,
    RedeemIn,
    ReturnIn,
    RewardPublic,
    StatementPublic,
    VoucherCheckIn,
    VoucherCheckPublic,
    VoucherConsumeIn,
    VoucherIssueIn,
    VoucherPublic,
)
from patron.loyalty.setup import programme as find_programme
from patron.web.deps import ApiKeyActorDep, SessionDep, described_errors, error_responses, require

# Every route here needs a key: each may answer 401 and 403 in the error shape.
router = APIRouter(prefix="/api/v1/loyalty", tags=["loyalty"], responses=error_responses(401, 403))

READ = require("loyalty:read")
WRITE = require("loyalty:write")
# What a shop reports as it happens (orders, returns, reviews) earns points by the programme's
# rules: the shop's own key books it. Spending points or granting them by hand is loyalty:write.
EVENTS = require("events:write")

IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_PATTERN = r"^[\x20-\x7e]+$"
_KEY = re.compile(r"[\x20-\x7e]{1,200}")
MAX_PER_PAGE = 200


INVALID = "The request is invalid (`request.invalid`)"
NO_PROGRAMME = "No active programme with this code (`loyalty.unknown_programme`)"
NO_MEMBER = (
    f"{NO_PROGRAMME}, no customer with this key (`customers.not_found`), or the customer is not "
    "a member yet (`loyalty.not_a_member`: a first purchase or event enrols them)."
)
KEY_PROBLEM = (
    f"No `{IDEMPOTENCY_KEY}` header (`idempotency.missing`), or not 1 to 200 printable ASCII "
    "characters (`idempotency.invalid`)"
)
NOT_TEXT = "body is not UTF-8 text (`http.bad_request`)"
MISMATCH = "the key was used for another request (`idempotency.mismatch`): use a new key"
READ_MEMBER = described_errors({404: NO_MEMBER, 422: INVALID + "."})


def _idempotent(
    described: dict[int, str], replayed: str, model: type = BookingPublic
) -> dict[str, Any]:
    """A booking's route options: the required ``Idempotency-Key`` header and the answers."""
    bad = f"{KEY_PROBLEM}; {described.get(400, '')}or the {NOT_TEXT}."
    errors = described_errors({422: f"{INVALID}, or {MISMATCH}."} | described | {400: bad})
    replay = {
        "model": model,
        "description": replayed,
        "headers": {
            REPLAYED: {
                "description": "`true`: this is the answer of an earlier request with the same "
                "key and body, and nothing was booked again.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    }
    header = {
        "name": IDEMPOTENCY_KEY,
        "in": "header",
        "required": True,
        "description": "A unique value per booking (a UUID, say), sent again unchanged when "
        "retrying it: 1 to 200 printable ASCII characters.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _PATTERN},
        "example": "3f0c2a9e-5d1b-4e7a-9c1f-0b8e2d6a4f11",
    }
    return {"responses": {200: replay} | errors, "openapi_extra": {"parameters": [header]}}


def idempotency_key(request: Request) -> str:
    """The request's ``Idempotency-Key`` (read here so that a missing one has its own code)."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None or not key.strip():
        raise PatronError(
            f"a booking needs an {IDEMPOTENCY_KEY} header: a unique value per booking, which a "
            "retry sends again unchanged",
            code="idempotency.missing",
        )
    if not _KEY.fullmatch(key):
        raise PatronError(
            f"the {IDEMPOTENCY_KEY} header has 1 to 200 printable ASCII characters",
            code="idempotency.invalid",
            details={"length": len(key)},
        )
    return key


def known_programme(
    session: SessionDep,
    programme: Annotated[
        str, Path(max_length=40, pattern=TEXT, description="The programme's code: `club`.")
    ],
) -> ProgrammeSpec:
    """The programme's rules; checked before the body, so a wrong path is a 404 first."""
    return find_programme(session, programme)[1]


IdempotencyKeyDep = Annotated[str, Depends(idempotency_key)]
ProgrammeDep = Annotated[ProgrammeSpec, Depends(known_programme)]
Customer = Annotated[
    str,
    Path(
        max_length=200,
        pattern=TEXT,
        description="The external id, or Patron's number for the customer.",
    ),
]


def _answer(response: Response, booked: service.Booked) -> BookingPublic:
    if booked.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    return booked.booking


# --- bookings --------------------------------------------------------------------------------


@router.post(
    "/{programme}/purchases",
    status_code=201,
    response_model=BookingPublic,
    dependencies=[EVENTS],
    **_idempotent(
        {
            400: "the purchase is not in the programme's currency (`loyalty.currency`); a "
            "customer referred by themselves (`loyalty.self_referral`); ",
            404: f"{NO_PROGRAMME}, or no customer with this key (`customers.not_found`, also "
            "for `referred_by`).",
            409: "The order already earned points under another key (`loyalty.duplicate_order`).",
        },
        f"The purchase was booked before: the stored answer, with `{REPLAYED}: true`.",
    ),
)
def record_purchase(
    session: SessionDep,
    spec: ProgrammeDep,
    key: IdempotencyKeyDep,
    body: PurchaseIn,
    response: Response,
    actor: ApiKeyActorDep,
) -> BookingPublic:
    """Earn points for a purchase, by the programme's rules; a first purchase enrols the customer.

    Points are pending for the return window before they can be redeemed. The answer lists the
    reasons (rate, multipliers, bonuses, cap) and the balance after the booking.
    """
    booked = service.record_purchase(
        session, programme_code=spec.code, key=key, purchase=body, actor=actor, now=utcnow()
    )
    return _answer(response, booked)


@router.post(
    "/{programme}/returns",
    status_code=201,
    response_model=BookingPublic,
    dependencies=[EVENTS],
    **_idempotent(
        {
            404: f"{NO_PROGRAMME}, no customer with this key (`customers.not_found`), or no "
            "purchase of this order earned them points (`loyalty.unknown_order`).",
            422: f"{INVALID}; the lines, amount or share do not fit the purchase "
            f"(`loyalty.invalid_return`, `points.over_returned`); or {MISMATCH}.",
        },
        f"The return was booked before: the stored answer, with `{REPLAYED}: true`.",
    ),
)
def record_return(
    session: SessionDep,
    spec: ProgrammeDep,
    key: IdempotencyKeyDep,
    body: ReturnIn,
    response: Response,
    actor: ApiKeyActorDep,
) -> BookingPublic:
    """Take back the points that the returned part of a purchase earned.

    Name the returned lines (by position, with the share of each that came back), or the
    refunded amount, or a share of the whole order. Points already spent become return debt,
    shown in the balance and paid off by the next points earned.
    """
    booked = service.record_return(
        session, programme_code=spec.code, key=key, returned=body, actor=actor, now=utcnow()
    )
    return _answer(response, booked)


@router.post(
    "/{programme}/events",
    status_code=201,
    response_model=BookingPublic,
    dependencies=[EVENTS],
    **_idempotent(
        {
            404: f"{NO_PROGRAMME}, or no customer with this key (`customers.not_found`).",
            409: "This event already earned its bonus (`loyalty.duplicate_event`).",
            422: f"{INVALID}; the programme grants nothing for this type "
            f"(`loyalty.unknown_event`); or {MISMATCH}.",
        },
        f"The event was booked before: the stored answer, with `{REPLAYED}: true`.",
    ),
)
def record_event(
    session: SessionDep,
    spec: ProgrammeDep,
    key: IdempotencyKeyDep,
    body: EventIn,
    response: Response,
    actor: ApiKeyActorDep,
) -> BookingPublic:
    """Grant the programme's bonus for an event (a review, a survey answered, …), once per
    event's reference."""
    booked = service.record_event(
        session, programme_code=spec.code, key=key, happened=body, actor=actor, now=utcnow()
    )
    return _answer(response, booked)


REWARD_PROBLEMS = (
    "`loyalty.reward_not_yet`, `loyalty.reward_ended`, `loyalty.tier_required`, "
    "`loyalty.limit_reached`, `loyalty.out_of_stock`"
)


@router.post(
    "/{programme}/redemptions",
    status_code=201,
    response_model=BookingPublic,
    dependencies=[WRITE],
    **_idempotent(
        {
            404: f"{NO_PROGRAMME}, no customer with this key (`customers.not_found`), or no "
            "such reward (`loyalty.unknown_reward`).",
            409: "Too few points available (`points.insufficient`), or the member cannot "
            f"redeem the reward now ({REWARD_PROBLEMS}).",
        },
        f"The redemption was booked before: the stored answer, with `{REPLAYED}: true`.",
    ),
)
def redeem(
    session: SessionDep,
    spec: ProgrammeDep,
    key: IdempotencyKeyDep,
    body: RedeemIn,
    response: Response,
    actor: ApiKeyActorDep,
) -> BookingPublic:
    """Redeem a reward from the catalogue (`reward`), or pay part of an order with points
    (`points` and `order`).

    Only available points count: pending ones vest after the return window. A voucher reward
    answers its new voucher in `voucher`.
    """
    booked = service.redeem(
        session, programme_code=spec.code, key=key, request=body, actor=actor, now=utcnow()
    )
    return _answer(response, booked)


@router.post(
    "/{programme}/adjustments",
    status_code=201,
    response_model=BookingPublic,
    dependencies=[WRITE],
    **_idempotent(
        {
            404: f"{NO_PROGRAMME}, or no customer with this key (`customers.not_found`).",
            409: "Taking off more points than the member holds, without `allow_negative` "
            "(`points.insufficient`).",
            422: f"{INVALID}; zero points or a blank reason (`points.invalid`); or {MISMATCH}.",
        },
        f"The adjustment was booked before: the stored answer, with `{REPLAYED}: true`.",
    ),
)
def adjust_points(
    session: SessionDep,
    spec: ProgrammeDep,
    key: IdempotencyKeyDep,
    body: AdjustIn,
    response: Response,
    actor: ApiKeyActorDep,
) -> BookingPublic:
    """Grant (positive) or take off (negative) points by hand, with a reason.

    Audited under the API key's name (`apikey:<prefix>`). Granted points never expire; with
    `allow_negative`, taking off more than the member holds leaves the rest as debt.
    """
    booked = service.adjust(
        session, programme_code=spec.code, key=key, request=body, actor=actor, now=utcnow()
    )
    return _answer(response, booked)


# --- members ---------------------------------------------------------------------------------


@router.get(
    "/{programme}/members",
    response_model=MembersPublic,
    dependencies=[READ],
    responses=described_errors({404: NO_PROGRAMME + ".", 422: INVALID + "."}),
)
def list_members(
    session: SessionDep,
    spec: ProgrammeDep,
    search: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=TEXT,
            description="Part of a name, e-mail address or external id.",
        ),
    ] = None,
    tier: Annotated[
        str | None, Query(max_length=40, pattern=TEXT, description="A tier's code.")
    ] = None,
    page: Annotated[int, Query(ge=1, le=customers.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
) -> MembersPublic:
    """One page of the programme's members, highest balance first; `count` is all matches."""
    return reading.members(
        session, programme_code=spec.code, search=search, tier=tier, page=page, per_page=per_page
    )


@router.get(
    "/{programme}/members/{customer}",
    response_model=BalancePublic,
    dependencies=[READ],
    responses=READ_MEMBER,
)
def member_balance(session: SessionDep, spec: ProgrammeDep, customer: Customer) -> BalancePublic:
    """The member's balance: available now, pending (vesting), return debt, what the available
    points are worth, what expires in the next 90 days, and the tier."""
    return reading.balance(session, programme_code=spec.code, customer=customer, now=utcnow())


@router.get(
    "/{programme}/members/{customer}/statement",
    response_model=StatementPublic,
    dependencies=[READ],
    responses=READ_MEMBER,
)
def member_statement(
    session: SessionDep,
    spec: ProgrammeDep,
    customer: Customer,
    page: Annotated[int, Query(ge=1, le=customers.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
) -> StatementPublic:
    """One page of the member's entries, newest first, each with the balance after it; `count`
    is all entries. `lots` are every grant of points with what remains of it."""
    return reading.statement(
        session, programme_code=spec.code, customer=customer, page=page, per_page=per_page
    )


@router.get(
    "/{programme}/members/{customer}/progress",
    response_model=ProgressPublic,
    dependencies=[READ],
    responses=READ_MEMBER,
)
def member_progress(session: SessionDep, spec: ProgrammeDep, customer: Customer) -> ProgressPublic:
    """The member's tier, what counts toward the next one in the qualifying window, what is
    missing and by when, and what keeps the current tier."""
    return reading.progress(session, programme_code=spec.code, customer=customer, now=utcnow())


@router.get(
    "/{programme}/members/{customer}/rewards",
    response_model=list[RewardPublic],
    dependencies=[READ],
    responses=READ_MEMBER,
)
def member_rewards(
    session: SessionDep, spec: ProgrammeDep, customer: Customer
) -> list[RewardPublic]:
    """The catalogue as this member sees it: each reward `redeemable` now, or `why_not`."""
    return reading.rewards(session, programme_code=spec.code, customer=customer, now=utcnow())


@router.get(
    "/{programme}/members/{customer}/vouchers",
    response_model=list[VoucherPublic],
    dependencies=[READ],
    responses=READ_MEMBER,
)
def member_vouchers(
    session: SessionDep, spec: ProgrammeDep, customer: Customer
) -> list[VoucherPublic]:
    """The member's vouchers, newest first, used and expired ones included."""
    found = reading.vouchers_of(session, programme_code=spec.code, customer=customer)
    return [service.voucher_public(voucher, spec.currency) for voucher in found]


# --- rewards and vouchers --------------------------------------------------------------------


@router.get(
    "/{programme}/rewards",
    response_model=list[RewardPublic],
    dependencies=[READ],
    responses=described_errors({404: NO_PROGRAMME + ".", 422: INVALID + "."}),
)
def reward_catalogue(session: SessionDep, spec: ProgrammeDep) -> list[RewardPublic]:
    """The programme's active rewards, cheapest first (`redeemable` is for a member's view)."""
    return reading.rewards(session, programme_code=spec.code, customer=None, now=utcnow())


VOUCHER_PROBLEMS = (
    "`voucher.cancelled`, `voucher.not_yet_valid`, `voucher.expired`, `voucher.used`, "
    "`voucher.currency`, `voucher.minimum_order`, `voucher.other_customer`"
)
NO_VOUCHER = (
    f"{NO_PROGRAMME}, no such voucher (`voucher.unknown`), or no customer with this key "
    "(`customers.not_found`)."
)
VoucherCode = Annotated[str, Path(max_length=40, pattern=TEXT, description="The voucher's code.")]


@router.post(
    "/{programme}/vouchers/{code}/validate",
    response_model=VoucherCheckPublic,
    dependencies=[READ],
    responses=described_errors({400: f"The {NOT_TEXT}.", 404: NO_VOUCHER, 422: INVALID + "."}),
)
def validate_voucher(
    session: SessionDep, spec: ProgrammeDep, code: VoucherCode, body: VoucherCheckIn
) -> VoucherCheckPublic:
    """Whether the voucher can be used on this order now, and the discount; nothing is booked.

    A voucher that cannot be used answers `valid: false`, with a stable code in `reason`
    (`voucher.cancelled`, `voucher.not_yet_valid`, `voucher.expired`, `voucher.used`,
    `voucher.currency`, `voucher.minimum_order`, `voucher.other_customer`) and a sentence in
    `message`.
    """
    return service.check_voucher(
        session, programme_code=spec.code, code=code, request=body, now=utcnow()
    )


@router.post(
    "/{programme}/vouchers/{code}/consume",
    response_model=VoucherCheckPublic,
    dependencies=[WRITE],
    **_idempotent(
        {
            404: NO_VOUCHER,
            409: f"The voucher cannot be used on this order; the code says why ({VOUCHER_PROBLEMS})"
            " and `details` holds the check. Nothing was booked.",
        },
        f"The voucher was used on the order, or (with `{REPLAYED}: true`) by an earlier "
        "request with this key: its stored answer.",
        VoucherCheckPublic,
    ),
)
def consume_voucher(
    session: SessionDep,
    spec: ProgrammeDep,
    key: IdempotencyKeyDep,
    code: VoucherCode,
    body: VoucherConsumeIn,
    response: Response,
) -> VoucherCheckPublic:
    """Use the voucher on an order: one of its uses is taken, and the discount answered."""
    checked, replayed = service.consume_voucher(
        session, programme_code=spec.code, code=code, key=key, request=body, now=utcnow()
    )
    if not checked.valid:
        raise Conflict(
            checked.message or f"voucher {checked.code} cannot be used",
            code=checked.reason or "voucher.invalid",
            details=checked.model_dump(mode="json"),
        )
    if replayed:
        response.headers[REPLAYED] = "true"
    return checked


@router.post(
    "/{programme}/vouchers",
    status_code=201,
    response_model=list[VoucherPublic],
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: f"The {NOT_TEXT}.",
            404: f"{NO_PROGRAMME}, or no customer with this key (`customers.not_found`).",
            422: INVALID + ".",
        }
    ),
)
def issue_vouchers(
    session: SessionDep, spec: ProgrammeDep, body: VoucherIssueIn, actor: ApiKeyActorDep
) -> list[VoucherPublic]:
    """Issue `count` amount vouchers, for one customer or for anyone with the code; audited
    under the API key's name."""
    return service.issue_vouchers(
        session, programme_code=spec.code, request=body, actor=actor, now=utcnow()
    )


# --- reports ---------------------------------------------------------------------------------


@router.get("/liability", response_model=list[LiabilityRow], dependencies=[READ])
def points_liability(session: SessionDep) -> list[LiabilityRow]:
    """Per active programme: the outstanding points (pending included, less return debt), what
    they are worth, and what expires next calendar month."""
    return reading.liability(session, now=utcnow())
