"""Signing customers in to the portal: one-time links by e-mail, and the sessions they open.

A link is a random token whose SHA-256 alone is stored, so a copy of the database signs nobody
in; it works once, within ``portal_link_minutes``. Asking for a link answers the same whether
or not the address belongs to a customer (nobody can test addresses here), and an address gets
at most ``LINKS_PER_WINDOW`` links per ``LINK_WINDOW``, counted from the stored links. A session
ends on sign-out, when it expires, or when the person is erased (their ``erased_at`` is set or
their row is gone): each request checks the customer again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.engage import library, transactional
from patron.portal.models import PortalLink, PortalSession

TEMPLATE = "portal_sign_in"
LINK_WINDOW = timedelta(minutes=15)
LINKS_PER_WINDOW = 3
LONGEST_ADDRESS = 254


@dataclass(frozen=True)
class LinkAsked:
    """What asking for a link did. ``url`` is the link itself, for the demo page only (the demo
    has no real mail); ``None`` when no link was made (unknown address, rate limit, no usable
    address), which the page never tells the person apart."""

    url: str | None
    reason: str  # sent, unknown, limited, unreachable, invalid


@dataclass(frozen=True)
class Opened:
    """A link turned into a session: the cookie's token and the customer's number."""

    token: str
    customer_id: int
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ask_for_link(session: Session, *, email: str, settings: Settings, now: datetime) -> LinkAsked:
    """E-mail a sign-in link to the customer with this address, if there is one; commits."""
    address = email.strip()
    if not address or len(address) > LONGEST_ADDRESS or "@" not in address:
        return LinkAsked(None, "invalid")
    customer = _customer_with(session, address)
    if customer is None:
        return LinkAsked(None, "unknown")
    recent = session.scalar(
        select(func.count())
        .select_from(PortalLink)
        .where(PortalLink.customer_id == customer.id, PortalLink.created_at > now - LINK_WINDOW)
    )
    if (recent or 0) >= LINKS_PER_WINDOW:
        return LinkAsked(None, "limited")
    token = secrets.token_urlsafe(32)
    link = PortalLink(
        customer_id=customer.id,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + timedelta(minutes=settings.portal_link_minutes),
    )
    session.add(link)
    session.flush()
    url = f"{settings.portal_base}/sign-in/{token}"
    library.ensure(session, TEMPLATE, now=now)
    key = _customer_key(session, customer)
    try:
        if key is None:
            raise transactional.Unreachable("no key reaches this customer alone")
        transactional.send(
            session,
            customer=key,
            template_key=TEMPLATE,
            channel="email",
            key=f"portal-sign-in:{link.id}",
            variables={"sign_in_url": url, "minutes": settings.portal_link_minutes},
            settings=settings,
            now=now,
        )
    except transactional.Unreachable:
        # A suppressed address (a bounce, a complaint), or a number that is another customer's
        # external id: the link stays stored, so it counts toward the limit, but nothing is sent.
        session.commit()
        return LinkAsked(None, "unreachable")
    return LinkAsked(url, "sent")


def link_state(session: Session, *, token: str, now: datetime) -> str:
    """``valid``, ``used``, ``expired`` or ``unknown``: what the link page tells the person."""
    link = _link(session, token)
    if link is None or not _signs_in(session, link.customer_id):
        return "unknown"
    if link.used_at is not None:
        return "used"
    if now >= link.expires_at:
        return "expired"
    return "valid"


def open_link(session: Session, *, token: str, settings: Settings, now: datetime) -> Opened | str:
    """Use the link once and open a session (committed); else the link's state, as in
    ``link_state``. The link is marked used by a conditional UPDATE, so two clicks at once
    open one session."""
    state = link_state(session, token=token, now=now)
    if state != "valid":
        return state
    claimed = session.execute(
        update(PortalLink)
        .where(PortalLink.token_hash == token_hash(token), PortalLink.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        session.rollback()
        return "used"
    link = _link(session, token)
    assert link is not None
    secret = secrets.token_urlsafe(32)
    expires_at = now + timedelta(days=settings.portal_session_days)
    session.add(
        PortalSession(
            customer_id=link.customer_id,
            token_hash=token_hash(secret),
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.commit()
    return Opened(secret, link.customer_id, expires_at)


def resume(session: Session, *, token: str, now: datetime) -> int | None:
    """The customer signed in by this session token, or None (unknown, ended, expired, erased)."""
    if not token or len(token) > 128:
        return None
    row = session.scalar(select(PortalSession).where(PortalSession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None or now >= row.expires_at:
        return None
    return row.customer_id if _signs_in(session, row.customer_id) else None


def sign_out(session: Session, *, token: str, now: datetime) -> None:
    """End the session of this token (nothing when it is unknown); commits."""
    session.execute(
        update(PortalSession)
        .where(PortalSession.token_hash == token_hash(token), PortalSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    session.commit()


def _customer_with(session: Session, address: str) -> Customer | None:
    """The customer with this address (case ignored), not erased: the oldest one the shop knows
    by an external id first, as ``customers.customer_for_email`` picks."""
    query = (
        select(Customer)
        .where(func.lower(Customer.email) == address.lower(), Customer.erased_at.is_(None))
        .order_by(Customer.external_id.is_(None), Customer.id)
        .limit(1)
    )
    return session.scalar(query)


def _signs_in(session: Session, customer_id: int) -> bool:
    """Whether the customer still exists and is not erased."""
    erased = session.execute(select(Customer.erased_at).where(Customer.id == customer_id)).first()
    return erased is not None and erased[0] is None


def _link(session: Session, token: str) -> PortalLink | None:
    if not token or len(token) > 128:
        return None
    return session.scalar(select(PortalLink).where(PortalLink.token_hash == token_hash(token)))


def _customer_key(session: Session, customer: Customer) -> str | None:
    """How ``transactional.send`` finds the customer: the external id, else the number — None
    when that number is another customer's external id (the link would reach the wrong one)."""
    key = customer.external_id or str(customer.id)
    return key if customers.customer_ref(session, key=key).id == customer.id else None
