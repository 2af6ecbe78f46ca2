"""``patron campaign report`` and ``patron campaign experiment``: what a campaign, or an
experiment imported with ``patron import campaign-results``, earned against its holdout.

Registered in the ``patron campaign`` group. With ``--json`` exactly one document: money totals
as strings (exact), the uplift statistics as numbers (they are estimates, not bookkeeping).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer

from patron.cli.output import JSON_OPTION, console, in_session, print_json, runtime, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from patron.engage.experiments import ExperimentReport
    from patron.engage.reports import CampaignReport
    from patron.engage.uplift import Report, Uplift

CAMPAIGN = typer.Argument(..., help="The campaign's id or key.")
EXPERIMENT = typer.Argument(..., help="The experiment's name (as imported).")
CONFIDENCE = 0.95
COUNTS = ("orders",)  # outcomes counted, shown with more decimals than money


def report(campaign: str = CAMPAIGN, json_output: bool = JSON_OPTION) -> None:
    """Delivery, and each customer's orders, revenue and margin over their window: treated
    against the holdout, with the 95 % interval and the incremental total, per variant."""
    from patron.db import utcnow
    from patron.engage import campaigns, reports

    rt = runtime()

    def load(session: Session) -> CampaignReport:
        found = campaigns.get(session, campaign)
        return reports.campaign_report(
            session,
            campaign_id=found.id,
            now=utcnow(),
            tracking=rt.settings.track_messages,
            confidence=CONFIDENCE,
        )

    found = in_session(load, rt)
    if json_output:
        print_json(campaign_document(found))
        return
    out = console()
    window = found.window
    state = "so far: some windows are still running" if window.so_far else "every window is over"
    out.print(
        f"[bold]{found.name}[/] [dim]({found.key}, {found.status}, {found.channel})[/] — "
        f"{window.days}-day window per member, {state}"
    )
    out.print(_delivery_table(found))
    out.print(_totals_table(found))
    _print_uplift(found.uplift)


def experiment(name: str = EXPERIMENT, json_output: bool = JSON_OPTION) -> None:
    """An imported experiment's outcomes: treated against the holdout, per variant."""
    from patron.engage import experiments

    found = in_session(
        lambda session: experiments.experiment_report(session, name=name, confidence=CONFIDENCE)
    )
    if json_output:
        print_json(experiment_document(found))
        return
    info = found.experiment
    groups = ", ".join(f"{group} {count:,}" for group, count in info.groups.items())
    console().print(
        f"[bold]{info.name}[/] [dim](from {info.file_name}, imported {info.imported_at:%Y-%m-%d})"
        f"[/] — {info.rows:,} customers ({groups}), {info.matched:,} of them known to Patron; "
        f"holdout {info.holdout!r}"
    )
    _print_uplift(found.report)


# --- JSON ------------------------------------------------------------------------------------


def campaign_document(found: CampaignReport) -> dict[str, Any]:
    return {
        "campaign": {
            "id": found.campaign_id,
            "key": found.key,
            "name": found.name,
            "status": found.status,
            "channel": found.channel,
        },
        "window": asdict(found.window),
        "delivery": {
            "variants": [asdict(row) for row in found.delivery.variants],
            "total": asdict(found.delivery.total),
            "holdout": found.delivery.holdout,
        },
        "totals": [asdict(row) for row in found.totals],
        "uplift": uplift_document(found.uplift),
    }


def experiment_document(found: ExperimentReport) -> dict[str, Any]:
    info = asdict(found.experiment)
    info["metrics"] = list(found.experiment.metrics)
    return {"experiment": info, "uplift": uplift_document(found.report)}


def uplift_document(found: Report) -> dict[str, Any]:
    return {
        "holdout": found.holdout,
        "confidence": found.confidence,
        "metrics": list(found.metrics),
        "overall": {metric: _comparison(found.overall[metric]) for metric in found.metrics},
        "by_variant": {
            variant: {metric: _comparison(figures[metric]) for metric in found.metrics}
            for variant, figures in found.by_variant.items()
        },
    }


def _comparison(found: Uplift) -> dict[str, Any]:
    from patron.engage.reports import significant

    shown = asdict(found)
    shown["significant"] = significant(found)
    return shown


# --- tables ----------------------------------------------------------------------------------

DELIVERY = (
    "variant",
    "assigned",
    "queued",
    "sent",
    "delivered",
    "bounced",
    "cancelled",
    "dead",
    "opened",
    "clicked",
)


def _delivery_table(found: CampaignReport) -> Any:
    shown = table("Delivery", *DELIVERY, right=DELIVERY[1:])
    for row in (*found.delivery.variants, found.delivery.total):
        values = [getattr(row, name) for name in DELIVERY[1:]]
        shown.add_row(row.variant, *("–" if v is None else f"{v:,}" for v in values))
    shown.caption = (
        f"holdout: {found.delivery.holdout:,} customers, sent nothing. sent = delivered + "
        "bounced; – = not tracked"
    )
    return shown


def _totals_table(found: CampaignReport) -> Any:
    columns = ("group", "customers", "buyers", "orders", "revenue", "margin")
    shown = table("Totals over the members' windows", *columns, right=columns[1:])
    for row in found.totals:
        shown.add_row(
            row.group,
            f"{row.members:,}",
            f"{row.buyers:,}",
            f"{row.orders:,}",
            f"{row.revenue:,.2f}",
            f"{row.margin:,.2f}",
        )
    return shown


UPLIFT = (
    "compared",
    "treated",
    "holdout",
    "treated mean",
    "holdout mean",
    "difference",
    "95 % interval",
    "incremental",
    "significant",
)


def _print_uplift(found: Report) -> None:
    out = console()
    level = f"{100 * found.confidence:g} %"
    for metric in found.metrics:
        columns = [name.replace("95 %", level) for name in UPLIFT]
        shown = table(f"{metric}: per customer, treated − holdout", *columns, right=columns[1:-1])
        comparisons = [("all treated", found.overall[metric])]
        comparisons += [(name, figures[metric]) for name, figures in found.by_variant.items()]
        reasons = []
        for label, compared in comparisons:
            shown.add_row(label, *_cells(metric, compared))
            if compared.reason:
                reasons.append(f"{label}: {compared.reason}")
        if reasons:
            shown.caption = "; ".join(reasons)
        out.print(shown)


def _cells(metric: str, found: Uplift) -> list[str]:
    from patron.engage.reports import significant

    digits = 3 if metric in COUNTS else 2

    def number(value: float | None) -> str:
        return "–" if value is None else f"{value:,.{digits}f}"

    interval = "–"
    if found.interval is not None:
        interval = f"{number(found.interval[0])} … {number(found.interval[1])}"
    verdict = {True: "yes", False: "no", None: "–"}[significant(found)]
    return [
        f"{found.treatment.n:,}",
        f"{found.holdout.n:,}",
        number(found.treatment.mean),
        number(found.holdout.mean),
        number(found.difference),
        interval,
        number(found.incremental),
        verdict,
    ]
