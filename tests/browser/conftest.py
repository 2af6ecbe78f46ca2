"""Fixtures of the browser tests: the real app on a real port, and Debian's headless Chromium.

One server (uvicorn in a background thread, on a fresh SQLite store holding a small demo shop)
and one browser serve the whole module; each test gets a fresh browser context (no cookies), so
tests do not depend on each other's order. Without ``/usr/bin/chromium`` or the ``playwright``
package the tests skip locally and fail in CI (see ``unavailable`` in tests/conftest.py).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from conftest import unavailable
from patron import schema
from patron.access import service as access
from patron.analytics.scoring import ScoringSettings
from patron.analytics.service import analyze_store
from patron.care.cases import service as cases
from patron.config import load_settings
from patron.customers.models import Customer
from patron.db import make_engine, session_factory, utcnow
from patron.demo import service as demo
from patron.web.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "browser"
PASSWORD = "correct horse battery staple"
LAPTOP = {"width": 1366, "height": 768}
TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class KnownCustomer:
    """A customer of the demo shop, read back from the store, to search for and open."""

    key: str
    name: str
    term: str  # the first three letters of the name
    matches: frozenset[str]  # keys (external id and number) of every customer the term finds


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    customer: KnownCustomer
    users: dict[str, str]  # what the user is for -> e-mail address; all share PASSWORD
    case_id: int  # a complaint of ``customer``, new, assigned to the "agent" user
    engine: Any  # the store, to read what the pages did (e.g. the e-mail they queued)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@dataclass
class Console:
    """What the page said on its console (errors and warnings) and the exceptions it threw."""

    messages: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.messages.append(f"{message.type}: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}")

    def problems(self, *, allow: tuple[str, ...] = ()) -> list[str]:
        """Console errors, CSP violations and uncaught exceptions, but those containing ``allow``.

        Warnings count only when they are about the Content Security Policy.
        """
        found = [
            text
            for text in self.messages
            if text.startswith("error:") or "Content Security Policy" in text
        ]
        found += [f"uncaught {text}" for text in self.page_errors]
        return [text for text in found if not any(part in text for part in allow)]


@dataclass
class Tab:
    """A page in a fresh browser context, with its console recorded."""

    page: Page
    console: Console
    server: LiveServer
    signed_in_cookies: dict[str, list[Any]]  # per user, shared by the tests of the session

    def goto(self, path: str) -> Any:
        return self.page.goto(self.server.url(path))

    def shot(self, name: str) -> None:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTEFACTS / name), full_page=True)

    def sign_in(self, who: str, password: str = PASSWORD, *, next: str | None = None) -> None:
        """Sign in through the form; ``next`` is where the sign-in page sends the user after."""
        from playwright.sync_api import expect

        self.goto("/sign-in" if next is None else f"/sign-in?next={quote(next)}")
        self.page.fill("input[name=email]", self.server.users[who])
        self.page.fill("input[name=password]", password)
        with self.page.expect_navigation():
            self.page.click("form[action='/sign-in'] button[type=submit]")
        if password == PASSWORD:
            expect(self.page.locator("nav.mainnav")).to_be_visible()

    def open_as(self, who: str, path: str) -> Any:
        """Open ``path`` signed in as ``who``: through the form the first time, then with the
        session cookies that sign-in gave (a test that signs out must use a user of its own)."""
        from playwright.sync_api import expect

        cookies = self.signed_in_cookies.get(who)
        if cookies is None:
            self.sign_in(who, next=path)
            self.signed_in_cookies[who] = self.page.context.cookies()
            response = None
        else:
            self.page.context.add_cookies(cookies)
            response = self.goto(path)
        expect(self.page).to_have_url(self.server.url(path))
        expect(self.page.locator("nav.mainnav")).to_be_visible()
        return response


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _known_customer(engine: Any) -> KnownCustomer:
    """A named demo customer with an e-mail address whose name is long enough to search for by
    its first letters.

    ``matches`` follows the search's rule (a prefix of name, e-mail or external id, any case).
    """
    with session_factory(engine)() as session:
        row = session.execute(
            select(Customer.id, Customer.external_id, Customer.name)
            .where(
                Customer.name.is_not(None),
                func.length(Customer.name) >= 5,
                Customer.email.is_not(None),  # the case test e-mails them
            )
            .order_by(Customer.id)
            .limit(1)
        ).one()
        term = row.name[:3]
        everyone = session.execute(
            select(Customer.id, Customer.external_id, Customer.name, Customer.email)
        ).all()
    matches = set()
    for other in everyone:
        fields = (other.name, other.email, other.external_id)
        if any(value and value.lower().startswith(term.lower()) for value in fields):
            matches.update({str(other.id), other.external_id or str(other.id)})
    return KnownCustomer(
        key=row.external_id or str(row.id), name=row.name, term=term, matches=frozenset(matches)
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    path = tmp_path_factory.mktemp("browser") / "patron.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    schema.upgrade(engine)
    demo.generate(engine, customers=300, seed=7)
    analyze_store(engine, ScoringSettings())  # the analytics page and the 360's scores
    people = {  # what the user is for -> (e-mail address, name, role)
        "marketer": ("mara.weber@example.com", "Mara Weber", "marketer"),
        "german": ("jonas.becker@example.com", "Jonas Becker", "marketer"),
        "leaver": ("lena.fischer@example.com", "Lena Fischer", "marketer"),
        "agent": ("sam.richter@example.com", "Sam Richter", "service_agent"),
    }
    agent_id = 0
    with session_factory(engine)() as session:
        for email, name, role in people.values():
            made = access.create_user(session, email=email, password=PASSWORD, role=role, name=name)
            agent_id = made.id if role == "service_agent" else agent_id
    users = {purpose: email for purpose, (email, _name, _role) in people.items()}
    customer = _known_customer(engine)
    port = _free_port()
    # The links in e-mails point at this server, as PATRON_PUBLIC_URL does in a shop.
    settings = load_settings(
        database_url=url, environment="test", public_url=f"http://127.0.0.1:{port}"
    )
    with session_factory(engine)() as session:
        case, _created = cases.open_case(
            session,
            customer=customer.key,
            subject="The cup arrived broken",
            description="Two of the six cups were in pieces when the parcel came.",
            category="damaged",
            assignee_id=agent_id,
            settings=settings,
            now=utcnow(),
        )
    app = create_app(settings, engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="patron-browser-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app's server did not start")
        time.sleep(0.05)  # no browser yet: polling the server's own flag is the only wait
    try:
        yield LiveServer(
            base_url=f"http://127.0.0.1:{port}",
            customer=customer,
            users=users,
            case_id=case.id,
            engine=engine,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"the playwright package is not installed: {exc}")
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:
            unavailable(f"{CHROMIUM} does not start under Playwright: {exc}")
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def signed_in_cookies() -> dict[str, list[Any]]:
    return {}


@pytest.fixture
def tab(
    browser: Browser, live_server: LiveServer, signed_in_cookies: dict[str, list[Any]]
) -> Iterator[Tab]:
    context = browser.new_context(viewport=LAPTOP, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    console = Console()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    try:
        yield Tab(
            page=page, console=console, server=live_server, signed_in_cookies=signed_in_cookies
        )
    finally:
        context.close()
