"""``patron user`` and ``patron apikey``: staff accounts and the keys machines sign in with.

Passwords are read with a hidden prompt (twice) or, for scripts, from standard input; they
never appear on the command line, where other users of the machine could see them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeVar

import typer

from patron.access.permissions import API_KEY_SCOPES, ROLES
from patron.cli import output
from patron.cli.output import JSON_OPTION, in_session, print_json

if TYPE_CHECKING:
    pass

T = TypeVar("T")

users_app = typer.Typer(help="Staff users: create, set a password, list.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for machines: create, list, revoke.", no_args_is_help=True)

PASSWORD_STDIN = typer.Option(
    False,
    "--password-stdin",
    help="Read the password from standard input (for scripts) instead of prompting.",
)


@users_app.command("create")
def create_user(
    email: str = typer.Argument(..., help="E-mail address; the user signs in with it."),
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
    name: str | None = typer.Option(None, "--name", help="Full name, as shown to colleagues."),
    language: str | None = typer.Option(None, "--language", help="de or en."),
    password_stdin: bool = PASSWORD_STDIN,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a user with a role; asks for the password (at least 12 characters)."""
    from patron.access import service
    from patron.access.permissions import check_role

    check_role(role)  # before the password prompt, so a typo costs no typing
    password = _read_password(password_stdin)
    user = in_session(
        lambda session: service.create_user(
            session, email=email, password=password, role=role, name=name, language=language
        )
    )
    if json_output:
        print_json(user)
    else:
        output.console().print(
            f"Created user [bold]{user.email}[/] ({user.role}), number {user.id}."
        )


@users_app.command("set-password")
def set_password(
    email: str = typer.Argument(..., help="E-mail address of the user."),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Set a new password for a user (this also lifts a lock after failed sign-ins)."""
    from patron.access import service

    password = _read_password(password_stdin)
    user = in_session(lambda session: service.set_password(session, email=email, password=password))
    output.console().print(f"New password set for [bold]{user.email}[/].")


@users_app.command("list")
def list_users(json_output: bool = JSON_OPTION) -> None:
    """List every user with role, language and last sign-in."""
    from patron.access import service

    found = in_session(service.list_users)
    if json_output:
        print_json(found)
        return
    table = output.table(
        "Users", "#", "e-mail", "name", "role", "language", "active", "last sign-in"
    )
    for user in found.data:
        table.add_row(
            str(user.id),
            user.email,
            user.name or "",
            user.role,
            user.language or "",
            "yes" if user.active else "no",
            _when(user.last_sign_in_at),
        )
    output.console().print(table)


@keys_app.command("create")
def create_key(
    name: str = typer.Option(..., "--name", help="Who or what uses the key, e.g. 'web shop'."),
    scopes: str = typer.Option(
        ...,
        "--scopes",
        help=f"Comma-separated permissions; allowed: {', '.join(sorted(API_KEY_SCOPES))}.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create an API key and print its token, once: Patron keeps only a hash of it."""
    from patron.access import service
    from patron.access.schemas import ApiKeyCreated

    key, token = in_session(
        lambda session: service.create_api_key(session, name=name, scopes=scopes.split(","))
    )
    warning = "Copy the token now: it will not be shown again (Patron stores only its hash)."
    if json_output:
        print_json(ApiKeyCreated(key=key, token=token))
    else:
        console = output.console()
        console.print(f"Created API key [bold]{key.name}[/] (prefix {key.prefix}) with scopes:")
        console.print("  " + ", ".join(key.scopes))
        typer.echo(token)
    output.console(stderr=True).print(f"[bold yellow]warning[/] {warning}")


@keys_app.command("list")
def list_keys(json_output: bool = JSON_OPTION) -> None:
    """List API keys by prefix, with scopes, last use and revocation (never their secrets)."""
    from patron.access import service

    found = in_session(service.list_api_keys)
    if json_output:
        print_json(found)
        return
    table = output.table("API keys", "prefix", "name", "scopes", "created", "last used", "revoked")
    for key in found.data:
        table.add_row(
            key.prefix,
            key.name,
            ", ".join(key.scopes),
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
    output.console().print(table)


@keys_app.command("revoke")
def revoke_key(
    prefix: str = typer.Argument(..., help="The key's prefix, as `patron apikey list` shows it."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Revoke an API key for good: requests with its token are refused from now on."""
    from patron.access import service
    from patron.db import utcnow

    key = in_session(lambda session: service.revoke_api_key(session, prefix=prefix, now=utcnow()))
    if json_output:
        print_json(key)
    else:
        output.console().print(f"Revoked API key [bold]{key.name}[/] (prefix {key.prefix}).")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.read().removesuffix("\n").removesuffix("\r")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _when(value: object) -> str:
    from datetime import datetime

    return f"{value:%Y-%m-%d %H:%M} UTC" if isinstance(value, datetime) else ""
