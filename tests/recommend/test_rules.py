"""The business rules, each on its own, over hand-built candidates and shop knowledge."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from patron.recommend.associations import neighbours, product_stats
from patron.recommend.baskets import Baskets
from patron.recommend.catalogue import Catalogue
from patron.recommend.model import Recommender
from patron.recommend.ranking import FEATURES, Candidates, Knowledge
from patron.recommend.rules import Rules, allowed, families, pick
from recommend.shops import catalogue, code, customer_code, pantry


def _shelf(*products: str, **attributes: object) -> Catalogue:
    return catalogue(np.array(products, dtype=object), **attributes)  # type: ignore[arg-type]


def _knowledge(shelf: Catalogue, repeat: dict[str, int] | None = None) -> Knowledge:
    """Every product bought by 100 customers, ``repeat`` of them again (none unless named):
    a repurchase rate of (repeat + 1) / 102."""
    n = len(shelf)
    codes = np.arange(n)
    history = Baskets(codes, codes, codes, np.zeros(n), codes.astype(object), shelf.products)
    stats = replace(
        product_stats(history),
        buyers=np.full(n, 100.0),
        repeat_buyers=np.array([(repeat or {}).get(str(p), 0) for p in shelf.products], float),
    )
    return Knowledge(stats, neighbours(history), shelf, popular=codes)


def _candidates(
    shelf: Catalogue,
    customers: int = 1,
    bought: dict[tuple[int, str], float] | None = None,
) -> Candidates:
    """Every product for each customer; ``bought`` maps (customer, product) to how due it is."""
    n = len(shelf)
    customer = np.repeat(np.arange(customers), n)
    product = np.tile(np.arange(n), customers)
    features = np.zeros((len(product), len(FEATURES)))
    for (who, sku), due in (bought or {}).items():
        row = who * n + int(np.flatnonzero(shelf.products == sku)[0])
        features[row, FEATURES.index("bought")] = 1.0
        features[row, FEATURES.index("due")] = due
    return Candidates(customer, product, features)


def _offered(shelf: Catalogue, found: Candidates, rules: Rules, customer: int = 0) -> list[str]:
    mask = allowed(found, _knowledge(shelf), rules) & (found.customer == customer)
    return [str(shelf.products[p]) for p in found.product[mask].tolist()]


def _picked(
    shelf: Catalogue, probability: list[float], rules: Rules | None = None, k: int = 10
) -> list[str]:
    found = _candidates(shelf)
    rows = pick(found, np.array(probability), _knowledge(shelf), rules or Rules(), k)
    return [str(shelf.products[p]) for p in found.product[rows].tolist()]


def test_inactive_products_are_never_offered() -> None:
    shelf = _shelf("GONE", "KEPT", "ALSO", inactive={"GONE"})
    assert _offered(shelf, _candidates(shelf), Rules()) == ["KEPT", "ALSO"]
    assert _picked(shelf, [0.9, 0.5, 0.1]) == ["KEPT", "ALSO"]  # even as the likeliest


def test_the_margin_floor_keeps_unknown_margins() -> None:
    shelf = _shelf(
        "THIN",
        "EVEN",
        "FAT",
        "UNKNOWN",
        price={"THIN": 10.0, "EVEN": 10.0, "FAT": 10.0},
        cost={"THIN": 9.0, "EVEN": 7.0, "FAT": 4.0},
    )
    # margins (price - cost) / price: THIN 0.1, EVEN 0.3, FAT 0.6, UNKNOWN no cost or price
    assert _offered(shelf, _candidates(shelf), Rules(margin_floor=0.3)) == [
        "EVEN",
        "FAT",
        "UNKNOWN",
    ]
    assert len(_offered(shelf, _candidates(shelf), Rules())) == 4  # no floor, no filter


def test_the_blocklist_is_per_customer() -> None:
    shelf = _shelf("JAM", "TEA", "MUG")
    found = _candidates(shelf, customers=2)
    rules = Rules(blocked={1: frozenset({0, 2})})  # customer 1 blocked JAM (0) and MUG (2)
    assert _offered(shelf, found, rules, customer=0) == ["JAM", "TEA", "MUG"]
    assert _offered(shelf, found, rules, customer=1) == ["TEA"]


def test_at_most_per_category_products_of_one_category() -> None:
    mugs = {f"MUG{i}": "Mugs" for i in range(1, 6)}
    shelf = _shelf("MUG1", "MUG2", "MUG3", "MUG4", "MUG5", "TEA", "X", "Y", category=mugs)
    probability = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert _picked(shelf, probability) == ["MUG1", "MUG2", "MUG3", "TEA", "X", "Y"]
    assert _picked(shelf, probability, Rules(per_category=1)) == ["MUG1", "TEA", "X", "Y"]
    # products of no known category are not limited
    plain = _shelf("MUG1", "MUG2", "MUG3", "MUG4")
    assert _picked(plain, [0.9, 0.8, 0.7, 0.6]) == ["MUG1", "MUG2", "MUG3", "MUG4"]


def test_variant_families() -> None:
    family = families(
        np.array(["85123A", "85123B", "SHIRT-M", "SHIRT-L", "ABC", "ABD", "85123"], dtype=object)
    )
    assert family[0] == family[1] == family[6]  # differ only in trailing letters
    assert family[2] == family[3]
    assert family[4] != family[5]  # nothing but letters: two products, not variants
    assert len({family[0], family[2], family[4], family[5]}) == 4


def test_one_sku_per_variant_family_the_likeliest() -> None:
    shelf = _shelf("85123A", "85123B", "SHIRT-L", "SHIRT-M", "ABC", "ABD")
    picked = _picked(shelf, [0.2, 0.9, 0.8, 0.3, 0.7, 0.6])
    assert picked == ["85123B", "SHIRT-L", "ABC", "ABD"]


def test_pick_ranks_each_customer_separately_and_stops_at_k() -> None:
    shelf = _shelf("A1", "B1", "C1", "D1")
    found = _candidates(shelf, customers=2)
    probability = np.array([0.1, 0.4, 0.3, 0.2, 0.5, 0.5, 0.1, 0.9])
    rows = pick(found, probability, _knowledge(shelf), Rules(), 3)
    chosen = [
        (int(c), str(shelf.products[p]))
        for c, p in zip(found.customer[rows], found.product[rows], strict=True)
    ]
    # customer 0: B1 .4, C1 .3, D1 .2 (A1 .1 is fourth);  customer 1: D1 .9, then A1 and B1
    # tie at .5 (lower code first)
    assert chosen == [(0, "B1"), (0, "C1"), (0, "D1"), (1, "D1"), (1, "A1"), (1, "B1")]


@pytest.mark.parametrize(
    ("rules", "due", "offered"),
    [
        (Rules(), 0.0, True),  # flagged replenishable; due from 0 of its interval on
        (Rules(due_from=1.0), 0.8, False),  # not yet: 80 % of its interval since
        (Rules(due_from=1.0), 1.0, True),
        (Rules(due_from=1.0), 2.5, True),
    ],
)
def test_a_replenishable_product_comes_back_when_due(
    rules: Rules, due: float, offered: bool
) -> None:
    shelf = _shelf("COFFEE", "TEA", replenishable={"COFFEE"})
    found = _candidates(shelf, bought={(0, "COFFEE"): due})
    assert ("COFFEE" in _offered(shelf, found, rules)) is offered


def test_a_bought_product_comes_back_only_when_bought_again_as_a_rule() -> None:
    shelf = _shelf("SOFA", "SOAP", "TEA")
    found = _candidates(shelf, bought={(0, "SOFA"): 3.0, (0, "SOAP"): 3.0})
    knowledge = _knowledge(shelf, repeat={"SOAP": 20})
    # repurchase rates: SOFA (0 + 1) / 102 ≈ 0.01, SOAP (20 + 1) / 102 ≈ 0.21; neither flagged
    mask = allowed(found, knowledge, Rules(replenish_rate=0.1))
    assert [str(shelf.products[p]) for p in found.product[mask]] == ["SOAP", "TEA"]
    mask = allowed(found, knowledge, Rules(replenish_rate=0.25))
    assert [str(shelf.products[p]) for p in found.product[mask]] == ["TEA"]


def test_a_product_nobody_bought_again_is_not_offered_again() -> None:
    """The setting promises: "offered again when at least this share of its buyers bought it
    again". Three buyers, none of them twice: a share of 0, below any positive threshold."""
    shelf = _shelf("SOFA", "TEA")
    knowledge = _knowledge(shelf)
    knowledge = replace(
        knowledge,
        stats=replace(knowledge.stats, buyers=np.array([3.0, 3.0]), repeat_buyers=np.zeros(2)),
    )
    found = _candidates(shelf, bought={(0, "SOFA"): 3.0})
    mask = allowed(found, knowledge, Rules(replenish_rate=0.1))
    assert [str(shelf.products[p]) for p in found.product[mask]] == ["TEA"]


