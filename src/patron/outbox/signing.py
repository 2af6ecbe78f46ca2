"""The webhook signature: HMAC-SHA256 over the send time and the body, in one header.

``Patron-Signature: t=<unix seconds>,v1=<hex digest>``, where the digest is the HMAC-SHA256,
keyed with the endpoint's secret, of ``f"{t}."`` followed by the raw body. The time inside the
signed text lets a receiver refuse a captured request replayed later. Pure: receivers may
copy the idea, and Patron's tests check what was sent with ``verify``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

HEADER = "Patron-Signature"
SCHEME = "v1"
TOLERANCE = 300  # seconds a signature stays acceptable, either way (clocks drift)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},{SCHEME}={_digest(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: float | datetime, tolerance: int = TOLERANCE
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` of ``now``.

    A malformed header is simply not valid. Several ``v1`` values may be given (as while a
    secret is being replaced); one match suffices. Digests are compared in constant time.
    """
    timestamp, signatures = _parse(header)
    if timestamp is None or not signatures:
        return False
    current = now.timestamp() if isinstance(now, datetime) else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME and value:
            signatures.append(value)
    return timestamp, signatures
