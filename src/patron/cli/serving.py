"""``patron serve``: run the web app with uvicorn and say where it is."""

from __future__ import annotations

import typer

from patron.cli.output import runtime


def serve(
    host: str = typer.Option(None, help="Address to bind (default PATRON_HOST)."),
    port: int = typer.Option(None, help="Port to listen on (default PATRON_PORT)."),
) -> None:
    """Start the web app and JSON API."""
    rt = runtime()
    rt.sessions()  # refuses to start on an outdated schema, naming the fix
    run_server(rt.settings, host=host or rt.settings.host, port=port or rt.settings.port)


def run_server(settings: object, *, host: str, port: int) -> None:
    import uvicorn

    from patron.web.app import create_app

    app = create_app(settings)  # type: ignore[arg-type]
    typer.secho(
        f"Patron is running at {base_url(host, port)}/  (Ctrl+C stops it)", fg="green", bold=True
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


def base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server, without a trailing slash."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    return f"http://{shown}:{port}"
