"""Fixtures of the loyalty tests: the demo programme set up on a store, customers to book for."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from loyalty.shop import T0, demo_document
from patron.customers.models import Customer
from patron.loyalty import setup
from patron.loyalty.programme import ProgrammeSpec, read_spec


@pytest.fixture
def programme_spec() -> ProgrammeSpec:
    return read_spec(demo_document())


@pytest.fixture
def shop(sessions: sessionmaker[Session], programme_spec: ProgrammeSpec) -> sessionmaker[Session]:
    """The store with the demo programme and customers C1…C60."""
    with sessions() as session:
        session.add_all(Customer(external_id=f"C{i}", name=f"Customer {i}") for i in range(1, 61))
        session.commit()
        setup.set_up(session, spec=programme_spec, actor="test", now=T0)
    return sessions
