"""The signed links in messages: unsubscribe (also RFC 8058 one-click), open and click tracking.

A link carries what it is about (customer and channel, or message and target) signed with the
shop's secret key (itsdangerous, HMAC-SHA1 over a salted key per kind of link), so nobody can
unsubscribe someone else or forge a click by editing a number. The tokens are deterministic:
the same customer and channel always give the same unsubscribe link, so the worker rebuilds
the ``List-Unsubscribe`` header at send time from what the message row holds.

The sender signs these links for every marketing e-mail it builds (the unsubscribe header, the
open pixel, each tracked link), a thousand e-mails a second. ``URLSafeSerializer`` tries zlib
on every payload and keeps the result only when it is shorter, starting a new zlib stream of
some 256 KB each time (about 50 µs a token). ``_Tokens`` is that serializer without the try,
through its documented ``dump_payload`` hook: the payloads are a few ids and a link, which
compression hardly shortens, and ``loads`` still reads compressed tokens made before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote

from itsdangerous import (
    BadSignature,
    Serializer,
    SignatureExpired,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_encode

from patron.errors import PatronError

UNSUBSCRIBE = "patron.unsubscribe"
OPEN = "patron.open"
CLICK = "patron.click"
SURVEY = "patron.survey"
RSVP = "patron.rsvp"


class BadLink(PatronError):
    """A link whose signature does not match: edited, cut short, or from another shop."""

    code = "engage.bad_link"
    status = 404


class _Tokens(URLSafeSerializer):
    """``URLSafeSerializer`` whose payload is never compressed: compact JSON in URL-safe base64."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@lru_cache(maxsize=32)
def _serializer(secret: str, salt: str) -> _Tokens:
    """One serializer per key and kind of link: building one costs more than signing with it."""
    return _Tokens(secret, salt=salt)


def _dumps(secret: str, salt: str, value: object) -> str:
    return str(_serializer(secret, salt).dumps(value))


def unsubscribe_token(secret: str, customer_id: int, channel: str) -> str:
    return _dumps(secret, UNSUBSCRIBE, [customer_id, channel])


def read_unsubscribe(secret: str, token: str) -> tuple[int, str]:
    """The (customer id, channel) a token was made for; ``BadLink`` when it was not made here."""
    value = _load(secret, UNSUBSCRIBE, token)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or not isinstance(value[1], str)
    ):
        raise BadLink("This link is not one of ours.")
    return value[0], value[1]


def unsubscribe_url(base_url: str, secret: str, customer_id: int, channel: str) -> str:
    return f"{base_url}/u/{unsubscribe_token(secret, customer_id, channel)}"


def open_url(base_url: str, secret: str, message_id: int) -> str:
    """A 1×1 image whose fetch records that the message was opened."""
    return f"{base_url}/t/o/{_dumps(secret, OPEN, message_id)}.gif"


def click_url(base_url: str, secret: str, message_id: int, target: str) -> str:
    """A link that records the click and forwards to ``target``."""
    return f"{base_url}/t/c/{quote(_dumps(secret, CLICK, [message_id, target]), safe='')}"


def read_open(secret: str, token: str) -> int:
    value = _load(secret, OPEN, token)
    if not isinstance(value, int):
        raise BadLink("This link is not one of ours.")
    return value


def read_click(secret: str, token: str) -> tuple[int, str]:
    value = _load(secret, CLICK, token)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or not isinstance(value[1], str)
        or not value[1].startswith(("http://", "https://"))
    ):
        raise BadLink("This link is not one of ours.")
    return value[0], value[1]


class ExpiredLink(PatronError):
    """A survey or invitation link older than it may be."""

    code = "engage.expired_link"
    status = 410


class _TimedTokens(URLSafeTimedSerializer):
    """``URLSafeTimedSerializer`` without the zlib try, like ``_Tokens``: the token carries the
    moment it was signed, so a reader can refuse it after a number of days."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@lru_cache(maxsize=8)
def _timed(secret: str, salt: str) -> _TimedTokens:
    return _TimedTokens(secret, salt=salt)


def survey_url(
    base_url: str, secret: str, survey: str, customer_id: int, reference: str = ""
) -> str:
    """The answer page of ``survey`` for one customer and one invitation (``reference``: what
    asked, e.g. ``case:12``); the link expires (see ``read_survey``)."""
    token = _timed(secret, SURVEY).dumps([survey, customer_id, reference])
    return f"{base_url}/s/{token}"


def read_survey(secret: str, token: str, *, max_age_days: int) -> tuple[str, int, str]:
    """(survey key, customer id, reference) of a survey link; ``ExpiredLink`` when it is older
    than ``max_age_days``, ``BadLink`` when it was not made here."""
    value = _load_timed(secret, SURVEY, token, max_age_days)
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or not isinstance(value[2], str)
    ):
        raise BadLink("This link is not one of ours.")
    return value[0], value[1], value[2]


def rsvp_url(base_url: str, secret: str, event: str, customer_id: int) -> str:
    """The page on which a customer accepts or declines the invitation to ``event``."""
    return f"{base_url}/r/{_timed(secret, RSVP).dumps([event, customer_id])}"


def read_rsvp(secret: str, token: str, *, max_age_days: int) -> tuple[str, int]:
    """(event key, customer id) of an invitation link."""
    value = _load_timed(secret, RSVP, token, max_age_days)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
    ):
        raise BadLink("This link is not one of ours.")
    return value[0], value[1]


def _load_timed(secret: str, salt: str, token: str, max_age_days: int) -> object:
    try:
        return _timed(secret, salt).loads(token, max_age=max_age_days * 86_400)
    except SignatureExpired:
        raise ExpiredLink("This link has expired.") from None
    except BadSignature:
        raise BadLink("This link is not one of ours, or it was cut short.") from None


def _load(secret: str, salt: str, token: str) -> object:
    try:
        return _serializer(secret, salt).loads(token)
    except BadSignature:
        raise BadLink("This link is not one of ours, or it was cut short.") from None
