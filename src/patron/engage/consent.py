"""Consent and trust: consent changes, double opt-in, unsubscribe, the suppression list, and the
open and click signals of sent messages.

A withdrawal is honoured at once, not at the next send: the same transaction that records it
cancels the customer's queued marketing on that channel and writes the outbox event, so no
worker can pick up a message the customer has just refused. Every use case commits its own
work. Links (unsubscribe, open, click) are signed (``links``); an opt-in link carries a random
token of which only the SHA-256 is stored, so a copy of the database confirms nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import (
    CONSENT_CHANNELS,
    CONSENT_PURPOSES,
    Consent,
    Customer,
    Interaction,
)
from patron.customers.schemas import CustomerPublic
from patron.engage import audience, links
from patron.engage.messages import Outgoing, enqueue
from patron.engage.models import CHANNELS, SUPPRESSION_REASONS, ConsentRequest, Message, Suppression
from patron.engage.rendering import LANGUAGES, Template, pick_language, render
from patron.engage.schemas_consent import (
    ConsentChangePublic,
    OptInPublic,
    SuppressionChangePublic,
    SuppressionPublic,
    SuppressionsPublic,
)
from patron.errors import Conflict, NotFound, PatronError
from patron.outbox import service as outbox

OPT_IN_VALID = timedelta(days=7)
OPT_IN_SOURCE = "double_opt_in"
MAX_SUPPRESSIONS = 1000


class ConsentInvalid(PatronError):
    code = "consent.invalid"
    status = 400


class OptInExpired(PatronError):
    """The confirmation link is older than ``OPT_IN_VALID``: the customer must ask again."""

    code = "consent.optin_expired"
    status = 410


# --- words of messages and pages ---------------------------------------------------------------

CHANNEL_WORDS: Mapping[str, Mapping[str, str]] = {
    "de": {"email": "E-Mail", "sms": "SMS", "phone": "Telefon", "post": "Post", "push": "Push"},
    "en": {"email": "e-mail", "sms": "SMS", "phone": "phone", "post": "post", "push": "push"},
    "nb": {"email": "e-post", "sms": "SMS", "phone": "telefon", "post": "post", "push": "push"},
}
PURPOSE_WORDS: Mapping[str, Mapping[str, str]] = {
    "de": {
        "marketing": "Neuigkeiten und Angebote",
        "transactional": "Nachrichten zu Ihren Bestellungen",
        "profiling": "persönliche Empfehlungen auf Grundlage Ihrer Einkäufe",
        "surveys": "Einladungen zu Umfragen",
    },
    "en": {
        "marketing": "news and offers",
        "transactional": "messages about your orders",
        "profiling": "personal recommendations based on your purchases",
        "surveys": "invitations to surveys",
    },
    "nb": {
        "marketing": "nyheter og tilbud",
        "transactional": "meldinger om bestillingene dine",
        "profiling": "personlige anbefalinger basert på kjøpene dine",
        "surveys": "invitasjoner til spørreundersøkelser",
    },
}
OPT_IN_TEMPLATE = Template(
    key="optin",
    subjects={
        "de": "Bitte bestätigen: {{ what }} von {{ shop }}",
        "en": "Please confirm: {{ what }} from {{ shop }}",
        "nb": "Bekreft: {{ what }} fra {{ shop }}",
    },
    bodies={
        "de": (
            "<p>Hallo{% if name %} {{ name }}{% endif %},</p>"
            "<p>bitte bestätigen Sie, dass {{ shop }} Ihnen {{ what }} per {{ channel }} "
            "senden darf.</p>"
            '<p><a href="{{ url }}">Ja, ich möchte {{ what }} von {{ shop }}</a></p>'
            "<p>Der Link gilt {{ days }} Tage. Wenn Sie das nicht angefordert haben, ignorieren "
            "Sie diese E-Mail: Ohne Ihre Bestätigung erhalten Sie nichts von uns.</p>"
        ),
        "en": (
            "<p>Hello{% if name %} {{ name }}{% endif %},</p>"
            "<p>please confirm that {{ shop }} may send you {{ what }} by {{ channel }}.</p>"
            '<p><a href="{{ url }}">Yes, I want {{ what }} from {{ shop }}</a></p>'
            "<p>The link is valid for {{ days }} days. If you did not ask for this, ignore this "
            "e-mail: without your confirmation you will get nothing from us.</p>"
        ),
        "nb": (
            "<p>Hei{% if name %} {{ name }}{% endif %},</p>"
            "<p>bekreft at {{ shop }} kan sende deg {{ what }} via {{ channel }}.</p>"
            '<p><a href="{{ url }}">Ja, jeg vil ha {{ what }} fra {{ shop }}</a></p>'
            "<p>Lenken gjelder i {{ days }} dager. Hvis du ikke har bedt om dette, kan du se bort "
            "fra denne e-posten: uten din bekreftelse får du ingenting fra oss.</p>"
        ),
    },
)


def language_of(customer_language: str | None, settings: Settings) -> str:
    """The language to address a customer in: theirs if Patron speaks it, else the shop's."""
    return pick_language(customer_language, LANGUAGES, default=settings.language)


