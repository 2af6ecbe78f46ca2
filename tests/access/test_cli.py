"""``patron user`` and ``patron apikey`` through the command line, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from patron.access import service
from patron.cli import app
from patron.db import make_engine, session_factory
from patron.errors import PatronError

runner = CliRunner(env={"COLUMNS": "200"})
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _verify(url: str, token: str) -> set[str]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return service.verify_api_key(session, token=token, now=NOW)
    finally:
        engine.dispose()


def test_user_create_from_stdin_then_sign_in(cli_env: str) -> None:
    result = runner.invoke(
        app,
        ["user", "create", "Eva@Example.org", "--role", "analyst", "--name", "Eva", "--language", "en",
         "--password-stdin", "--json"],
        input="a long enough passphrase\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert (created["email"], created["role"], created["language"]) == (
        "eva@example.org",
        "analyst",
        "en",
    )
    engine = make_engine(cli_env)
    with session_factory(engine)() as session:
        user = service.authenticate(
            session, email="eva@example.org", password="a long enough passphrase", now=NOW
        )
    engine.dispose()
    assert user.id == created["id"]


def test_user_create_prompts_twice_for_the_password(cli_env: str) -> None:
    result = runner.invoke(
        app,
        ["user", "create", "max@example.org", "--role", "admin"],
        input="a long enough passphrase\na long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long enough passphrase" not in result.output
    assert "Created user max@example.org (admin)" in result.output


def test_a_weak_password_is_refused(cli_env: str) -> None:
    result = runner.invoke(
        app,
        ["user", "create", "x@example.org", "--role", "admin", "--password-stdin"],
        input="short\n",
    )
    assert isinstance(result.exception, PatronError)
    assert result.exception.code == "users.weak_password"


def test_user_set_password_and_list_json(cli_env: str) -> None:
    for email in ("b@example.org", "a@example.org"):
        created = runner.invoke(
            app,
            ["user", "create", email, "--role", "service_agent", "--password-stdin"],
            input="first passphrase!\n",
        )
        assert created.exit_code == 0, created.output
    changed = runner.invoke(
        app,
        ["user", "set-password", "a@example.org", "--password-stdin"],
        input="second passphrase\n",
    )
    assert changed.exit_code == 0, changed.output
    listed = runner.invoke(app, ["user", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)  # exactly one JSON document
    assert [u["email"] for u in document["data"]] == ["a@example.org", "b@example.org"]
    assert document["count"] == 2
    assert "hash" not in listed.stdout
    table = runner.invoke(app, ["user", "list"])
    assert table.exit_code == 0, table.output
    assert "a@example.org" in table.output
    assert "service_agent" in table.output


def test_apikey_create_json_verifies_through_the_service(cli_env: str) -> None:
    result = runner.invoke(
        app,
        ["apikey", "create", "--name", "web shop", "--scopes", "customers:read,events:write", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["key"]["scopes"] == ["customers:read", "events:write"]
    assert created["token"].startswith(f"pk_{created['key']['prefix']}_")
    assert "will not be shown again" in result.stderr
    assert _verify(cli_env, created["token"]) == {"customers:read", "events:write"}


def test_apikey_list_and_revoke(cli_env: str) -> None:
    created = runner.invoke(app, ["apikey", "create", "--name", "erp", "--scopes", "imports:write"])
    assert created.exit_code == 0, created.output
    token = next(line for line in created.stdout.splitlines() if line.startswith("pk_"))
    assert "will not be shown again" in created.stderr
    listed = runner.invoke(app, ["apikey", "list", "--json"])
    document = json.loads(listed.stdout)
    assert document["count"] == 1
    assert token not in listed.stdout
    prefix = document["data"][0]["prefix"]
    assert prefix in runner.invoke(app, ["apikey", "list"]).output
    revoked = runner.invoke(app, ["apikey", "revoke", prefix])
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(PatronError, match="invalid API key"):
        _verify(cli_env, token)


def test_apikey_create_refuses_an_unknown_scope(cli_env: str) -> None:
    result = runner.invoke(
        app, ["apikey", "create", "--name", "x", "--scopes", "customers:read,apikeys:manage"]
    )
    assert isinstance(result.exception, PatronError)
    assert "apikeys:manage" in result.exception.message
    assert "allowed:" in result.exception.message
