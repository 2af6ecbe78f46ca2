"""Tables of the recommender: the latest fit, what it learnt per product, and customers' blocks.

A fit is replaced as a whole: ``patron recommend fit`` writes the new fit's rows and deletes
the old fit in one transaction, so a reader sees one complete fit or the other. Recommendations
themselves are not stored: they are made when asked, from the customer's current history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, utcnow
from patron.sqltypes import UTCDateTime


class RecommendationFit(Base):
    __tablename__ = "recommendation_fits"

    id: Mapped[int] = mapped_column(primary_key=True)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())  # the moment trends are counted to
    weights: Mapped[dict[str, Any]] = mapped_column(JSON)  # learn.Weights.as_dict()
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)  # the business rules in force
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)  # counts and seconds, for people


class ProductProfile(Base):
    """What the fit learnt about one product: buyers, repurchase and how it sells now."""

    __tablename__ = "product_profiles"

    fit_id: Mapped[int] = mapped_column(
        ForeignKey("recommendation_fits.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    buyers: Mapped[int] = mapped_column(Integer)
    repeat_buyers: Mapped[int] = mapped_column(Integer)
    interval_days: Mapped[float] = mapped_column(Float)
    trend: Mapped[int] = mapped_column(Integer)  # baskets in the 30 days before as_of
    season: Mapped[int] = mapped_column(Integer)  # baskets in the 30 days after as_of, a year ago

    __table_args__ = (Index("ix_product_profiles_fit_trend", "fit_id", "trend"),)


class ProductNeighbour(Base):
    """One of a product's most associated products (by cosine over customers)."""

    __tablename__ = "product_neighbours"

    fit_id: Mapped[int] = mapped_column(
        ForeignKey("recommendation_fits.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    neighbour_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    similarity: Mapped[float] = mapped_column(Float)
    co_buyers: Mapped[int] = mapped_column(Integer)


class RecommendationBlock(Base):
    """A product never to be recommended to one customer (they said so, or staff did)."""

    __tablename__ = "recommendation_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(String(200), info={"personal": True})
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("customer_id", "product_id"),
        Index("ix_recommendation_blocks_customer", "customer_id"),
    )
