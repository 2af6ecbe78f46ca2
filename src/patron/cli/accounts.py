"""``patron account …``, ``patron task …`` and ``patron event …`` (to be written)."""

from __future__ import annotations

import typer

accounts_app = typer.Typer(
    help="Key accounts: account managers, assignment by rule, manual override.",
    no_args_is_help=True,
)
tasks_app = typer.Typer(
    help="Tasks: list, create, complete; run the task rules.", no_args_is_help=True
)
events_app = typer.Typer(
    help="Events: guest lists from segments, invitations, RSVPs, attendance.", no_args_is_help=True
)
