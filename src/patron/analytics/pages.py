"""The analytics page, and the scores section the analytics area adds to the customer 360.

Both read the newest snapshot (``patron analyze`` writes it). The page's charts are the
Vega-Lite specs of ``analytics.charts``, built from the snapshot's scores as an Arrow table and
drawn by the page script; each also comes as a plain table, for readers without JavaScript.
The 360 belongs to the customers area, which the layers keep from importing analytics: the
section reaches it through the shell (``SECTIONS``, registered in ``create_app``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.analytics import charts, readout
from patron.analytics.explain import Explained, Rules, explain
from patron.analytics.figures import (
    GROUPINGS,
    PAGE_COLUMNS,
    Series,
    key_figures,
    pareto_table,
    segment_rows,
    series_of,
)
from patron.analytics.snapshots import ScoreSnapshot, customer_scores, latest_snapshot
from patron.config import Settings
from patron.customers.pages import CUSTOMER_360, customer_href
from patron.web.deps import SessionDep, page
from patron.web.i18n import N_, Formats, translations
from patron.web.rendering import NavItem, Section, SectionSource, render, request_language

TEMPLATES = Path(__file__).parent / "templates"
PERMISSION = "analytics:read"
NAV = (NavItem(N_("Analytics"), "/analytics", PERMISSION, order=15),)
router = APIRouter(include_in_schema=False)

TOP = 10  # customers in the tables of the most valuable and the least profitable
GROUP_TITLES = {
    "abc": N_("ABC class"),
    "rfm_segment": N_("RFM segment"),
    "lifecycle_phase": N_("Lifecycle phase"),
    "loyalty_type": N_("Loyalty type"),
}
VALUE_NAMES = {
    "abc": {},
    "rfm_segment": charts.SEGMENT_NAMES,
    "lifecycle_phase": charts.PHASE_NAMES,
    "loyalty_type": charts.LOYALTY_NAMES,
}


@router.get("/analytics")
def analytics(
    request: Request, session: SessionDep, me: Annotated[SignedIn, page(PERMISSION)]
) -> HTMLResponse:
    """Key figures, charts and tables of the newest snapshot; how to make one if there is none."""
    snapshot = latest_snapshot(session)
    if snapshot is None or snapshot.customers == 0:
        return render(request, "analytics/analytics.html", {"snapshot": snapshot})
    settings: Settings = request.app.state.settings
    language = request_language(request)
    gettext = translations(language).gettext
    rules = Rules.of(snapshot)
    scores = readout.scores_table(session, snapshot, PAGE_COLUMNS)
    context = {
        "snapshot": snapshot,
        "currency": settings.currency,
        "figures": key_figures(scores, by=rules.abc_by),
        "abc_by": rules.abc_by,
        "rules": rules,
        "charts": charts_of(
            scores,
            gettext,
            currency=settings.currency,
            by=rules.abc_by,
            series=series_of(snapshot.series),
            month=Formats(language, settings.tz, settings.currency).month,
        ),
        "segments": {key: segment_rows(scores, key) for key in GROUPINGS},
        "group_titles": GROUP_TITLES,
        "value_names": VALUE_NAMES,
        "top": readout.top_customers(session, snapshot.id, limit=TOP),
        "unprofitable": readout.top_customers(session, snapshot.id, limit=TOP, unprofitable=True),
        "customer_href": customer_href,
    }
    return render(request, "analytics/analytics.html", context)


def charts_of(
    scores: pa.Table,
    gettext: charts.Gettext,
    *,
    currency: str,
    by: str = "revenue",
    series: Series | None = None,
    month: Callable[[date], str] | None = None,
) -> dict[str, charts.Chart]:
    """Every chart of the page by element id, in the language of ``gettext``: the report's
    charts (``charts.every_chart``), with the run's own Pareto curve, cohorts, tracking and
    model comparison where the snapshot kept them."""
    series = series or series_of(None)
    pareto = series.pareto if series.pareto is not None else pareto_table(scores, by=by)
    built = charts.every_chart(
        scores,
        gettext,
        pareto=pareto,
        cohorts=series.cohorts,
        tracking_rows=series.tracking,
        calibration_end=series.calibration_t,
        comparison=series.comparison,
        currency=currency,
        measure="margin" if by == "margin" else "revenue",
        month=month,
        time_unit=series.time_unit,
    )
    return {f"chart-{name.replace('_', '-')}": chart for name, chart in built.items()}


def customer_scores_section(request: Request, session: Session, customer_id: int) -> Section | None:
    """The 360's scores: each explained, from the newest snapshot that scored the customer.

    None while nothing has been scored at all (the 360 then keeps its "coming" placeholder);
    a customer added since the last run is told to wait for the next one.
    """
    newest = latest_snapshot(session)
    if newest is None:
        return None
    found = customer_scores(session, customer_id)
    if found is None:
        return _scores_section(newest, None, [])
    snapshot, score = found
    settings: Settings = request.app.state.settings
    language = request_language(request)
    explained = explain(
        score,
        Rules.of(snapshot),
        translations=translations(language),
        formats=Formats(language, settings.tz, settings.currency),
        product=readout.product_name(session, score.subscription_product),
    )
    return _scores_section(snapshot, newest, explained)


def _scores_section(
    snapshot: ScoreSnapshot, newest: ScoreSnapshot | None, explained: list[Explained]
) -> Section:
    values = {
        "snapshot": snapshot,
        "scored": bool(explained),
        "outdated": newest is not None and newest.id != snapshot.id,
        "explained": explained,
    }
    return Section("scores", "analytics/_customer_scores.html", values)


SECTIONS = (SectionSource(CUSTOMER_360, PERMISSION, customer_scores_section),)
