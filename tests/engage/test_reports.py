"""A campaign's report on SQLite and PostgreSQL: delivery counted by status, outcomes over each
member's own window exactly as computed by hand, and the uplift equal to an independent Welch
computation (scipy) on the same per-member figures.

The campaign (window 30 days): holdout H1–H3, variant A (A1, A2, A3, A5) assigned at T0,
variant B (B1, B2) assigned ten days later (at a time with microseconds, to test the window's
end to the microsecond), A4 assigned after every ``now`` used here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.customers.models import Customer
from patron.engage import campaigns, reports
from patron.engage.models import Campaign, CampaignMember, Message
from patron.errors import NotFound

B_START = make.at(10, microseconds=250)  # when B1 and B2 were assigned
LATE = make.at(35)  # A and the holdout have seen their 30 days; B has not
DONE = make.at(50)  # every window is over


def campaign(
    session: Session, *, key: str = "spring", variants: tuple[str, ...] = ("A", "B")
) -> Campaign:
    built = Campaign(
        key=key,
        name=f"Campaign {key}",
        kind="one_off",
        status="active",
        variants=[{"name": name, "template": "t", "weight": 1} for name in variants],
        holdout_share=0.3,
        window_days=30,
    )
    session.add(built)
    session.flush()
    return built


def member(
    session: Session, of: Campaign, customer: Customer, group: str, at: datetime, occasion: str = ""
) -> CampaignMember:
    row = CampaignMember(
        campaign_id=of.id, customer_id=customer.id, group=group, assigned_at=at, occasion=occasion
    )
    session.add(row)
    session.flush()
    return row


def message(
    session: Session, of: Campaign, row: CampaignMember, status: str, **fields: Any
) -> Message:
    values: dict[str, Any] = {
        "key": f"c{of.id}:{row.customer_id}:{row.occasion}",
        "campaign_id": of.id,
        "member_id": row.id,
        "customer_id": row.customer_id,
        "variant": row.group,
        "channel": "email",
        "purpose": "marketing",
        "language": "en",
        "recipient": "someone@example.org",
        "subject": "Hello",
        "html": "<p>Hello</p>",
        "text": "Hello",
        "status": status,
        "send_after": row.assigned_at,
    }
    built = Message(**(values | fields))
    session.add(built)
    session.flush()
    return built


def buy(
    session: Session, customer: Customer, at: datetime, *lines: dict[str, Any], **fields: Any
) -> Any:
    return make.order(session, customer, placed_at=at, lines=list(lines), **fields)


def line(price: str, quantity: int = 1, cost: str | None = None, **fields: Any) -> dict[str, Any]:
    return make.line(
        quantity=quantity,
        unit_price=price,
        unit_cost=None if cost is None else Decimal(cost),
        **fields,
    )


@dataclass
class Shop:
    campaign_id: int
    members: dict[str, int]  # name → member id


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> Shop:
    with sessions.begin() as session:
        spring = campaign(session)
        other = campaign(session, key="other", variants=("A",))
        people = {
            name: make.customer(session, external_id=name)
            for name in ("H1", "H2", "H3", "A1", "A2", "A3", "A4", "A5", "B1", "B2")
        }
        t0 = make.at(0)
        rows = {
            name: member(session, spring, people[name], group, at)
            for name, group, at in (
                ("H1", "holdout", t0),
                ("H2", "holdout", t0),
                ("H3", "holdout", t0),
                ("A1", "A", t0),
                ("A2", "A", t0),
                ("A3", "A", t0),
                ("A5", "A", t0),
                ("B1", "B", B_START),
                ("B2", "B", B_START),
                ("A4", "A", make.at(60)),  # after every ``now`` of these tests
            )
        }
        # A1 is in another campaign too: nothing of it may leak into this one
        member(session, other, people["A1"], "A", t0)
        _orders(session, people)
        _messages(session, spring, rows)
        return Shop(spring.id, {name: row.id for name, row in rows.items()})


def _orders(session: Session, p: dict[str, Customer]) -> None:
    # H1: 20.00 at cost 8.00, inside its window
    buy(session, p["H1"], make.at(15), line("20.00", cost="8.00"))
    # H2: a refund inside the window for a purchase from before it
    make.return_(session, customer=p["H2"], amount=Decimal("5.00"), returned_at=make.at(3))
    # H3: bought only after its window
    buy(session, p["H3"], make.at(31), line("70.00", cost="1.00"))
    # A1: before the window (out), 3 × 10.00 and 10.00 inside (cost 5.00 each), one 10.00
    # returned inside; an order at the window's very end (out)
    buy(session, p["A1"], make.at(-1), line("100.00"))
    first = buy(session, p["A1"], make.at(1), line("10.00", quantity=3, cost="5.00"))
    buy(session, p["A1"], make.at(29.9), line("10.00", cost="5.00"))
    make.return_(
        session,
        first.lines[0],
        quantity=Decimal(1),
        amount=Decimal("10.00"),
        returned_at=make.at(5),
    )
    buy(session, p["A1"], make.at(30), line("40.00", cost="1.00"))
    # A3: an order at the very start (in) with a bookkeeping line (not revenue); a cancelled
    # order (out)
    buy(session, p["A3"], make.at(0), line("12.00"), line("100.00", kind="adjustment"))
    buy(session, p["A3"], make.at(2), line("99.00", cost="1.00"), status="cancelled")
    # A4: assigned after ``now``
    buy(session, p["A4"], make.at(61), line("500.00"))
    # B1: before its assignment (out), 2 × 25.00 at cost 15.00, and 7.00 late in its window
    buy(session, p["B1"], make.at(5), line("80.00"))
    buy(session, p["B1"], make.at(12), line("25.00", quantity=2, cost="15.00"))
    buy(session, p["B1"], make.at(39.5), line("7.00"))
    # B2: one microsecond before its window ends (in), and exactly at its end (out)
    window_end = B_START + (make.at(30) - make.at(0))
    buy(
        session,
        p["B2"],
        window_end - (make.at(0, microseconds=1) - make.at(0)),
        line("9.00", cost="4.00"),
    )
    buy(session, p["B2"], window_end, line("1000.00"))
    # anonymous sales are nobody's outcome
    make.order(session, None, placed_at=make.at(4), lines=[line("300.00")])


def _messages(session: Session, of: Campaign, rows: dict[str, CampaignMember]) -> None:
    pixel = '<p>Hi</p><img src="https://shop.example/t/o/abc.gif">'
    message(
        session, of, rows["A1"], "sent", html=pixel, opened_at=make.at(1), clicked_at=make.at(1)
    )
    message(session, of, rows["A2"], "bounced")
    message(session, of, rows["A3"], "queued")
    message(session, of, rows["A5"], "dead")
    message(session, of, rows["B1"], "sent", opened_at=make.at(11))
    message(session, of, rows["B2"], "cancelled")
    message(session, of, rows["A4"], "queued")  # assigned after ``now``: not counted yet


# What each member did in their window, by hand (orders, revenue, margin), when every window
# is over. A1: sales 40, returns 10 (a quarter), cost 20 → cost of goods 15.
BY_HAND = {
    "H1": (1, "20", "12"),
    "H2": (0, "-5", "-5"),
    "H3": (0, "0", "0"),
    "A1": (2, "30", "15"),
    "A2": (0, "0", "0"),
    "A3": (1, "12", "12"),
    "A5": (0, "0", "0"),
    "B1": (2, "57", "27"),
    "B2": (1, "9", "5"),
}
GROUP = {"H": "holdout", "A": "A", "B": "B"}


def _outcomes_by_name(
    shop: Shop, found: reports.Outcomes
) -> dict[str, tuple[int, Decimal, Decimal]]:
    names = {member_id: name for name, member_id in shop.members.items()}
    return {
        names[member_id]: (orders, revenue, margin)
        for member_id, orders, revenue, margin in zip(
            found.member_ids, found.orders, found.revenue, found.margin, strict=True
        )
    }


def test_outcomes_per_member_over_their_own_window(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        found = reports.customer_outcomes(
            session, campaign_id=shop.campaign_id, window_days=30, now=DONE
        )
    assert _outcomes_by_name(shop, found) == {
        name: (orders, Decimal(revenue), Decimal(margin))
        for name, (orders, revenue, margin) in BY_HAND.items()
    }
    names = {member_id: name for name, member_id in shop.members.items()}
    assert [GROUP[names[m][0]] for m in found.member_ids] == list(found.groups)
    assert all(isinstance(value, Decimal) for value in (*found.revenue, *found.margin))


def test_a_running_window_is_cut_at_now_and_says_so(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        found = reports.customer_outcomes(
            session, campaign_id=shop.campaign_id, window_days=30, now=LATE
        )
        report = reports.campaign_report(
            session, campaign_id=shop.campaign_id, now=LATE, tracking=True
        )
    by_name = _outcomes_by_name(shop, found)
    # B1's 7.00 at day 39.5 and B2's 9.00 just before day 40 lie after ``now``
    assert by_name["B1"] == (1, Decimal(50), Decimal(20))
    assert by_name["B2"] == (0, Decimal(0), Decimal(0))
    assert by_name["A1"] == (2, Decimal(30), Decimal(15))
    window = report.window
    assert window.so_far is True
    assert window.members_complete == 7  # holdout and A; not B
    assert window.first_assigned == make.at(0)
    assert window.last_assigned == B_START
    assert window.ends == B_START + (make.at(30) - make.at(0))


def test_the_report_when_every_window_is_over(sessions: sessionmaker[Session], shop: Shop) -> None:
    with sessions() as session:
        report = reports.campaign_report(
            session, campaign_id=shop.campaign_id, now=DONE, tracking=True
        )
    assert (report.key, report.name, report.status) == ("spring", "Campaign spring", "active")
    assert report.window.so_far is False
    assert report.window.members_complete == 9
    assert report.variants == ("A", "B")
    totals = {row.group: row for row in report.totals}
    assert totals["holdout"] == reports.GroupTotals("holdout", 3, 1, 1, Decimal(15), Decimal(7))
    assert totals["A"] == reports.GroupTotals("A", 4, 2, 3, Decimal(42), Decimal(27))
    assert totals["B"] == reports.GroupTotals("B", 2, 2, 3, Decimal(66), Decimal(32))
    assert totals["treatment"] == reports.GroupTotals(
        "treatment", 6, 4, 6, Decimal(108), Decimal(59)
    )


def test_delivery_by_variant_and_in_total(sessions: sessionmaker[Session], shop: Shop) -> None:
    with sessions() as session:
        delivery = reports.campaign_report(
            session, campaign_id=shop.campaign_id, now=DONE, tracking=True
        ).delivery
    a, b = delivery.variants
    assert a == reports.DeliveryRow(
        "A", 4, queued=1, sent=2, delivered=1, bounced=1, cancelled=0, dead=1, opened=1, clicked=1
    )
    assert b == reports.DeliveryRow(
        "B", 2, queued=0, sent=1, delivered=1, bounced=0, cancelled=1, dead=0, opened=1, clicked=0
    )
    assert delivery.total == reports.DeliveryRow(
        "total",
        6,
        queued=1,
        sent=3,
        delivered=2,
        bounced=1,
        cancelled=1,
        dead=1,
        opened=2,
        clicked=1,
    )
    assert delivery.holdout == 3


def test_opens_and_clicks_are_unknown_where_nothing_was_tracked(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        news = campaign(session, key="news", variants=("A",))
        service = campaign(session, key="service", variants=("A",))
        service.purpose = "transactional"
        clicked = campaign(session, key="clicked", variants=("A",))
        for of in (news, service, clicked):
            for n in range(2):
                row = member(session, of, make.customer(session), "A", make.at(0))
                sent = message(session, of, row, "sent", key=f"{of.key}{n}")
                if of is clicked and n == 0:
                    sent.clicked_at = make.at(1)

    def total(of: Campaign, tracking: bool) -> reports.DeliveryRow:
        with sessions() as session:
            found = reports.campaign_report(session, campaign_id=of.id, now=DONE, tracking=tracking)
        return found.delivery.total

    assert (total(news, True).opened, total(news, True).clicked) == (0, 0)
    assert (total(news, False).opened, total(news, False).clicked) == (None, None)
    assert (total(service, True).opened, total(service, True).clicked) == (None, None)
    assert (total(clicked, False).opened, total(clicked, False).clicked) == (None, 1)
    assert total(news, False).delivered == total(service, True).delivered == 2


def _welch(treated: list[float], held: list[float], confidence: float = 0.95) -> dict[str, Any]:
    """Welch's test by scipy, and the Welch–Satterthwaite interval written out, independently
    of ``uplift.py``."""
    x, y = np.asarray(treated, dtype=float), np.asarray(held, dtype=float)
    test = stats.ttest_ind(x, y, equal_var=False)
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    difference = x.mean() - y.mean()
    half = stats.t.ppf((1 + confidence) / 2, df) * math.sqrt(va + vb)
    return {
        "difference": difference,
        "interval": (difference - half, difference + half),
        "t": float(test.statistic),
        "p": float(test.pvalue),
        "df": df,
        "incremental": difference * len(x),
    }


def _raw_figures(group: str, metric: int) -> list[float]:
    return [float(values[metric]) for name, values in BY_HAND.items() if GROUP[name[0]] == group]


@pytest.mark.parametrize(("metric", "position"), [("orders", 0), ("revenue", 1), ("margin", 2)])
def test_uplift_equals_an_independent_welch_computation(
    sessions: sessionmaker[Session], shop: Shop, metric: str, position: int
) -> None:
    with sessions() as session:
        report = reports.campaign_report(
            session, campaign_id=shop.campaign_id, now=DONE, tracking=True
        ).uplift
    held = _raw_figures("holdout", position)
    comparisons = {
        "treatment": (
            report.overall[metric],
            _raw_figures("A", position) + _raw_figures("B", position),
        ),
        "A": (report.by_variant["A"][metric], _raw_figures("A", position)),
        "B": (report.by_variant["B"][metric], _raw_figures("B", position)),
    }
    for label, (found, treated) in comparisons.items():
        wanted = _welch(treated, held)
        assert found.treatment.n == len(treated), label
        assert found.difference == pytest.approx(wanted["difference"], rel=1e-12), label
        assert found.interval == pytest.approx(wanted["interval"], rel=1e-9), label
        assert found.t == pytest.approx(wanted["t"], rel=1e-9), label
        assert found.df == pytest.approx(wanted["df"], rel=1e-9), label
        assert found.p_value == pytest.approx(wanted["p"], rel=1e-7), label
        assert found.incremental == pytest.approx(wanted["incremental"], rel=1e-12), label


def test_significance_reads_the_interval() -> None:
    from patron.engage import uplift

    figures = uplift.GroupFigures("x", 2, 1.0, 1.0)
    clear = uplift.compare(
        "revenue", uplift.GroupFigures("t", 50, 10.0, 1.0), uplift.GroupFigures("h", 50, 1.0, 1.0)
    )
    unclear = uplift.compare(
        "revenue", uplift.GroupFigures("t", 5, 1.2, 4.0), uplift.GroupFigures("h", 5, 1.0, 4.0)
    )
    none = uplift.compare("revenue", uplift.GroupFigures("t", 1, 1.0, None), figures)
    assert reports.significant(clear) is True
    assert reports.significant(unclear) is False
    assert reports.significant(none) is None


def test_a_campaign_without_members_reports_empty_figures(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        empty = campaign(session, key="empty").id
    with sessions() as session:
        report = reports.campaign_report(session, campaign_id=empty, now=DONE, tracking=True)
    assert report.delivery.total.assigned == 0
    assert report.window == reports.Window(30, DONE, None, None, None, 0, False)
    assert report.uplift.overall["revenue"].difference is None
    assert report.uplift.overall["revenue"].reason is not None


def test_campaigns_are_found_by_id_or_key_and_unknown_ones_named(
    sessions: sessionmaker[Session], shop: Shop
) -> None:
    with sessions() as session:
        assert campaigns.get(session, "spring").id == shop.campaign_id
        assert campaigns.get(session, str(shop.campaign_id)).key == "spring"
        with pytest.raises(NotFound) as missing:
            campaigns.get(session, "autumn")
        assert "autumn" in missing.value.message
        with pytest.raises(NotFound):
            reports.campaign_report(session, campaign_id=10_000, now=DONE, tracking=True)
