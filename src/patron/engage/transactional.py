"""Transactional messages: a service message to one customer, sent because the shop asks.

They need no marketing consent and keep no frequency cap or quiet hours — an order
confirmation at 23:00 is expected — but they do respect a suppressed address (a hard bounce,
a complaint). The caller's idempotency key makes a retried request queue nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.engage import audience, context, library
from patron.engage import messages as outbox
from patron.engage.models import Message
from patron.engage.rendering import render
from patron.engage.schemas import MessagePublic
from patron.errors import PatronError


class Unreachable(PatronError):
    code = "message.unreachable"
    status = 409


def send(
    session: Session,
    *,
    customer: str,
    template_key: str,
    channel: str,
    key: str,
    variables: Mapping[str, Any],
    settings: Settings,
    now: datetime,
) -> tuple[MessagePublic, bool]:
    """Queue one transactional message and commit; ``(message, created)``.

    The same key again answers with the message queued the first time (``created`` False).
    """
    stored_key = f"t:{key}"
    existing = session.scalar(select(Message).where(Message.key == stored_key))
    if existing is not None:
        return outbox.public(existing), False
    found = customers.customer_ref(session, key=customer)
    template = library.template(session, template_key)
    addresses = audience.reachable(
        session, channel=channel, purpose="transactional", among=[found.id]
    )
    if found.id not in addresses:
        raise Unreachable(
            f"customer {customer} has no usable {channel} address (none, or suppressed)",
            details={"customer": customer, "channel": channel},
        )
    personal = context.contexts(
        session,
        [found.id],
        needs=context.needs(template),
        settings=settings,
        now=now,
        channel=channel,
        purpose="transactional",
        references={found.id: stored_key},
    )[found.id]
    language = session.scalar(select(Customer.language).where(Customer.id == found.id))
    rendered = render(
        template,
        {**personal, **variables},
        language=language,
        default_language=settings.language,
    )
    made = outbox.enqueue(
        session,
        [
            outbox.Outgoing(
                key=stored_key,
                customer_id=found.id,
                channel=channel,
                purpose="transactional",
                language=rendered.language,
                recipient=addresses[found.id],
                subject=rendered.subject,
                html=rendered.html,
                text=rendered.text,
                send_after=now,
                template_key=template_key,
            )
        ],
        now=now,
    )
    session.commit()
    message = session.scalars(select(Message).where(Message.key == stored_key)).one()
    return outbox.public(message), bool(made)
