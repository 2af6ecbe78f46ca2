"""The channels a message leaves by: e-mail over SMTP, and sms/push as signed webhook POSTs.

A channel sends one message and says how it went: ``sent``, ``permanent`` (the address will
never take it: a hard bounce) or ``transient`` (try again later). It raises nothing for a
failed send; the sender (``sending.send_due``) records the answer. A channel is a context
manager the sender enters once per batch: the SMTP channel opens its connection at the first
message, reuses it for the rest, reconnects once when the server dropped an idle one, and says
QUIT at the end.

E-mail is built here, by hand rather than with ``email.message.EmailMessage``, which takes
about 2 ms a message (the bench's target is 1,000 messages a second) and wraps a long
``List-Unsubscribe`` URL into an encoded word that mail clients do not read as a URL. The
``Message-ID`` comes from the message's key, so a message sent again after a crash carries
the same one, and receivers that drop repeats see it once.

A marketing e-mail is tracked here too, while ``PATRON_TRACK_MESSAGES`` is on: each http(s)
link of its HTML goes through ``/t/c/`` (except the unsubscribe link), and an open pixel
``/t/o/`` ends the body. This happens at send time, because the links carry the message's id,
which exists only once the row does; the stored HTML stays what the template rendered. The
plain-text part keeps its links as they are, and transactional e-mails are never tracked.
"""

from __future__ import annotations

import hashlib
import json
import re
import smtplib
import ssl
from base64 import b64encode
from binascii import b2a_qp
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from enum import StrEnum
from html import escape, unescape
from http.client import HTTPException
from typing import Protocol, Self

from patron import __version__
from patron.config import Settings, SmtpSecurity
from patron.engage import links
from patron.outbox import signing, transport

SMTP_TIMEOUT = 30.0  # seconds to wait for the SMTP server's answer to one command
WEBHOOK_TIMEOUT = 10.0  # seconds to wait for the webhook channel's answer
USER_AGENT = f"Patron/{__version__}"
CRLF = "\r\n"
PIXEL_STYLE = "display:block;border:0"
# The href of an <a> tag quoted with " or ': the tag up to the value, and the value in its
# quotes. Attributes before it may quote a ">"; "href" must follow white space, so a data-href
# is not taken. An unquoted href stays as it is.
_LINK = re.compile(
    r"""(<a\s(?:[^>"']|"[^"]*"|'[^']*')*?(?<=\s)href\s*=\s*)("[^"]*"|'[^']*')""",
    re.IGNORECASE,
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class Outcome(StrEnum):
    sent = "sent"
    permanent = "permanent"  # the address refuses it for good: a hard bounce
    transient = "transient"  # no answer, or "not now": try again later


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str  # the server's answer or the error, for ``messages.last_error``


@dataclass(frozen=True)
class Queued:
    """A queued message as a worker claimed it: what sending it needs."""

    id: int
    key: str
    channel: str
    purpose: str
    language: str
    recipient: str
    subject: str
    html: str
    text: str
    campaign_id: int | None
    customer_id: int | None
    attempts: int


class Channel(Protocol):
    timeout: float  # the longest one send may take

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def send(self, message: Queued, *, now: datetime) -> Result: ...

    def another(self) -> Channel: ...


def configured(settings: Settings) -> dict[str, Channel]:
    """The channels the settings make usable, by message channel; the others stay queued.

    The webhook channel needs its secret too: a provider could not tell our posts from forged
    ones without a signature.
    """
    found: dict[str, Channel] = {}
    if settings.smtp_host:
        found["email"] = SmtpChannel(settings)
    if settings.message_webhook_url and settings.message_webhook_secret:
        webhook = WebhookChannel(settings.message_webhook_url, settings.message_webhook_secret)
        found["sms"] = found["push"] = webhook
    return found


# --- e-mail: the message -----------------------------------------------------------------------


def message_id(key: str, domain: str) -> str:
    """The ``Message-ID`` of a message: the same on every try, and no customer number in it."""
    return f"<patron.{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def sender_domain(email_from: str) -> str:
    address = parseaddr(email_from)[1]
    return address.rpartition("@")[2] or "localhost"


class MimeBuilder:
    """Builds the MIME form of e-mails for one shop's settings."""

    def __init__(self, settings: Settings) -> None:
        name, address = parseaddr(settings.email_from)
        self.envelope_from = address
        self.domain = sender_domain(settings.email_from)
        self.from_header = formataddr((_one_line(name), address), charset="utf-8")
        self.public_url = settings.public_url
        self.secret_key = settings.secret_key
        self.track = settings.track_messages
        # links that stay as they are: the unsubscribe link, and those already tracked
        self.untracked = (f"{settings.public_url}/u/", f"{settings.public_url}/t/")

    def build(self, message: Queued, *, now: datetime) -> bytes:
        """multipart/alternative (text, then HTML), UTF-8, quoted-printable; CRLF line ends."""
        boundary = f"=_patron_{hashlib.sha256(message.key.encode('utf-8')).hexdigest()[:24]}"
        head = [
            f"From: {self.from_header}",
            f"To: {message.recipient}",
            f"Subject: {_header_text(message.subject)}",
            f"Date: {format_datetime(now)}",
            f"Message-ID: {message_id(message.key, self.domain)}",
            f"Content-Language: {_one_line(message.language)}",
        ]
        if message.purpose == "marketing" and message.customer_id is not None:
            url = links.unsubscribe_url(
                self.public_url, self.secret_key, message.customer_id, message.channel
            )
            head += [
                f"List-Unsubscribe: <{url}>",
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            ]
        head += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"']
        html = message.html
        if self.track and message.purpose == "marketing":
            html = self.tracked(html, message.id)
        parts = [
            f"--{boundary}{CRLF}Content-Type: text/{subtype}; charset=utf-8{CRLF}"
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}".encode("ascii")
            + _quoted_printable(body)
            + CRLF.encode("ascii")
            for subtype, body in (("plain", message.text), ("html", html))
        ]
        closing = f"--{boundary}--{CRLF}".encode("ascii")
        return (CRLF.join(head) + CRLF + CRLF).encode("ascii") + b"".join(parts) + closing

    def tracked(self, html: str, message_id: int) -> str:
        """The HTML with its http(s) links tracked (``links.click_url``) and the open pixel
        (``links.open_url``) before ``</body>``, or at the end when there is none."""

        def track(found: re.Match[str]) -> str:
            tag, value = found.groups()
            target = unescape(value[1:-1]).strip()
            scheme, colon, rest = target.partition(":")
            if scheme.lower() not in ("http", "https") or not rest.startswith("//"):
                return found.group(0)
            target = scheme.lower() + colon + rest  # read_click takes http and https only
            if target.startswith(self.untracked):
                return found.group(0)
            url = links.click_url(self.public_url, self.secret_key, message_id, target)
            return f"{tag}{value[0]}{escape(url)}{value[0]}"

        html = _LINK.sub(track, html)
        url = links.open_url(self.public_url, self.secret_key, message_id)
        pixel = f'<img src="{escape(url)}" width="1" height="1" alt="" style="{PIXEL_STYLE}">'
        at = max((end.start() for end in _BODY_END.finditer(html)), default=-1)  # the last
        return html + pixel if at < 0 else f"{html[:at]}{pixel}{html[at:]}"


