"""Recommendation use cases: fit on the store's orders, recommend for a customer, block.

``fit`` reads every completed sale line (through the analytics facts, so the same orders count
as everywhere else), fits ``model.Recommender`` and stores what it learnt: the weights, each
product's profile and its neighbours. ``recommendations`` then works from the customer's
current history and only the stored rows it needs, so a purchase made a minute ago already
changes the offers and a request reads a few hundred rows, not the whole fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.analytics.sources import store_facts
from patron.customers.models import Customer, Order, OrderLine, Product
from patron.errors import Conflict, NotFound, PatronError
from patron.recommend import baskets as basket_data
from patron.recommend.associations import (
    PRIOR_INTERVAL_DAYS,
    Neighbours,
    ProductStats,
)
from patron.recommend.catalogue import Catalogue, codes
from patron.recommend.learn import Weights
from patron.recommend.model import Recommendation, Recommender
from patron.recommend.models import (
    ProductNeighbour,
    ProductProfile,
    RecommendationBlock,
    RecommendationFit,
)
from patron.recommend.ranking import POPULAR, THIN, Knowledge
from patron.recommend.rules import Rules
from patron.recommend.schemas import (
    BlockPublic,
    FitPublic,
    Kind,
    ReasonPublic,
    RecommendationPublic,
    RecommendationsPublic,
    RecommendSettings,
)
from patron.recommend.upsell import upsell

Step = Callable[[str], None]
PRODUCT_COLUMNS = (  # what a catalogue needs of a product (``_catalogue_of``)
    Product.id,
    Product.sku,
    Product.name,
    Product.category,
    Product.brand,
    Product.creator,
    Product.price,
    Product.unit_cost,
    Product.active,
    Product.is_partner,
    Product.partner_name,
    Product.replenishable,
)
DAY = 86_400.0


class NotFitted(PatronError):
    code = "recommend.not_fitted"
    status = 409


@dataclass(frozen=True)
class FitSummary:
    fit_id: int
    customers: int
    products: int
    baskets: int
    neighbours: int
    seconds: float


def fit(
    engine: Engine,
    *,
    now: datetime,
    settings: RecommendSettings | None = None,
    progress: Step | None = None,
) -> FitSummary:
    """Fit on every completed order in the store and replace the stored fit."""
    started = time.perf_counter()
    step = progress or (lambda _message: None)
    with Session(engine) as session:
        settings = settings or settings_in_force(session)
        product_ids = _product_ids(session)
    step("reading orders")
    catalogue_codes, catalogue = store_baskets(engine, exclude=settings.exclude)
    step("learning")
    model = Recommender().fit(catalogue_codes, catalogue, as_of=_days(now))
    step("storing")
    with Session(engine) as session, session.begin():
        fit_id = _store(session, model, product_ids, settings, now, catalogue_codes, started)
    knowledge = model.knowledge_
    return FitSummary(
        fit_id,
        customers=int(knowledge.stats.customers),
        products=int((knowledge.stats.buyers > 0).sum()),
        baskets=len(np.unique(catalogue_codes.basket)),
        neighbours=int(knowledge.neighbours.similarity.nnz),
        seconds=time.perf_counter() - started,
    )


def latest_fit(session: Session) -> RecommendationFit | None:
    return session.scalars(
        select(RecommendationFit).order_by(RecommendationFit.id.desc()).limit(1)
    ).first()


def settings_in_force(session: Session) -> RecommendSettings:
    """The business rules of the latest fit, or the defaults before the first one."""
    fitted = latest_fit(session)
    return RecommendSettings.model_validate(fitted.settings) if fitted else RecommendSettings()


def fit_public(session: Session) -> FitPublic:
    fitted = _require_fit(session)
    weights = Weights.from_dict(fitted.weights)
    return FitPublic(
        id=fitted.id,
        fitted_at=fitted.fitted_at,
        as_of=fitted.as_of,
        settings=RecommendSettings.model_validate(fitted.settings),
        summary=fitted.summary,
        weights={name: float(c) for name, c in zip(weights.names, weights.coef, strict=True)},
    )


def recommendations(
    session: Session,
    *,
    customer_id: int,
    kind: Kind = Kind.cross,
    k: int = 10,
    now: datetime,
) -> RecommendationsPublic:
    """The top ``k`` offers of one ``kind`` for a customer, each with its reason."""
    fitted = _require_fit(session)
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"Customer {customer_id} does not exist.", code="customers.not_found")
    settings = RecommendSettings.model_validate(fitted.settings)
    local = _local(session, fitted, settings, customer_id, kind, now)
    rules = Rules(
        kind="partner" if kind is Kind.partner else "cross",
        margin_floor=settings.margin_floor,
        per_category=settings.per_category,
        replenish_rate=settings.replenish_rate,
        due_from=settings.due_from,
        blocked={0: frozenset(local.code_of[p] for p in local.blocked if p in local.code_of)},
    )
    customers = np.array([0], dtype=np.int64)
    if kind is Kind.up:
        found = upsell(
            local.history,
            local.knowledge.catalogue,
            local.knowledge.stats,
            customers,
            k=k,
            rules=rules,
        )
    else:
        model = Recommender.from_parts(local.knowledge, Weights.from_dict(fitted.weights))
        found = model.recommend(local.history, customers, np.array([_days(now)]), k=k, rules=rules)
    data = [_public(item, local) for item in found.get(0, [])]
    return RecommendationsPublic(
        customer_id=customer_id, kind=kind, fitted_at=fitted.fitted_at, data=data, count=len(data)
    )


def recommended_for_you(
    session: Session, *, customer_id: int, now: datetime, k: int = 3
) -> list[RecommendationPublic]:
    """The "recommended for you" block of a message: cross-selling offers, or none at all
    (no fit yet, or nothing worth offering) rather than an error that would stop a send."""
    try:
        return recommendations(session, customer_id=customer_id, kind=Kind.cross, k=k, now=now).data
    except NotFitted:
        return []


def block(
    session: Session, *, customer_id: int, sku: str, reason: str | None, by: str | None
) -> BlockPublic:
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"Customer {customer_id} does not exist.", code="customers.not_found")
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise NotFound(f"No product has the SKU {sku!r}.", code="products.not_found")
    exists = session.scalars(
        select(RecommendationBlock).where(
            RecommendationBlock.customer_id == customer_id,
            RecommendationBlock.product_id == product.id,
        )
    ).first()
    if exists is not None:
        raise _already_blocked(sku, customer_id)
    row = RecommendationBlock(
        customer_id=customer_id, product_id=product.id, reason=reason, created_by=by
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:  # the same block, sent twice at once
        session.rollback()
        raise _already_blocked(sku, customer_id) from exc
    return _block_public(row, product)


def unblock(session: Session, *, customer_id: int, sku: str) -> None:
    product_id = session.scalar(select(Product.id).where(Product.sku == sku))
    removed = session.execute(
        delete(RecommendationBlock).where(
            RecommendationBlock.customer_id == customer_id,
            RecommendationBlock.product_id == product_id,
        )
    ).rowcount  # type: ignore[attr-defined]
    if not removed:
        raise NotFound(
            f"{sku} is not blocked for customer {customer_id}.", code="recommend.not_blocked"
        )
    session.commit()


def _already_blocked(sku: str, customer_id: int) -> Conflict:
    return Conflict(
        f"{sku} is already blocked for customer {customer_id}.", code="recommend.already_blocked"
    )


def blocks(session: Session, *, customer_id: int) -> list[BlockPublic]:
    rows = session.execute(
        select(RecommendationBlock, Product)
        .join(Product, Product.id == RecommendationBlock.product_id)
        .where(RecommendationBlock.customer_id == customer_id)
        .order_by(RecommendationBlock.created_at, RecommendationBlock.id)
    ).all()
    return [_block_public(row, product) for row, product in rows]


def refit_due(session: Session, *, now: datetime, age: timedelta) -> bool:
    """Whether to fit again: the fit is older than ``age``, or there is none yet while some
    customer has two completed orders (the least the weights are learnt from)."""
    fitted = latest_fit(session)
    if fitted is not None:
        return now - fitted.as_of >= age
    repeat = (
        select(Order.customer_id)
        .where(Order.status == "completed", Order.customer_id.is_not(None))
        .group_by(Order.customer_id)
        .having(func.count() >= 2)
        .limit(1)
    )
    return session.scalar(repeat) is not None


# -- fitting ---------------------------------------------------------------------------------


def store_baskets(
    engine: Engine, *, exclude: Sequence[str] = ()
) -> tuple[basket_data.Baskets, Catalogue]:
    """The store's completed sale lines as baskets coded over the whole catalogue, read as
    ``fit`` reads them (for ``evaluation.evaluate``); ``exclude`` SKUs are left out."""
    with Session(engine) as session:
        catalogue = _catalogue(session, exclude=exclude)
    lines = store_facts(engine).lines.to_pyarrow()
    baskets = basket_data.with_products(
        basket_data.from_lines(lines, exclude=exclude), catalogue.products
    )
    baskets = baskets.take(baskets.product < len(catalogue))  # products gone from the catalogue
    coded = basket_data.Baskets(
        baskets.customer,
        baskets.product,
        baskets.basket,
        baskets.time,
        baskets.customers,
        catalogue.products,
    )
    return coded, catalogue


def _product_ids(session: Session) -> np.ndarray:
    """Product ids in the catalogue's code order (by SKU)."""
    return np.array(session.scalars(select(Product.id).order_by(Product.sku)).all(), dtype=np.int64)


