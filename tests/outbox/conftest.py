"""A real HTTP receiver on 127.0.0.1 that records every request and answers as told."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from patron.outbox import signing

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The time the service sees: stands still until moved."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def signed_by(self, secret: str, *, now: float | datetime) -> bool:
        return signing.verify(secret, self.headers[signing.HEADER], self.body, now=now)


@dataclass
class Receiver:
    """What the server got, and how it answers: ``statuses`` first, then ``200``."""

    url: str = ""  # set once the server has its port
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0  # seconds to wait before answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_with(self, *statuses: int) -> None:
        with self.lock:
            self.statuses.extend(statuses)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200

    def record(self, request: Received) -> None:
        with self.lock:
            self.requests.append(request)

    def deliveries(self) -> list[str]:
        with self.lock:
            return [r.headers["Patron-Delivery"] for r in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.record(Received(self.path, dict(self.headers.items()), body))
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.next_status()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    return Handler


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
