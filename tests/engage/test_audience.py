"""Segments on the store (SQLite and PostgreSQL): customer fields, the newest scores, the latest
consent, and the preview's count and sample."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.analytics.snapshots import save_snapshot
from patron.engage import audience
from patron.engage.segments import SegmentError


def _snapshot(engine: Engine, scores: dict[int, tuple[str, float]]) -> int:
    table = pa.table(
        {
            "customer_id": pa.array([str(c) for c in scores], pa.string()),
            "abc": pa.array([abc for abc, _ in scores.values()], pa.string()),
            "p_alive": pa.array([p for _, p in scores.values()], pa.float64()),
        }
    )
    with engine.begin() as connection:
        return save_snapshot(
            connection,
            table,
            period_start=date(2024, 1, 1),
            period_end=date(2024, 12, 31),
            time_unit="week",
            model="bgnbd",
            settings={},
            models={},
            warnings=[],
        )


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        anna = make.customer(session, name="Anna", language="de")
        ben = make.customer(session, name="Ben", language="de")
        cleo = make.customer(session, name="Cleo", language="en")
        dora = make.customer(session, name="Dora", language=None)
        # Anna agreed; Ben agreed and withdrew later; Cleo agreed to SMS only; Dora never asked
        make.consent(
            session,
            anna,
            channel="email",
            purpose="marketing",
            granted=True,
            recorded_at=make.at(1),
        )
        make.consent(
            session, ben, channel="email", purpose="marketing", granted=True, recorded_at=make.at(1)
        )
        make.consent(
            session,
            ben,
            channel="email",
            purpose="marketing",
            granted=False,
            recorded_at=make.at(5),
        )
        make.consent(
            session, cleo, channel="sms", purpose="marketing", granted=True, recorded_at=make.at(2)
        )
        # a transactional consent is not a marketing one
        make.consent(
            session,
            dora,
            channel="email",
            purpose="transactional",
            granted=True,
            recorded_at=make.at(2),
        )
        return {"anna": anna.id, "ben": ben.id, "cleo": cleo.id, "dora": dora.id}


def names(session: Session, text: str) -> set[str]:
    preview = audience.preview(session, text=text)
    assert preview.count == len(preview.sample)  # fewer than a page here
    return {row["name"] for row in preview.sample}


def test_customer_fields_and_the_latest_marketing_consent(
    sessions: sessionmaker[Session], people: dict[str, int]
) -> None:
    with sessions() as session:
        assert names(session, 'language = "de"') == {"Anna", "Ben"}
        assert names(session, "consent.email") == {"Anna"}
        assert names(session, "not consent.email") == {"Ben", "Cleo", "Dora"}
        assert names(session, "consent.sms or language is null") == {"Cleo", "Dora"}
        assert names(session, 'language != "de"') == {"Cleo"}  # Dora's language is unknown


def test_scores_come_from_the_newest_snapshot(
    engine: Engine, sessions: sessionmaker[Session], people: dict[str, int]
) -> None:
    with sessions() as session:
        # before any analysis every score is unknown: in neither a segment nor its negation
        assert names(session, "p_alive < 0.5") == set()
        assert names(session, "not p_alive < 0.5") == set()
        assert audience.preview(session, text="p_alive < 0.5").snapshot_id is None
    _snapshot(engine, {people["anna"]: ("A", 0.9), people["ben"]: ("A", 0.2)})
    newest = _snapshot(
        engine,
        {people["anna"]: ("A", 0.3), people["ben"]: ("B", 0.8), people["cleo"]: ("C", 0.1)},
    )
    with sessions() as session:
        assert names(session, 'abc = "A" and p_alive < 0.5') == {"Anna"}
        assert names(session, 'abc in ("A", "B") and consent.email') == {"Anna"}
        assert names(session, "p_alive >= 0.5") == {"Ben"}
        assert audience.preview(session, text="p_alive >= 0.5").snapshot_id == newest


def test_preview_counts_all_and_samples_the_first(
    sessions: sessionmaker[Session], people: dict[str, int]
) -> None:
    with sessions() as session:
        preview = audience.preview(session, text='name != "Nobody"', sample=2)
        assert preview.count == 4
        assert [row["id"] for row in preview.sample] == sorted(people.values())[:2]
        assert set(preview.sample[0]) == {"id", "external_id", "name", "email"}


def test_wrong_segments_say_where(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(SegmentError) as error:
        audience.preview(session, text='abc = "A" and consent.mail')
    assert error.value.column == 15
    assert "consent.email" in error.value.message


def test_every_score_column_is_a_field() -> None:
    from patron.analytics.columns import SCORES

    fields = audience.catalogue()
    assert {c.name for c in SCORES} - {"customer_id"} <= set(fields)
    assert fields["birthday"].type == "date"


def test_reachable_among_more_ids_than_a_statement_may_carry(
    sessions: sessionmaker[Session],
) -> None:
    """A campaign to 100,000 customers asks for 100,000 ids: more parameters than psycopg (65,535)
    or SQLite allow in one statement."""
    with sessions.begin() as session:
        anna = make.customer(session, email="anna@example.org")
        make.consent(session, anna, granted=True)
        ben = make.customer(session, email="ben@example.org")
        make.consent(session, ben, granted=True)
        silent = make.customer(session, email="silent@example.org")
    many = [*range(1_000_000, 1_070_000), anna.id, ben.id, silent.id]
    with sessions() as session:
        found = audience.reachable(session, channel="email", purpose="marketing", among=many)
        told = audience.reachable(session, channel="email", purpose="transactional", among=many)
    assert found == {anna.id: "anna@example.org", ben.id: "ben@example.org"}
    assert set(told) == {anna.id, ben.id, silent.id}
