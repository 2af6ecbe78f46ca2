"""Placeholder: replaced by the module's real commands."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


def stats() -> None:
    """Print the store's counts."""
