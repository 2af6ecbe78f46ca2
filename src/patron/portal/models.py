"""Tables of the customer portal: one-time sign-in links and the sessions they open.

Only hashes of the secrets are stored (SHA-256 of the token), so a copy of the database lets
nobody in. A link works once and for a few minutes; a session ends on sign-out, when it
expires, or when the person is erased.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

import patron.customers.models  # noqa: F401 - registers ``customers``
from patron.db import Base, utcnow
from patron.sqltypes import UTCDateTime


class PortalLink(Base):
    """A one-time sign-in link e-mailed to a customer."""

    __tablename__ = "portal_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PortalSession(Base):
    """A signed-in customer's session (the cookie carries the token, the table its hash)."""

    __tablename__ = "portal_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
