"""``patron webhooks``: the URLs that get Patron's events, and how their deliveries went."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import typer

from patron.cli import output
from patron.cli.output import JSON_OPTION, in_session, print_json

if TYPE_CHECKING:
    from rich.table import Table

T = TypeVar("T")

app = typer.Typer(
    help="Webhooks: endpoints that receive events, and their deliveries.", no_args_is_help=True
)


@app.command("add")
def add(
    url: str = typer.Argument(..., help="Where to POST the events (http:// or https://)."),
    topics: list[str] = typer.Option(
        ..., "--topic", help="An event topic such as points.earned, or * for all (repeatable)."
    ),
    secret: str | None = typer.Option(
        None, "--secret", help="The signing secret (default: a random one, printed once here)."
    ),
    description: str | None = typer.Option(None, "--description", help="Who receives, and why."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Add an endpoint and print its signing secret, which the receiver needs to check requests."""
    from patron.outbox import service

    endpoint = in_session(
        lambda session: service.add_endpoint(
            session, url=url, topics=topics, secret=secret, description=description
        )
    )
    if json_output:
        print_json(endpoint)
    else:
        console = output.console()
        console.print(
            f"Added webhook endpoint [bold]{endpoint.id}[/] {endpoint.url} for "
            f"{', '.join(endpoint.topics)}. Its signing secret:"
        )
        typer.echo(endpoint.secret)
    output.console(stderr=True).print(
        "[bold yellow]note[/] Give the secret to the receiver: it checks the Patron-Signature "
        "header with it. `patron webhooks list --show-secret` shows it again."
    )


@app.command("list")
def list_endpoints(
    show_secret: bool = typer.Option(
        False, "--show-secret", help="Also print each endpoint's signing secret."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List the endpoints with their topics (secrets only with --show-secret)."""
    from patron.outbox import service

    found = in_session(lambda session: service.list_endpoints(session, with_secrets=show_secret))
    if json_output:
        print_json(found)
        return
    columns = ["#", "URL", "topics", "active", "description", "created"]
    table = _table("Webhook endpoints", *columns, *(["secret"] if show_secret else []))
    for endpoint in found.data:
        table.add_row(
            str(endpoint.id),
            endpoint.url,
            ", ".join(endpoint.topics),
            "yes" if endpoint.active else "no",
            endpoint.description or "",
            _when(endpoint.created_at),
            *([endpoint.secret or ""] if show_secret else []),
        )
    output.console().print(table)


@app.command("remove")
def remove(
    endpoint_id: int = typer.Argument(..., help="The endpoint's number, as `list` shows it."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Stop sending to an endpoint; deliveries still pending for it are given up."""
    from patron.outbox import service

    endpoint = in_session(lambda session: service.remove_endpoint(session, endpoint_id=endpoint_id))
    if json_output:
        print_json(endpoint)
    else:
        output.console().print(f"Removed webhook endpoint [bold]{endpoint.id}[/] {endpoint.url}.")


@app.command("deliveries")
def deliveries(
    status: str | None = typer.Option(None, "--status", help="pending, delivered or dead."),
    limit: int = typer.Option(50, "--limit", help="How many, newest first."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List the newest deliveries: status, attempts, the last answer and the next try."""
    from patron.outbox import service

    found = in_session(lambda session: service.list_deliveries(session, status=status, limit=limit))
    if json_output:
        print_json(found)
        return
    table = _table(
        "Webhook deliveries", "#", "event", "topic", "endpoint", "status", "attempts",
        "last answer", "next try", "delivered",
    )  # fmt: skip
    for delivery in found.data:
        table.add_row(
            str(delivery.id),
            str(delivery.event_id),
            delivery.topic,
            f"{delivery.endpoint_id} {delivery.url}",
            delivery.status,
            str(delivery.attempts),
            delivery.last_error or "",
            _when(delivery.next_attempt_at),
            _when(delivery.delivered_at),
        )
    output.console().print(table)


@app.command("retry")
def retry(
    delivery_id: int = typer.Argument(..., help="The delivery's number, as `deliveries` shows it."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Send a dead delivery again (with a fresh count of attempts), or a pending one now."""
    from patron.db import utcnow
    from patron.outbox import service

    delivery = in_session(
        lambda session: service.retry(session, delivery_id=delivery_id, now=utcnow())
    )
    if json_output:
        print_json(delivery)
    else:
        output.console().print(
            f"Delivery [bold]{delivery.id}[/] is pending again; `patron worker` sends it."
        )


def _when(value: object) -> str:
    from datetime import datetime

    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if isinstance(value, datetime) else ""


def _table(title: str, *columns: str) -> Table:
    return output.table(title, *columns, right=("#", "attempts"))