def _catalogue(session: Session, *, exclude: Sequence[str]) -> Catalogue:
    """Every product, coded in SKU order; excluded SKUs are inactive."""
    rows = session.execute(select(*PRODUCT_COLUMNS).order_by(Product.sku)).all()
    return _catalogue_of(rows, exclude=exclude)


def _catalogue_of(rows: Sequence[Any], *, exclude: Sequence[str]) -> Catalogue:
    category, category_names = codes([r.category for r in rows])
    brand, brand_names = codes([r.brand for r in rows])
    creator, creator_names = codes([r.creator for r in rows])
    return Catalogue(
        products=np.array([r.sku for r in rows], dtype=object),
        names=np.array([r.name or r.sku for r in rows], dtype=object),
        active=np.array([bool(r.active) for r in rows], dtype=bool)
        & ~basket_data.excluded([r.sku for r in rows], exclude),
        partner=np.array([bool(r.is_partner) for r in rows], dtype=bool),
        partner_name=np.array([r.partner_name for r in rows], dtype=object),
        replenishable=np.array([bool(r.replenishable) for r in rows], dtype=bool),
        price=_floats([r.price for r in rows]),
        cost=_floats([r.unit_cost for r in rows]),
        category=category,
        brand=brand,
        creator=creator,
        category_names=category_names,
        brand_names=brand_names,
        creator_names=creator_names,
    )


