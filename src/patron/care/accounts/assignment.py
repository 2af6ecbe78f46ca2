"""Key-account assignment: which account manager looks after which A-customer.

A-customers get a personal account manager (DOMAIN.md, key accounts). The rule, applied by
``plan`` in this order:

1. A manual assignment (a person decided it) is never changed, not even when the manager is
   inactive, over capacity or the customer is no longer A-class; it counts toward the
   manager's capacity.
2. A customer no longer A-class (``released``) loses a rule assignment.
3. An existing rule assignment stays while its manager is active, still serves the account's
   region and has room for it, so that accounts are not reshuffled on every run. When a
   manager has more rule accounts than room (capacity lowered), the accounts processed first
   stay.
4. Every other account goes to an active manager with free capacity who serves its region.
   A manager listing the region beats one who serves any region (an empty region list).
   Among equals, the manager with the fewest accounts wins, ties to the lowest user id; as
   each pick raises that manager's count, equal managers take accounts in turn (round-robin)
   and end up differing by at most one. An account nobody can take gets no manager.

Accounts are processed highest ``value`` (e.g. CLV) first, accounts without a value last, ties
by customer id, so scarce capacity goes to the most valuable customers, and the same input in
any order gives the same plan. Regions are compared case-insensitively.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """A key account to place, with its current assignment (if any)."""

    customer_id: int
    region: str | None
    manager_id: int | None = None
    manual: bool = False
    value: float | None = None


@dataclass(frozen=True)
class Manager:
    """An account manager: how many accounts at most, and which regions (empty: any)."""

    user_id: int
    capacity: int
    regions: Collection[str] = ()
    active: bool = True


@dataclass(frozen=True)
class Placement:
    """Who looks after one account after the plan (None: nobody could), and why."""

    customer_id: int
    manager_id: int | None
    reason: str


@dataclass(frozen=True)
class Plan:
    """Placements in processing order, and customers whose rule assignment is deleted.

    ``removals`` holds released customers with a rule assignment and customers whose rule
    assignment could not be kept nor replaced; a placement's manager replaces any other
    current assignment.
    """

    placements: tuple[Placement, ...]
    removals: tuple[int, ...]

    def manager_of(self, customer_id: int) -> int | None:
        """The planned manager of one placed customer (None when not placed or unassigned)."""
        return next((p.manager_id for p in self.placements if p.customer_id == customer_id), None)


def _norm(region: str | None) -> str | None:
    return None if region is None else region.strip().casefold()


def _serves(manager: Manager, region: str | None) -> bool:
    return not manager.regions or region in {_norm(r) for r in manager.regions}


def _order_key(account: Account) -> tuple[bool, float, int]:
    return (account.value is None, -(account.value or 0.0), account.customer_id)


def _check(accounts: list[Account], managers: Iterable[Manager]) -> dict[int, Manager]:
    by_id: dict[int, Manager] = {}
    for manager in managers:
        if manager.user_id in by_id:
            raise ValueError(f"manager {manager.user_id} is listed twice")
        if manager.capacity < 0:
            raise ValueError(f"manager {manager.user_id} has a negative capacity")
        by_id[manager.user_id] = manager
    seen: set[int] = set()
    for account in accounts:
        if account.customer_id in seen:
            raise ValueError(f"customer {account.customer_id} is listed twice")
        if account.value is not None and math.isnan(account.value):
            raise ValueError(f"customer {account.customer_id} has no comparable value (NaN)")
        seen.add(account.customer_id)
    return by_id


class _Planner:
    """The mutable state of one run: each manager's load and the decisions so far."""

    def __init__(self, managers: dict[int, Manager]) -> None:
        self.managers = managers
        self.load = dict.fromkeys(managers, 0)
        self.placed: dict[int, Placement] = {}
        self.removals: list[int] = []

    def place(self, account: Account, manager_id: int | None, reason: str) -> None:
        self.placed[account.customer_id] = Placement(account.customer_id, manager_id, reason)
        if manager_id in self.load:
            self.load[manager_id] += 1

    def has_room(self, manager: Manager) -> bool:
        return self.load[manager.user_id] < manager.capacity

    def keeps(self, account: Account) -> bool:
        manager = None if account.manager_id is None else self.managers.get(account.manager_id)
        return (
            manager is not None
            and manager.active
            and _serves(manager, _norm(account.region))
            and self.has_room(manager)
        )

    def choose(self, region: str | None) -> Manager | None:
        eligible = [
            m
            for m in self.managers.values()
            if m.active and _serves(m, region) and self.has_room(m)
        ]
        if not eligible:
            return None
        return min(eligible, key=lambda m: (not m.regions, self.load[m.user_id], m.user_id))

    def assign(self, account: Account) -> None:
        region = _norm(account.region)
        manager = self.choose(region)
        if manager is None:
            where = account.region if account.region is not None else "an unknown region"
            self.place(account, None, f"no manager with free capacity serves {where}")
            if account.manager_id is not None:
                self.removals.append(account.customer_id)
            return
        scope = f"serves {account.region}" if manager.regions else "serves any region"
        verb = "reassigned" if account.manager_id is not None else "assigned"
        self.place(account, manager.user_id, f"{verb}: {scope}, fewest accounts")


def plan(
    accounts: Iterable[Account], managers: Iterable[Manager], *, released: Iterable[int] = ()
) -> Plan:
    """Plan the assignments of key accounts to managers (see the module docstring).

    ``accounts`` are the A-customers plus every customer with a current assignment;
    ``released`` names those among them that are no longer A-class. A released id not among
    ``accounts`` has no known assignment and is ignored.
    """
    ordered = sorted(accounts, key=_order_key)
    planner = _Planner(_check(ordered, managers))
    gone = set(released)
    # manual assignments first: they take their capacity before any rule decision
    for account in ordered:
        if account.manual and account.manager_id is not None:
            note = ", no longer A-class" if account.customer_id in gone else ""
            planner.place(account, account.manager_id, f"manual assignment kept{note}")
    rest = [a for a in ordered if a.customer_id not in planner.placed]
    planner.removals.extend(
        a.customer_id for a in rest if a.customer_id in gone and a.manager_id is not None
    )
    rest = [a for a in rest if a.customer_id not in gone]
    for account in rest:
        if planner.keeps(account):
            planner.place(account, account.manager_id, "rule assignment kept")
    for account in rest:
        if account.customer_id not in planner.placed:
            planner.assign(account)
    placements = tuple(
        planner.placed[a.customer_id] for a in ordered if a.customer_id in planner.placed
    )
    return Plan(placements=placements, removals=tuple(sorted(planner.removals)))