# --- consent changes ---------------------------------------------------------------------------


def record_consent(
    session: Session,
    *,
    customer_id: int,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    now: datetime,
) -> ConsentChangePublic:
    """Append a consent event; a marketing withdrawal cancels the channel's queued marketing
    at once. Commits."""
    customer = _locked_customer(session, customer_id)
    change = _append(
        session,
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        now=now,
    )
    session.commit()
    return change


def _append(
    session: Session,
    *,
    customer: CustomerPublic,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    now: datetime,
) -> ConsentChangePublic:
    """The event, the cancellations and the outbox event, in the caller's transaction."""
    _check_subject(channel, purpose)
    source = _checked_source(source)
    # customers has no writing function for consent: the history is append-only, so one new
    # row is the whole change, written here.
    session.add(
        Consent(
            customer_id=customer.id,
            channel=channel,
            purpose=purpose,
            granted=granted,
            source=source,
            recorded_at=now,
        )
    )
    cancelled = 0
    if purpose == "marketing" and not granted:
        cancelled = _cancel(
            session,
            (
                Message.customer_id == customer.id,
                Message.channel == channel,
                Message.purpose == "marketing",
            ),
            reason="consent withdrawn",
        )
    change = ConsentChangePublic(
        customer_id=customer.id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        recorded_at=now,
        cancelled_messages=cancelled,
    )
    payload = change.model_dump(mode="json") | {"customer": customer.external_id}
    outbox.enqueue(session, topic="consent.changed", payload=payload, now=now)
    return change


def _check_subject(channel: str, purpose: str) -> None:
    if channel not in CONSENT_CHANNELS:
        raise ConsentInvalid(
            f"unknown consent channel {channel!r}; the channels are {', '.join(CONSENT_CHANNELS)}",
            details={"channel": channel, "allowed": list(CONSENT_CHANNELS)},
        )
    if purpose not in CONSENT_PURPOSES:
        raise ConsentInvalid(
            f"unknown consent purpose {purpose!r}; the purposes are {', '.join(CONSENT_PURPOSES)}",
            details={"purpose": purpose, "allowed": list(CONSENT_PURPOSES)},
        )


def _checked_source(source: str) -> str:
    source = source.strip()
    if not 0 < len(source) <= 64:
        raise ConsentInvalid(
            "a consent's source names where the customer said so, in 1 to 64 characters",
            details={"source": source},
        )
    return source


def _locked_customer(session: Session, customer_id: int) -> CustomerPublic:
    """The customer, with their row locked on PostgreSQL: two changes of one customer's consent
    (a double click on "unsubscribe") read the latest state one after the other."""
    customer = customers.customer_by_number(session, customer_id=customer_id)
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    return customer


def _granted(session: Session, customer_id: int, channel: str, purpose: str) -> bool | None:
    """The latest consent event's answer for a channel and purpose; None when never asked."""
    for state in customers.consent_state(session, customer_id=customer_id):
        if state.channel == channel and state.purpose == purpose:
            return state.granted
    return None


