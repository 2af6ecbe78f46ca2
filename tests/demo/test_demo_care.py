"""The demo shop's customer service: every care report has real content, and the reports find
what the simulation put in (service recovery, the Kano categories, NPS feeding loyalty types)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scipy.stats import fisher_exact
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from patron import schema
from patron.analytics.scoring import ScoringSettings
from patron.analytics.service import analyze_store
from patron.analytics.snapshots import CustomerScore, latest_snapshot
from patron.care.accounts import service as accounts
from patron.care.cases import recovery
from patron.care.models import AccountManager, Case, EventGuest, Task
from patron.care.surveys import reports
from patron.cli.demo import HISTORY
from patron.config import load_settings
from patron.customers.models import Interaction, Order
from patron.db import make_engine, session_factory
from patron.demo import care, service

SIZE = 10_000  # the default demo: enough complaints to see the simulated effect
SEED = 11
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo as ``make demo`` builds it: shop, engagement and care; scored as of the
    history days and today; then key accounts, tasks and events."""
    path: Path = tmp_path_factory.mktemp("demo-care") / "patron.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    settings = load_settings(database_url=f"sqlite:///{path}", environment="test")
    service.generate(engine, customers=SIZE, seed=SEED, engagement=settings)
    for end in HISTORY:
        analyze_store(engine, ScoringSettings(), end=end)
    analyze_store(engine, ScoringSettings())
    care.after_scoring(session_factory(engine), seed=SEED, settings=settings, now=NOW)
    yield engine
    engine.dispose()


def test_service_recovery_report_counts_the_groups_and_finds_the_simulated_effect(
    shop: Engine,
) -> None:
    with Session(shop) as session:
        report = recovery.report(session, as_of=NOW, window_days=care.WINDOW_DAYS)
        complaints = session.execute(
            # (the demo's last cases open minutes before it is built, after the report's date)
            select(Case.customer_id, Case.opened_at, Case.resolved_at).where(
                Case.kind == "complaint", Case.opened_at <= NOW
            )
        ).all()
        orders = session.execute(
            select(Order.customer_id, Order.placed_at).where(Order.status == "completed")
        ).all()
    groups = {group.group: group for group in report.groups}
    # Counted independently: a customer is resolved when every complaint of theirs was.
    outcome: dict[int, bool] = {}
    first: dict[int, datetime] = {}
    for customer, opened, resolved in complaints:
        done = resolved is not None and resolved <= NOW
        outcome[customer] = outcome.get(customer, True) and done
        first[customer] = min(first.get(customer, opened), opened)
    assert groups["resolved"].customers == sum(outcome.values())
    assert groups["unresolved"].customers == len(outcome) - sum(outcome.values())
    window = timedelta(days=care.WINDOW_DAYS)
    bought: dict[int, list[datetime]] = {}
    for customer, placed in orders:
        bought.setdefault(customer, []).append(placed)
    for name, wanted in (("resolved", True), ("unresolved", False)):
        eligible = [c for c, ok in outcome.items() if ok is wanted and first[c] + window <= NOW]
        back = [c for c in eligible if any(first[c] < at <= first[c] + window for at in bought[c])]
        assert (groups[name].repurchase_eligible, groups[name].repurchased) == (
            len(eligible),
            len(back),
        )
    assert groups["none"].customers > 10 * groups["resolved"].customers
    # The simulation resolved complaints of returning customers more often: the report sees it.
    resolved, unresolved = groups["resolved"], groups["unresolved"]
    table = [
        [resolved.repurchased, resolved.repurchase_eligible - resolved.repurchased],
        [unresolved.repurchased, unresolved.repurchase_eligible - unresolved.repurchased],
    ]
    assert resolved.repurchase_rate is not None
    assert unresolved.repurchase_rate is not None
    assert resolved.repurchase_rate > unresolved.repurchase_rate
    assert fisher_exact(table, alternative="greater").pvalue < 0.05
    # The history days give a CLV before and after many complaints.
    assert resolved.clv_customers > 0
    assert resolved.clv_change is not None


def test_the_kano_report_recovers_the_simulated_categories(shop: Engine) -> None:
    with Session(shop) as session:
        rows = reports.kano_report(session, survey=care.KANO_KEY, language="en")
    found = {row.feature: row.dominant for row in rows}
    assert found == {feature: truth for feature, (truth, _sure) in care.KANO_TRUTH.items()}
    assert all(row.n == care.KANO_RESPONDENTS for row in rows)


def test_nps_and_csat_reports_have_content_and_feed_the_loyalty_types(shop: Engine) -> None:
    with Session(shop) as session:
        by_month = reports.nps_report(session, by="month")
        by_class = reports.nps_report(session, by="abc")
        csat = reports.csat_by_category(session)
        snapshot = latest_snapshot(session)
        assert snapshot is not None
        types = Counter(
            session.scalars(
                select(CustomerScore.loyalty_type).where(CustomerScore.snapshot_id == snapshot.id)
            )
        )
    assert len(by_month.rows) >= 12
    assert by_month.overall.n > 100
    nps_of = {row.group: row.nps for row in by_class.rows}
    assert {"A", "C"} <= set(nps_of)
    assert nps_of["A"] is not None
    assert nps_of["C"] is not None
    assert nps_of["A"] > nps_of["C"]  # A-customers were simulated happier
    assert {row.group for row in csat.rows} <= set(care.CATEGORIES)
    assert len(csat.rows) >= 5
    assert csat.overall.n > 20
    # Attitude from the NPS answers: some customers are truly loyal, some only latently.
    assert types["true"] > 0
    assert types["latent"] > 0
    assert types["spurious"] > 0


def test_managers_have_accounts_tasks_and_an_event_with_guests_who_came(shop: Engine) -> None:
    with session_factory(shop)() as session:
        managers = session.scalars(select(AccountManager)).all()
        assert len(managers) == len(care.MANAGERS)
        for manager in managers:
            space = accounts.workspace(session, manager_id=manager.user_id)
            assert 0 < len(space.accounts) <= manager.capacity
            assert all(account.abc == "A" for account in space.accounts)
        tasks = session.scalar(select(func.count()).select_from(Task))
        came = session.scalars(
            select(EventGuest.customer_id).where(EventGuest.attended_at.is_not(None))
        ).all()
        recorded = session.scalars(
            select(Interaction.customer_id).where(Interaction.kind == "event_attendance")
        ).all()
        open_cases = session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.status.in_(("new", "in_progress", "waiting")))
        )
    assert tasks
    assert came
    assert set(came) <= set(recorded)
    assert open_cases is not None
    assert open_cases >= 5
