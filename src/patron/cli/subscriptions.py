"""``patron subscription …``: subscriptions and delivery contracts from the command line.

Commands parse, call ``patron.subscriptions`` and print; with ``--json`` exactly one document.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Subscriptions: list, create, pause, cancel, due deliveries, reports.",
    no_args_is_help=True,
)
