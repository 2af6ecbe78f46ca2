"""The e-mails a case sends through engagement: an agent's reply, and the CSAT survey when it is
resolved. Both are transactional (the customer asked us something; no consent needed) and keyed
(``case-reply:<entry id>``, ``case-csat:<case id>``), so a retry sends nothing twice and a case
resolved again after reopening asks for a rating only once.

The templates (``case_reply``, ``case_csat`` in ``engage/library``) get ``case`` (``id``,
``subject``, ``marker``) and ``reply`` (the answer's paragraphs) or ``survey_url`` (a signed
link to the CSAT question, answered as ``case:<id>``); their subject carries ``[Case #<id>]``,
which ``inbound`` reads when the customer answers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.care.models import Case
from patron.care.surveys import service as surveys
from patron.config import Settings
from patron.customers.models import Customer
from patron.engage import library, transactional
from patron.engage.models import MessageTemplate

REPLY_TEMPLATE = "case_reply"
CSAT_TEMPLATE = "case_csat"
CHANNEL = "email"
MARKER = "[Case #{id}]"
# "[Case #12]", also as a mail program may write it back ("[case #12]", "[Case#12]")
MARKER_PATTERN = re.compile(r"\[\s*case\s*#\s*(\d{1,9})\s*\]", re.IGNORECASE)
UNSENT = "The satisfaction survey could not be sent: the customer has no usable e-mail address."


def marker(case_id: int) -> str:
    return MARKER.format(id=case_id)


def case_in_subject(subject: str) -> int | None:
    """The case number of a ``[Case #12]`` marker in a subject, if it has one."""
    found = MARKER_PATTERN.search(subject or "")
    return int(found[1]) if found else None


def reply(
    session: Session, row: Case, *, entry_id: int, text: str, settings: Settings, now: datetime
) -> int:
    """Queue the reply to the customer (committing the caller's transaction with it); the
    outbox message's id. ``transactional.Unreachable`` when the customer has no usable address."""
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]
    message, _ = _send(
        session,
        row,
        template=REPLY_TEMPLATE,
        key=f"case-reply:{entry_id}",
        variables={"reply": paragraphs},
        settings=settings,
        now=now,
    )
    return message


def csat(session: Session, row: Case, *, settings: Settings, now: datetime) -> str | None:
    """Queue the CSAT survey of a resolved case (committing with it); None when it was queued
    (now or earlier), else why it could not be (the customer has no usable address)."""
    link = surveys.survey_link(
        session,
        survey=surveys.CSAT,
        customer_id=row.customer_id,
        reference=f"case:{row.id}",
        settings=settings,
    )
    try:
        _send(
            session,
            row,
            template=CSAT_TEMPLATE,
            key=f"case-csat:{row.id}",
            variables={"survey_url": link},
            settings=settings,
            now=now,
        )
    except transactional.Unreachable:
        return UNSENT
    return None


def _send(
    session: Session,
    row: Case,
    *,
    template: str,
    key: str,
    variables: dict[str, Any],
    settings: Settings,
    now: datetime,
) -> tuple[int, bool]:
    _ensure_template(session, template, now)
    message, created = transactional.send(
        session,
        customer=_customer_key(session, row.customer_id),
        template_key=template,
        channel=CHANNEL,
        key=key,
        variables={
            "case": {"id": row.id, "subject": row.subject, "marker": marker(row.id)},
            **variables,
        },
        settings=settings,
        now=now,
    )
    return message.id, created


def _ensure_template(session: Session, key: str, now: datetime) -> None:
    """Install the shipped templates when the store lacks this one (a store made before it
    shipped, whose ``patron db upgrade`` has not run since)."""
    if session.scalar(select(MessageTemplate.id).where(MessageTemplate.key == key)) is None:
        library.install(session, now=now)


def _customer_key(session: Session, customer_id: int) -> str:
    """How ``transactional.send`` finds the customer: their external id, else their number."""
    external = session.scalar(select(Customer.external_id).where(Customer.id == customer_id))
    if external:
        return external
    # The number, unless another customer's external id is that very text (it would win).
    clash = session.scalar(select(Customer.id).where(Customer.external_id == str(customer_id)))
    if clash is not None:
        raise transactional.Unreachable(
            f"customer number {customer_id} is another customer's external id; give the "
            "customer an external id to write to them",
            details={"customer_id": customer_id},
        )
    return str(customer_id)
