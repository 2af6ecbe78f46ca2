"""Ground truth of a generated demo shop, stored beside the data so analytics can be checked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

import patron.customers.models  # noqa: F401 - registers ``customers``, which the truth refers to
from patron.db import Base
from patron.sqltypes import UTCDateTime


class DemoRun(Base):
    """One generation: seed, size, observation window and the population-level parameters."""

    __tablename__ = "demo_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    seed: Mapped[int] = mapped_column(Integer)
    customers: Mapped[int] = mapped_column(Integer)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)


class DemoCustomerTruth(Base):
    """The latent traits the simulator drew for one customer (BG/NBD and Gamma-Gamma style)."""

    __tablename__ = "demo_customer_truth"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    # lambda: purchases per week while alive
    purchase_rate: Mapped[float] = mapped_column(Float)
    # p: chance to drop out after each repeat purchase
    dropout_probability: Mapped[float] = mapped_column(Float)
    # expected value of one purchase
    mean_spend: Mapped[float] = mapped_column(Float)
    dropped_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
