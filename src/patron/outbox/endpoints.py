"""What a webhook endpoint may be (URL, topics, secret, description) and which events it wants. Pure.

Each check returns the value as stored, or raises ``webhooks.invalid`` naming what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from patron.errors import PatronError

ALL_TOPICS = "*"
MIN_SECRET = 16
_TOPIC = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")


def is_topic(text: str) -> bool:
    """Lower-case words joined by dots, such as ``points.earned``; at most 64 characters."""
    return len(text) <= 64 and _TOPIC.fullmatch(text) is not None


def wants(topics: Sequence[str], topic: str) -> bool:
    """Whether an endpoint subscribed to ``topics`` gets events of ``topic``."""
    return ALL_TOPICS in topics or topic in topics


def check_url(url: str) -> str:
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a port that is no number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(text) > 2000
        or any(c.isspace() for c in text)
    ):
        raise _invalid(f"{url!r} is not an http:// or https:// URL with a host name", url=url)
    return text


def check_topics(topics: Sequence[str]) -> list[str]:
    """The topics without repeats; ``["*"]`` when all are wanted."""
    chosen = list(dict.fromkeys(t.strip() for t in topics))
    if not chosen:
        raise _invalid("name at least one topic (such as points.earned), or * for all")
    bad = [t for t in chosen if t != ALL_TOPICS and not is_topic(t)]
    if bad:
        raise _invalid(
            f"not a topic: {', '.join(map(repr, bad))}; topics are lower-case words joined by "
            "dots, such as points.earned, or * for all",
            topics=bad,
        )
    return [ALL_TOPICS] if ALL_TOPICS in chosen else chosen


def check_secret(secret: str) -> str:
    if not MIN_SECRET <= len(secret) <= 200 or secret != secret.strip():
        raise _invalid(
            f"a webhook secret has {MIN_SECRET} to 200 characters and no surrounding spaces "
            "(leave it out and Patron makes a random one)"
        )
    return secret


def check_description(description: str | None) -> str | None:
    text = (description or "").strip() or None
    if text is not None and len(text) > 200:
        raise _invalid("a description has at most 200 characters")
    return text


def _invalid(message: str, **details: Any) -> PatronError:
    return PatronError(message, code="webhooks.invalid", details=details or None)
