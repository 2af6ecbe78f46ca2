"""``patron survey …``: surveys from the command line (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="NPS, CSAT and Kano surveys: create, send, report.", no_args_is_help=True)
