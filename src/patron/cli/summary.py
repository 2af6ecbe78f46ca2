"""Printing an import summary as Rich tables (the JSON form is the summary's dict itself)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def show_summary(summary: dict[str, Any]) -> None:
    console = Console()
    verdict = "[green]stored[/]" if summary["stored"] else "[red]nothing stored[/]"
    if summary["stored"] and not summary["changed"]:
        verdict = "[yellow]already imported: nothing changed[/]"
    console.print(
        f"[bold]{summary['file']}[/]: {summary['kind']}, layout [cyan]{summary['layout']}[/], "
        f"{summary['format']}{', ' + summary['encoding'] if summary['encoding'] else ''} — {verdict}"
    )
    table = Table("rows", "count", show_header=False, box=None)
    table.add_row("rows read", f"{summary['rows_read']:,}")
    table.add_row("rows rejected", f"{summary['rows_rejected']:,}")
    if summary["blank_lines"]:
        table.add_row("blank lines skipped", f"{summary['blank_lines']:,}")
    for name, value in {**summary["counts"], **summary["line_kinds"]}.items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    table.add_row("time", f"{summary['seconds']:.1f} s ({summary['rows_per_second']:,.0f} rows/s)")
    console.print(table)
    if summary["errors"]:
        errors = Table("line", "column", "value", "reason", title="first rejected rows")
        for error in summary["errors"]:
            errors.add_row(
                str(error["line"]), error["column"], str(error["value"]), error["reason"]
            )
        console.print(errors)
        console.print(f"all rejected rows: {summary['errors_file']}")
