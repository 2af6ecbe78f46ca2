"""The report pages of engagement: what a campaign earned against its holdout, and the same
report for experiments imported with ``patron import campaign-results``.

Each page shows the comparison per outcome (treated against held-out customers, and each variant
against them) with its interval, the incremental total, and one plain sentence saying whether
the difference is significant: a marketer should not have to read an interval to know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from patron.access.schemas import SignedIn
from patron.db import utcnow
from patron.engage import experiments, reports
from patron.engage.uplift import Report, Uplift
from patron.web.deps import SessionDep, SettingsDep, page
from patron.web.i18n import N_
from patron.web.rendering import render

READ = "campaigns:read"
router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, page(READ)]

CAMPAIGN_METRICS = {"orders": N_("Orders"), "revenue": N_("Revenue"), "margin": N_("Margin")}
MONEY = frozenset({"revenue", "margin"})
VERDICTS = {
    "more": N_(
        "Treated customers did better than the holdout, and the difference is significant "
        "at %(level)s: it is unlikely to be chance."
    ),
    "less": N_(
        "Treated customers did worse than the holdout, and the difference is significant "
        "at %(level)s: it is unlikely to be chance."
    ),
    "unclear": N_("The difference is not significant at %(level)s: it may well be chance."),
    "unknown": N_("Too few customers in a group to judge the difference."),
}


@dataclass(frozen=True)
class Compared:
    """One row of an outcome's table: all treated (``variant`` None) or one variant."""

    variant: str | None
    figures: Uplift
    significant: bool | None


@dataclass(frozen=True)
class Outcome:
    """One outcome's table and the sentence that says what it means."""

    metric: str
    name: str  # an English message id for the campaign's outcomes, else the file's column
    translate: bool
    money: bool
    rows: tuple[Compared, ...]
    verdict: str


def outcomes(
    found: Report, *, names: Mapping[str, str] | None = None, money: frozenset[str] = frozenset()
) -> list[Outcome]:
    """The report's outcomes as the pages show them."""
    shown = []
    for metric in found.metrics:
        rows = [Compared(None, found.overall[metric], reports.significant(found.overall[metric]))]
        rows += [
            Compared(variant, figures[metric], reports.significant(figures[metric]))
            for variant, figures in found.by_variant.items()
        ]
        shown.append(
            Outcome(
                metric=metric,
                name=(names or {}).get(metric, metric),
                translate=names is not None and metric in names,
                money=metric in money,
                rows=tuple(rows),
                verdict=_verdict(rows[0]),
            )
        )
    return shown


def _verdict(overall: Compared) -> str:
    if overall.significant is None:
        return "unknown"
    if not overall.significant:
        return "unclear"
    return "more" if (overall.figures.difference or 0) > 0 else "less"


@router.get("/campaigns/{campaign_id}/report")
def campaign_report_page(
    request: Request, session: SessionDep, settings: SettingsDep, me: Reader, campaign_id: int
) -> HTMLResponse:
    """Delivery, totals, and the uplift of orders, revenue and margin per customer."""
    found = reports.campaign_report(
        session, campaign_id=campaign_id, now=utcnow(), tracking=settings.track_messages
    )
    context = {
        "report": found,
        "outcomes": outcomes(found.uplift, names=CAMPAIGN_METRICS, money=MONEY),
        "confidence": found.uplift.confidence,
        "verdicts": VERDICTS,
        "metric_names": CAMPAIGN_METRICS,
    }
    return render(request, "engage/report_campaign.html", context)


@router.get("/experiments")
def experiments_page(request: Request, session: SessionDep, me: Reader) -> HTMLResponse:
    """Every imported experiment, the newest first."""
    return render(
        request, "engage/report_experiments.html", {"experiments": experiments.experiments(session)}
    )


@router.get("/experiments/{name}")
def experiment_page(request: Request, session: SessionDep, me: Reader, name: str) -> HTMLResponse:
    """An imported experiment's uplift per outcome, as a campaign's."""
    found = experiments.experiment_report(session, name=name)
    context = {
        "experiment": found.experiment,
        "outcomes": outcomes(found.report),
        "confidence": found.report.confidence,
        "verdicts": VERDICTS,
    }
    return render(request, "engage/report_experiment.html", context)
