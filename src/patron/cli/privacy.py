"""``patron privacy …``: a person's data export, erasure requests and their decision.

Commands parse, call ``patron.privacy`` and print; with ``--json`` exactly one document.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Privacy: export everything about a person; erasure requests.", no_args_is_help=True
)