def _store(
    session: Session,
    model: Recommender,
    product_ids: np.ndarray,
    settings: RecommendSettings,
    now: datetime,
    baskets: basket_data.Baskets,
    started: float,
) -> int:
    knowledge = model.knowledge_
    stats = knowledge.stats
    for table in (ProductNeighbour, ProductProfile, RecommendationFit):
        session.execute(delete(table))
    fitted = RecommendationFit(
        as_of=now,
        weights=model.weights_.as_dict(),
        settings=settings.model_dump(),
        summary={
            "customers": int(stats.customers),
            "products_bought": int((stats.buyers > 0).sum()),
            "baskets": len(np.unique(baskets.basket)),
            "neighbour_pairs": int(knowledge.neighbours.similarity.nnz),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    session.add(fitted)
    session.flush()
    profiles = [
        {
            "fit_id": fitted.id,
            "product_id": int(product_ids[code]),
            "buyers": int(stats.buyers[code]),
            "repeat_buyers": int(stats.repeat_buyers[code]),
            "interval_days": float(stats.interval[code]),
            "trend": int(stats.trend[code]),
            "season": int(stats.season[code]),
        }
        for code in np.flatnonzero((stats.buyers > 0) | (stats.season > 0)).tolist()
    ]
    if profiles:
        session.execute(insert(ProductProfile), profiles)
    similarity = knowledge.neighbours.similarity.tocoo()
    co_buyers = knowledge.neighbours.co_buyers.tocoo()
    pairs = [
        {
            "fit_id": fitted.id,
            "product_id": int(product_ids[row]),
            "neighbour_id": int(product_ids[col]),
            "similarity": float(value),
            "co_buyers": int(both),
        }
        for row, col, value, both in zip(
            similarity.row.tolist(),
            similarity.col.tolist(),
            similarity.data.tolist(),
            co_buyers.data.tolist(),
            strict=True,
        )
    ]
    if pairs:
        session.execute(insert(ProductNeighbour), pairs)
    return fitted.id


# -- serving one customer --------------------------------------------------------------------


@dataclass(frozen=True)
class _Local:
    """One customer's history and the part of the fit it needs, in a small code space."""

    history: basket_data.Baskets
    knowledge: Knowledge
    product_ids: list[int]
    code_of: dict[int, int]  # product id → local code
    blocked: set[int]  # product ids


def _local(
    session: Session,
    fitted: RecommendationFit,
    settings: RecommendSettings,
    customer_id: int,
    kind: Kind,
    now: datetime,
) -> _Local:
    history_rows = session.execute(
        select(Order.id, Order.placed_at, OrderLine.product_id)
        .join(Order, OrderLine.order_id == Order.id)
        .where(
            Order.customer_id == customer_id,
            Order.status == "completed",
            Order.placed_at < now,
            OrderLine.kind == "sale",
            OrderLine.product_id.is_not(None),
        )
    ).all()
    own = {int(r.product_id) for r in history_rows}
    neighbour_rows = (
        session.execute(
            select(
                ProductNeighbour.product_id,
                ProductNeighbour.neighbour_id,
                ProductNeighbour.similarity,
                ProductNeighbour.co_buyers,
            ).where(ProductNeighbour.fit_id == fitted.id, ProductNeighbour.product_id.in_(own))
        ).all()
        if own
        else []
    )
    popular = session.scalars(
        select(ProductProfile.product_id)
        .join(Product, Product.id == ProductProfile.product_id)
        .where(ProductProfile.fit_id == fitted.id, Product.active.is_(True))
        .order_by(ProductProfile.trend.desc(), ProductProfile.buyers.desc(), Product.id)
        .limit(POPULAR)
    ).all()
    extra = _extra_products(session, fitted, own, kind)
    universe = sorted(own | {r.neighbour_id for r in neighbour_rows} | set(popular) | extra)
    code_of = {product_id: code for code, product_id in enumerate(universe)}
    products = session.execute(select(*PRODUCT_COLUMNS).where(Product.id.in_(universe))).all()
    by_id = {r.id: r for r in products}
    catalogue = _catalogue_of([by_id[p] for p in universe], exclude=settings.exclude)
    stats = _stats(session, fitted, universe, code_of)
    n = len(universe)
    neighbours = Neighbours(
        _matrix(neighbour_rows, code_of, n, "similarity"),
        _matrix(neighbour_rows, code_of, n, "co_buyers"),
    )
    knowledge = Knowledge(
        stats, neighbours, catalogue, np.array([code_of[p] for p in popular], dtype=np.int64)
    )
    history = basket_data.Baskets(
        customer=np.zeros(len(history_rows), dtype=np.int64),
        product=np.array([code_of[int(r.product_id)] for r in history_rows], dtype=np.int64),
        basket=np.unique([r.id for r in history_rows], return_inverse=True)[1].astype(np.int64)
        if history_rows
        else np.zeros(0, dtype=np.int64),
        time=np.array([_days(r.placed_at) for r in history_rows], dtype=np.float64),
        customers=np.array([customer_id], dtype=object),
        products=catalogue.products,
    )
    blocked = set(
        session.scalars(
            select(RecommendationBlock.product_id).where(
                RecommendationBlock.customer_id == customer_id
            )
        ).all()
    )
    return _Local(_distinct(history), knowledge, universe, code_of, blocked)


def _extra_products(
    session: Session, fitted: RecommendationFit, own: set[int], kind: Kind
) -> set[int]:
    """Candidates beyond neighbours and bestsellers: works of the customer's authors and
    artists, and products with little history of their brands and categories; partner
    products for partner offers; the categories' dearer products for upsell."""
    extra: set[int] = set()
    if own:
        creators = select(Product.creator).where(Product.id.in_(own), Product.creator.is_not(None))
        extra |= set(session.scalars(select(Product.id).where(Product.creator.in_(creators))))
        brands = select(Product.brand).where(Product.id.in_(own), Product.brand.is_not(None))
        categories = select(Product.category).where(
            Product.id.in_(own), Product.category.is_not(None)
        )
        established = select(ProductProfile.product_id).where(
            ProductProfile.fit_id == fitted.id, ProductProfile.buyers >= THIN
        )
        extra |= set(
            session.scalars(
                select(Product.id).where(
                    Product.brand.in_(brands) | Product.category.in_(categories),
                    Product.active.is_(True),
                    Product.id.not_in(established),
                )
            )
        )
    if kind is Kind.partner:
        extra |= set(
            session.scalars(
                select(Product.id).where(Product.is_partner.is_(True), Product.active.is_(True))
            )
        )
    if kind is Kind.up and own:
        categories = select(Product.category).where(
            Product.id.in_(own), Product.category.is_not(None)
        )
        extra |= set(
            session.scalars(
                select(Product.id).where(
                    Product.category.in_(categories), Product.price.is_not(None)
                )
            )
        )
    return extra


def _stats(
    session: Session, fitted: RecommendationFit, universe: list[int], code_of: dict[int, int]
) -> ProductStats:
    n = len(universe)
    buyers, repeat, trend, season = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    interval = np.full(n, PRIOR_INTERVAL_DAYS)
    for row in session.execute(
        select(ProductProfile).where(
            ProductProfile.fit_id == fitted.id, ProductProfile.product_id.in_(universe)
        )
    ).scalars():
        code = code_of[row.product_id]
        buyers[code], repeat[code] = row.buyers, row.repeat_buyers
        interval[code], trend[code], season[code] = row.interval_days, row.trend, row.season
    customers = int(fitted.summary.get("customers", 0))
    return ProductStats(buyers, repeat, interval, trend, season, _days(fitted.as_of), customers)


def _matrix(rows: Sequence[Any], code_of: dict[int, int], n: int, field: str) -> sp.csr_matrix:
    if not rows:
        return sp.csr_matrix((n, n))
    matrix = sp.csr_matrix(
        (
            np.array([float(getattr(r, field)) for r in rows]),
            (
                np.array([code_of[r.product_id] for r in rows]),
                np.array([code_of[r.neighbour_id] for r in rows]),
            ),
        ),
        shape=(n, n),
    )
    matrix.sort_indices()
    return matrix


def _distinct(history: basket_data.Baskets) -> basket_data.Baskets:
    """One row per (basket, product), as the recommender expects."""
    if len(history) == 0:
        return history
    key = history.basket * max(history.n_products, 1) + history.product
    _, first = np.unique(key, return_index=True)
    return history.take(np.sort(first))


def _public(item: Recommendation, local: _Local) -> RecommendationPublic:
    catalogue = local.knowledge.catalogue
    code = item.product
    category = int(catalogue.category[code])
    price = catalogue.price[code]
    return RecommendationPublic(
        product_id=local.product_ids[code],
        sku=str(catalogue.products[code]),
        name=str(catalogue.names[code]),
        category=catalogue.category_names[category] if category >= 0 else None,
        price=None if np.isnan(price) else float(price),
        partner_name=catalogue.partner_name[code],
        score=round(item.score, 6),
        reason=ReasonPublic(
            code=item.reason.code, text=item.reason.text, figures=dict(item.reason.figures)
        ),
    )


def _block_public(row: RecommendationBlock, product: Product) -> BlockPublic:
    return BlockPublic(
        customer_id=row.customer_id,
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _require_fit(session: Session) -> RecommendationFit:
    fitted = latest_fit(session)
    if fitted is None:
        raise NotFitted("No recommendations yet: fit the recommender first (patron recommend fit).")
    return fitted


def _days(moment: datetime) -> float:
    return moment.timestamp() / DAY


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
