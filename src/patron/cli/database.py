"""``patron db``: bring the schema up to date and show where it stands."""

from __future__ import annotations

import typer

from patron.cli.output import JSON_OPTION, print_json, runtime

app = typer.Typer(help="Database schema: upgrade and inspect.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(json_output: bool = JSON_OPTION) -> None:
    """Apply all migrations (creates the database if it is new), then add the shipped message
    templates the store lacks (a template there, shipped or the shop's own, stays as it is)."""
    from patron import schema
    from patron.db import session_factory, utcnow
    from patron.engage import library

    rt = runtime()
    try:
        schema.upgrade(rt.engine)
        revision = schema.current_revision(rt.engine)
        with session_factory(rt.engine).begin() as session:
            added = library.install(session, now=utcnow())
    finally:
        rt.close()
    if json_output:
        print_json({"revision": revision, "templates_added": added})
    else:
        templates = "template" if added == 1 else "templates"
        typer.echo(f"schema at revision {revision}; {added} shipped message {templates} added")


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
