"""Key-account assignment: manual kept, capacity, regions, round-robin, stability, release."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.care.accounts.assignment import Account, Manager, Placement, Plan, plan

REGIONS = ("DE", "NO", "AT")


def loads(result: Plan) -> Counter[int]:
    return Counter(p.manager_id for p in result.placements if p.manager_id is not None)


def rerun(accounts: list[Account], result: Plan) -> list[Account]:
    """The accounts as the store holds them after the plan was carried out."""
    manual = {a.customer_id for a in accounts if a.manual and a.manager_id is not None}
    by_id = {a.customer_id: a for a in accounts}
    return [
        Account(
            customer_id=p.customer_id,
            region=by_id[p.customer_id].region,
            manager_id=p.manager_id,
            manual=p.customer_id in manual,
            value=by_id[p.customer_id].value,
        )
        for p in result.placements
    ]


def test_new_accounts_go_to_the_least_loaded_manager() -> None:
    result = plan(
        [Account(1, "DE"), Account(2, "DE")],
        [Manager(10, capacity=5), Manager(11, capacity=5)],
    )
    assert result.placements == (
        Placement(1, 10, "assigned: serves any region, fewest accounts"),
        Placement(2, 11, "assigned: serves any region, fewest accounts"),
    )
    assert result.removals == ()


def test_manual_assignments_are_kept_and_count_toward_capacity() -> None:
    accounts = [
        Account(1, "DE", manager_id=10, manual=True),
        Account(2, "NO", manager_id=12, manual=True),  # inactive manager, other region
        Account(3, "DE"),
        Account(4, "DE"),
    ]
    managers = [Manager(10, capacity=2), Manager(11, capacity=1), Manager(12, 0, active=False)]
    result = plan(accounts, managers)
    assert result.manager_of(1) == 10
    assert result.manager_of(2) == 12
    assert result.placements[0].reason == "manual assignment kept"
    assert loads(result) == {10: 2, 11: 1, 12: 1}


def test_a_regional_manager_beats_an_any_region_manager() -> None:
    managers = [Manager(1, capacity=10), Manager(2, capacity=1, regions=["de", "AT"])]
    result = plan([Account(7, "DE"), Account(8, "DE"), Account(9, "NO")], managers)
    assert result.manager_of(7) == 2  # regional, although it is not less loaded
    assert result.placements[0].reason == "assigned: serves DE, fewest accounts"
    assert result.manager_of(8) == 1  # the regional manager is full
    assert result.manager_of(9) == 1  # manager 2 does not serve NO


def test_round_robin_among_equal_managers() -> None:
    managers = [Manager(m, capacity=10, regions=["DE"]) for m in (3, 1, 2)]
    result = plan([Account(c, "DE") for c in range(10)], managers)
    assert [p.manager_id for p in result.placements] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    assert sorted(loads(result).values()) == [3, 3, 4]


@given(
    n_managers=st.integers(1, 6),
    n_accounts=st.integers(0, 40),
    preloaded=st.integers(0, 3),
)
def test_equal_managers_differ_by_at_most_one(
    n_managers: int, n_accounts: int, preloaded: int
) -> None:
    managers = [Manager(m, capacity=100, regions=["NO"]) for m in range(n_managers)]
    # the same number of manual accounts each, so that they start equal
    manual = [
        Account(1000 + m * 10 + k, "NO", manager_id=m, manual=True)
        for m in range(n_managers)
        for k in range(preloaded)
    ]
    result = plan(manual + [Account(c, "NO") for c in range(n_accounts)], managers)
    counts = [loads(result)[m] for m in range(n_managers)]
    assert max(counts) - min(counts) <= 1


def test_existing_rule_assignments_stay() -> None:
    # manager 2 is less loaded, but moving account 1 there would only reshuffle
    accounts = [Account(1, "DE", manager_id=1), Account(2, "DE", manager_id=1)]
    result = plan(accounts, [Manager(1, capacity=5), Manager(2, capacity=5)])
    assert [p.manager_id for p in result.placements] == [1, 1]
    assert {p.reason for p in result.placements} == {"rule assignment kept"}


@pytest.mark.parametrize(
    "current",
    [
        Manager(1, capacity=5, active=False),
        Manager(1, capacity=5, regions=["NO"]),
        Manager(1, capacity=0),
    ],
    ids=["inactive", "region dropped", "no capacity"],
)
def test_rule_assignments_move_when_the_manager_no_longer_fits(current: Manager) -> None:
    result = plan([Account(1, "DE", manager_id=1)], [current, Manager(2, capacity=5)])
    assert result.manager_of(1) == 2
    assert result.placements[0].reason.startswith("reassigned")


def test_lowered_capacity_keeps_the_most_valuable_accounts() -> None:
    accounts = [Account(c, "DE", manager_id=1, value=float(c)) for c in range(1, 5)]
    result = plan(accounts, [Manager(1, capacity=2), Manager(2, capacity=5)])
    assert {c: result.manager_of(c) for c in range(1, 5)} == {4: 1, 3: 1, 2: 2, 1: 2}


def test_scarce_capacity_goes_to_the_highest_value_first() -> None:
    accounts = [Account(1, "DE"), Account(2, "DE", value=50.0), Account(3, "DE", value=900.0)]
    result = plan(accounts, [Manager(1, capacity=2)])
    assert [p.customer_id for p in result.placements] == [3, 2, 1]
    assert [p.manager_id for p in result.placements] == [1, 1, None]


def test_an_account_nobody_can_take_gets_no_manager() -> None:
    managers = [Manager(1, capacity=5, regions=["NO"]), Manager(2, capacity=5, active=False)]
    result = plan([Account(1, "DE"), Account(2, "DE", manager_id=2), Account(3, None)], managers)
    assert result.placements == (
        Placement(1, None, "no manager with free capacity serves DE"),
        Placement(2, None, "no manager with free capacity serves DE"),
        Placement(3, None, "no manager with free capacity serves an unknown region"),
    )
    assert result.removals == (2,)  # its rule assignment to the inactive manager goes


def test_released_accounts_lose_rule_assignments_but_keep_manual_ones() -> None:
    accounts = [
        Account(1, "DE", manager_id=1),
        Account(2, "DE", manager_id=1, manual=True),
        Account(3, "DE"),  # released, never assigned: nothing to do
        Account(4, "DE"),
    ]
    result = plan(accounts, [Manager(1, capacity=2)], released=[1, 2, 3, 99])
    assert result.removals == (1,)
    assert result.placements == (
        Placement(2, 1, "manual assignment kept, no longer A-class"),
        Placement(4, 1, "assigned: serves any region, fewest accounts"),
    )


@pytest.mark.parametrize(
    ("accounts", "managers"),
    [
        ([Account(1, "DE"), Account(1, "NO")], [Manager(1, 1)]),
        ([Account(1, "DE")], [Manager(1, 1), Manager(1, 2)]),
        ([Account(1, "DE")], [Manager(1, -1)]),
        ([Account(1, "DE", value=float("nan"))], [Manager(1, 1)]),
    ],
)
def test_bad_input_is_rejected(accounts: list[Account], managers: list[Manager]) -> None:
    with pytest.raises(ValueError, match=r"twice|negative|NaN"):
        plan(accounts, managers)


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[Account], list[Manager], list[int]]:
    manager_ids = draw(st.lists(st.integers(1, 8), unique=True, max_size=5))
    managers = [
        Manager(
            user_id=m,
            capacity=draw(st.integers(0, 6)),
            regions=draw(st.lists(st.sampled_from(REGIONS), unique=True, max_size=2)),
            active=draw(st.booleans()),
        )
        for m in manager_ids
    ]
    customer_ids = draw(st.lists(st.integers(1, 60), unique=True, max_size=30))
    accounts = [
        Account(
            customer_id=c,
            region=draw(st.sampled_from((*REGIONS, None))),
            manager_id=draw(st.sampled_from((None, 99, *manager_ids))),
            manual=draw(st.booleans()),
            value=draw(st.none() | st.floats(0, 1e6)),
        )
        for c in customer_ids
    ]
    released = draw(st.lists(st.sampled_from(customer_ids), unique=True)) if customer_ids else []
    return accounts, managers, released


@settings(max_examples=300)
@given(situations())
def test_rule_assignments_never_exceed_capacity(
    situation: tuple[list[Account], list[Manager], list[int]],
) -> None:
    accounts, managers, released = situation
    result = plan(accounts, managers, released=released)
    manual = Counter(a.manager_id for a in accounts if a.manual and a.manager_id is not None)
    total = loads(result)
    for manager in managers:
        by_rule = total[manager.user_id] - manual[manager.user_id]
        assert by_rule <= max(0, manager.capacity - manual[manager.user_id])
        if not manager.active:
            assert by_rule == 0


@settings(max_examples=300)
@given(situations())
def test_manual_kept_released_removed_and_regions_served(
    situation: tuple[list[Account], list[Manager], list[int]],
) -> None:
    accounts, managers, released = situation
    result = plan(accounts, managers, released=released)
    by_id = {m.user_id: m for m in managers}
    placed = {p.customer_id: p.manager_id for p in result.placements}
    for account in accounts:
        if account.manual and account.manager_id is not None:
            assert placed[account.customer_id] == account.manager_id
        elif account.customer_id in released:
            assert account.customer_id not in placed
            assert (account.customer_id in result.removals) == (account.manager_id is not None)
        elif placed[account.customer_id] is not None:
            manager = by_id[placed[account.customer_id]]  # type: ignore[index]
            assert manager.active
            assert not manager.regions or account.region in manager.regions


@settings(max_examples=300)
@given(situations())
def test_rerunning_the_plan_on_its_result_changes_nothing(
    situation: tuple[list[Account], list[Manager], list[int]],
) -> None:
    accounts, managers, released = situation
    first = plan(accounts, managers, released=released)
    second = plan(rerun(accounts, first), managers)
    assert [(p.customer_id, p.manager_id) for p in second.placements] == [
        (p.customer_id, p.manager_id) for p in first.placements
    ]
    assert second.removals == ()
    assert all("kept" in p.reason or p.manager_id is None for p in second.placements), (
        second.placements
    )


@settings(max_examples=100)
@given(situations(), st.randoms(use_true_random=False))
def test_same_input_in_any_order_gives_the_same_plan(
    situation: tuple[list[Account], list[Manager], list[int]], rnd: random.Random
) -> None:
    accounts, managers, released = situation
    expected = plan(accounts, managers, released=released)
    shuffled_accounts, shuffled_managers = accounts[:], managers[:]
    rnd.shuffle(shuffled_accounts)
    rnd.shuffle(shuffled_managers)
    assert plan(shuffled_accounts, shuffled_managers, released=reversed(released)) == expected