def _one_line(text: str) -> str:
    """No line breaks in a header value: a template must not be able to add headers."""
    return " ".join(text.split())


def _header_text(text: str) -> str:
    """A header value as RFC 2047 encoded words when it is not plain ASCII (UTF-8, base64),
    each at most 75 characters and cut between characters, one per folded line."""
    value = _one_line(text)
    if value.isascii() and "=?" not in value:
        return value
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 45:  # 45 bytes: 60 base64 characters + 12 around them
            words.append(_encoded_word(chunk))
            chunk = bytearray()
        chunk += encoded
    words.append(_encoded_word(chunk))
    return f"{CRLF} ".join(words)


def _encoded_word(data: bytes | bytearray) -> str:
    return f"=?utf-8?b?{b64encode(bytes(data)).decode('ascii')}?="


def _quoted_printable(body: str) -> bytes:
    lines = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return b2a_qp(lines, istext=True).replace(b"\n", b"\r\n")


# --- e-mail: the connection --------------------------------------------------------------------


class _Dropped(Exception):
    """The connection was gone before the server took the message (MAIL FROM failed)."""


class SmtpChannel:
    """E-mail over one SMTP connection per batch: opened at the first message, QUIT at the end."""

    def __init__(self, settings: Settings, *, timeout: float = SMTP_TIMEOUT) -> None:
        self.settings = settings
        self.timeout = timeout
        self.mime = MimeBuilder(settings)
        self.connections = 0  # how many were opened, for the tests and the bench
        self._smtp: smtplib.SMTP | None = None
        self._broken: str | None = None  # why connecting failed in this batch

    def __enter__(self) -> Self:
        self._broken = None
        return self

    def another(self) -> SmtpChannel:
        """A channel like this one, with a connection of its own."""
        return SmtpChannel(self.settings, timeout=self.timeout)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def send(self, message: Queued, *, now: datetime) -> Result:
        if not _plain_address(message.recipient):
            return Result(
                Outcome.permanent, f"not an address this server can take: {message.recipient!r}"
            )
        data = self.mime.build(message, now=now)
        for _ in range(2):  # a reused connection the server dropped is opened again, once
            reused = self._smtp is not None
            try:
                return self._transaction(self._connection(), message.recipient, data)
            except _Dropped as exc:
                self._discard()
                if not reused:
                    return Result(Outcome.transient, str(exc))
            except (OSError, smtplib.SMTPException) as exc:
                self._discard()
                return Result(Outcome.transient, _describe(exc))
        return Result(Outcome.transient, "the server dropped the connection twice")

    def _connection(self) -> smtplib.SMTP:
        if self._broken is not None:  # this batch already failed to connect; do not hammer
            raise smtplib.SMTPConnectError(421, self._broken)
        if self._smtp is None:
            try:
                self._smtp = self._open()
            except (OSError, smtplib.SMTPException) as exc:
                self._broken = _describe(exc)
                raise
            self.connections += 1
        return self._smtp

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        host = s.smtp_host or ""
        if s.smtp_security is SmtpSecurity.tls:
            context = ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, s.smtp_port, timeout=self.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(host, s.smtp_port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if s.smtp_security is SmtpSecurity.starttls:
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(
                        "the server offers no STARTTLS (PATRON_SMTP_SECURITY=starttls)"
                    )
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _transaction(self, smtp: smtplib.SMTP, recipient: str, data: bytes) -> Result:
        """MAIL, RCPT, DATA. 5xx to RCPT or DATA is a hard bounce; 5xx to MAIL FROM is about
        the sender, not the address, so it is transient like every 4xx."""
        try:
            code, reply = smtp.mail(self.mime.envelope_from)
        except smtplib.SMTPServerDisconnected as exc:
            raise _Dropped(_describe(exc)) from exc
        if code == 421:
            raise _Dropped(_answer(code, reply))
        if code != 250:
            _reset(smtp)
            return Result(Outcome.transient, "MAIL FROM: " + _answer(code, reply))
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            _reset(smtp)
            return Result(_by_code(code), "RCPT TO: " + _answer(code, reply))
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as exc:  # DATA itself refused (no 354)
            _reset(smtp)
            return Result(
                _by_code(exc.smtp_code), "DATA: " + _answer(exc.smtp_code, exc.smtp_error)
            )
        if code != 250:
            return Result(_by_code(code), "DATA: " + _answer(code, reply))
        return Result(Outcome.sent, _answer(code, reply))

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _reset(smtp: smtplib.SMTP) -> None:
    """End a refused transaction; a connection that fails at that is closed, and the next
    message opens a new one (the refusal stands either way)."""
    try:
        smtp.rset()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _plain_address(address: str) -> bool:
    """An ASCII address without spaces or brackets: no header or command can be smuggled in
    (an internationalised address would need SMTPUTF8, which Patron does not speak)."""
    return (
        address.isascii()
        and address.count("@") == 1
        and not any(c.isspace() or c in "<>,;\"'\\" for c in address)
    )


def _by_code(code: int) -> Outcome:
    return Outcome.permanent if 500 <= code < 600 else Outcome.transient


def _answer(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"[:1000]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {_answer(exc.smtp_code, exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"[:1000]


# --- sms and push: the webhook channel ---------------------------------------------------------


class WebhookChannel:
    """Messages as signed JSON POSTs to the provider's bridge; one request each.

    ``Patron-Message`` carries the message's key, the same on every try, so the bridge can
    drop a repeat. 2xx is sent; 408 and 429 are "not now"; 401 and 403 say the signature or
    the secret is wrong, which is our setting and not the recipient's fault, so they are
    transient too (the message goes once the secret is fixed); any other 4xx is a refusal of
    the message for good; 5xx and no answer are transient.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        post: transport.Post = transport.post,
        timeout: float = WEBHOOK_TIMEOUT,
    ) -> None:
        self.url = url
        self.secret = secret
        self.post = post
        self.timeout = timeout

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def another(self) -> WebhookChannel:
        """A channel like this one; each POST is a request of its own, so they share nothing."""
        return WebhookChannel(self.url, self.secret, post=self.post, timeout=self.timeout)

    def send(self, message: Queued, *, now: datetime) -> Result:
        body = _webhook_body(message)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Patron-Message": message.key,
            signing.HEADER: signing.sign(self.secret, int(now.timestamp()), body),
        }
        try:
            status = self.post(self.url, body, headers, self.timeout)
        except (OSError, ValueError, HTTPException) as exc:
            return Result(Outcome.transient, _describe(exc))
        if 200 <= status < 300:
            return Result(Outcome.sent, f"HTTP {status}")
        if 400 <= status < 500 and status not in (401, 403, 408, 429):
            return Result(Outcome.permanent, f"HTTP {status}")
        return Result(Outcome.transient, f"HTTP {status}")


def _webhook_body(message: Queued) -> bytes:
    document = {
        "id": message.id,
        "key": message.key,
        "channel": message.channel,
        "to": message.recipient,
        "language": message.language,
        "subject": message.subject,
        "text": message.text,
        "campaign_id": message.campaign_id,
        "customer_id": message.customer_id,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
