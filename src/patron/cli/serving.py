"""``patron serve``: run the web app with uvicorn and say where it is."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from patron.cli.output import runtime

if TYPE_CHECKING:
    from patron.config import Settings


def serve(
    host: str = typer.Option(None, help="Address to bind (default PATRON_HOST)."),
    port: int = typer.Option(None, help="Port to listen on (default PATRON_PORT)."),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="Worker processes, each a whole app (about one per CPU core; SQLite serves "
        "several reading processes at once).",
    ),
) -> None:
    """Start the web app and JSON API."""
    rt = runtime()
    rt.sessions()  # refuses to start on an outdated schema, naming the fix
    run_server(
        rt.settings, host=host or rt.settings.host, port=port or rt.settings.port, workers=workers
    )


def run_server(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from patron.web.app import create_app

    app = create_app(settings)  # refuses bad settings here, before anything listens
    typer.secho(
        f"Patron is running at {base_url(host, port)}/  (Ctrl+C stops it)", fg="green", bold=True
    )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    # Each worker process builds its own app from the environment; the one setting a command
    # may have changed (the demo's environment) is passed on through it.
    app.state.engine.dispose()
    os.environ["PATRON_ENVIRONMENT"] = settings.environment.value
    uvicorn.run(
        "patron.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server, without a trailing slash."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    return f"http://{shown}:{port}"
