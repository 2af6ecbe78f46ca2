"""Tables of privacy: requests to erase a person, and what became of them.

A request comes from the person (portal) or from staff; staff approve or reject it (the law
may require keeping order records, so orders stay, anonymised); once carried out, the
customer's personal data is gone from every table and the request keeps only counts of what
was anonymised, never the data itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

import patron.access.models
import patron.customers.models  # noqa: F401 - registers ``customers`` and ``users``
from patron.db import Base, utcnow
from patron.sqltypes import UTCDateTime

REQUEST_STATUSES = ("requested", "rejected", "done")
REQUEST_SOURCES = ("portal", "staff", "api")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ErasureRequest(Base):
    """A request to erase one person; ``summary`` counts what was anonymised where."""

    __tablename__ = "erasure_requests"
    __table_args__ = (
        CheckConstraint(_one_of("status", REQUEST_STATUSES), name="status"),
        CheckConstraint(_one_of("source", REQUEST_SOURCES), name="source"),
        Index("ix_erasure_requests_status_requested", "status", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # why staff refused (e.g. an open dispute); never the person's data
    note: Mapped[str | None] = mapped_column(String(500))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
