"""The recommendation use cases on the store (SQLite and PostgreSQL): fit, offers, rules, blocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.customers.models import Customer, Product
from patron.errors import Conflict, NotFound
from patron.recommend import service
from patron.recommend.models import ProductNeighbour, ProductProfile, RecommendationFit
from patron.recommend.schemas import Kind, RecommendSettings
from recommend import pasta_shop

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> pasta_shop.PastaShop:
    return pasta_shop.build(sessions, NOW)


def offers(session: Session, customer_id: int, kind: Kind = Kind.cross, k: int = 10) -> list:
    return service.recommendations(session, customer_id=customer_id, kind=kind, k=k, now=NOW).data


def skus(items: list) -> list[str]:
    return [item.sku for item in items]


def test_no_offers_before_the_first_fit(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    with sessions() as session:
        with pytest.raises(service.NotFitted) as error:
            offers(session, shop.customers["ANNA"])
        assert error.value.code == "recommend.not_fitted"
        # a campaign's "recommended for you" block stays empty instead of failing the send
        assert (
            service.recommended_for_you(session, customer_id=shop.customers["ANNA"], now=NOW) == []
        )


def test_a_pasta_buyer_is_offered_the_sauce_that_goes_with_it(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW)
    with sessions() as session:
        found = offers(session, shop.customers["ANNA"])
        assert found[0].sku == "SAUCE-1"
        reason = found[0].reason
        assert reason.code == "bought_together"
        assert reason.figures["name"] == "Spaghetti"
        # Spaghetti's buyers: the 20 pasta customers, Anna and Ben; 20 of the 22 bought sauce
        assert reason.figures["percent"] == round(100 * 20 / 22)
        assert "Spaghetti" in reason.text
        block = service.recommended_for_you(session, customer_id=shop.customers["ANNA"], now=NOW)
        assert [item.sku for item in block][:1] == ["SAUCE-1"]
        assert len(block) <= 3


def test_offers_follow_purchases_made_after_the_fit(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW)
    newbie = shop.customers["NEWBIE"]
    with sessions() as session:
        before = offers(session, newbie)
        # nothing of her own to go by: what sells, what many bought, the partners' range
        own = {
            "bought_together",
            "same_creator",
            "reorder_due",
            "new_from_brand",
            "new_in_category",
        }
        assert before
        assert not {item.reason.code for item in before} & own
    with sessions.begin() as session:
        spaghetti = session.scalars(select(Product).where(Product.sku == "PASTA-1")).one()
        person = session.get(Customer, newbie)
        make.order(
            session,
            person,
            placed_at=NOW - timedelta(hours=1),
            lines=[make.line(spaghetti, unit_price=spaghetti.price)],
        )
    with sessions() as session:
        after = offers(session, newbie)
        assert after[0].sku == "SAUCE-1"
        assert after[0].reason.code == "bought_together"


def test_a_new_fit_replaces_the_old_one_whole(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW)
    second = service.fit(engine, now=NOW + timedelta(days=1))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RecommendationFit)) == 1
        fits_referenced = set(session.scalars(select(ProductNeighbour.fit_id).distinct()))
        fits_referenced |= set(session.scalars(select(ProductProfile.fit_id).distinct()))
        assert fits_referenced == {second.fit_id}
        public = service.fit_public(session)
        assert public.id == second.fit_id
        assert public.as_of == NOW + timedelta(days=1)
        assert set(public.weights) >= {"association", "share", "log_trend"}
    # 62 customers with orders; of the 8 products nobody bought the budget and premium
    # spaghetti or the parmesan
    assert second.customers == 62
    assert second.products == 5


def test_settings_are_kept_with_the_fit_and_exclusions_are_never_offered(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW, settings=RecommendSettings(exclude=["SAUCE-1"], per_category=2))
    service.fit(engine, now=NOW)  # no settings given: the previous ones stay
    with sessions() as session:
        assert service.fit_public(session).settings.exclude == ["SAUCE-1"]
        assert service.fit_public(session).settings.per_category == 2
        for key in ("ANNA", "BEN", "NEWBIE"):
            assert "SAUCE-1" not in skus(offers(session, shop.customers[key]))


def test_inactive_products_and_thin_margins_are_not_offered(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW, settings=RecommendSettings(margin_floor=0.2))
    anna = shop.customers["ANNA"]
    with sessions.begin() as session:
        # the sauce earns 0.10 on 3.50: a margin rate of 2.9 %, below the floor of 20 %
        session.execute(
            update(Product).where(Product.sku == "SAUCE-1").values(unit_cost=Decimal("3.40"))
        )
    with sessions() as session:
        assert "SAUCE-1" not in skus(offers(session, anna))
    with sessions.begin() as session:
        session.execute(
            update(Product).where(Product.sku == "SAUCE-1").values(unit_cost=Decimal("1.00"))
        )
        session.execute(update(Product).where(Product.sku == "BREAD-1").values(active=False))
    with sessions() as session:
        found = skus(offers(session, anna))
        assert "SAUCE-1" in found  # a 71 % margin passes the floor
        assert "BREAD-1" not in found


def test_partner_offers_and_upselling(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW)
    anna = shop.customers["ANNA"]
    with sessions() as session:
        partner = offers(session, anna, Kind.partner)
        assert partner
        assert set(skus(partner)) <= pasta_shop.PARTNER_SKUS
        # the parmesan nobody bought is still a partner candidate
        assert "CHEESE-1" in skus(partner)
        up = offers(session, anna, Kind.up)
        # Anna paid 2.50 for spaghetti: the premium one (3.20) is at least 15 % dearer
        assert skus(up) == ["PASTA-2"]
        assert up[0].reason.code == "premium_alternative"
        assert up[0].reason.figures["instead_of"] == pytest.approx(2.5)


def test_a_blocked_product_is_not_offered_to_that_customer_only(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW)
    anna, ben = shop.customers["ANNA"], shop.customers["BEN"]
    with sessions() as session:
        service.block(session, customer_id=anna, sku="SAUCE-1", reason="allergic", by="test")
        with pytest.raises(Conflict):
            service.block(session, customer_id=anna, sku="SAUCE-1", reason=None, by="test")
        with pytest.raises(NotFound):
            service.block(session, customer_id=anna, sku="NO-SUCH", reason=None, by="test")
    with sessions() as session:
        assert "SAUCE-1" not in skus(offers(session, anna))
        assert "SAUCE-1" in skus(offers(session, ben))
        assert [b.sku for b in service.blocks(session, customer_id=anna)] == ["SAUCE-1"]
        service.unblock(session, customer_id=anna, sku="SAUCE-1")
        with pytest.raises(NotFound):
            service.unblock(session, customer_id=anna, sku="SAUCE-1")
    with sessions() as session:
        assert "SAUCE-1" in skus(offers(session, anna))


def test_unknown_customer(
    engine: Engine, sessions: sessionmaker[Session], shop: pasta_shop.PastaShop
) -> None:
    service.fit(engine, now=NOW)
    with sessions() as session, pytest.raises(NotFound):
        offers(session, 999_999)
