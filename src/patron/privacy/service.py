"""Erasure requests: made by the person (portal), the shop (API) or staff; approved or
rejected by staff with ``privacy:manage``. Approving erases in the same transaction that
records the decision, so a request is never "done" with the data still there, nor the data
gone with the request still open.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.errors import Conflict, NotFound, PatronError
from patron.outbox import service as outbox
from patron.privacy.erasure import erase
from patron.privacy.models import REQUEST_SOURCES, ErasureRequest
from patron.privacy.schemas import ErasureRequestPublic, ErasureRequestsPublic

LARGEST_ID = 2**31 - 1


class PrivacyInvalid(PatronError):
    code = "privacy.invalid"
    status = 422


def request_erasure(
    session: Session, customer_id: int, *, source: str, now: datetime
) -> ErasureRequestPublic:
    """Ask for the person's erasure; while one is open, asking again answers the open one.
    Commits. ``privacy.already_erased`` if the person is gone already."""
    if source not in REQUEST_SOURCES:
        raise PrivacyInvalid(
            f"unknown source {source!r}; the sources are {', '.join(REQUEST_SOURCES)}",
            details={"source": source, "allowed": list(REQUEST_SOURCES)},
        )
    _live_customer(session, customer_id)
    row = _open_request(session, customer_id)
    if row is None:
        row = ErasureRequest(customer_id=customer_id, source=source, requested_at=now)
        session.add(row)
        session.flush()
    public = ErasureRequestPublic.model_validate(row)
    session.commit()
    return public


def pending(session: Session) -> list[ErasureRequestPublic]:
    """The open requests, oldest first: the queue staff work through."""
    rows = session.scalars(
        select(ErasureRequest)
        .where(ErasureRequest.status == "requested")
        .order_by(ErasureRequest.requested_at, ErasureRequest.id)
    )
    return [ErasureRequestPublic.model_validate(row) for row in rows]


def list_requests(
    session: Session, *, status: str | None = None, limit: int = 100
) -> ErasureRequestsPublic:
    """Requests (of one status, or all): open ones oldest first, then decided ones newest first."""
    where = [] if status is None else [ErasureRequest.status == status]
    count = session.scalar(select(func.count()).select_from(ErasureRequest).where(*where)) or 0
    is_open = case((ErasureRequest.status == "requested", 0), else_=1)
    rows = session.scalars(
        select(ErasureRequest)
        .where(*where)
        .order_by(
            is_open,
            case(
                (ErasureRequest.status == "requested", ErasureRequest.id), else_=-ErasureRequest.id
            ),
        )
        .limit(limit)
    )
    return ErasureRequestsPublic(
        data=[ErasureRequestPublic.model_validate(row) for row in rows], count=int(count)
    )


def request_of(session: Session, customer_id: int) -> ErasureRequestPublic | None:
    """The person's open request, else their latest decided one, else None."""
    row = _open_request(session, customer_id) or session.scalar(
        select(ErasureRequest)
        .where(ErasureRequest.customer_id == customer_id)
        .order_by(ErasureRequest.id.desc())
        .limit(1)
    )
    return None if row is None else ErasureRequestPublic.model_validate(row)


def approve(
    session: Session, request_id: int, *, user_id: int | None, now: datetime
) -> ErasureRequestPublic:
    """Erase the person and mark the request done, in one transaction. Commits.

    Approving a done request again answers it unchanged; a rejected one cannot be approved
    (``privacy.decided``): the person asks again.
    """
    row = _request(session, request_id, lock=True)
    if row.status == "done":
        return ErasureRequestPublic.model_validate(row)
    if row.status == "rejected":
        raise _decided(row)
    summary = erase(session, row.customer_id, now=now)
    row = _request(session, request_id, lock=False)
    row.status, row.decided_by, row.decided_at, row.summary = "done", user_id, now, summary
    outbox.enqueue(
        session,
        topic="customer.erased",
        payload={"customer_id": row.customer_id, "request_id": row.id, "at": now.isoformat()},
        key=f"customer.erased:{row.id}",
        now=now,
    )
    session.flush()
    public = ErasureRequestPublic.model_validate(row)
    session.commit()
    return public


def reject(
    session: Session, request_id: int, *, user_id: int | None, note: str, now: datetime
) -> ErasureRequestPublic:
    """Refuse an open request, saying why (``note``, 1 to 500 characters). Commits.

    Rejecting a rejected request again answers it unchanged; a done one cannot be
    (``privacy.decided``).
    """
    note = " ".join(note.split())
    if not note or len(note) > 500:
        raise PrivacyInvalid(
            "note: say why the request is rejected, in 1 to 500 characters",
            details={"field": "note", "length": len(note)},
        )
    row = _request(session, request_id, lock=True)
    if row.status == "rejected":
        return ErasureRequestPublic.model_validate(row)
    if row.status == "done":
        raise _decided(row)
    row.status, row.decided_by, row.decided_at, row.note = "rejected", user_id, now, note
    session.flush()
    public = ErasureRequestPublic.model_validate(row)
    session.commit()
    return public


def erase_now(
    session: Session, customer_id: int, *, user_id: int | None, now: datetime
) -> ErasureRequestPublic:
    """Staff erase a person at once: recorded as a request from ``staff`` (or the person's
    open request), approved in the same step. Commits. An erased person's done request is
    answered unchanged."""
    customer = _customer(session, customer_id)
    if customer.erased_at is not None:
        done = request_of(session, customer_id)
        if done is not None and done.status == "done":
            return done
    row = _open_request(session, customer_id)
    if row is None:
        row = ErasureRequest(customer_id=customer_id, source="staff", requested_at=now)
        session.add(row)
        session.flush()
    return approve(session, row.id, user_id=user_id, now=now)


def _customer(session: Session, customer_id: int) -> Customer:
    row = session.get(Customer, customer_id) if 0 < customer_id <= LARGEST_ID else None
    if row is None:
        raise NotFound(
            f"no customer with number {customer_id}",
            code="customers.not_found",
            details={"customer_id": customer_id},
        )
    return row


def _live_customer(session: Session, customer_id: int) -> Customer:
    row = _customer(session, customer_id)
    if row.erased_at is not None:
        raise Conflict(
            f"customer {customer_id} was erased on {row.erased_at:%Y-%m-%d}",
            code="privacy.already_erased",
            details={"customer_id": customer_id, "erased_at": row.erased_at.isoformat()},
        )
    return row


def _open_request(session: Session, customer_id: int) -> ErasureRequest | None:
    return session.scalar(
        select(ErasureRequest)
        .where(ErasureRequest.customer_id == customer_id, ErasureRequest.status == "requested")
        .order_by(ErasureRequest.id)
        .limit(1)
    )


def _request(session: Session, request_id: int, *, lock: bool) -> ErasureRequest:
    query = select(ErasureRequest).where(ErasureRequest.id == request_id)
    row = (
        session.scalar(query.with_for_update() if lock else query)
        if 0 < request_id <= LARGEST_ID
        else None
    )
    if row is None:
        raise NotFound(
            f"no erasure request {request_id}",
            code="privacy.request_not_found",
            details={"request_id": request_id},
        )
    return row


def _decided(row: ErasureRequest) -> Conflict:
    return Conflict(
        f"erasure request {row.id} was {row.status} on {row.decided_at:%Y-%m-%d}",
        code="privacy.decided",
        details={"request_id": row.id, "status": row.status},
    )
