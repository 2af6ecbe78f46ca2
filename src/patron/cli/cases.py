"""``patron case …``: cases from the command line (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Complaints and cases: open, list, answer, resolve.", no_args_is_help=True)
