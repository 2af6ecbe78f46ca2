"""``patron recommend``: fit the recommender on the store, show a customer's offers, evaluate
offline, and keep products away from customers who should not be offered them.

Commands parse, call ``patron.recommend.service`` (or the pure evaluation) and print; with
``--json`` exactly one document. ``evaluate`` lives in ``recommend_evaluate``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from patron.cli import loyalty_shared as shared
from patron.cli import recommend_evaluate
from patron.cli.output import JSON_OPTION, print_json, runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from patron.recommend.schemas import (
        BlockPublic,
        FitPublic,
        RecommendationsPublic,
        RecommendSettings,
    )
    from patron.recommend.service import FitSummary

app = typer.Typer(
    help="Recommendations: cross-selling, upselling and partner offers, each with its reason.",
    no_args_is_help=True,
)
app.command("evaluate")(recommend_evaluate.evaluate)

SKU = typer.Argument(..., help="The product's SKU.")
KIND_TITLES = {
    "cross": "Cross-selling: what goes with what they buy (and re-buys that are due)",
    "up": "Upselling: premium alternatives in categories they buy from",
    "partner": "Partner products that go with what they buy",
}


class Shown(StrEnum):
    cross = "cross"
    up = "up"
    partner = "partner"
    all = "all"


@app.command("fit")
def fit(
    exclude: list[str] = recommend_evaluate.EXCLUDE,
    exclude_file: Path | None = recommend_evaluate.EXCLUDE_FILE,
    margin_floor: float | None = typer.Option(
        None, "--margin-floor", help="Least margin rate of an offer, 0..1 (known costs only)."
    ),
    per_category: int | None = typer.Option(
        None, "--per-category", help="Most offers from one category in a list."
    ),
    replenish_rate: float | None = typer.Option(
        None,
        "--replenish-rate",
        help="Offer a product again when this share of its buyers bought it again (0..1).",
    ),
    due_from: float | None = typer.Option(
        None, "--due-from", help="...once this share of its usual repurchase interval has passed."
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Start from the default rules, not the previous fit's."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Fit on every completed order in the store; the rules given replace the stored ones.

    Rules left out keep the previous fit's values (the defaults at the first fit, or with
    --reset). The worker refits once a day; run this after a large import or to change rules.
    """
    from patron.db import utcnow
    from patron.recommend import service

    excluded = recommend_evaluate.excluded(exclude, exclude_file)
    given = {
        "exclude": excluded,
        "margin_floor": margin_floor,
        "per_category": per_category,
        "replenish_rate": replenish_rate,
        "due_from": due_from,
    }
    rt = runtime()
    try:
        sessions = rt.sessions()
        with sessions() as session:
            settings = _settings(session, given, reset=reset)
        with recommend_evaluate.Status(quiet=json_output, first="reading the catalogue") as step:
            summary = service.fit(rt.engine, now=utcnow(), settings=settings, progress=step)
        with sessions() as session:
            public = service.fit_public(session)
    finally:
        rt.close()
    if json_output:
        print_json(_fit_document(summary, public))
    else:
        _print_fit(summary, public)


def _settings(session: Session, given: dict[str, Any], *, reset: bool) -> RecommendSettings:
    """The previous fit's rules (or the defaults), with the options given in their place."""
    from patron.recommend import service
    from patron.recommend.schemas import RecommendSettings

    current = RecommendSettings() if reset else service.settings_in_force(session)
    changes = {name: value for name, value in given.items() if value is not None}
    return shared.request(RecommendSettings, **(current.model_dump() | changes))


def _fit_document(summary: FitSummary, public: FitPublic) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        **asdict(summary),
        "fitted_at": public.fitted_at,
        "settings": public.settings.model_dump(mode="json"),
        "weights": public.weights,
    }


def _print_fit(summary: FitSummary, public: FitPublic) -> None:
    console = shared.console()
    console.print(
        f"Fitted on [bold]{summary.baskets:,}[/] orders of [bold]{summary.customers:,}[/] "
        f"customers: {summary.products:,} products bought, {summary.neighbours:,} neighbour "
        f"pairs, in {summary.seconds:.1f} s (fit {summary.fit_id})."
    )
    console.print(f"Rules: {_rules_in_words(public.settings)}.")
    table = shared.table("Learnt weights", "feature", "weight")
    table.columns[1].justify = "right"
    for name, weight in sorted(public.weights.items(), key=lambda item: -abs(item[1])):
        table.add_row(name.replace("_", " "), f"{weight:+.3f}")
    console.print(table)


