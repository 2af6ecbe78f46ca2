"""``patron recommend evaluate [FILE]``: how well the offers would have predicted each customer's
last order, next to two baselines (protocol: ``patron.recommend.evaluation``).

On the store the rules of the latest fit apply (``--exclude`` replaces its exclusions); a file
is read as ``patron analyze FILE`` reads it and knows only product ids.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from patron.cli import analytics
from patron.cli import loyalty_shared as shared
from patron.cli.output import JSON_OPTION, print_json, runtime

if TYPE_CHECKING:
    from patron.recommend.baskets import Baskets
    from patron.recommend.catalogue import Catalogue
    from patron.recommend.evaluation import Evaluation
    from patron.recommend.rules import Rules
    from patron.recommend.schemas import RecommendSettings

EXCLUDE = typer.Option(
    None,
    "--exclude",
    help="A SKU never offered and left out of the statistics, e.g. postage; wildcards such as gift_* match many (repeatable).",
)
EXCLUDE_FILE = typer.Option(
    None,
    "--exclude-file",
    exists=True,
    dir_okay=False,
    help="A file of SKUs or wildcards to exclude, one a line (# starts a comment).",
)
METRICS = (
    ("precision", "precision"),
    ("recall", "recall"),
    ("hit_rate", "hit rate"),
    ("ndcg", "NDCG"),
    ("coverage", "coverage"),
)


def evaluate(
    file: Path | None = typer.Argument(
        None,
        exists=True,
        dir_okay=False,
        help="A transaction file (any layout `patron import orders` reads); default: the store.",
    ),
    k: int = typer.Option(10, "--k", min=1, max=100, help="Length of each list."),
    exclude: list[str] = EXCLUDE,
    exclude_file: Path | None = EXCLUDE_FILE,
    map_: list[str] = analytics.MAP,
    skip_invalid: bool = analytics.SKIP,
    timezone: str = analytics.TZ,
    json_output: bool = JSON_OPTION,
) -> None:
    """Score the offers against each customer's last order, next to two baselines.

    Each customer's last order is held out and the lists are made from the orders before:
    Patron's, global popularity's, and the customer's own favourites followed by popularity.
    Three parts: overall (the list as offered, against the whole order), bought before
    (re-buying) and new (products the customer never bought: cross-selling). Nothing is stored.
    """
    from patron.recommend.evaluation import evaluate as run_evaluation

    given = excluded(exclude, exclude_file)
    started = time.perf_counter()
    with Status(quiet=json_output, first="reading orders") as step:
        if file is None:
            baskets, catalogue, settings = _store(given)
            invalid = 0
        else:
            baskets, catalogue, settings, invalid = _file(file, given, map_, skip_invalid, timezone)
        step("fitting on the orders before each customer's last one, then ranking")
        result = run_evaluation(baskets, catalogue, k=k, rules=_rules(settings))
    document = _document(result, file, settings, invalid, time.perf_counter() - started)
    if json_output:
        print_json(document)
    else:
        _print(result, document)


def excluded(skus: list[str] | None, path: Path | None) -> list[str] | None:
    """The SKUs of ``--exclude`` and ``--exclude-file``, in order, once each; None if neither."""
    if not skus and path is None:
        return None
    found = list(skus or [])
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            sku = line.split("#", 1)[0].strip()
            if sku:
                found.append(sku)
    return list(dict.fromkeys(sku.strip() for sku in found if sku.strip()))


def _store(exclude: list[str] | None) -> tuple[Baskets, Catalogue, RecommendSettings]:
    from patron.recommend import service

    rt = runtime()
    try:
        with rt.sessions()() as session:
            settings = service.settings_in_force(session)
        if exclude is not None:
            settings = settings.model_copy(update={"exclude": exclude})
        baskets, catalogue = service.store_baskets(rt.engine, exclude=settings.exclude)
    finally:
        rt.close()
    return baskets, catalogue, settings


def _file(
    file: Path,
    exclude: list[str] | None,
    mapping: list[str] | None,
    skip_invalid: bool,
    timezone: str | None,
) -> tuple[Baskets, Catalogue, RecommendSettings, int]:
    from patron.analytics.files import read_transactions
    from patron.customers.importer.layouts import read_mapping
    from patron.recommend import catalogue
    from patron.recommend.baskets import from_lines
    from patron.recommend.schemas import RecommendSettings

    settings = RecommendSettings(exclude=exclude or [])
    read = read_transactions(
        file,
        timezone=timezone or runtime().settings.timezone,
        mapping=read_mapping(mapping or [], None),
        skip_invalid=skip_invalid,
    )
    baskets = from_lines(read.lines, exclude=settings.exclude)
    return baskets, catalogue.plain(baskets.products.tolist()), settings, len(read.errors)


def _rules(settings: RecommendSettings) -> Rules:
    from patron.recommend.rules import Rules

    return Rules(
        kind="cross",
        margin_floor=settings.margin_floor,
        per_category=settings.per_category,
        replenish_rate=settings.replenish_rate,
        due_from=settings.due_from,
    )


def _document(
    result: Evaluation,
    file: Path | None,
    settings: RecommendSettings,
    invalid: int,
    seconds: float,
) -> dict[str, Any]:
    from dataclasses import asdict

    from patron.recommend.evaluation import METHODS, PARTS

    def finite(value: float) -> float | None:  # JSON has no infinity
        return value if value != float("inf") else None

    return {
        "source": "store" if file is None else str(file),
        "k": result.k,
        "customers": result.customers,
        "products": result.products,
        "baskets": result.baskets,
        "excluded": settings.exclude,
        "invalid_rows": invalid,
        "scores": [
            {"part": part, "method": method, **asdict(result.scores[(method, part)])}
            for part in PARTS
            for method in METHODS
        ],
        "ndcg_ratio": {part: finite(result.ratio(part)) for part in PARTS},
        "seconds": round(seconds, 2),
    }


def _print(result: Evaluation, document: dict[str, Any]) -> None:
    from rich import box

    from patron.recommend.evaluation import METHODS, PARTS

    console = shared.console()
    source = "the store" if document["source"] == "store" else Path(document["source"]).name
    console.print(
        f"[bold]Last order held out[/] of {result.customers:,} customers in {source}: "
        f"{result.products:,} products, {result.baskets:,} orders to learn from "
        f"({document['seconds']:.1f} s)."
    )
    if document["invalid_rows"]:
        console.print(f"[yellow]warning[/] {document['invalid_rows']:,} invalid rows skipped")
    table = shared.table(f"Scores at k = {result.k}", "part / method")
    table.box, table.show_edge, table.pad_edge = box.SIMPLE_HEAD, False, False  # 80 columns
    for _, label in METRICS:
        table.add_column(label, justify="right")
    for part in PARTS:
        customers = result.scores[(METHODS[0], part)].customers
        table.add_row(f"[bold]{part}[/] ({customers:,})")
        for method in METHODS:
            scores = result.scores[(method, part)]
            table.add_row(f"  {method}", *(f"{getattr(scores, name):.3f}" for name, _ in METRICS))
    console.print(table)
    ratios = ", ".join(f"{part} {_ratio(result, part)}" for part in PARTS)
    console.print(f"Patron's NDCG ÷ the better baseline's: {ratios}.")
    console.print(
        "[dim](N): customers whose last order has that part; the scores are their averages. "
        "overall: the list as offered, against the whole order; bought before: their own "
        "products, against what they bought again; new: products they never bought, against "
        "the rest.[/]"
    )


def _ratio(result: Evaluation, part: str) -> str:
    if result.scores[("patron", part)].ndcg == 0:
        return "–"
    ratio = result.ratio(part)
    return "∞" if ratio == float("inf") else f"{ratio:.2f}"


class Status:
    """A status line on stderr naming the step that runs (nothing with --json)."""

    def __init__(self, *, quiet: bool, first: str) -> None:
        self.quiet, self.first = quiet, first
        self.status: Any = None

    def __enter__(self) -> Any:
        if not self.quiet:
            self.status = shared.console(stderr=True).status(f"{self.first}…")
            self.status.start()
        return self.step

    def step(self, message: str) -> None:
        if self.status is not None:
            self.status.update(f"{message}…")

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()
