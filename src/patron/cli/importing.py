"""``patron import orders|customers|products FILE``: the importer, with a progress bar and summary;
``patron import campaign-results FILE``: an experiment run elsewhere, for its uplift report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from patron.cli.output import JSON_OPTION, print_json, runtime

if TYPE_CHECKING:
    from patron.customers.importer.summary import ImportSummary

app = typer.Typer(
    help="Import orders, customers, products or campaign results from CSV/TSV, Parquet or Excel.",
    no_args_is_help=True,
)

MAP = typer.Option(
    None, "--map", help="COLUMN=FIELD: read a column as one of Patron's fields (repeatable)."
)
MAPPING_FILE = typer.Option(None, "--mapping", help="File of COLUMN=FIELD lines or a JSON object.")
SKIP = typer.Option(False, "--skip-invalid", help="Store the valid rows and report the rest.")
ERRORS = typer.Option(
    None, "--errors", help="Where to write rejected rows (default FILE.errors.csv here)."
)
TZ = typer.Option(
    None, "--timezone", help="Time zone of timestamps without offset (default PATRON_TIMEZONE)."
)
CURRENCY = typer.Option(
    None,
    "--currency",
    help="Currency of orders that name none (default by layout, else PATRON_CURRENCY).",
)
DATE_FORMAT = typer.Option(
    None, "--date-format", help="strptime format of the date column, e.g. %d.%m.%Y."
)
ENCODING = typer.Option(
    None, "--encoding", help="Text encoding (default: detected; UTF-8, Windows-1252, Latin-1)."
)


def _import(
    kind: str,
    file: Path,
    *,
    mapping: list[str] | None,
    mapping_file: Path | None,
    skip_invalid: bool,
    errors: Path | None,
    encoding: str | None,
    json_output: bool,
    timezone: str | None = None,
    currency: str | None = None,
    date_format: str | None = None,
) -> None:
    from patron.customers.importer.layouts import Kind, read_mapping
    from patron.customers.importer.service import ImportOptions, import_file
    from patron.errors import ImportFailed

    rt = runtime()
    rt.sessions()  # refuses an outdated schema before reading anything
    options = ImportOptions(
        kind=Kind(kind),
        timezone=timezone or rt.settings.timezone,
        currency=(currency or rt.settings.currency).upper(),
        mapping=read_mapping(mapping or [], mapping_file),
        skip_invalid=skip_invalid,
        errors_path=errors,
        date_format=date_format,
        encoding=encoding,
    )
    try:
        if json_output:
            summary = import_file(rt.engine, path=file, options=options)
        else:
            summary = _with_progress(
                lambda p: import_file(rt.engine, path=file, options=options, progress=p)
            )
    except ImportFailed as failure:
        if not json_output:
            from patron.cli.summary import show_summary

            show_summary(failure.details)
        raise
    if options.kind is Kind.orders and summary.stored:
        summary.counts |= _link_subscription_orders(rt)
    if json_output:
        print_json(summary.to_dict())
    else:
        from patron.cli.summary import show_summary

        show_summary(summary.to_dict())


def _link_subscription_orders(rt: Any) -> dict[str, int]:
    """Orders that quote a subscription delivery's reference fulfil it at once (the worker
    would on its next round); the summary says how many, and how many references match none."""
    from patron.cli.output import in_session
    from patron.db import utcnow
    from patron.subscriptions import fulfilment

    return in_session(lambda session: fulfilment.link_after_import(session, now=utcnow()), rt)


def _with_progress(run: Any) -> ImportSummary:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]:,} rows"),
        TextColumn("{task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=None, rows=0, rate=0.0)

        def report(rows: int, done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(
                task, completed=done, total=total or None, rows=rows, rate=rows / elapsed
            )

        return run(report)


@app.command("orders")
def orders(
    file: Path,
    map_: list[str] = MAP,
    mapping: Path = MAPPING_FILE,
    skip_invalid: bool = SKIP,
    errors: Path = ERRORS,
    timezone: str = TZ,
    currency: str = CURRENCY,
    date_format: str = DATE_FORMAT,
    encoding: str = ENCODING,
    json_output: bool = JSON_OPTION,
) -> None:
    """Import order lines (and returns): Patron's layout, UCI Online Retail I/II, CDNOW, or mapped."""
    _import(
        "orders",
        file,
        mapping=map_,
        mapping_file=mapping,
        skip_invalid=skip_invalid,
        errors=errors,
        encoding=encoding,
        json_output=json_output,
        timezone=timezone,
        currency=currency,
        date_format=date_format,
    )


@app.command("customers")
def customers(
    file: Path,
    map_: list[str] = MAP,
    mapping: Path = MAPPING_FILE,
    skip_invalid: bool = SKIP,
    errors: Path = ERRORS,
    timezone: str = TZ,
    date_format: str = DATE_FORMAT,
    encoding: str = ENCODING,
    json_output: bool = JSON_OPTION,
) -> None:
    """Import customer master data (created or updated by customer_id)."""
    _import(
        "customers",
        file,
        mapping=map_,
        mapping_file=mapping,
        skip_invalid=skip_invalid,
        errors=errors,
        encoding=encoding,
        json_output=json_output,
        timezone=timezone,
        date_format=date_format,
    )


@app.command("products")
def products(
    file: Path,
    map_: list[str] = MAP,
    mapping: Path = MAPPING_FILE,
    skip_invalid: bool = SKIP,
    errors: Path = ERRORS,
    encoding: str = ENCODING,
    json_output: bool = JSON_OPTION,
) -> None:
    """Import the product catalogue (created or updated by sku)."""
    _import(
        "products",
        file,
        mapping=map_,
        mapping_file=mapping,
        skip_invalid=skip_invalid,
        errors=errors,
        encoding=encoding,
        json_output=json_output,
    )


@app.command("campaign-results")
def campaign_results(
    file: Path,
    name: str = typer.Option(..., "--name", help="The experiment's name, as reports show it."),
    holdout: str = typer.Option(
        "holdout", "--holdout", help="The name of the holdout group in the file's group column."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace an experiment of the same name (else refused)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Import an experiment run elsewhere: columns customer, group and one per outcome.

    CSV (, or ; with decimal commas), Excel or Parquet; one bad row imports nothing. See the
    uplift with ``patron campaign experiment NAME``.
    """
    from dataclasses import asdict

    from patron.cli.output import console, in_session
    from patron.db import utcnow
    from patron.engage import experiments

    summary = in_session(
        lambda session: experiments.import_results(
            session, path=file, name=name, holdout=holdout, replace=replace, now=utcnow()
        )
    )
    if json_output:
        print_json(asdict(summary) | {"unmatched": summary.unmatched})
        return
    groups = ", ".join(f"{group} {count:,}" for group, count in summary.groups.items())
    verb = "replaced" if summary.replaced else "imported"
    console().print(
        f"[bold]{summary.file}[/] ({summary.format}) {verb} as experiment [bold]{summary.name}[/]: "
        f"{summary.rows:,} customers ({groups}); outcomes {', '.join(summary.metrics)}; "
        f"{summary.matched:,} matched to Patron's customers, {summary.unmatched:,} not."
    )
