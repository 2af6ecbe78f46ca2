"""Cases from e-mail: customers write to the service address, and ``patron worker`` receives
the mail over SMTP (``start_listener``) and files it.

A message whose subject carries ``[Case #12]`` (as every e-mail a case sends does) adds the
customer's words to case 12 — if the sender is that case's customer and the case is not closed;
a case waiting for the customer, or resolved, goes back to in progress. Any other message opens
a new complaint (channel e-mail, category other, priority normal) under the mail's subject. The
sender is found by address; an unknown one becomes a new customer with that address and name.
Each message is filed once: its Message-ID (or, lacking one, a hash of the message) is kept
on the case (``cases.key``) or the entry (``case_entries.source_message_id``).

The listener accepts mail only for ``care_inbound_address`` (any other recipient: 550) and
answers a message it cannot file for good reason with 550, a passing failure (the database
away) with 451, so that the sending server tries again.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.care.cases import notices, service
from patron.care.models import Case, CaseEntry
from patron.config import Settings
from patron.customers import service as customers
from patron.db import utcnow
from patron.engage.rendering import plain_text
from patron.errors import ConfigError, PatronError

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  # a complaint with a few photos; more is refused at DATA
NO_SUBJECT = "(no subject)"
EMPTY = "(empty message)"
BACK_TO_WORK = ("waiting", "resolved")
# the line a mail program puts above a quoted message: "On … wrote:", "Am … schrieb …:", …
_QUOTE_HEAD = re.compile(r"(wrote|schrieb|skrev|écrit)\b.*:\s*$", re.IGNORECASE)


class MessageUnreadable(PatronError):
    code = "cases.bad_message"
    status = 422


@dataclass(frozen=True)
class Incoming:
    """What Patron reads of an e-mail."""

    message_id: str
    sender: str
    sender_name: str | None
    subject: str
    text: str


@dataclass(frozen=True)
class Filed:
    """Where a message went: its case, whether it opened it, whether it had been filed before."""

    case_id: int
    opened: bool
    duplicate: bool = False


# --- reading a message -----------------------------------------------------------------------


def parse(raw: bytes) -> Incoming:
    """The sender, subject, Message-ID and text of an RFC 5322 message: the plain-text part if
    there is one, else the HTML part made plain; a quoted earlier message at the end left out."""
    message = email.message_from_bytes(raw, policy=policy.default)
    try:
        senders = getaddresses([str(message.get("From", ""))])
    except (ValueError, TypeError):
        senders = []
    name, address = senders[0] if senders else ("", "")
    if "@" not in address:
        raise MessageUnreadable(
            "the message has no sender address (From)", details={"field": "From"}
        )
    message_id = str(message.get("Message-ID", "")).strip()
    if not message_id:
        message_id = "<sha256:" + hashlib.sha256(raw).hexdigest() + ">"
    subject = " ".join(str(message.get("Subject", "")).split())
    return Incoming(
        message_id=message_id[:255],
        sender=address.strip(),
        sender_name=name.strip() or None,
        subject=subject[:300],
        text=_without_quote(_text_of(message)),
    )


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    text = str(content)
    if part.get_content_type() == "text/html":
        text = plain_text(text)
    return text.replace("\r\n", "\n").strip()


def _without_quote(text: str) -> str:
    """The text without a quoted earlier message at its end (``> `` lines and the line above
    them that says who wrote it)."""
    lines = text.split("\n")
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    if end < len(lines) and any(line.lstrip().startswith(">") for line in lines[end:]):
        if end and _QUOTE_HEAD.search(lines[end - 1]):
            end -= 1
        lines = lines[:end]
    return "\n".join(lines).strip()


# --- filing it -------------------------------------------------------------------------------


def receive(session: Session, raw: bytes, *, settings: Settings, now: datetime) -> Filed:
    """File one e-mail (see the module's description) and commit."""
    incoming = parse(raw)
    before = _filed_before(session, incoming.message_id)
    if before is not None:
        return Filed(before, opened=False, duplicate=True)
    customer, _ = customers.customer_for_email(
        session, email=incoming.sender, name=incoming.sender_name, now=now
    )
    case_id = notices.case_in_subject(incoming.subject)
    row = session.get(Case, case_id) if case_id is not None else None
    if row is not None and row.customer_id == customer.id and row.status != "closed":
        return _add_to(session, row, incoming, now)
    opened, _ = service.open_case(
        session,
        customer=customer.id,
        subject=incoming.subject or NO_SUBJECT,
        description=incoming.text or EMPTY,
        kind="complaint",
        category="other",
        priority="normal",
        channel="email",
        key=incoming.message_id,
        author=incoming.sender,
        settings=settings,
        now=now,
    )
    return Filed(opened.id, opened=True)


def _filed_before(session: Session, message_id: str) -> int | None:
    found = session.scalar(select(Case.id).where(Case.key == message_id))
    if found is None:
        found = session.scalar(
            select(CaseEntry.case_id).where(CaseEntry.source_message_id == message_id)
        )
    return found


def _add_to(session: Session, row: Case, incoming: Incoming, now: datetime) -> Filed:
    session.add(
        CaseEntry(
            case_id=row.id,
            kind="customer",
            body=incoming.text or EMPTY,
            author=incoming.sender,
            source_message_id=incoming.message_id,
            created_at=now,
        )
    )
    if row.status in BACK_TO_WORK:
        service.reopen_for_customer(session, row, author=incoming.sender, now=now)
    row.updated_at = now
    session.commit()
    return Filed(row.id, opened=False)


# --- the SMTP listener -----------------------------------------------------------------------


class InboundHandler:
    """aiosmtpd handler: mail for the service address only, each message filed in a thread
    (the database work blocks; the listener's loop keeps serving other connections)."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        if not settings.care_inbound_address:
            raise ConfigError(
                "PATRON_CARE_INBOUND_ADDRESS: set the address customers write to",
                details={"setting": "PATRON_CARE_INBOUND_ADDRESS"},
            )
        self.address = settings.care_inbound_address.strip().lower()
        self.settings = settings
        self.sessions = sessions

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.strip().lower() != self.address:
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw or "").encode("utf-8")
        try:
            filed = await asyncio.get_running_loop().run_in_executor(None, self.file, raw)
        except PatronError as error:
            return f"550 5.6.0 {_one_line(error.message)}"
        except Exception:
            log.exception("an inbound e-mail could not be filed")
            return "451 4.3.0 Cannot file the message now, try again later"
        return f"250 2.0.0 Filed under case {filed.case_id}"

    def file(self, raw: bytes) -> Filed:
        with self.sessions() as session:
            return receive(session, raw, settings=self.settings, now=utcnow())


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def start_listener(settings: Settings, sessions: sessionmaker[Session]) -> Controller:
    """Start receiving mail for ``care_inbound_address`` on ``care_inbound_host`` :
    ``care_inbound_port`` (in a thread of its own); ``.stop()`` the controller to end it."""
    if settings.care_inbound_port is None:
        raise ConfigError(
            "PATRON_CARE_INBOUND_PORT: set the port to receive mail on",
            details={"setting": "PATRON_CARE_INBOUND_PORT"},
        )
    if not settings.care_inbound_address:
        raise ConfigError(
            "PATRON_CARE_INBOUND_ADDRESS: set the address customers write to, or unset "
            "PATRON_CARE_INBOUND_PORT",
            details={"setting": "PATRON_CARE_INBOUND_ADDRESS"},
        )
    controller = Controller(
        InboundHandler(settings, sessions),
        hostname=settings.care_inbound_host,
        port=settings.care_inbound_port,
        data_size_limit=MAX_BYTES,
    )
    where = f"{settings.care_inbound_host}:{settings.care_inbound_port}"
    try:
        controller.start()
    except (OSError, RuntimeError) as error:  # the port is taken, or the host is not ours
        raise ConfigError(
            f"PATRON_CARE_INBOUND_PORT: cannot receive mail on {where}: {error}",
            details={"setting": "PATRON_CARE_INBOUND_PORT", "address": where},
        ) from error
    return controller
