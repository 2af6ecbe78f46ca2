"""``patron demo``: a simulated shop with known ground truth, generated into the store and served.

The demo owns its database, so it brings the schema up to date itself before writing.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import typer

from patron.cli.output import JSON_OPTION, print_json, runtime
from patron.config import Environment
from patron.demo.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from patron.cli.output import Runtime
    from patron.config import Settings
    from patron.demo.service import DemoSummary

# The days the demo's customers are also scored as of, besides today (2026-10-31 in the demo).
HISTORY = (date(2025, 10, 31), date(2026, 4, 30))

app = typer.Typer(
    help="The demo shop: generate simulated customers with known ground truth, then explore them.",
    invoke_without_command=True,
)

CUSTOMERS_OPTION = typer.Option(DEFAULT_CUSTOMERS, "--customers", min=1, help="How many customers.")
SEED_OPTION = typer.Option(DEFAULT_SEED, "--seed", min=0, help="Same seed and size, same shop.")
RESET_OPTION = typer.Option(
    False, "--reset", help="Delete everything in the store first (customers, orders, demo runs…)."
)


def _prepared_engine(rt: Runtime) -> Engine:
    from patron import schema

    schema.upgrade(rt.engine)
    rt.sessions()  # the same schema check every command makes
    return rt.engine


def _generate(
    rt: Runtime, engine: Engine, *, customers: int, seed: int, reset: bool, quiet: bool
) -> DemoSummary:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from patron.demo import service

    console = Console(stderr=True)
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=quiet) as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done)

        if not quiet:
            console.print(f"Simulating {customers:,} customers (seed {seed})…")
        return service.generate(
            engine,
            customers=customers,
            seed=seed,
            reset=reset,
            progress=progress,
            loyalty=True,
            engagement=rt.settings,
        )


def _show(summary: DemoSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    title = "Demo shop (reused)" if summary.reused else f"Demo shop in {summary.seconds:.1f} s"
    table = Table(title=title, show_header=False)
    for label, value in (
        ("customers", summary.customers),
        ("orders", summary.orders),
        ("order lines", summary.lines),
        ("returns", summary.returns),
        ("products", summary.products),
        ("interactions", summary.interactions),
        ("consents", summary.consents),
        ("seed", summary.seed),
    ):
        table.add_row(label, f"{value:,}")
    Console().print(table)


def _score_once(engine: Engine) -> None:
    """Score the demo's customers (``patron analyze``) unless a snapshot exists already: as of
    two earlier days (``HISTORY``) and as of today."""
    from rich.console import Console
    from sqlalchemy.orm import Session

    from patron.analytics.scoring import ScoringSettings
    from patron.analytics.service import analyze_store
    from patron.analytics.snapshots import latest_snapshot

    with Session(engine) as session:
        if latest_snapshot(session) is not None:
            return
    console = Console(stderr=True)
    with console.status("Scoring the customers (ABC, RFM, CLV, P(alive), phases)…"):
        # Earlier states first (the newest snapshot is the current one): a customer's history
        # of scores, and the CLV before and after a complaint in the service-recovery report.
        for end in HISTORY:
            analyze_store(engine, ScoringSettings(), end=end)
        result, _ = analyze_store(engine, ScoringSettings())
    console.print(
        f"Scored {result.scores.num_rows:,} customers in {sum(result.seconds.values()):.1f} s "
        "(run `patron analyze` again after new orders)."
    )


def _care_once(engine: Engine, settings: Settings, seed: int) -> None:
    """Give the A-customers their account managers, make the rules' tasks and the demo's
    events, once the customers are scored (``patron.demo.care.after_scoring``)."""
    from rich.console import Console

    from patron.db import session_factory, utcnow
    from patron.demo import care

    with Console(stderr=True).status("Assigning key accounts, making tasks and events…"):
        care.after_scoring(session_factory(engine), seed=seed, settings=settings, now=utcnow())


def _fit_once(engine: Engine) -> None:
    """Fit the recommender (``patron recommend fit``) unless a fit exists already, so the 360
    pages show offers at once; ``demo generate`` leaves that to the first start (or the worker)."""
    from rich.console import Console
    from sqlalchemy.orm import Session

    from patron.db import utcnow
    from patron.recommend import service

    with Session(engine) as session:
        if service.latest_fit(session) is not None:
            return
    console = Console(stderr=True)
    with console.status("Fitting the recommender (what goes with what, when people buy again)…"):
        fitted = service.fit(engine, now=utcnow())
    console.print(
        f"Fitted the recommender on {fitted.baskets:,} orders in {fitted.seconds:.1f} s "
        "(the worker refits it daily; `patron recommend fit` does now)."
    )


@app.callback()
def demo(
    ctx: typer.Context,
    customers: int = CUSTOMERS_OPTION,
    seed: int = SEED_OPTION,
    host: str | None = typer.Option(None, help="Address to bind (default PATRON_HOST)."),
    port: int | None = typer.Option(None, help="Port to listen on (default PATRON_PORT)."),
    reset: bool = RESET_OPTION,
) -> None:
    """Generate the demo shop (or reuse the one already there) and start the web app."""
    if ctx.invoked_subcommand is not None:
        return
    from patron.cli import serving
    from patron.db import session_factory
    from patron.demo import service
    from patron.demo import subscriptions as demo_subscriptions

    rt = runtime()
    engine = _prepared_engine(rt)
    summary = None if reset else service.find_run(engine, customers=customers, seed=seed)
    if summary is None:
        summary = _generate(rt, engine, customers=customers, seed=seed, reset=reset, quiet=False)
    _show(summary)
    _score_once(engine)
    _care_once(engine, rt.settings, seed)
    _fit_once(engine)
    host, port = host or rt.settings.host, port or rt.settings.port
    token = service.issue_demo_key(engine)
    email, password = service.issue_demo_admin(engine)
    url = serving.base_url(host, port)
    guest = demo_subscriptions.portal_guest(session_factory(engine))
    typer.echo(
        f"Sign in at {url}/ as {email} with the password {password} "
        "(a new password at each start).\n"
        "Call the API with the demo key (customers:read, analytics:read; each start replaces "
        "it):\n"
        f'  curl -H "Authorization: Bearer {token}" {url}/api/v1/customers\n'
        f'  curl -H "Authorization: Bearer {token}" {url}/api/v1/analytics/segments\n'
        f"The customers' own portal: {url}/portal"
        + (
            f" (sign in as the subscriber {guest}; the demo shows the link instead of mailing it)"
            if guest
            else ""
        )
    )
    serving.run_server(served_settings(rt.settings, url), host=host, port=port)


def served_settings(settings: Settings, url: str) -> Settings:
    """The settings the demo serves with: the ``demo`` environment (the one place the web app
    runs on the default secret key), and, unless ``PATRON_PUBLIC_URL`` says otherwise, links
    for customers (the portal's sign-in link, unsubscribe) that lead to this server."""
    changes: dict[str, object] = {}
    if settings.environment is Environment.development:
        changes["environment"] = Environment.demo
    if "public_url" not in settings.model_fields_set:
        changes["public_url"] = url
    return settings.model_copy(update=changes)


@app.command("generate")
def generate(
    customers: int = CUSTOMERS_OPTION,
    seed: int = SEED_OPTION,
    reset: bool = RESET_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Simulate a shop and write it into the store (PATRON_DATABASE_URL)."""
    rt = runtime()
    engine = _prepared_engine(rt)
    summary = _generate(rt, engine, customers=customers, seed=seed, reset=reset, quiet=json_output)
    if json_output:
        print_json(summary.to_dict())
    else:
        _show(summary)
