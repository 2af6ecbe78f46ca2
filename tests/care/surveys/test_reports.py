"""The survey reports against numbers worked out by hand on small data sets (SQLite and
PostgreSQL): NPS per month (in the shop's calendar) and by segment of the newest snapshot,
CSAT by case category, and Kano per feature."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.surveys.conftest import NOW, case
from care.surveys.test_service import FEATURES
from patron.analytics.snapshots import CustomerScore, ScoreSnapshot
from patron.care.surveys import reports, service

Z95 = 1.959963984540054


def _at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _nps_answers(session: Session, answers: list[tuple[datetime, int]]) -> None:
    """Each answer from a new customer (what the over-time report counts: every answer)."""
    for position, (when, score) in enumerate(answers):
        customer_id = make.customer(session).id
        service.answer(
            session,
            survey="nps",
            customer_id=customer_id,
            reference=f"order:{position}",
            score=score,
            now=when,
        )


def _wald(promoters: int, detractors: int, n: int) -> tuple[float, float]:
    p, d = promoters / n, detractors / n
    half = 100 * Z95 * math.sqrt((p + d - (p - d) ** 2) / n)
    return max(-100.0, 100 * (p - d) - half), min(100.0, 100 * (p - d) + half)


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def test_nps_per_month_counts_every_answer_in_the_shops_calendar(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _nps_answers(
            session,
            [
                (_at(2026, 1, 5), 10),
                (_at(2026, 1, 9), 9),
                (_at(2026, 1, 20), 8),
                (_at(2026, 1, 31, 23, 30), 3),  # 1 February in Berlin
                (_at(2026, 2, 2), 6),
                (_at(2026, 2, 14), 6),
                (_at(2026, 2, 27), 10),
            ],
        )
        # a CSAT answer is no NPS answer
        service.answer(
            session, survey="csat", customer_id=make.customer(session).id, score=1, now=NOW
        )
    with sessions() as session:
        utc = reports.nps_report(session, by="month")
        berlin = reports.nps_report(session, by="month", timezone="Europe/Berlin")
    # UTC: January 10, 9, 8, 3 -> 2 promoters, 1 passive, 1 detractor; February 6, 6, 10.
    jan, feb = utc.rows
    assert (jan.period, jan.n, jan.promoters, jan.passives, jan.detractors) == (
        date(2026, 1, 1),
        4,
        2,
        1,
        1,
    )
    assert jan.nps == pytest.approx(25.0)
    assert (jan.ci_low, jan.ci_high) == pytest.approx(_wald(2, 1, 4))
    assert jan.ci_high == 100.0  # cut at the top of the scale
    assert (feb.n, feb.promoters, feb.detractors) == (3, 1, 2)
    assert feb.nps == pytest.approx(-100 / 3)
    assert (utc.overall.n, utc.overall.promoters, utc.overall.detractors) == (7, 3, 3)
    assert utc.overall.nps == pytest.approx(0.0)
    # Berlin: the 3 moves to February: January 10, 9, 8 and February 3, 6, 6, 10
    assert [(r.n, r.promoters, r.detractors) for r in berlin.rows] == [(3, 2, 0), (4, 1, 3)]
    assert [r.nps for r in berlin.rows] == pytest.approx([200 / 3, -50.0])
    with pytest.raises(service.SurveyProblem), sessions() as session:
        reports.nps_report(session, by="colour")


def _snapshot(session: Session, taken: datetime, classes: dict[int, str]) -> int:
    snapshot = ScoreSnapshot(
        taken_at=taken,
        period_start=date(2025, 1, 1),
        period_end=date(2026, 1, 1),
        time_unit="week",
        model="bgnbd",
        customers=len(classes),
        settings={},
        models={},
        warnings=[],
    )
    session.add(snapshot)
    session.flush()
    for customer_id, abc in classes.items():
        session.add(
            CustomerScore(
                snapshot_id=snapshot.id,
                customer_id=customer_id,
                abc=abc,
                loyalty_type="true" if abc == "A" else "spurious",
            )
        )
    session.flush()
    return snapshot.id


def test_nps_by_segment_takes_each_customers_latest_answer_and_the_newest_snapshot(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        ids = [make.customer(session).id for _ in range(5)]
        latest = {ids[0]: 10, ids[1]: 9, ids[2]: 5, ids[3]: 8, ids[4]: 10}
        # an older answer of the first customer does not count
        service.answer(
            session,
            survey="nps",
            customer_id=ids[0],
            reference="order:old",
            score=2,
            now=NOW - timedelta(days=40),
        )
        for customer_id, score in latest.items():
            service.answer(session, survey="nps", customer_id=customer_id, score=score, now=NOW)
        # an older snapshot put everyone in C; the newest has A, A, B, B and not the fifth
        _snapshot(session, NOW - timedelta(days=60), dict.fromkeys(ids, "C"))
        newest = _snapshot(session, NOW, {ids[0]: "A", ids[1]: "A", ids[2]: "B", ids[3]: "B"})
        session.commit()
    with sessions() as session:
        by_abc = reports.nps_report(session, by="abc")
        by_type = reports.nps_report(session, by="loyalty_type")
    assert by_abc.snapshot_id == newest
    rows = {r.group: r for r in by_abc.rows}
    assert list(rows) == ["A", "B", ""]  # the unscored customer last
    assert (rows["A"].n, rows["A"].nps) == (2, 100.0)
    assert (rows["B"].n, rows["B"].passives, rows["B"].detractors, rows["B"].nps) == (
        2,
        1,
        1,
        -50.0,
    )
    assert (rows[""].n, rows[""].nps) == (1, 100.0)
    # 5 customers: promoters 10, 9, 10; detractor 5; passive 8
    assert (by_abc.overall.n, by_abc.overall.nps) == (5, pytest.approx(40.0))
    assert [(r.group, r.n) for r in by_type.rows] == [("spurious", 2), ("true", 2), ("", 1)]


def test_csat_by_case_category(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        people = [make.customer(session).id for _ in range(4)]
        cases = [
            case(session, people[0], category="delivery").id,
            case(session, people[1], category="delivery").id,
            case(session, people[2], category="returns").id,
        ]
        for customer_id, case_id, score in zip(people, cases, (5, 2, 4), strict=False):
            service.answer(
                session,
                survey="csat",
                customer_id=customer_id,
                reference=f"case:{case_id}",
                score=score,
                now=NOW,
            )
        # an answer about no case counts for the survey, not for a category
        service.answer(session, survey="csat", customer_id=people[3], score=1, now=NOW)
    with sessions() as session:
        found = reports.csat_by_category(session)
        overall = reports.csat_overall(session, survey="csat")
    delivery, returns = found.rows
    assert (delivery.group, delivery.n, delivery.mean, delivery.satisfied) == (
        "delivery",
        2,
        3.5,
        1,
    )
    assert delivery.share_satisfied == 0.5
    assert (delivery.ci_low, delivery.ci_high) == pytest.approx(_wilson(1, 2))
    assert (returns.group, returns.n, returns.mean, returns.share_satisfied) == (
        "returns",
        1,
        4.0,
        1.0,
    )
    assert (found.overall.n, found.overall.satisfied) == (3, 2)
    assert found.overall.mean == pytest.approx(11 / 3)
    assert (overall.n, overall.satisfied, overall.mean) == (4, 2, 3.0)


def test_kano_per_feature(sessions: sessionmaker[Session]) -> None:
    # By the evaluation table: like/dislike = O, like/neutral = A, like/like = Q,
    # neutral/neutral = I, expect/dislike = M, dislike/like = R, neutral/live-with = I.
    pairs = [
        {"same_day": [1, 5], "gift_wrap": [3, 3]},
        {"same_day": [1, 3], "gift_wrap": [2, 5]},
        {"same_day": [1, 5], "gift_wrap": [5, 1]},
        {"same_day": [1, 1], "gift_wrap": [3, 4]},
    ]
    with sessions() as session:
        service.create_survey(
            session, key="delivery", name="Delivery", kind="kano", features=FEATURES, now=NOW
        )
        for answer in pairs:
            customer_id = make.customer(session).id
            service.answer(
                session, survey="delivery", customer_id=customer_id, answers=answer, now=NOW
            )
    with sessions() as session:
        same_day, gift_wrap = reports.kano_report(session, survey="delivery", language="de")
    assert (same_day.feature, same_day.name, same_day.n) == (
        "same_day",
        "Lieferung am selben Tag",
        4,
    )
    assert same_day.counts == {"A": 1, "O": 2, "M": 0, "I": 0, "R": 0, "Q": 1}
    assert same_day.shares["O"] == 0.5
    assert same_day.dominant == "O"
    assert (same_day.better, same_day.worse) == pytest.approx((3 / 3, -2 / 3))
    assert gift_wrap.counts == {"A": 0, "O": 0, "M": 1, "I": 2, "R": 1, "Q": 0}
    assert gift_wrap.dominant == "I"
    assert (gift_wrap.better, gift_wrap.worse) == pytest.approx((0.0, -1 / 3))


def test_a_survey_without_answers_reports_empty_rows(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        service.create_survey(
            session, key="delivery", name="Delivery", kind="kano", features=FEATURES, now=NOW
        )
        kano_rows = reports.kano_report(session, survey="delivery")
        nps = reports.survey_report(session, survey="nps")
        with pytest.raises(service.SurveyProblem):
            reports.kano_report(session, survey="nps")
    assert [(r.n, r.dominant, r.better) for r in kano_rows] == [(0, None, None), (0, None, None)]
    assert nps["nps"] == []
    assert nps["nps_overall"].nps is None
