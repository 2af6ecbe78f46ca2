"""JSON routes of cases under ``/api/v1``: open a case (from a shop, a contact form, a phone
system), list and read cases, answer the customer, note, move a case along its status flow,
assign it, and the service-recovery report.

Opening takes an idempotency key (``key`` in the body, or the ``Idempotency-Key`` header): the
same key again answers 200 with the case opened the first time and opens nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from patron.care.cases import recovery, service
from patron.care.cases.schemas import (
    AssignIn,
    CaseCreate,
    CaseDetail,
    CasesPublic,
    EntryPublic,
    NoteIn,
    RecoveryPublic,
    ReplyIn,
    Status,
    StatusIn,
)
from patron.care.models import OPEN_STATUSES, Case
from patron.customers import service as customers
from patron.db import utcnow
from patron.errors import NotFound, PatronError
from patron.web.deps import (
    ApiKeyActorDep,
    SessionDep,
    SettingsDep,
    described_errors,
    error_responses,
    require,
)

router = APIRouter(prefix="/api/v1", tags=["cases"], responses=error_responses(401, 403))
READ = require("cases:read")
WRITE = require("cases:write")
NOT_TEXT = "The body is not UTF-8 text (`http.bad_request`)."
INVALID = "The request is invalid (`request.invalid`, `cases.invalid` naming the field)."
NO_CASE = "No case with this number (`cases.not_found`)."
TRANSITION = "The status flow does not allow this (`cases.transition`): the answer names from, to."
REPEATED: dict[int | str, dict[str, Any]] = {
    200: {"model": CaseDetail, "description": "Opened before under this key: that case."}
}
CaseKey = Annotated[str, Path(max_length=20, description="The case's number.")]


def known_case(session: SessionDep, case: CaseKey) -> int:
    """The case's number, if there is such a case (404 first, before the body)."""
    number = int(case) if case.isascii() and case.isdigit() and len(case) <= 9 else None
    if number is None or session.get(Case, number) is None:
        raise NotFound(f"no case {case!r}", code="cases.not_found", details={"case": case})
    return number


KnownCase = Annotated[int, Depends(known_case)]


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseDetail,
    dependencies=[WRITE],
    responses=REPEATED
    | described_errors(
        {
            400: NOT_TEXT,
            404: "No such customer or order (`customers.not_found`, `orders.not_found`).",
            422: INVALID,
        }
    ),
)
def open_case(
    session: SessionDep,
    settings: SettingsDep,
    actor: ApiKeyActorDep,
    body: CaseCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=200, description="Instead of `key`."),
    ] = None,
) -> CaseDetail:
    """Open a case for a customer, optionally about one of their orders. Its deadlines follow
    from the SLA policy for its priority and the customer's ABC class, in working hours."""
    key = body.key or idempotency_key
    if body.key and idempotency_key and body.key != idempotency_key:
        raise PatronError(
            "the body's key and the Idempotency-Key header differ: send one of them",
            code="request.invalid",
        )
    made, created = service.open_case(
        session,
        customer=body.customer,
        subject=body.subject,
        description=body.description,
        kind=body.kind.value,
        category=body.category,
        priority=body.priority.value,
        channel=body.channel.value,
        order=body.order,
        assignee_id=body.assignee_id,
        team=body.team,
        key=key,
        author=actor,
        settings=settings,
        now=utcnow(),
    )
    if not created:
        response.status_code = 200
    return made


