"""Campaigns on the store (SQLite and PostgreSQL): who is named, who is left out and why, the
holdout draw as recorded, the rendered messages, pacing, re-runs, and the status flow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import load_settings
from patron.engage import campaigns, holdout, library, messages, transactional
from patron.engage.journeys import JourneyProblem
from patron.engage.models import CampaignMember, Message, Suppression
from patron.engage.schemas import CampaignCreate, CampaignKind, VariantIn
from patron.errors import Conflict, PatronError

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 11:00 in Berlin: outside the quiet hours
SETTINGS = load_settings(
    timezone="Europe/Berlin", control_share=0.05, public_url="https://shop.example"
)


def _shop(session: Session, n: int, *, consent_every: int = 1) -> list[int]:
    """``n`` customers, German and English alternately; every ``consent_every``-th agreed to
    marketing e-mail."""
    ids = []
    for i in range(n):
        person = make.customer(session, language="de" if i % 2 else "en", country="DE")
        if i % consent_every == 0:
            make.consent(session, person, recorded_at=NOW - timedelta(days=30))
        ids.append(person.id)
    library.install(session, now=NOW)
    session.commit()
    return ids


def _newsletter(session: Session, **fields: object) -> int:
    request = CampaignCreate(
        name="Spring newsletter",
        variants=[VariantIn(name="A", template="newsletter")],
        **fields,  # type: ignore[arg-type]
    )
    return campaigns.create(session, request, actor="test", now=NOW).id


def test_a_one_off_reaches_the_consenting_minus_the_control_group_and_its_holdout(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        ids = _shop(session, 400, consent_every=2)
        campaign_id = _newsletter(session, holdout_share=0.2)
        done = campaigns.run(session, campaign_id, settings=SETTINGS, now=NOW)
    consenting = ids[::2]
    control = {i for i in ids if holdout.in_control_group(i, share=0.05)}
    expected = [i for i in consenting if i not in control]
    assert done.candidates == 400
    assert done.control_group == len(control)
    assert done.unreachable == len([i for i in ids if i not in control]) - len(expected)
    with sessions() as session:
        members = dict(
            session.execute(
                select(CampaignMember.customer_id, CampaignMember.group).where(
                    CampaignMember.campaign_id == campaign_id
                )
            ).all()
        )
        sent_to = set(
            session.scalars(select(Message.customer_id).where(Message.campaign_id == campaign_id))
        )
    assert sorted(members) == sorted(expected)
    with sessions() as session:
        key = campaigns.get(session, campaign_id).key
    for customer_id, group in members.items():
        assert group == holdout.campaign_group(customer_id, campaign_key=key, holdout_share=0.2)
    treated = {c for c, g in members.items() if g != holdout.HOLDOUT}
    assert sent_to == treated
    assert done.holdout == len(members) - len(treated)
    assert done.queued == len(treated)
    assert 0.1 < done.holdout / len(members) < 0.3


def test_a_second_run_queues_nobody_twice(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _shop(session, 30)
        campaign_id = _newsletter(session, holdout_share=0.0)
        first = campaigns.run(session, campaign_id, settings=SETTINGS, now=NOW)
        # a one-off is done after its run; a journey-like second pass must add nothing either
        campaign = campaigns.get(session, campaign_id)
        campaign.status, campaign.started_at, campaign.finished_at = "draft", None, None
        session.commit()
        again = campaigns.run(session, campaign_id, settings=SETTINGS, now=NOW)
        count = session.scalar(select(func.count()).select_from(Message))
    assert first.queued > 0
    assert again.queued == 0
    assert again.already == first.queued
    assert count == first.queued


def test_messages_are_rendered_in_the_customers_language_with_an_unsubscribe_link(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _shop(session, 6)
        campaign_id = _newsletter(session, holdout_share=0.0)
        campaigns.run(session, campaign_id, settings=SETTINGS, now=NOW)
        rows = session.execute(
            select(Message.language, Message.html, Message.text, Message.customer_id)
        ).all()
        languages = dict(session.execute(select(make.Customer.id, make.Customer.language)).all())
    assert rows
    for language, html, text, customer_id in rows:
        assert language == languages[customer_id]
        assert "https://shop.example/u/" in html
        assert "<" not in text.replace("<https", "")  # the text part holds no markup


def test_the_segment_narrows_the_audience(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        ids = _shop(session, 40)
        campaign_id = _newsletter(session, holdout_share=0.0, segment='language = "de"')
        campaigns.run(session, campaign_id, settings=SETTINGS, now=NOW)
        got = set(session.scalars(select(CampaignMember.customer_id)))
    german = {i for n, i in enumerate(ids) if n % 2}
    assert got
    assert got <= german


def test_the_frequency_cap_and_quiet_hours_set_the_send_time(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        busy = make.customer(session, language="de", time_zone="Europe/Berlin")
        night = make.customer(session, language="en", time_zone="Asia/Tokyo")  # 19:00 there
        for person in (busy, night):
            make.consent(session, person, recorded_at=NOW - timedelta(days=30))
        library.install(session, now=NOW)
        session.commit()
        for days in (1, 3):  # two marketing e-mails in the last 7 days: the cap of 2 is full
            session.add(
                Message(
                    key=f"earlier-{days}",
                    customer_id=busy.id,
                    channel="email",
                    purpose="marketing",
                    language="de",
                    recipient=busy.email,
                    subject="s",
                    html="h",
                    text="t",
                    status="sent",
                    attempts=1,
                    send_after=NOW - timedelta(days=days),
                    sent_at=NOW - timedelta(days=days),
                )
            )
        session.commit()
        late = NOW + timedelta(hours=3)  # 13:00 UTC: 22:00 in Tokyo, quiet
        settings = load_settings(control_share=0.0, timezone="Europe/Berlin")
        campaign_id = _newsletter(session, holdout_share=0.0)
        done = campaigns.run(session, campaign_id, settings=settings, now=late)
        due = dict(
            session.execute(
                select(Message.customer_id, Message.send_after).where(
                    Message.campaign_id == campaign_id
                )
            ).all()
        )
    assert done.deferred == 2
    # the older of the two leaves the 7-day window first; 11:00 in Berlin is awake
    assert due[busy.id].astimezone(UTC) == NOW - timedelta(days=3) + timedelta(days=7)
    assert due[night.id].astimezone(UTC) == datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # 08:00 JST


def test_ab_variants_get_their_own_templates(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _shop(session, 60)
        library.install(session, now=NOW)
        request = CampaignCreate(
            name="Subject test",
            variants=[
                VariantIn(name="A", template="newsletter"),
                VariantIn(name="B", template="event_invitation"),
            ],
            holdout_share=0.0,
        )
        campaign_id = campaigns.create(session, request, actor="t", now=NOW).id
        campaigns.run(session, campaign_id, settings=SETTINGS, now=NOW)
        pairs = set(session.execute(select(Message.variant, Message.template_key)).all())
    assert pairs == {("A", "newsletter"), ("B", "event_invitation")}


def test_pause_resume_cancel_follow_the_status_flow(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        _shop(session, 10)
        campaign_id = _newsletter(session, scheduled_at=NOW + timedelta(days=1))
        assert campaigns.pause(session, campaign_id).status == "paused"
        with pytest.raises(Conflict):
            campaigns.pause(session, campaign_id)
        assert campaigns.resume(session, campaign_id).status == "scheduled"
        nothing = campaigns.run_due(session, settings=SETTINGS, now=NOW)
        assert nothing == {}
        due = campaigns.run_due(session, settings=SETTINGS, now=NOW + timedelta(days=1))
        assert due["campaigns"] == 1
        assert campaigns.public(session, campaigns.get(session, campaign_id)).status == "done"
        queued = session.scalar(
            select(func.count()).select_from(Message).where(Message.status == "queued")
        )
        assert queued
        # a done campaign can still be cancelled: what has not gone out is cancelled
        cancelled = campaigns.cancel(session, campaign_id, now=NOW)
        assert cancelled.counts.get("cancelled") == queued
        assert "queued" not in cancelled.counts


def test_a_bad_segment_or_template_is_refused_and_nothing_is_stored(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _shop(session, 2)
        with pytest.raises(PatronError) as bad_segment:
            _newsletter(session, segment="abc = ")
        assert bad_segment.value.code == "segment.invalid"
        with pytest.raises(PatronError) as bad_template:
            campaigns.create(
                session,
                CampaignCreate(name="x", variants=[VariantIn(template="nope")]),
                actor="t",
                now=NOW,
            )
        assert bad_template.value.code == "campaign.invalid"
        assert campaigns.list_campaigns(session).count == 0


def test_a_journey_sends_a_thank_you_once_per_first_purchase(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        library.install(session, now=NOW)
        person = make.customer(session, language="de")
        make.consent(session, person, recorded_at=NOW - timedelta(days=30))
        make.order(session, person, placed_at=NOW - timedelta(hours=5), lines=[make.line()])
        session.commit()
        made = campaigns.enable_journey(session, "thank_you", actor="t", now=NOW)
        assert made.status == "active"
        with pytest.raises(Conflict):
            campaigns.enable_journey(session, "thank_you", actor="t", now=NOW)
        settings = load_settings(control_share=0.0)
        campaigns.run_due(session, settings=settings, now=NOW)
        campaigns.run_due(session, settings=settings, now=NOW + timedelta(hours=1))
        members = session.scalars(select(CampaignMember.customer_id)).all()
        assert members == [person.id]


def test_the_worker_runs_a_journey_at_most_once_a_minute(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        library.install(session, now=NOW)
        campaigns.enable_journey(session, "thank_you", actor="t", now=NOW)
        first = campaigns.run_due(session, settings=SETTINGS, now=NOW)
        soon = campaigns.run_due(session, settings=SETTINGS, now=NOW + timedelta(seconds=30))
        later = campaigns.run_due(
            session, settings=SETTINGS, now=NOW + campaigns.JOURNEY_EVERY + timedelta(seconds=1)
        )
    assert (first.get("campaigns"), soon.get("campaigns"), later.get("campaigns")) == (1, None, 1)


def test_a_transactional_message_needs_no_consent_but_a_usable_address(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        library.install(session, now=NOW)
        person = make.customer(session, external_id="K-1", language="de")
        blocked = make.customer(session, external_id="K-2", email="Gone@Example.org")
        session.add(Suppression(channel="email", address="gone@example.org", reason="hard_bounce"))
        session.commit()
        first, created = transactional.send(
            session,
            customer="K-1",
            template_key="thank_you",
            channel="email",
            key="order-1",
            variables={"order": {"number": "O-1", "date": "10.03.2026"}},
            settings=SETTINGS,
            now=NOW,
        )
        again, created_again = transactional.send(
            session,
            customer="K-1",
            template_key="thank_you",
            channel="email",
            key="order-1",
            variables={"order": {"number": "O-1", "date": "10.03.2026"}},
            settings=SETTINGS,
            now=NOW,
        )
        with pytest.raises(transactional.Unreachable):
            transactional.send(
                session,
                customer=str(blocked.id),
                template_key="thank_you",
                channel="email",
                key="order-2",
                variables={},
                settings=SETTINGS,
                now=NOW,
            )
        listed = messages.listed(session)
        assert first.recipient == person.email
    assert created
    assert not created_again
    assert first.id == again.id
    assert first.purpose.value == "transactional"
    assert listed.count == 1


def _invitation(session: Session, **fields: object) -> int:
    request = CampaignCreate(
        name="Autumn fair",
        journey="event_invitation",
        variants=[VariantIn(name="A", template="event_invitation")],
        **fields,  # type: ignore[arg-type]
    )
    return campaigns.create(session, request, actor="test", now=NOW).id


def test_a_setting_a_campaign_cannot_run_with_is_refused_when_it_is_created(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _shop(session, 2)
        wrong = [
            (
                CampaignCreate(
                    name="Autumn fair",
                    journey="event_invitation",
                    variants=[VariantIn(template="event_invitation")],
                    settings={"event_date": "next Friday"},
                ),
                "event_date",
            ),
            (
                CampaignCreate(
                    name="Goes with it",
                    kind=CampaignKind.journey,
                    journey="cross_sell",
                    settings={"days_after": -3},
                ),
                "days_after",
            ),
            (
                CampaignCreate(
                    name="Birthday",
                    kind=CampaignKind.journey,
                    journey="birthday",
                    settings={"voucher_value": "ten euros"},
                ),
                "voucher_value",
            ),
            (
                CampaignCreate(
                    name="News",
                    variants=[VariantIn(template="newsletter")],
                    settings={"capacity": 0},
                ),
                "capacity",
            ),
        ]
        for request, setting in wrong:
            with pytest.raises(JourneyProblem) as refused:
                campaigns.create(session, request, actor="t", now=NOW)
            assert refused.value.code == "journey.invalid"
            assert refused.value.details["field"] == f"settings.{setting}"
            assert f"setting {setting!r}" in str(refused.value)
            session.rollback()
        assert campaigns.list_campaigns(session).count == 0
        # what is accepted is stored the one way the trigger and the context read it
        made = campaigns.get(
            session, _invitation(session, settings={"event_date": "2026-09-17", "capacity": 40})
        )
        assert made.settings["event_date"] == "2026-09-17"
        assert made.settings["capacity"] == 40


def test_a_campaign_that_fails_does_not_stop_the_others_of_the_round(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _shop(session, 10)
        broken = _invitation(session, holdout_share=0.0, scheduled_at=NOW)
        fine = _newsletter(session, holdout_share=0.0, scheduled_at=NOW)
        # stored before settings were checked on creation: a date the invitation cannot read
        stored = campaigns.get(session, broken)
        stored.settings = {**stored.settings, "event_date": "next Friday"}
        session.commit()
        with pytest.raises(ValueError, match="next Friday"):
            campaigns.run_due(session, settings=SETTINGS, now=NOW)
        statuses = {c.id: c.status for c in campaigns.list_campaigns(session).data}
        queued = session.scalar(
            select(func.count()).select_from(Message).where(Message.campaign_id == fine)
        )
    assert statuses == {broken: "scheduled", fine: "done"}
    assert queued


def test_a_one_off_that_has_run_is_not_scheduled_or_run_again(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        _shop(session, 10)
        campaign_id = _newsletter(session, holdout_share=0.0)
        first = campaigns.run(session, campaign_id, settings=SETTINGS, now=NOW)
        assert first.queued
        assert campaigns.pause(session, campaign_id).status == "paused"
        with pytest.raises(Conflict) as refused:
            campaigns.schedule(session, campaign_id, at=NOW + timedelta(hours=1))
        assert refused.value.code == "campaign.wrong_status"
        assert campaigns.resume(session, campaign_id).status == "done"
        _shop(session, 4)  # new customers in the segment (everyone) get nothing from it
        later = NOW + timedelta(days=1)
        assert campaigns.run_due(session, settings=SETTINGS, now=later) == {}
        with pytest.raises(Conflict) as again:
            campaigns.run(session, campaign_id, settings=SETTINGS, now=later)
        assert again.value.code == "campaign.wrong_status"
        sent = session.scalar(
            select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id)
        )
    assert sent == first.queued


def test_a_transactional_journey_holds_nobody_out_unless_a_share_is_given(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        library.install(session, now=NOW)
        buyers = []
        for _ in range(30):
            person = make.customer(session, language="de")
            make.order(session, person, placed_at=NOW - timedelta(hours=5), lines=[make.line()])
            buyers.append(person.id)
        session.commit()
        thanks = campaigns.enable_journey(session, "thank_you", actor="t", now=NOW)
        birthday = campaigns.enable_journey(session, "birthday", actor="t", now=NOW)
        asked = campaigns.create(
            session,
            CampaignCreate(
                name="Follow-up",
                kind=CampaignKind.journey,
                journey="complaint_follow_up",
                holdout_share=0.2,
            ),
            actor="t",
            now=NOW,
        )
        done = campaigns.run(session, thanks.id, settings=SETTINGS, now=NOW)
    assert (thanks.holdout_share, birthday.holdout_share, asked.holdout_share) == (0.0, 0.1, 0.2)
    assert (done.holdout, done.queued) == (0, len(buyers))


def test_two_occasions_of_one_customer_in_one_run_keep_to_the_frequency_cap(
    sessions: sessionmaker[Session],
) -> None:
    """Two watched products got cheaper: two price-drop messages, but with a cap of one
    marketing message in 7 days the second waits a week after the first."""
    with sessions() as session:
        library.install(session, now=NOW)
        person = make.customer(session, language="de", time_zone="Europe/Berlin")
        make.consent(session, person, recorded_at=NOW - timedelta(days=30))
        for price in ("12.90", "30.00"):
            product = make.product(session, price="10.00")
            make.interaction(
                session,
                person,
                kind="price_watch",
                product_id=product.id,
                payload={"price": price},
                occurred_at=NOW - timedelta(days=2),
            )
        session.commit()
        made = campaigns.create(
            session,
            CampaignCreate(
                name="Cheaper", kind=CampaignKind.journey, journey="price_drop", holdout_share=0
            ),
            actor="t",
            now=NOW,
        )
        capped = load_settings(
            timezone="Europe/Berlin", control_share=0.0, marketing_cap=1, marketing_cap_days=7
        )
        done = campaigns.run(session, made.id, settings=capped, now=NOW)
        times = sorted(
            session.scalars(select(Message.send_after).where(Message.campaign_id == made.id))
        )
    assert (done.candidates, done.queued) == (2, 2)
    assert times[0] == NOW  # 11:00 in Berlin: outside the quiet hours
    assert times[1] >= NOW + timedelta(days=7)