def test_the_partner_kind_offers_only_partner_products() -> None:
    shelf = _shelf(
        "OWN",
        "TABS",
        "RINSE",
        "OLD",
        partner={"TABS": "G", "RINSE": "G", "OLD": "G"},
        inactive={"OLD"},
    )
    assert _offered(shelf, _candidates(shelf), Rules(kind="partner")) == ["TABS", "RINSE"]
    assert Rules(kind="partner").extra_candidates(shelf).tolist() == [1, 2]  # active partners
    assert Rules().extra_candidates(shelf) is None
    assert _offered(shelf, _candidates(shelf), Rules()) == ["OWN", "TABS", "RINSE"]


def test_partner_offers_include_partner_products_nobody_bought_yet() -> None:
    bought, shelf = pantry()
    model = Recommender().fit(bought, shelf)
    x = customer_code(bought, "x")
    now = np.array([bought.time.max() + 5.0])
    offers = model.recommend(bought, np.array([x]), now, rules=Rules(kind="partner"))[x]
    assert sorted(str(bought.products[r.product]) for r in offers) == ["RINSE", "TABS"]
    assert code(bought, "TABS") not in set(bought.product.tolist())  # nobody bought the tabs
    cross = model.recommend(bought, np.array([x]), now)[x]
    assert {str(bought.products[r.product]) for r in cross} >= {"SAUCE"}
