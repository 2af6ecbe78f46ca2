"""``patron db upgrade``: the schema brought up to date and the shipped templates installed."""

from __future__ import annotations

import json

from sqlalchemy import select, update
from typer.testing import CliRunner

from patron.cli import app
from patron.db import make_engine, session_factory
from patron.engage import library
from patron.engage.models import MessageTemplate
from patron.schema import head_revision

runner = CliRunner(env={"COLUMNS": "200"})


def _templates(url: str) -> dict[str, str]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            query = select(MessageTemplate.key, MessageTemplate.name)
            return dict(session.execute(query).all())
    finally:
        engine.dispose()


def test_upgrade_installs_the_shipped_templates_once_and_keeps_a_shops_edits(
    cli_env: str,
) -> None:
    shipped = {item.key for item in library.shipped()}
    assert _templates(cli_env) == {}
    first = runner.invoke(app, ["db", "upgrade", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "revision": head_revision(),
        "templates_added": len(shipped),
    }
    assert set(_templates(cli_env)) == shipped
    # a shop renames one and deletes another: the next upgrade adds back only what is missing
    engine = make_engine(cli_env)
    with session_factory(engine).begin() as session:
        session.execute(
            update(MessageTemplate)
            .where(MessageTemplate.key == "newsletter")
            .values(name="Our monthly letter")
        )
        session.delete(session.scalars(select(MessageTemplate).filter_by(key="birthday")).one())
    engine.dispose()
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0, again.output
    assert again.output.strip() == (
        f"schema at revision {head_revision()}; 1 shipped message template added"
    )
    found = _templates(cli_env)
    assert set(found) == shipped
    assert found["newsletter"] == "Our monthly letter"