def _cancel(session: Session, where: tuple[ColumnElement[bool], ...], *, reason: str) -> int:
    """Cancel the queued messages that match; how many."""
    result = session.execute(
        update(Message)
        .where(Message.status == "queued", *where)
        .values(status="cancelled", last_error=reason, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount)


# --- double opt-in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OptInConfirmed:
    """A confirmed double opt-in; ``already`` when this link had confirmed it before."""

    customer_id: int
    channel: str
    purpose: str
    language: str | None  # the customer's own
    already: bool


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def request_opt_in(
    session: Session,
    *,
    customer_id: int,
    channel: str = "email",
    purpose: str = "marketing",
    source: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Start a double opt-in: a request and a transactional e-mail with its confirmation link.

    The answer is the link's token; whoever holds it can confirm, so callers never show it
    (the API answers ``opt_in_request`` instead) and it is stored only as its SHA-256. The e-mail needs an address that is not blocked (hard bounce, complaint, manual).
    Commits.
    """
    _check_subject(channel, purpose)
    customer = customers.customer_by_number(session, customer_id=customer_id)
    address = audience.reachable(
        session, channel="email", purpose="transactional", among=[customer.id]
    ).get(customer.id)
    if address is None:
        code = "consent.address_suppressed" if customer.email else "consent.no_address"
        why = "is blocked on the suppression list" if customer.email else "is missing"
        raise Conflict(
            f"customer {customer.id} cannot confirm by e-mail: their e-mail address {why}",
            code=code,
            details={"customer_id": customer.id},
        )
    token = secrets.token_urlsafe(32)
    request = ConsentRequest(
        customer_id=customer.id,
        channel=channel,
        purpose=purpose,
        token_hash=_token_hash(token),
        source=_checked_source(source),
        requested_at=now,
        expires_at=now + OPT_IN_VALID,
    )
    session.add(request)
    session.flush()
    enqueue(session, [_opt_in_mail(request, customer, address, token, settings)], now=now)
    session.commit()
    return token


def _opt_in_mail(
    request: ConsentRequest,
    customer: CustomerPublic,
    address: str,
    token: str,
    settings: Settings,
) -> Outgoing:
    language = language_of(customer.language, settings)
    context = {
        "shop": settings.shop_name,
        "name": customer.name or "",
        "what": PURPOSE_WORDS[language][request.purpose],
        "channel": CHANNEL_WORDS[language][request.channel],
        "url": f"{settings.public_url}/optin/{token}",
        "days": OPT_IN_VALID.days,
    }
    rendered = render(OPT_IN_TEMPLATE, context, language=language, default_language=language)
    return Outgoing(
        key=f"optin:{request.id}",
        customer_id=customer.id,
        channel="email",
        purpose="transactional",
        language=rendered.language,
        recipient=address,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        send_after=request.requested_at,
        template_key=OPT_IN_TEMPLATE.key,
    )


def opt_in_request(session: Session, *, token: str) -> OptInPublic:
    """The request a confirmation token belongs to (``consent.optin_unknown`` when none)."""
    found = _request(session, token, lock=False)
    return OptInPublic(
        request_id=found.id,
        customer_id=found.customer_id,
        channel=found.channel,
        purpose=found.purpose,
        requested_at=found.requested_at,
        expires_at=found.expires_at,
        confirmed_at=found.confirmed_at,
    )


def confirm_opt_in(session: Session, *, token: str, now: datetime) -> OptInConfirmed:
    """Follow a confirmation link: record the consent (source ``double_opt_in``) once.

    A second visit of the same link answers ``already`` and records nothing; an unknown link is
    ``consent.optin_unknown`` (404), an expired one ``consent.optin_expired`` (410). Commits.
    """
    request = _request(session, token, lock=True)
    customer = customers.customer_by_number(session, customer_id=request.customer_id)
    answer = OptInConfirmed(
        customer.id,
        request.channel,
        request.purpose,
        customer.language,
        already=request.confirmed_at is not None,
    )
    if answer.already:
        session.rollback()
        return answer
    if now >= request.expires_at:
        session.rollback()
        raise OptInExpired(
            f"this confirmation link expired on {request.expires_at:%Y-%m-%d %H:%M} UTC; "
            "please ask for a new one",
            details={"expires_at": request.expires_at.isoformat()},
        )
    _locked_customer(session, customer.id)
    request.confirmed_at = now
    _append(
        session,
        customer=customer,
        channel=request.channel,
        purpose=request.purpose,
        granted=True,
        source=OPT_IN_SOURCE,
        now=now,
    )
    session.commit()
    return answer


def _request(session: Session, token: str, *, lock: bool) -> ConsentRequest:
    query = select(ConsentRequest).where(ConsentRequest.token_hash == _token_hash(token))
    found = session.scalar(query.with_for_update() if lock else query) if token else None
    if found is None:
        raise NotFound(
            "this confirmation link is not known: it may have been cut short",
            code="consent.optin_unknown",
        )
    return found


# --- unsubscribe -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsubscribe:
    """Whom an unsubscribe link is for; ``already`` when they get no marketing there now."""

    customer_id: int
    channel: str
    address: str | None  # what the page shows: their e-mail address, phone number …
    language: str | None  # the customer's own
    already: bool


def unsubscribe_target(session: Session, *, token: str, settings: Settings) -> Unsubscribe:
    """Read an unsubscribe link without acting on it (the page that asks first)."""
    customer, channel = _link_customer(session, token, settings)
    already = _granted(session, customer.id, channel, "marketing") is not True
    return _unsubscribe_answer(customer, channel, already=already)


def unsubscribe(
    session: Session,
    *,
    token: str,
    settings: Settings,
    now: datetime,
    source: str = "unsubscribe_link",
) -> Unsubscribe:
    """Withdraw marketing consent on the link's channel, at once; twice records one event.

    ``already`` tells that nothing needed doing: the latest consent there is no (or was never
    given, which means no marketing there either). A link that was not made here is
    ``engage.bad_link`` (404). Commits.
    """
    customer, channel = _link_customer(session, token, settings)
    _locked_customer(session, customer.id)
    if _granted(session, customer.id, channel, "marketing") is not True:  # none to withdraw
        session.rollback()
        return _unsubscribe_answer(customer, channel, already=True)
    _append(
        session,
        customer=customer,
        channel=channel,
        purpose="marketing",
        granted=False,
        source=source,
        now=now,
    )
    session.commit()
    return _unsubscribe_answer(customer, channel, already=False)


def _link_customer(session: Session, token: str, settings: Settings) -> tuple[CustomerPublic, str]:
    customer_id, channel = links.read_unsubscribe(settings.secret_key, token)
    if channel not in CONSENT_CHANNELS:
        raise links.BadLink("This link is not one of ours.")
    try:
        return customers.customer_by_number(session, customer_id=customer_id), channel
    except NotFound:  # erased since the message went out: nobody left to unsubscribe
        raise links.BadLink("This link's customer is no longer known to us.") from None


def _unsubscribe_answer(customer: CustomerPublic, channel: str, *, already: bool) -> Unsubscribe:
    return Unsubscribe(
        customer.id, channel, _address(customer, channel), customer.language, already
    )


def _address(customer: CustomerPublic, channel: str) -> str | None:
    if channel == "email":
        return (customer.email or "").strip().lower() or None
    if channel == "sms":
        return (customer.phone or "").strip() or None
    return None


# --- the suppression list ---------------------------------------------------------------------


def normalise_address(channel: str, address: str) -> str:
    """An address as the suppression list and ``audience.reachable`` compare it."""
    if channel not in CHANNELS:
        raise ConsentInvalid(
            f"unknown channel {channel!r}; the channels are {', '.join(CHANNELS)}",
            details={"channel": channel, "allowed": list(CHANNELS)},
        )
    found = address.strip().lower() if channel == "email" else address.strip()
    if not found or len(found) > 254 or (channel == "email" and "@" not in found):
        raise ConsentInvalid(
            f"{address!r} is not a {channel} address",
            details={"channel": channel, "address": address},
        )
    return found


def suppress(
    session: Session,
    *,
    channel: str,
    address: str,
    reason: str,
    note: str | None = None,
    now: datetime,
) -> SuppressionChangePublic:
    """Put an address on the suppression list and cancel what is queued to it. Commits.

    Hard bounces, complaints and manual entries stop every message; ``unsubscribe`` stops
    marketing only. Suppressing again updates the reason and note, except that an unsubscribe
    never weakens an entry that stops everything.
    """
    address = normalise_address(channel, address)
    if reason not in SUPPRESSION_REASONS:
        raise ConsentInvalid(
            f"unknown reason {reason!r}; the reasons are {', '.join(SUPPRESSION_REASONS)}",
            details={"reason": reason, "allowed": list(SUPPRESSION_REASONS)},
        )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(Suppression)
        .values(channel=channel, address=address, reason=reason, note=note, created_at=now)
        .on_conflict_do_nothing(index_elements=[Suppression.channel, Suppression.address])
    )
    row = session.scalars(
        select(Suppression)
        .where(Suppression.channel == channel, Suppression.address == address)
        .with_for_update()
    ).one()
    if not (reason == "unsubscribe" and row.reason in audience.BLOCKING):
        row.reason = reason
    row.note = note if note is not None else row.note
    session.flush()
    where = [_recipient(channel) == address, Message.channel == channel]
    if row.reason not in audience.BLOCKING:
        where.append(Message.purpose == "marketing")
    cancelled = _cancel(session, tuple(where), reason=f"address suppressed ({row.reason})")
    result = SuppressionChangePublic(
        suppression=SuppressionPublic.model_validate(row), cancelled_messages=cancelled
    )
    session.commit()
    return result


def _recipient(channel: str) -> ColumnElement[str]:
    """A queued message's recipient, normalised like a suppressed address."""
    trimmed = func.trim(Message.recipient)
    return func.lower(trimmed) if channel == "email" else trimmed


def unsuppress(session: Session, *, channel: str, address: str) -> None:
    """Take an address off the suppression list (``suppressions.not_found`` if absent). Commits."""
    address = address.strip().lower() if channel == "email" else address.strip()
    row = session.scalar(
        select(Suppression).where(Suppression.channel == channel, Suppression.address == address)
    )
    if row is None:
        raise NotFound(
            f"{address!r} is not on the {channel} suppression list",
            code="suppressions.not_found",
            details={"channel": channel, "address": address},
        )
    session.delete(row)
    session.commit()


def suppressions(
    session: Session, *, channel: str | None = None, limit: int = 100, offset: int = 0
) -> SuppressionsPublic:
    """The suppression list, newest first, optionally of one channel."""
    if not 0 < limit <= MAX_SUPPRESSIONS or offset < 0:
        raise ConsentInvalid(
            f"limit must be 1 to {MAX_SUPPRESSIONS} and offset not negative",
            details={"limit": limit, "offset": offset},
        )
    if channel is not None and channel not in CHANNELS:
        raise ConsentInvalid(
            f"unknown channel {channel!r}; the channels are {', '.join(CHANNELS)}",
            details={"channel": channel, "allowed": list(CHANNELS)},
        )
    where = [] if channel is None else [Suppression.channel == channel]
    count = session.scalar(select(func.count()).select_from(Suppression).where(*where)) or 0
    rows = session.scalars(
        select(Suppression)
        .where(*where)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return SuppressionsPublic(
        data=[SuppressionPublic.model_validate(row) for row in rows], count=int(count)
    )


# --- open and click tracking -----------------------------------------------------------------


def record_open(session: Session, *, token: str, settings: Settings, now: datetime) -> bool:
    """An open pixel was fetched: whether it was the message's first open. Commits."""
    message_id = links.read_open(settings.secret_key, token)
    first = _track(session, message_id, now=now, url=None)
    session.commit()
    return first


def record_click(session: Session, *, token: str, settings: Settings, now: datetime) -> str:
    """A tracked link was followed: the target to send the reader on to. Commits.

    A click implies an open (images are often blocked), so a first click is a first open too.
    """
    message_id, target = links.read_click(settings.secret_key, token)
    _track(session, message_id, now=now, url=target)
    session.commit()
    return target


def _track(session: Session, message_id: int, *, now: datetime, url: str | None) -> bool:
    """Stamp the first open (and the first click, with a ``url``): the interaction and the
    outbox event of each, once. A message deleted since is ignored. Whether it opened now."""
    message = session.get(Message, message_id)
    if message is None:
        return False
    opened = _stamp(session, message_id, Message.opened_at, now)
    if opened:
        _signal(session, message, "opened", now=now, url=None)
    if url is not None and _stamp(session, message_id, Message.clicked_at, now):
        _signal(session, message, "clicked", now=now, url=url)
    return opened


def _stamp(
    session: Session, message_id: int, column: InstrumentedAttribute[datetime | None], now: datetime
) -> bool:
    """Set a timestamp that is still empty; True for the one request that set it (atomic)."""
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, column.is_(None))
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount) == 1


def _signal(
    session: Session, message: Message, what: str, *, now: datetime, url: str | None
) -> None:
    payload: dict[str, Any] = {
        "message_id": message.id,
        "customer_id": message.customer_id,
        "campaign_id": message.campaign_id,
        "variant": message.variant,
        "channel": message.channel,
        f"{what}_at": now.isoformat(),
    }
    if url is not None:
        payload["url"] = url
    if message.customer_id is not None and message.channel == "email":
        # customers has no writing function for interactions: one row, written here.
        session.add(
            Interaction(
                customer_id=message.customer_id,
                kind="email_open" if what == "opened" else "email_click",
                occurred_at=now,
                note=url,
                payload={"message_id": message.id, "campaign_id": message.campaign_id},
            )
        )
    topic = f"message.{what}"
    outbox.enqueue(session, topic=topic, payload=payload, key=f"{topic}:{message.id}", now=now)