@router.get(
    "/cases",
    response_model=CasesPublic,
    dependencies=[READ],
    responses=described_errors({404: "No such customer (`customers.not_found`).", 422: INVALID}),
)
def list_cases(
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[list[Status], Query(description="Any of these statuses.")] = [],  # noqa: B006
    open_only: Annotated[bool, Query(alias="open", description="Only open cases.")] = False,
    customer: Annotated[str | None, Query(max_length=64)] = None,
    assignee_id: Annotated[int | None, Query(ge=1)] = None,
    unassigned: bool = False,
    team: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(pattern="^(complaint|question|request)$")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    priority: Annotated[str | None, Query(pattern="^(low|normal|high|urgent)$")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 100,
) -> CasesPublic:
    """Cases matching every filter, the most urgent deadline first (each says whether it is
    at risk or breached, and the working hours left)."""
    wanted = [s.value for s in status] or (list(OPEN_STATUSES) if open_only else [])
    customer_id = customers.customer_ref(session, key=customer).id if customer else None
    return service.list_cases(
        session,
        settings=settings,
        now=utcnow(),
        status=wanted,
        customer_id=customer_id,
        assignee_id=assignee_id,
        unassigned=unassigned,
        team=team,
        kind=kind,
        category=category,
        priority=priority,
        limit=limit,
    )


@router.get(
    "/cases/{case}",
    response_model=CaseDetail,
    dependencies=[READ],
    responses=described_errors({404: NO_CASE}),
)
def get_case(session: SessionDep, settings: SettingsDep, case_id: KnownCase) -> CaseDetail:
    """One case with its whole history (notes included), oldest entry first."""
    return service.detail(session, case_id=case_id, settings=settings, now=utcnow())


@router.post(
    "/cases/{case}/replies",
    status_code=201,
    response_model=EntryPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: NOT_TEXT,
            404: NO_CASE,
            409: "The customer has no usable e-mail address (`message.unreachable`), or the "
            "case is closed (`cases.transition`).",
            422: INVALID,
        }
    ),
)
def reply(
    session: SessionDep,
    settings: SettingsDep,
    actor: ApiKeyActorDep,
    case_id: KnownCase,
    body: ReplyIn,
) -> EntryPublic:
    """Answer the customer: the reply is e-mailed to them (unless `send` is false) with
    `[Case #id]` in the subject, so their answer comes back into the case."""
    return service.reply(
        session,
        case_id=case_id,
        body=body.body,
        author=actor,
        settings=settings,
        now=utcnow(),
        wait=body.wait,
        send=body.send,
    )


@router.post(
    "/cases/{case}/notes",
    status_code=201,
    response_model=EntryPublic,
    dependencies=[WRITE],
    responses=described_errors({400: NOT_TEXT, 404: NO_CASE, 422: INVALID}),
)
def add_note(
    session: SessionDep, actor: ApiKeyActorDep, case_id: KnownCase, body: NoteIn
) -> EntryPublic:
    """An internal note; the customer never sees it."""
    return service.add_note(session, case_id=case_id, body=body.body, author=actor, now=utcnow())


@router.post(
    "/cases/{case}/status",
    response_model=CaseDetail,
    dependencies=[WRITE],
    responses=described_errors({400: NOT_TEXT, 404: NO_CASE, 409: TRANSITION, 422: INVALID}),
)
def change_status(
    session: SessionDep,
    settings: SettingsDep,
    actor: ApiKeyActorDep,
    case_id: KnownCase,
    body: StatusIn,
) -> CaseDetail:
    """Move the case: new → in_progress → waiting → resolved → closed (a resolved case may be
    reopened; closed is final). Resolving sends the customer the CSAT survey."""
    return service.change_status(
        session,
        case_id=case_id,
        status=body.status.value,
        author=actor,
        settings=settings,
        now=utcnow(),
        note=body.note,
    )


@router.post(
    "/cases/{case}/assign",
    response_model=CaseDetail,
    dependencies=[WRITE],
    responses=described_errors({400: NOT_TEXT, 404: NO_CASE, 422: INVALID}),
)
def assign(
    session: SessionDep,
    settings: SettingsDep,
    actor: ApiKeyActorDep,
    case_id: KnownCase,
    body: AssignIn,
) -> CaseDetail:
    """Give the case to an agent (a user whose role may work on cases) and/or a team."""
    return service.assign(
        session,
        case_id=case_id,
        assignee_id=body.assignee_id,
        team=body.team,
        author=actor,
        settings=settings,
        now=utcnow(),
    )


@router.get(
    "/reports/service-recovery",
    response_model=RecoveryPublic,
    dependencies=[READ],
    responses=described_errors({422: INVALID}),
)
def service_recovery(
    session: SessionDep,
    as_of: Annotated[
        date | None, Query(description="The report's day (end of day, UTC); default: now.")
    ] = None,
    window_days: Annotated[int, Query(ge=1, le=3650)] = 90,
) -> RecoveryPublic:
    """Repurchase rate and CLV change after a complaint, for customers whose complaint was
    resolved, was not, and who never complained — with the counts behind each number."""
    return recovery.report(session, as_of=_end_of(as_of), window_days=window_days)


def _end_of(day: date | None) -> datetime:
    if day is None:
        return utcnow()
    return datetime.combine(day, time.max, tzinfo=UTC)
