"""The demo shop's simulation without a database: the ground truth holds, baskets add up exactly.

The statistical checks compare with closed forms of the models the simulator claims to follow
(Fader, Hardie & Lee 2005 for BG/NBD; Fader & Hardie 2013 for Gamma-Gamma), with tolerances of
several standard errors at the sizes used, so a wrong parameter or mechanism fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from patron.demo import simulate
from patron.demo.baskets import INACTIVE_UNTIL_WEEK
from patron.demo.catalogue import build_catalogue
from patron.demo.consents import CONSENT_RULES, EMAIL_MARKETING
from patron.demo.contacts import KINDS
from patron.demo.people import draw_people
from patron.demo.shop import START_SECONDS, Shop, simulate_shop
from patron.demo.simulate import BgNbd, Clock, GammaGamma


@pytest.fixture(scope="module")
def shop() -> Shop:
    return simulate_shop(2_000, 7)


def _traits(n: int, seed: int = 1) -> simulate.Traits:
    return simulate.draw_traits(
        np.random.default_rng(seed), np.zeros(n, bool), BgNbd(), GammaGamma()
    )


def test_traits_follow_the_population_parameters() -> None:
    traits = _traits(200_000)
    bgnbd, gg = BgNbd(), GammaGamma()
    # Gamma(r, α): mean r/α, variance r/α²; Beta(a, b): mean a/(a+b).
    assert traits.rate.mean() == pytest.approx(bgnbd.r / bgnbd.alpha, rel=0.02)
    assert traits.rate.var() == pytest.approx(bgnbd.r / bgnbd.alpha**2, rel=0.05)
    assert traits.dropout.mean() == pytest.approx(bgnbd.a / (bgnbd.a + bgnbd.b), rel=0.01)
    # Gamma-Gamma: E[p/ν] = p·γ/(q−1).
    assert traits.mean_spend.mean() == pytest.approx(gg.p * gg.gamma / (gg.q - 1), rel=0.02)


def test_repeat_purchases_match_the_bgnbd_expectation() -> None:
    """Σ E[X(T) | λ, p] = Σ (1 − exp(−λpT))/p over customers: the season moves, never adds."""
    n = 30_000
    rng = np.random.default_rng(3)
    clock = Clock()
    traits = _traits(n, seed=4)
    first = rng.uniform(0, simulate.WINDOW_WEEKS * 0.9, n)
    purchases = simulate.simulate_purchases(rng, traits, first, np.zeros(n, bool), clock)
    repeats = len(purchases.owner) - n
    expected = simulate.expected_repeats(traits, first).sum()
    assert repeats == pytest.approx(expected, rel=0.03)


def test_dropout_happens_after_the_last_purchase_only_for_some() -> None:
    n = 20_000
    rng = np.random.default_rng(5)
    traits = _traits(n, seed=6)
    purchases = simulate.simulate_purchases(rng, traits, np.zeros(n), np.zeros(n, bool), Clock())
    counts = np.bincount(purchases.owner, minlength=n)
    assert (counts[purchases.dropped] >= 2).all()  # dropping out needs a repeat purchase
    assert 0.3 < purchases.dropped.mean() < 0.8


def test_a_customer_buys_at_most_once_a_day() -> None:
    week = np.array([0.01, 0.02, 0.03, 1.0, 0.5, 0.51, simulate.WINDOW_WEEKS - 0.001])
    purchases = simulate.Purchases(
        owner=np.array([0, 0, 0, 0, 1, 1, 2]), week=week, dropped=np.array([True, True, True])
    )
    moved = simulate.one_per_day(purchases)
    assert np.floor(moved.week * 7).astype(int).tolist() == [0, 1, 2, 7, 3, 4, 1095]
    assert moved.dropped.tolist() == [True, True, True]
    crowded = simulate.Purchases(
        owner=np.array([0, 0]), week=week[-1:].repeat(2), dropped=np.array([True])
    )
    pushed_out = simulate.one_per_day(crowded)
    assert len(pushed_out.week) == 1
    assert not pushed_out.dropped[0]  # the dropout purchase fell after today


def test_seasonality_puts_more_purchases_into_december_than_january() -> None:
    n = 5_000
    rng = np.random.default_rng(8)
    rate = np.full(n, 0.5)
    traits = simulate.Traits(rate, np.full(n, 1e-9), np.ones(n), np.ones(n), np.ones(n))
    purchases = simulate.simulate_purchases(rng, traits, np.zeros(n), np.zeros(n, bool), Clock())
    instants = simulate.OBSERVATION_START + (purchases.week * 604_800).astype("timedelta64[s]")
    month = instants.astype("datetime64[M]").astype(int) % 12
    by_month = np.bincount(month, minlength=12) / np.array(
        [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    )
    weights = simulate.season_weights()
    assert by_month[11] / by_month[0] == pytest.approx(weights[11] / weights[0], rel=0.05)


def test_season_weights_average_one_over_a_year() -> None:
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    assert (simulate.season_weights() * days).sum() / days.sum() == pytest.approx(1.0)


def test_regular_buyers_keep_their_rhythm() -> None:
    n = 3_000
    rng = np.random.default_rng(9)
    rate = rng.uniform(1 / 8, 1 / 2, n)
    traits = simulate.Traits(rate, np.full(n, 0.02), np.ones(n), np.ones(n), np.ones(n))
    purchases = simulate.simulate_purchases(rng, traits, np.zeros(n), np.ones(n, bool), Clock())
    same = np.diff(purchases.owner) == 0
    gaps = np.diff(purchases.week)[same] * rate[purchases.owner[1:][same]]
    assert gaps.mean() == pytest.approx(1.0, rel=0.02)
    assert gaps.std() == pytest.approx(1 / np.sqrt(simulate.REGULAR_SHAPE), rel=0.1)


def test_purchase_values_follow_gamma_gamma() -> None:
    n = 50_000
    traits = _traits(n, seed=10)
    owner = np.repeat(np.arange(n), 4)
    values = simulate.purchase_values(np.random.default_rng(11), traits, owner, GammaGamma())
    assert values.mean() / 100 == pytest.approx(traits.mean_spend.mean(), rel=0.02)


def test_same_seed_same_shop_other_seed_other_shop(shop: Shop) -> None:
    again = simulate_shop(2_000, 7)
    other = simulate_shop(2_000, 8)
    assert np.array_equal(shop.orders.placed, again.orders.placed)
    assert np.array_equal(shop.lines.amount, again.lines.amount)
    assert np.array_equal(shop.interactions.occurred, again.interactions.occurred)
    assert shop.people.email == again.people.email
    assert not np.array_equal(shop.traits.rate, other.traits.rate)


def test_every_order_adds_up_to_its_drawn_value_to_the_cent(shop: Shop) -> None:
    lines, orders = shop.lines, shop.orders
    assert np.array_equal(lines.amount, lines.quantity * lines.unit_price - lines.discount)
    assert np.array_equal(np.bincount(lines.order, lines.amount).astype(np.int64), orders.value)
    assert np.bincount(lines.order).min() >= 1
    assert (lines.line_no >= 1).all()
    assert (lines.line_no <= 5).all()
    assert (lines.quantity >= 1).all()
    assert (lines.unit_price >= 1).all()
    assert (lines.discount >= 0).all()
    assert (lines.discount > 0).mean() > 0.02


def test_an_order_lists_each_product_once_and_nothing_discontinued(shop: Shop) -> None:
    lines, catalogue = shop.lines, shop.catalogue
    pairs = lines.order * len(catalogue) + lines.product
    assert len(np.unique(pairs)) == len(pairs)
    weeks = (shop.orders.placed[lines.order] - START_SECONDS) / simulate.SECONDS_PER_WEEK
    late = weeks > INACTIVE_UNTIL_WEEK
    assert catalogue.active[lines.product[late]].all()
    assert not catalogue.active[lines.product[~late]].all()  # sold while still listed


def test_unit_prices_stay_close_to_the_list_price(shop: Shop) -> None:
    factor = shop.lines.unit_price / shop.catalogue.price[shop.lines.product]
    low, high = np.percentile(factor, [1, 99])
    assert low > 0.8
    assert high < 1.2


def test_orders_belong_to_buyers_in_time_order(shop: Shop) -> None:
    orders = shop.orders
    assert (np.diff(orders.placed) >= 0).all()
    first_order = np.full(len(shop.people), np.iinfo(np.int64).max)
    np.minimum.at(first_order, orders.owner, orders.placed)
    assert (shop.first_contact <= first_order).all()
    last_order = np.full(len(shop.people), -1)
    np.maximum.at(last_order, orders.owner, orders.placed)
    dropped = shop.dropped_out >= 0
    assert np.array_equal(shop.dropped_out[dropped], last_order[dropped])
    assert (last_order < int(simulate.OBSERVATION_END.astype(np.int64))).all()
    days = orders.owner * 10_000 + orders.placed // 86_400
    assert len(np.unique(days)) == len(days)  # one order per customer and day
    awareness = np.bincount(orders.owner, minlength=len(shop.people)) == 0
    assert 0.05 < awareness.mean() < 0.2


def test_returns_never_exceed_what_was_bought(shop: Shop) -> None:
    r, lines, orders = shop.returns, shop.lines, shop.orders
    assert 0.025 < len(r.line) / len(lines.order) < 0.06
    assert (r.quantity >= 1).all()
    assert (r.quantity <= lines.quantity[r.line]).all()
    assert (r.amount <= lines.amount[r.line]).all()
    assert (r.returned > orders.placed[lines.order[r.line]]).all()
    assert len(np.unique(np.stack([r.document, r.line_no]), axis=1)[0]) == len(r.line)


def test_complements_and_favourite_authors_show_in_baskets(shop: Shop) -> None:
    lines, catalogue = shop.lines, shop.catalogue
    first = lines.line_no == 1
    second = lines.line_no == 2
    anchor = np.full(len(shop.orders.placed), -1)
    anchor[lines.order[first]] = lines.product[first]
    follower = np.full(len(shop.orders.placed), -1)
    follower[lines.order[second]] = lines.product[second]
    has = catalogue.complement[anchor] >= 0
    assert (follower[has] == catalogue.complement[anchor[has]]).mean() > 0.3
    names = [category.name for category in catalogue.categories]
    books = np.flatnonzero(catalogue.category[lines.product] == names.index("Books"))
    owner = shop.orders.owner[lines.order[books]]
    assert len(books) > 50
    # 1 in 10 by chance; the simulator prefers the customer's author when affordable
    assert (catalogue.creator_id[lines.product[books]] == shop.tastes.author[owner]).mean() > 0.3


def test_newsletters_are_only_opened_while_consent_stands(shop: Shop) -> None:
    c, i = shop.consents, shop.interactions
    opened = i.kind == KINDS.index("email_open")
    granted = (c.rule == EMAIL_MARKETING) & c.granted
    since = np.full(len(shop.people), np.iinfo(np.int64).max)
    since[c.customer[granted]] = c.recorded[granted]
    assert (i.occurred[opened] >= since[i.customer[opened]]).all()
    assert (i.occurred >= shop.first_contact[i.customer]).all()
    assert set(np.unique(i.kind).tolist()) == set(range(len(KINDS)))
    assert {rule[0] for rule in CONSENT_RULES} >= {"email", "sms", "post"}
    assert (~c.granted).any()


def test_people_speak_the_language_of_their_country() -> None:
    people = draw_people(np.random.default_rng(2), 3_000)
    expected = {
        "Germany": "de",
        "Austria": "de",
        "Switzerland": "de",
        "Norway": "nb",
        "United Kingdom": "en",
        "Ireland": "en",
    }
    assert all(expected[c.name] == c.language for c in people.countries())
    assert all(
        e.rsplit("@", 1)[1] in {"example.com", "example.org", "example.net"} for e in people.email
    )
    assert len(set(people.email)) == len(people.email)
    assert people.external_id[0] == "D000001"
    assert 0.02 < people.is_org.mean() < 0.07
    assert np.isnat(people.birthday[people.is_org]).all()


def test_catalogue_has_what_recommenders_need() -> None:
    c = build_catalogue()
    assert 300 <= len(c) <= 600
    assert len(set(c.sku)) == len(c)
    assert (c.cost < c.price).all()
    assert (c.cost > 0).all()
    assert c.replenishable.any()
    assert (~c.active).any()
    assert c.premium.any()
    partner = [i for i, name in enumerate(c.partner_name) if name]
    assert partner
    assert any(c.complement[i] in partner for i in range(len(c)))
    premium = np.flatnonzero(c.premium)
    margin = 1 - c.cost / c.price
    assert margin[premium].mean() > margin[~c.premium].mean()
    authors = [name for name in c.creator if name]
    assert max(authors.count(a) for a in set(authors)) >= 3