def _rules_in_words(settings: RecommendSettings) -> str:
    floor = "none" if settings.margin_floor is None else _percent(settings.margin_floor)
    return (
        f"excluded {', '.join(settings.exclude) or 'nothing'}; margin floor {floor}; "
        f"at most {settings.per_category} per category; a product bought before is offered "
        f"again when {_percent(settings.replenish_rate)} of its buyers re-buy it and "
        f"{settings.due_from:g} × its usual interval has passed"
    )


def _percent(share: float) -> str:
    return f"{100 * share:g} %"


@app.command("show")
def show(
    customer: str = shared.CUSTOMER,
    kind: Shown = typer.Option(Shown.all, "--kind", help="Which offers (default: all three)."),
    k: int = typer.Option(10, "--k", min=1, max=100, help="How many offers of each kind."),
    json_output: bool = JSON_OPTION,
) -> None:
    """A customer's offers, best first, each with the reason it is made."""
    from patron.customers import service as customers
    from patron.db import utcnow
    from patron.recommend import service
    from patron.recommend.schemas import Kind

    kinds = list(Kind) if kind is Shown.all else [Kind(kind.value)]

    def load(session: Session) -> tuple[str, list[RecommendationsPublic]]:
        ref = customers.customer_ref(session, key=customer)
        now = utcnow()
        offers = [
            service.recommendations(session, customer_id=ref.id, kind=each, k=k, now=now)
            for each in kinds
        ]
        return ref.external_id or str(ref.id), offers

    (who, found), zone = shared.run(load)
    if json_output:
        print_json(found[0] if kind is not Shown.all else {"data": found, "count": len(found)})
        return
    console = shared.console()
    console.print(
        f"[bold]Recommendations for {who}[/] [dim](fit of {shared.when(found[0].fitted_at, zone)})[/]"
    )
    for offers in found:
        table = shared.table(
            KIND_TITLES[offers.kind.value], "#", "SKU", "name", "price", "partner", "score", "why"
        )
        for column in (table.columns[3], table.columns[5]):
            column.justify = "right"
        for rank, offer in enumerate(offers.data, start=1):
            table.add_row(
                str(rank),
                offer.sku,
                offer.name or "",
                "" if offer.price is None else f"{offer.price:,.2f}",
                offer.partner_name or "",
                f"{offer.score:.2f}",
                offer.reason.text,
            )
        console.print()
        shared.print_or_none(table, "nothing to offer")


@app.command("block")
def block(
    customer: str = shared.CUSTOMER,
    sku: str = SKU,
    reason: str | None = typer.Option(None, "--reason", help="Why; kept with the block."),
    actor: str | None = shared.ACTOR,
    json_output: bool = JSON_OPTION,
) -> None:
    """Never recommend this product to this customer (a complaint, an allergy, a wish)."""
    from patron.customers import service as customers
    from patron.recommend import service
    from patron.recommend.schemas import BlockCreate

    request = shared.request(BlockCreate, sku=sku, reason=reason)

    def work(session: Session) -> BlockPublic:
        customer_id = customers.customer_ref(session, key=customer).id
        return service.block(
            session,
            customer_id=customer_id,
            sku=request.sku,
            reason=request.reason,
            by=shared.actor(actor),
        )

    made, _ = shared.run(work)
    if json_output:
        print_json(made)
        return
    name = f" ({made.name})" if made.name else ""
    shared.console().print(f"{made.sku}{name} is no longer recommended to {customer}.")


@app.command("unblock")
def unblock(
    customer: str = shared.CUSTOMER, sku: str = SKU, json_output: bool = JSON_OPTION
) -> None:
    """Recommend this product to this customer again, where it fits."""
    from patron.customers import service as customers
    from patron.recommend import service

    def work(session: Session) -> int:
        customer_id = customers.customer_ref(session, key=customer).id
        service.unblock(session, customer_id=customer_id, sku=sku)
        return customer_id

    customer_id, _ = shared.run(work)
    if json_output:
        print_json({"customer_id": customer_id, "sku": sku, "blocked": False})
        return
    shared.console().print(f"{sku} may be recommended to {customer} again.")


@app.command("blocks")
def blocks(customer: str = shared.CUSTOMER, json_output: bool = JSON_OPTION) -> None:
    """The products never recommended to this customer, and why."""
    from patron.customers import service as customers
    from patron.recommend import service

    def load(session: Session) -> list[BlockPublic]:
        return service.blocks(session, customer_id=customers.customer_ref(session, key=customer).id)

    found, zone = shared.run(load)
    if json_output:
        print_json({"data": found, "count": len(found)})
        return
    table = shared.table(f"Blocked for {customer}", "SKU", "name", "reason", "by", "since")
    for each in found:
        table.add_row(
            each.sku,
            each.name or "",
            each.reason or "",
            each.created_by or "",
            shared.when(each.created_at, zone),
        )
    shared.print_or_none(table, "nothing blocked")
