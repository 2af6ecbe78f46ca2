"""Personal contexts in bulk: a flat number of queries however many customers, loyalty figures
equal to the ledger's, vouchers issued once per reference, and the words of a greeting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from loyalty.shop import T0, demo_document, purchase
from patron.config import Settings
from patron.engage import context, links
from patron.engage.rendering import Template, TemplateProblem
from patron.loyalty import reading, service, setup
from patron.loyalty.models import Voucher
from patron.loyalty.programme import read_spec
from patron.loyalty.schemas import RedeemIn, ReturnIn
from patron.loyalty.service import IdempotencyMismatch

SETTINGS = Settings(_env_file=None, shop_name="Kaffeehaus Berg", currency="EUR")  # type: ignore[call-arg]
NOW = T0 + timedelta(days=14 + 730 - 10)  # ten days before the first points expire
EVERYTHING_CHEAP = frozenset(
    {"customer", "salutation", "shop", "unsubscribe_url", *context.LOYALTY, "event"}
)


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _club(session: Session) -> None:
    setup.set_up(session, spec=read_spec(demo_document()), actor="test", now=T0)


def _buy(session: Session, customer: str, order: str, amount: str, at: Any) -> None:
    service.record_purchase(
        session,
        programme_code="club",
        key=f"{customer}:{order}",
        purchase=purchase(customer, order, amount),
        actor=None,
        now=at,
    )


def _contexts(session: Session, ids: list[int], **kw: Any) -> dict[int, dict[str, Any]]:
    values: dict[str, Any] = {
        "needs": EVERYTHING_CHEAP,
        "settings": SETTINGS,
        "now": NOW,
        "channel": "email",
        "purpose": "marketing",
    }
    return context.contexts(session, ids, **(values | kw))


def test_the_number_of_queries_does_not_grow_with_the_audience(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        ids = [make.customer(session, external_id=f"K{i}", language="de").id for i in range(200)]
    with sessions() as session:
        _club(session)
        for i in range(0, 200, 7):  # every seventh is a member
            _buy(session, f"K{i}", f"K{i}-1", "120.00", T0)
    with sessions() as session:
        with counted(engine) as small:
            few = _contexts(session, ids[:10])
        session.rollback()
        with counted(engine) as large:
            many = _contexts(session, ids)
    assert len(few) == 10
    assert len(many) == 200
    assert len(large) == len(small) <= 4
    members = [c for c in ids if many[c]["tier"] is not None]
    assert len(members) == len(range(0, 200, 7))
    assert many[members[0]]["points"] == 220


def test_a_members_summary_equals_the_ledgers_balance(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        member = make.customer(session, external_id="M1", name="Anna Berg").id
        make.customer(session, external_id="X1")
    with sessions() as session:
        _club(session)
        _buy(session, "M1", "O1", "800.00", T0)  # 900 points: vested, expire in ten days
        service.redeem(
            session,
            programme_code="club",
            key="M1:r",
            request=RedeemIn(customer="M1", reward="voucher-5"),
            actor=None,
            now=T0 + timedelta(days=30),
        )
        _buy(session, "M1", "O2", "300.00", NOW - timedelta(days=3))  # still pending
        _buy(session, "M1", "O3", "100.00", NOW - timedelta(days=2))
        service.record_return(
            session,
            programme_code="club",
            key="M1:ret",
            returned=ReturnIn(customer="M1", order="O3", share=Decimal(1)),
            actor=None,
            now=NOW - timedelta(days=1),
        )
    with sessions() as session:
        found = reading.summaries(
            session, [member, member + 1, 999], now=NOW, within=reading.EXPIRING_WITHIN
        )
        assert list(found) == [member]
        summary = found[member]
        ledger = reading.balance(session, programme_code="club", customer="M1", now=NOW)
        assert (summary.balance, summary.available, summary.pending) == (
            ledger.balance,
            ledger.available,
            ledger.pending,
        )
        assert summary.expiring_points == sum(e["points"] for e in ledger.expiring) == 400
        assert summary.expiring_on == date.fromisoformat(ledger.expiring[0]["date"])
        assert (summary.tier, summary.tier_name) == (ledger.tier.code, ledger.tier.name)  # type: ignore[union-attr]
        assert reading.summaries(session, [member], now=NOW, programme_code="club")
        assert reading.summaries(session, [], now=NOW) == {}


def test_without_a_programme_nobody_is_a_member(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        someone = make.customer(session).id
    with sessions() as session:
        values = _contexts(session, [someone])[someone]
        assert {name: values[name] for name in context.LOYALTY} == dict.fromkeys(context.LOYALTY)


def test_who_the_customer_is_in_their_language(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, name="Dr. Anna Berg", language="de-AT").id
        kari = make.customer(session, name="Nordmann, Kari", language="nb").id
        firm = make.customer(session, name="Acme GmbH", kind="organisation", language="de").id
        nameless = make.customer(session, name=None, language="fr").id
    with sessions() as session:
        found = _contexts(session, [anna, kari, firm, nameless, 123456])
        assert set(found) == {anna, kari, firm, nameless}
        assert found[anna]["customer"]["first_name"] == "Anna"
        assert found[anna]["customer"]["language"] == "de"
        assert found[anna]["salutation"] == "Hallo Anna"
        assert found[kari]["salutation"] == "Hei Kari"
        assert found[firm]["customer"]["first_name"] is None
        assert found[firm]["salutation"] == "Guten Tag"
        assert found[nameless]["salutation"] == "Hello"  # French is not written: the default
        assert found[anna]["shop"] == {
            "name": "Kaffeehaus Berg",
            "url": SETTINGS.public_url,
            "currency": "EUR",
        }
        link = found[kari]["unsubscribe_url"]
        token = link.rsplit("/", 1)[1]
        assert links.read_unsubscribe(SETTINGS.secret_key, token) == (kari, "email")
        sms = _contexts(session, [kari], channel="sms")[kari]["unsubscribe_url"]
        assert links.read_unsubscribe(SETTINGS.secret_key, sms.rsplit("/", 1)[1]) == (kari, "sms")
        service_mail = _contexts(session, [kari], purpose="transactional")[kari]
        assert "unsubscribe_url" not in service_mail
        german_only = _contexts(session, [kari], languages=("de",))[kari]
        assert german_only["salutation"] == "Hallo Kari"
        event = _contexts(
            session,
            [kari],
            campaign_settings={"event_name": "Kaffeemesse", "event_date": "2026-09-17"},
        )[kari]["event"]
        assert event == {
            "name": "Kaffeemesse",
            "date": "17. september 2026",
            "place": "",
            "capacity": None,
        }


def test_unsubscribe_links_are_those_of_the_links_module(sessions: sessionmaker[Session]) -> None:
    """Contexts sign the links in bulk; they must be the very links ``links`` makes (the
    worker rebuilds the List-Unsubscribe header with it)."""
    with sessions.begin() as session:
        ids = [make.customer(session).id for _ in range(40)]
    secret = "another-secret-of-this-shop"
    settings = Settings(_env_file=None, secret_key=secret, public_url="https://shop.example/")  # type: ignore[call-arg]
    with sessions() as session:
        for channel in ("email", "sms", "push"):
            found = _contexts(session, ids, settings=settings, channel=channel)
            for customer_id in ids:
                assert found[customer_id]["unsubscribe_url"] == links.unsubscribe_url(
                    "https://shop.example", secret, customer_id, channel
                )


def test_recommendations_are_read_only_when_the_template_shows_them(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        someone = make.customer(session).id
    with sessions() as session:
        plain = _contexts(session, [someone])[someone]
        assert "recommended" not in plain
        assert "voucher" not in plain
        shown = _contexts(session, [someone], needs=frozenset({"recommended"}))[someone]
        assert shown["recommended"] == []  # no fit yet: an empty block, not an error


def test_a_voucher_is_issued_once_per_reference_and_only_with_the_message(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="A1", language="de").id
        ben = make.customer(session, external_id="B1", language="en").id
    offer = {"voucher_value": "10.00", "valid_days": 30}
    needs = frozenset({"voucher"})
    references = {anna: "c7:A1:birthday:2028", ben: "c7:B1:birthday:2028"}
    with sessions() as session:
        _club(session)
    with sessions() as session:
        first = _contexts(
            session, [anna, ben], needs=needs, references=references, campaign_settings=offer
        )
        assert first[anna]["voucher"]["value"] == "10,00\xa0€"
        assert first[ben]["voucher"]["value"] == "€10.00"
        session.rollback()  # the run failed: no voucher stays behind
        assert session.scalar(select(func.count()).select_from(Voucher)) == 0
        first = _contexts(
            session, [anna, ben], needs=needs, references=references, campaign_settings=offer
        )
        session.commit()
        again = _contexts(
            session, [anna], needs=needs, references=references, campaign_settings=offer
        )
        assert again[anna]["voucher"] == first[anna]["voucher"]
        assert session.scalar(select(func.count()).select_from(Voucher)) == 2
        other = _contexts(
            session,
            [anna],
            needs=needs,
            references={anna: "c7:A1:birthday:2029"},
            campaign_settings=offer,
        )
        assert other[anna]["voucher"]["code"] != first[anna]["voucher"]["code"]
        session.commit()
        voucher = session.scalar(
            select(Voucher).where(Voucher.code == first[anna]["voucher"]["code"])
        )
        assert voucher is not None
        assert (voucher.value, voucher.max_uses, voucher.uses) == (Decimal("10.0000"), 1, 0)
        assert voucher.valid_until == NOW + timedelta(days=30)
        owner = reading.vouchers_of(session, programme_code="club", customer="A1")
        assert {v.code for v in owner} == {
            first[anna]["voucher"]["code"],
            other[anna]["voucher"]["code"],
        }
        with pytest.raises(IdempotencyMismatch):
            service.issue_voucher(
                session,
                customer_id=anna,
                value=Decimal("25.00"),
                valid_days=30,
                reference="c7:A1:birthday:2028",
                now=NOW,
            )
        session.rollback()
        none = _contexts(session, [anna], needs=needs, campaign_settings={"voucher_value": None})
        assert none[anna]["voucher"] is None
        with pytest.raises(context.NoVoucher):
            _contexts(session, [anna], needs=needs, campaign_settings=offer)


def test_two_runs_at_once_issue_one_voucher_for_a_reference(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing runs at once there")
    with sessions.begin() as session:
        customer = make.customer(session).id
    with sessions() as session:
        _club(session)
    first, second = sessions(), sessions()
    issued = service.issue_voucher(
        first, customer_id=customer, value=Decimal(5), valid_days=10, reference="race", now=NOW
    )
    answers: list[str] = []

    def other_run() -> None:
        voucher = service.issue_voucher(
            second, customer_id=customer, value=Decimal(5), valid_days=10, reference="race", now=NOW
        )
        answers.append(voucher.code)
        second.commit()

    racing = threading.Thread(target=other_run)
    racing.start()
    racing.join(timeout=1.0)
    assert racing.is_alive()  # it waits for the first transaction to end
    first.commit()
    racing.join(timeout=10)
    assert answers == [issued.code]
    with sessions() as session:
        assert session.scalars(select(Voucher.code)).all() == [issued.code]
    first.close()
    second.close()


def test_words_of_a_message() -> None:
    assert context.first_name("Anna Berg") == "Anna"
    assert context.first_name("Prof. Dr. Hans-Peter Müller") == "Hans-Peter"
    assert context.first_name("Frau Anna Berg") == "Anna"
    assert context.first_name("Berg, Anna") == "Anna"
    assert context.first_name("  ") is None
    assert context.first_name(None) is None
    assert context.salutation("nb", None) == "Hei"
    assert context.salutation("xx", "Anna") == "Hi Anna"
    footer = context.footer("de", "Berg & Söhne", "https://shop.example/u/abc?x=1&y=2")
    assert "Berg &amp; Söhne" in footer
    assert 'href="https://shop.example/u/abc?x=1&amp;y=2"' in footer
    assert "abmelden" in footer
    assert "melde deg av" in context.footer("nb", "Butikk", "https://x/u/1")
    values = {"order": {"date": date(2026, 3, 2), "total": Decimal("12.5")}, "n": [Decimal(1)]}
    assert context.localise(values, language="de", currency="EUR") == {
        "order": {"date": "2. März 2026", "total": "12,50\xa0€"},
        "n": ["1,00\xa0€"],
    }
    assert context.localise({"d": date(2026, 3, 2)}, language="en", currency="NOK") == {
        "d": "2 March 2026"
    }


def test_needs_names_the_variables_of_every_language() -> None:
    template = Template(
        "t",
        {"de": "Hallo {{ customer.first_name }}", "en": "Hi"},
        {"de": "{% for x in recommended %}{{ x.name }}{% endfor %}", "en": "{{ voucher.code }}"},
    )
    assert context.needs(template) == {"customer", "recommended", "voucher"}
    broken = Template("broken", {"de": "{{ oops"}, {"de": "x"})
    with pytest.raises(TemplateProblem, match="broken"):
        context.needs(broken)
