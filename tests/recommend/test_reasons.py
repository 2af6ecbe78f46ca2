"""Why a product is offered: the reason's code, figures and words on the corner shop."""

from __future__ import annotations

import numpy as np
import pytest

from patron.recommend import reasons as why
from patron.recommend.baskets import Baskets
from patron.recommend.catalogue import plain
from patron.recommend.model import Recommendation, Recommender
from recommend.shops import baskets, customer_code, pantry

NOW = 65.0  # the pantry's last basket is on day 56


@pytest.fixture(scope="module")
def shop() -> tuple[Baskets, Recommender]:
    bought, shelf = pantry()
    return bought, Recommender().fit(bought, shelf)


def _offers(shop: tuple[Baskets, Recommender], who: str, now: float = NOW) -> dict[str, why.Reason]:
    bought, model = shop
    customer = customer_code(bought, who)
    offers = model.recommend(bought, np.array([customer]), np.array([now]))[customer]
    return {str(bought.products[offer.product]): offer.reason for offer in offers}


def test_sauce_for_a_pasta_buyer_is_bought_together_with_the_pasta(
    shop: tuple[Baskets, Recommender],
) -> None:
    reason = _offers(shop, "x")["SAUCE"]
    # buyers of PASTA: p1, p2, p3, x = 4; of them p1, p2, p3 bought SAUCE too: 3 / 4 = 75 %
    assert reason.code == "bought_together"
    assert reason.figures == {"product": "PASTA", "name": "Spaghetti 500 g", "percent": 75}
    assert reason.text == "Bought together with Spaghetti 500 g by 75 % of its buyers"


def test_another_work_of_the_authors_is_by_the_same_creator(
    shop: tuple[Baskets, Recommender],
) -> None:
    reason = _offers(shop, "y")["A-BOOK-2"]  # nobody read both books: no association
    assert reason.code == "same_creator"
    assert reason.figures == {"product": "A-BOOK-1", "name": "First Novel", "creator": "Ann Author"}
    assert reason.text == "By Ann Author, like First Novel"


def test_a_due_consumable_is_a_reorder(shop: tuple[Baskets, Recommender]) -> None:
    reason = _offers(shop, "z")["COFFEE"]
    # coffee: c1 on 0, 14, 28, 42, 56 (span 56, 4 gaps); c2 on 3, 24, 45 (42, 2); z on 20, 41
    # (21, 1): (56 + 42 + 21 + 30) / (4 + 2 + 1 + 1) = 149 / 8 = 18.6 days; z's last: 65 - 41
    assert reason.code == "reorder_due"
    assert reason.figures == {"interval_days": 19, "days_since": 24}
    assert reason.text == "Bought again about every 19 days; last bought 24 days ago"


def test_bought_together_only_when_well_above_chance() -> None:
    # everybody buys bread: that jam buyers do too says nothing about jam
    shop = baskets(
        *[(f"b{i}", i, float(i), "BREAD") for i in range(1, 4)],
        *[(f"j{i}", 10 + i, float(i), "BREAD JAM") for i in range(1, 4)],
        *[(f"b{i}", 20 + i, 20.0 + i, "BREAD") for i in range(1, 4)],
        *[(f"j{i}", 30 + i, 20.0 + i, "JAM BREAD") for i in range(1, 4)],
        ("q", 40, 21.5, "JAM"),
    )
    model = Recommender().fit(shop, plain(shop.products))
    q = customer_code(shop, "q")
    offers = model.recommend(shop, np.array([q]), np.array([30.0]))[q]
    bread = next(offer for offer in offers if shop.products[offer.product] == "BREAD")
    # of JAM's 4 buyers 3 bought BREAD (75 %), but 6 of all 7 customers buy bread (86 %):
    # a lift of 0.875, below 1.5
    assert bread.reason.code == "popular_now"
    # BREAD in the 30 days before day 23 + 1e-6 (the fit's moment): baskets on days 1-3, 21-23
    assert bread.reason.figures == {"orders": 12, "days": 30}


def test_the_reason_texts() -> None:
    assert (
        why.bought_together("Pasta", "P1", 0.38).text
        == "Bought together with Pasta by 38 % of its buyers"
    )
    assert why.popular_now(120).text == "Selling well now: 120 orders in the last 30 days"
    assert why.reorder_due(29.6, 41.2).figures == {"interval_days": 30, "days_since": 41}
    premium = why.premium_alternative("Tea", "T1", 49.0, 29.0)
    assert premium.text == "A premium alternative to Tea (49.00 instead of 29.00)"
    assert premium.figures == {"product": "T1", "name": "Tea", "price": 49.0, "instead_of": 29.0}


def test_selling_well_is_never_said_of_what_did_not_sell(
    shop: tuple[Baskets, Recommender],
) -> None:
    """The partner's tabs sold nothing at all: "Selling well now: 0 orders in the last 30
    days" is not a reason a customer should read."""
    offers = _offers(shop, "x")
    assert "TABS" in offers
    for product, reason in offers.items():
        if reason.code == "popular_now":
            assert reason.figures["orders"] > 0, (product, reason.text)


def test_reasons_at_an_earlier_moment_use_only_what_was_bought_before_it(
    shop: tuple[Baskets, Recommender],
) -> None:
    """Offers as of day 40 (backtesting, or a page "as of" a date): the ranking sees z's
    coffee of day 20 only, so the reason must too — not the one of day 41."""
    reason = _offers(shop, "z", now=40.0)["COFFEE"]
    assert reason.code == "reorder_due"
    assert reason.figures["days_since"] == 20  # 40 - 20; day 41's purchase is yet to come


def test_a_customer_without_purchases_yet_hears_nothing_of_them(
    shop: tuple[Baskets, Recommender],
) -> None:
    """x's only basket is on day 30: as of day 1 x is a new customer (the ranking sees no
    history), who gets what sells, not "bought together with" a pasta x has not bought yet."""
    offers = _offers(shop, "x", now=1.0)
    assert offers
    assert all(reason.code != "bought_together" for reason in offers.values())


def test_recommendations_carry_a_reason_each(shop: tuple[Baskets, Recommender]) -> None:
    bought, model = shop
    everyone = np.arange(bought.n_customers)
    offers = model.recommend(bought, everyone, np.full(len(everyone), NOW))
    assert set(offers) == set(everyone.tolist())
    every = [offer for offer_list in offers.values() for offer in offer_list]
    assert every
    assert all(isinstance(offer, Recommendation) for offer in every)
    assert all(offer.reason.code != "none" and offer.reason.text for offer in every)
