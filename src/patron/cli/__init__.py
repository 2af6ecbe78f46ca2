"""The ``patron`` command line: parse, call a service, print. Heavy libraries load per command."""

from __future__ import annotations

import typer

from patron.cli import (
    access,
    accounts,
    analytics,
    campaign,
    cases,
    customers,
    database,
    demo,
    importing,
    loyalty,
    privacy,
    recommend,
    serving,
    subscriptions,
    surveys,
    webhooks,
    worker,
)

app = typer.Typer(
    name="patron",
    help="Patron: know, keep, talk to and serve your existing customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(database.app, name="db")
app.add_typer(importing.app, name="import")
app.add_typer(customers.app, name="customers")
app.add_typer(demo.app, name="demo")
app.add_typer(access.users_app, name="user")
app.add_typer(access.keys_app, name="apikey")
app.command("stats")(customers.stats)
app.command("serve")(serving.serve)
app.command("analyze")(analytics.analyze)
app.add_typer(analytics.clv_app, name="clv")
app.add_typer(loyalty.app, name="loyalty")
app.add_typer(recommend.app, name="recommend")
app.add_typer(campaign.app, name="campaign")
app.add_typer(cases.app, name="case")
app.add_typer(surveys.app, name="survey")
app.add_typer(accounts.accounts_app, name="account")
app.add_typer(accounts.tasks_app, name="task")
app.add_typer(accounts.events_app, name="event")
app.add_typer(subscriptions.app, name="subscription")
app.add_typer(privacy.app, name="privacy")
app.add_typer(webhooks.app, name="webhooks")
app.command("worker")(worker.worker)


@app.command("version")
def version() -> None:
    """Print Patron's version."""
    from patron import __version__

    typer.echo(__version__)


def main() -> None:
    """Console-script entry point: PatronErrors become a red message and exit code 1."""
    from patron.cli.output import run_guarded

    run_guarded(app)
