"""A small shop in the store for the recommender's API and page tests: pasta goes with sauce.

Twenty customers buy spaghetti with tomato sauce (a third of them a partner's Chianti as
well), forty buy bread and jam: sauce is far likelier with pasta than without it. ANNA and BEN
have bought spaghetti alone; NEWBIE has bought nothing. The pasta shelf has a budget, a
regular and a premium spaghetti, so a buyer of the regular one is offered the premium one.
Orders are placed relative to ``now`` (the pages and the API read the clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.customers.models import Customer, Product

PRODUCTS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("PASTA-0", "Spaghetti Budget", "Pasta", "1.50", {}),
    ("PASTA-1", "Spaghetti", "Pasta", "2.50", {}),
    ("PASTA-2", "Spaghetti Premium", "Pasta", "3.20", {}),
    ("SAUCE-1", "Tomato sauce", "Sauces", "3.50", {}),
    ("BREAD-1", "Bread", "Bakery", "2.00", {}),
    ("JAM-1", "Jam", "Spreads", "3.00", {}),
    ("WINE-1", "Chianti", "Wine", "9.90", {"is_partner": True, "partner_name": "Vino GmbH"}),
    ("CHEESE-1", "Parmesan", "Cheese", "6.50", {"is_partner": True, "partner_name": "Caseificio"}),
)
PARTNER_SKUS = {"WINE-1", "CHEESE-1"}


@dataclass(frozen=True)
class PastaShop:
    now: datetime
    customers: dict[str, int]  # Patron's number by external id


def build(sessions: sessionmaker[Session], now: datetime) -> PastaShop:
    with sessions.begin() as session:
        products = {
            sku: make.product(session, sku=sku, name=name, category=category, price=price, **more)
            for sku, name, category, price, more in PRODUCTS
        }
        people: dict[str, Customer] = {}
        for i in range(60):
            person = make.customer(session, external_id=f"K{i}", name=f"Customer {i}")
            first = now - timedelta(days=50 - i % 20)
            if i < 20:
                wine = ["WINE-1"] if i % 3 == 0 else []
                _buy(session, products, person, first, "PASTA-1", "SAUCE-1", *wine)
                _buy(session, products, person, first + timedelta(days=14), "PASTA-1", "SAUCE-1")
            else:
                _buy(session, products, person, first, "BREAD-1", "JAM-1")
                _buy(session, products, person, first + timedelta(days=14), "BREAD-1")
        for key, name, days in (("ANNA", "Anna Berg", 5), ("BEN", "Ben Ek", 6)):
            people[key] = make.customer(session, external_id=key, name=name)
            _buy(session, products, people[key], now - timedelta(days=days), "PASTA-1")
        people["NEWBIE"] = make.customer(session, external_id="NEWBIE", name="Nina New")
        return PastaShop(now=now, customers={key: row.id for key, row in people.items()})


def _buy(
    session: Session,
    products: dict[str, Product],
    customer: Customer,
    when: datetime,
    *skus: str,
) -> None:
    lines = [make.line(products[sku], unit_price=products[sku].price) for sku in skus]
    make.order(session, customer, placed_at=when, lines=lines)
