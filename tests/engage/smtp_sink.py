"""A real SMTP server for the tests: aiosmtpd on a free port of 127.0.0.1, in a thread.

It keeps every message it accepts (envelope, raw bytes, and which connection brought it),
counts connections, refuses chosen recipients with a chosen reply (at RCPT or at DATA, always
or a number of times), can require AUTH, and can drop its open connections, as a server does
with idle clients. Use it as ``with running_sink() as sink: ...``.
"""

from __future__ import annotations

import email
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from functools import cached_property
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Received:
    connection: int  # 1 for the sink's first connection, 2 for the next …
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None  # the user name the client authenticated with

    @cached_property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, email.message_from_bytes(self.raw, policy=policy.default))

    @property
    def message_id(self) -> str:
        """The Message-ID, read without parsing the whole message (fast for thousands)."""
        head = self.raw.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        return found.group(1).decode("ascii") if found else ""


@dataclass
class _Refusal:
    reply: str
    at: str
    times: int | None


@dataclass
class Sink:
    host: str
    port: int
    users: dict[str, str] | None = None  # user → password; AUTH required when given
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    refusals: dict[str, _Refusal] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _servers: list[SMTP] = field(default_factory=list)
    controller: Controller | None = None

    def refuse(
        self, address: str, reply: str, *, at: str = "RCPT", times: int | None = None
    ) -> None:
        """Answer ``reply`` (such as ``550 5.1.1 No such user``) for ``address`` at RCPT or
        DATA; ``times`` times, or always."""
        with self.lock:
            self.refusals[address.lower()] = _Refusal(reply, at, times)

    def drop_connections(self) -> None:
        """Close every open connection from the server's side, as after an idle timeout."""
        assert self.controller is not None
        assert self.controller.loop is not None
        done = threading.Event()

        def close() -> None:
            for server in self._servers:
                if server.transport is not None:
                    server.transport.close()
            done.set()

        self.controller.loop.call_soon_threadsafe(close)
        done.wait(5)

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def _refusal(self, address: str, at: str) -> str | None:
        with self.lock:
            refusal = self.refusals.get(address.lower())
            if refusal is None or refusal.at != at or refusal.times == 0:
                return None
            if refusal.times is not None:
                refusal.times -= 1
            return refusal.reply


class _Handler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self._hello(server, session, hostname)
        return responses

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        self._hello(server, session, hostname)
        return "250 " + server.hostname

    def _hello(self, server: SMTP, session: Session, hostname: str) -> None:
        session.host_name = hostname
        if not hasattr(session, "patron_connection"):
            with self.sink.lock:
                self.sink.connections += 1
                session.patron_connection = self.sink.connections  # type: ignore[attr-defined]
                self.sink._servers.append(server)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.sink.users is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.sink._refusal(address, "RCPT")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            refusal = self.sink._refusal(address, "DATA")
            if refusal is not None:
                return refusal
        auth = session.auth_data
        received = Received(
            connection=getattr(session, "patron_connection", 0),
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=bytes(cast(bytes, envelope.original_content)),
            login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
        )
        with self.sink.lock:
            self.sink.received.append(received)
        return "250 2.0.0 Accepted"


def _authenticator(users: dict[str, str]) -> Any:
    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and users.get(data.login.decode()) == data.password.decode()
        )
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting)
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    return check


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_sink(*, users: dict[str, str] | None = None) -> Iterator[Sink]:
    """A sink listening until the block ends; with ``users``, AUTH (PLAIN, LOGIN) is required."""
    sink = Sink(host="127.0.0.1", port=free_port(), users=users)
    options: dict[str, Any] = {}
    if users is not None:
        # AUTH without TLS, on the loopback only; MAIL asks for it (handle_MAIL), since
        # aiosmtpd's own auth_required warns about plain-text passwords on every connection
        options = {"authenticator": _authenticator(users), "auth_require_tls": False}
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port, **options)
    sink.controller = controller
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
