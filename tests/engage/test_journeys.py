"""The catalogue of shipped journeys and the template library: complete, consistent, installable,
and every template renders in German, English and Norwegian for members and non-members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from loyalty.shop import T0, demo_document, purchase
from patron.config import Settings
from patron.engage import context, journeys, library
from patron.engage.journeys import JOURNEYS, JourneyProblem
from patron.engage.models import MessageTemplate
from patron.engage.rendering import LANGUAGES, render
from patron.errors import NotFound
from patron.loyalty import service, setup
from patron.loyalty.programme import read_spec

SETTINGS = Settings(_env_file=None, shop_name="Kaffeehaus Berg", currency="EUR")  # type: ignore[call-arg]
# 24 months after the first purchase's points vested, ten days before they expire
NOW = T0 + timedelta(days=14 + 730 - 10)


def test_the_catalogue_holds_every_journey_with_its_template() -> None:
    assert set(JOURNEYS) == {
        "thank_you",
        "loyalty_welcome",
        "birthday",
        "tier_upgrade",
        "cross_sell",
        "replenishment",
        "price_drop",
        "win_back",
        "feedback",
        "complaint_follow_up",
        "event_invitation",
    }
    shipped = {s.key: s for s in library.shipped()}
    assert set(shipped) == set(journeys.TEMPLATES)
    assert set(shipped) == {
        *JOURNEYS,
        "newsletter",
        *journeys.SERVICE_TEMPLATES,
        *journeys.OFFER_TEMPLATES,
    }
    assert {shipped[key].purpose for key in journeys.OFFER_TEMPLATES} == {"marketing"}
    assert {shipped[key].purpose for key in journeys.SERVICE_TEMPLATES} == {"transactional"}
    for journey in JOURNEYS.values():
        assert journey.key == journey.template
        assert shipped[journey.template].purpose == journey.purpose, journey.key
        assert journey.name
        assert journey.description
    assert [j.key for j in JOURNEYS.values() if j.one_off] == ["event_invitation"]


def test_transactional_journeys_carry_no_offer_and_marketing_ones_an_unsubscribe_link() -> None:
    transactional = {k for k, j in JOURNEYS.items() if j.purpose == "transactional"}
    assert transactional == {"thank_you", "loyalty_welcome", "tier_upgrade", "complaint_follow_up"}
    for item in library.shipped():
        used = context.needs(item.template)
        if item.purpose == "transactional":
            assert not used & {"voucher", "recommended", "unsubscribe_url"}, item.key
        else:
            for language in LANGUAGES:
                assert "{{ unsubscribe_url }}" in item.template.bodies[language], item.key


def test_settings_take_the_defaults_and_refuse_what_cannot_run() -> None:
    assert journeys.settings_for("cross_sell") == {"days_after": 3}
    assert journeys.settings_for("win_back", {"p_alive_below": 0.2})["p_alive_below"] == 0.2
    birthday = journeys.settings_for("birthday", {"voucher_value": 15, "note": "kept"})
    assert birthday["voucher_value"] == "15.00"
    assert birthday["note"] == "kept"
    wrong = [
        ("win_back", {"p_alive_below": 1.5}, "settings.p_alive_below"),
        ("cross_sell", {"days_after": "3"}, "settings.days_after"),
        ("birthday", {"voucher_value": "-5"}, "settings.voucher_value"),
        ("birthday", {"valid_days": 0}, "settings.valid_days"),
        ("feedback", {"survey_url": "javascript:alert(1)"}, "settings.survey_url"),
        ("event_invitation", {"event_date": "17.09.2026"}, "settings.event_date"),
        ("event_invitation", {"capacity": 0}, "settings.capacity"),
    ]
    for key, given, field in wrong:
        with pytest.raises(JourneyProblem) as caught:
            journeys.settings_for(key, given)
        assert caught.value.details["field"] == field
    with pytest.raises(JourneyProblem, match="unknown journey"):
        journeys.journey("anniversary")


def test_install_adds_what_is_missing_and_keeps_a_shops_edits(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with sessions() as session:
        assert library.install(session, now=now) == len(journeys.TEMPLATES)
        session.commit()
        row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == "birthday"))
        assert row is not None
        assert row.shipped
        row.subjects = {**row.subjects, "de": "Happy Birthday von uns!"}
        session.delete(
            session.scalar(select(MessageTemplate).where(MessageTemplate.key == "newsletter"))
        )
        session.commit()
        assert library.install(session, now=now) == 1  # only the newsletter came back
        session.commit()
        assert library.template(session, "birthday").subjects["de"] == "Happy Birthday von uns!"
        assert session.scalar(select(func.count()).select_from(MessageTemplate)) == len(
            journeys.TEMPLATES
        )
        with pytest.raises(NotFound, match="no template 'nope'"):
            library.template(session, "nope")
    with sessions() as session:  # nothing is committed by install itself
        session.execute(MessageTemplate.__table__.delete())
        session.commit()
        library.install(session, now=now)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(MessageTemplate)) == 0


@pytest.fixture
def customers(sessions: sessionmaker[Session]) -> dict[str, int]:
    """A German member with points (some expiring soon), a Norwegian non-member, an English
    organisation."""
    with sessions.begin() as session:
        member = make.customer(session, external_id="M1", name="Anna Berg", language="de")
        other = make.customer(session, external_id="N1", name="Ola Nordmann", language="nb")
        firm = make.customer(
            session, external_id="F1", name="Acme Ltd", language="en", kind="organisation"
        )
        ids = {"member": member.id, "non_member": other.id, "organisation": firm.id}
    with sessions() as session:
        setup.set_up(session, spec=read_spec(demo_document()), actor="test", now=T0)
        service.record_purchase(
            session,
            programme_code="club",
            key="M1:1",
            purchase=purchase("M1", "M1-1", "550.00"),
            actor=None,
            now=T0,
        )
    return ids


@pytest.mark.parametrize("who", ["member", "non_member", "organisation"])
def test_every_shipped_template_renders_in_every_language(
    sessions: sessionmaker[Session], customers: dict[str, int], who: str
) -> None:
    customer_id = customers[who]
    offer = {"voucher_value": "10.00", "valid_days": 30, "event_name": "Kaffeemesse 2028"}
    with sessions() as session:
        for item in library.shipped():
            for language in LANGUAGES:
                values = context.contexts(
                    session,
                    [customer_id],
                    needs=context.needs(item.template),
                    settings=SETTINGS,
                    now=NOW,
                    channel="email",
                    purpose=item.purpose,
                    references={customer_id: f"test:{item.key}"},
                    campaign_settings=offer,
                    languages=(language,),
                )[customer_id]
                example = journeys.EXAMPLES.get(item.key, {})
                values |= context.localise(example, language=language, currency="EUR")
                rendered = render(item.template, values, language=language)
                where = f"{item.key} ({language}, {who})"
                assert rendered.language == language
                assert "None" not in rendered.text, where
                assert "{" not in rendered.text, where
                assert rendered.text.startswith(values["salutation"] + ","), where
                assert "Kaffeehaus Berg" in rendered.html + rendered.subject, where
                if item.purpose == "marketing":
                    assert values["unsubscribe_url"] in rendered.html, where
        session.rollback()  # the vouchers go with the (never committed) messages


def test_a_members_message_shows_tier_points_and_what_expires(
    sessions: sessionmaker[Session], customers: dict[str, int]
) -> None:
    templates = {s.key: s.template for s in library.shipped()}
    member = customers["member"]
    with sessions() as session:
        values = context.contexts(
            session,
            [member],
            needs=context.needs(templates["newsletter"]) | {"tier"},
            settings=SETTINGS,
            now=NOW,
            channel="email",
            purpose="marketing",
        )[member]
        assert values["tier"] == "Silver"
        assert values["points"] == 650  # 550 for the purchase, 100 for the first one
        assert values["expiring_points"] == 650
        assert values["expiring_on"] == "16. März 2028"
        text = render(templates["newsletter"], values, language="de").text
        assert "650 Punkte" in text
        assert "650 davon verfallen am 16. März 2028" in text
        birthday = context.contexts(
            session,
            [member],
            needs=frozenset({"voucher"}),
            settings=SETTINGS,
            now=NOW,
            channel="email",
            purpose="marketing",
            references={member: "birthday-test"},
            campaign_settings=journeys.settings_for("birthday"),
        )[member]
        assert birthday["voucher"]["value"] == "10,00\xa0€"
        assert birthday["voucher"]["valid_until"] == "4. April 2028"  # 30 days on
        session.rollback()
