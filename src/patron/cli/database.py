"""``patron db``: bring the schema up to date and show where it stands."""

from __future__ import annotations

import typer

from patron.cli.output import JSON_OPTION, print_json, runtime

app = typer.Typer(help="Database schema: upgrade and inspect.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(json_output: bool = JSON_OPTION) -> None:
    """Apply all migrations (creates the database if it is new)."""
    from patron import schema

    rt = runtime()
    schema.upgrade(rt.engine)
    revision = schema.current_revision(rt.engine)
    if json_output:
        print_json({"revision": revision})
    else:
        typer.echo(f"schema at revision {revision}")


@app.command("current")
def current(json_output: bool = JSON_OPTION) -> None:
    """Show the schema revision of the database and the one this Patron needs."""
    from patron import schema

    rt = runtime()
    document = {"current": schema.current_revision(rt.engine), "head": schema.head_revision()}
    if json_output:
        print_json(document)
    else:
        typer.echo(f"database: {document['current']}  needed: {document['head']}")
