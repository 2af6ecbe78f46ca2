"""The knowledge store's read use cases, on SQLite and on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from factories import at
from patron.customers import service
from patron.errors import NotFound, PatronError


def test_find_customer_by_external_id_then_by_number(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        anna = make.customer(session, external_id="K-100", name="Anna")
        make.customer(session, external_id=str(anna.id + 1000), name="Numbered")
    with sessions() as session:
        assert service.find_customer(session, key="K-100").name == "Anna"
        assert service.find_customer(session, key=f" {anna.id} ").name == "Anna"


def test_an_external_id_that_looks_like_a_number_wins(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = make.customer(session, name="First")
        make.customer(session, external_id=str(first.id), name="Owner of the number as id")
    with sessions() as session:
        found = service.find_customer(session, key=str(first.id))
    assert found.name == "Owner of the number as id"


@pytest.mark.parametrize("key", ["nobody", "999999", "99999999999999999999", "١٢"])
def test_unknown_key_is_not_found(sessions: sessionmaker[Session], key: str) -> None:
    with sessions() as session, pytest.raises(NotFound) as caught:
        service.find_customer(session, key=key)
    assert caught.value.code == "customers.not_found"
    assert caught.value.status == 404
    assert key in caught.value.message


def test_360_unknown_customer_is_not_found(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFound):
        service.customer_360(session, customer_id=12345)


def _shop(session: Session) -> int:
    """One customer with two orders, a return, interactions and consent history; plus noise."""
    anna = make.customer(session, external_id="K-1", name="Anna Berg", city="Bergen")
    other = make.customer(session, name="Other")
    tea = make.product(session, sku="TEA", name="Green tea")
    cup = make.product(session, sku="CUP", name="Cup")
    make.order(
        session,
        anna,
        external_id="O-1",
        placed_at=at(1),
        lines=[make.line(tea, quantity=2, unit_price="4.50"), make.line(cup, unit_price="12.00")],
    )
    late = make.order(
        session,
        anna,
        external_id="O-2",
        placed_at=at(30),
        lines=[
            make.line(cup, quantity=3, unit_price="12.00", discount="6.00"),
            make.line(None, unit_price="-1.25", kind="adjustment"),
        ],
    )
    make.order(session, other, lines=[make.line(tea)])
    make.order(session, None, lines=[make.line(tea)])
    make.return_(
        session, late.lines[0], quantity=Decimal(1), amount=Decimal("10.00"), reason="broken"
    )
    make.interaction(session, anna, kind="visit", occurred_at=at(2))
    make.interaction(session, anna, kind="price_watch", occurred_at=at(3), product_id=tea.id)
    make.interaction(session, other, kind="visit")
    make.consent(session, anna, channel="email", granted=True, recorded_at=at(0))
    make.consent(
        session, anna, channel="email", granted=False, source="unsubscribe", recorded_at=at(40)
    )
    make.consent(session, anna, channel="sms", granted=True, recorded_at=at(5))
    make.consent(session, other, channel="sms", granted=False, recorded_at=at(50))
    return anna.id


def test_360_holds_everything_about_one_customer(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        anna_id = _shop(session)
    with sessions() as session:
        view = service.customer_360(session, customer_id=anna_id)

    assert view.profile.external_id == "K-1"
    assert view.profile.city == "Bergen"
    assert [o.external_id for o in view.orders] == ["O-2", "O-1"]
    late, early = view.orders
    assert [(li.line_no, li.sku, li.product_name, li.amount) for li in early.lines] == [
        (1, "TEA", "Green tea", Decimal("9.0000")),
        (2, "CUP", "Cup", Decimal("12.0000")),
    ]
    assert early.total == Decimal("21.0000")
    assert late.total == Decimal("30.0000")  # the adjustment line is not revenue
    assert late.lines[1].kind == "adjustment"
    assert late.lines[1].product_name is None
    assert late.placed_at == at(30)

    (returned,) = view.returns
    assert (returned.product_name, returned.amount, returned.reason) == (
        "Cup",
        Decimal("10.0000"),
        "broken",
    )
    assert [(i.kind, i.product_name) for i in view.interactions] == [
        ("price_watch", "Green tea"),
        ("visit", None),
    ]


def test_consent_state_after_a_withdrawal(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        anna_id = _shop(session)
    with sessions() as session:
        state = service.consent_state(session, customer_id=anna_id)
        view = service.customer_360(session, customer_id=anna_id)

    assert [(c.channel, c.purpose, c.granted, c.source) for c in state] == [
        ("email", "marketing", False, "unsubscribe"),
        ("sms", "marketing", True, "test"),
    ]
    assert state[0].recorded_at == at(40)
    assert view.consent == state


def test_consent_events_at_the_same_instant_the_last_written_wins(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        person = make.customer(session)
        make.consent(session, person, granted=False, recorded_at=at(1))
        make.consent(session, person, granted=True, recorded_at=at(1))
        make.consent(session, person, purpose="surveys", granted=True, recorded_at=at(2))
        make.consent(session, person, purpose="surveys", granted=False, recorded_at=at(1))
    with sessions() as session:
        state = service.consent_state(session, customer_id=person.id)
    assert [(c.purpose, c.granted) for c in state] == [("marketing", True), ("surveys", True)]


def test_store_stats_counts_every_table(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert service.store_stats(session).model_dump() == dict.fromkeys(
            [
                "customers",
                "anonymous_sales",
                "orders",
                "order_lines",
                "returns",
                "products",
                "interactions",
                "consents",
            ],
            0,
        )
    with sessions.begin() as session:
        _shop(session)
    with sessions() as session:
        stats = service.store_stats(session)
    assert stats.model_dump() == {
        "customers": 2,
        "anonymous_sales": 1,
        "orders": 4,
        "order_lines": 6,
        "returns": 1,
        "products": 2,
        "interactions": 3,
        "consents": 4,
    }


def _people(session: Session) -> None:
    make.customer(
        session, external_id="B-2", name="Berit Hansen", email="berit@fjord.no", created_at=at(2)
    )
    make.customer(
        session, external_id="A-1", name="Anna Berg", email="anna@example.org", created_at=at(3)
    )
    make.customer(
        session, external_id="C-3", name="Anders Lie", email="lie@example.org", created_at=at(1)
    )
    make.customer(
        session, external_id="X_9", name=None, email="nameless@example.org", created_at=at(4)
    )
    make.customer(session, external_id=None, name="Zoe 100%", email=None, created_at=at(5))


def _names(session: Session, **options: object) -> list[str | None]:
    return [c.name for c in service.list_customers(session, **options).data]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("an", ["Anders Lie", "Anna Berg"]),  # name prefix, any case
        ("ANNA@", ["Anna Berg"]),  # e-mail prefix
        ("b-", ["Berit Hansen"]),  # external id prefix, any case
        ("  berit  ", ["Berit Hansen"]),  # surrounding blanks ignored
        ("berg", []),  # a word inside a name is not a prefix
        ("x_", [None]),  # "_" is a character, not a wildcard
        ("%", []),  # "%" is a character, not a wildcard
        ("zoe 100%", ["Zoe 100%"]),
        ("", ["Anders Lie", "Anna Berg", "Berit Hansen", "Zoe 100%", None]),
    ],
)
def test_search_is_a_case_insensitive_prefix_match(
    sessions: sessionmaker[Session], search: str, expected: list[str | None]
) -> None:
    with sessions.begin() as session:
        _people(session)
    with sessions() as session:
        assert _names(session, search=search) == expected
        assert service.list_customers(session, search=search).count == len(expected)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Anders Lie", "Anna Berg", "Berit Hansen", "Zoe 100%", None]),
        ("-name", ["Zoe 100%", "Berit Hansen", "Anna Berg", "Anders Lie", None]),
        ("external_id", ["Anna Berg", "Berit Hansen", "Anders Lie", None, "Zoe 100%"]),
        ("-external_id", [None, "Anders Lie", "Berit Hansen", "Anna Berg", "Zoe 100%"]),
        ("created_at", ["Anders Lie", "Berit Hansen", "Anna Berg", None, "Zoe 100%"]),
        ("-created_at", ["Zoe 100%", None, "Anna Berg", "Berit Hansen", "Anders Lie"]),
    ],
)
def test_sort_orders_with_empty_values_last(
    sessions: sessionmaker[Session], sort: str, expected: list[str | None]
) -> None:
    with sessions.begin() as session:
        _people(session)
    with sessions() as session:
        assert _names(session, sort=sort) == expected


def test_pages_cover_all_matches_without_overlap(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for _ in range(7):
            make.customer(session, name="Same Name")
        make.customer(session, name="Other")
    with sessions() as session:
        pages = [
            service.list_customers(session, search="same", page=page, per_page=3)
            for page in (1, 2, 3, 4)
        ]
    assert [page.count for page in pages] == [7, 7, 7, 7]
    assert [len(page.data) for page in pages] == [3, 3, 1, 0]
    ids = [c.id for page in pages for c in page.data]
    assert ids == sorted(ids)  # equal names fall back to the id, so pages are stable
    assert len(set(ids)) == 7


def test_bad_sort_and_page_are_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(PatronError) as caught:
            service.list_customers(session, sort="email")
        assert caught.value.code == "customers.invalid_sort"
        assert "-created_at" in caught.value.message
        for page, per_page in [
            (0, 50),
            (service.MAX_PAGE + 1, 50),
            (1, 0),
            (1, service.MAX_PER_PAGE + 1),
        ]:
            with pytest.raises(PatronError) as caught:
                service.list_customers(session, page=page, per_page=per_page)
            assert caught.value.code == "customers.invalid_page"
