"""The shop's business rules over ranked candidates: what may be offered, and how varied.

- Only active products; partner products only where the kind asks for them or ranks them in.
- A product the customer already bought only when it is bought again as a rule (flagged
  replenishable, or repurchased by ``replenish_rate`` of its buyers) and is due (``due_from``
  of its usual interval has passed).
- An optional margin floor (products with an unknown margin pass).
- Diversity: at most ``per_category`` products of one category, and one variant of a product
  (SKUs that differ only in trailing letters: 85123A / 85123B, SHIRT-M / SHIRT-L).
- A per-customer blocklist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from patron.recommend.catalogue import Catalogue
from patron.recommend.ranking import Candidates, Knowledge

KINDS = ("cross", "partner")
TRAILING_LETTERS = re.compile(r"[A-Za-z]+$")


@dataclass(frozen=True)
class Rules:
    kind: str = "cross"
    margin_floor: float | None = None
    per_category: int = 3
    replenish_rate: float = 0.1
    due_from: float = 0.0
    blocked: Mapping[int, frozenset[int]] = field(default_factory=dict)  # customer → products

    def extra_candidates(self, catalogue: Catalogue) -> np.ndarray | None:
        """Partner offers consider every active partner product, bought by anyone or not."""
        if self.kind != "partner":
            return None
        return np.flatnonzero(catalogue.partner & catalogue.active).astype(np.int64)


def allowed(found: Candidates, knowledge: Knowledge, rules: Rules) -> np.ndarray:
    catalogue, stats = knowledge.catalogue, knowledge.stats
    product = found.product
    ok = catalogue.active[product].copy()
    if rules.kind == "partner":
        ok &= catalogue.partner[product]
    bought = found.column("bought") > 0
    again = catalogue.replenishable[product] | (
        stats.repeat_buyers[product] >= rules.replenish_rate * np.maximum(stats.buyers[product], 1)
    )
    ok &= ~bought | (again & (found.column("due") >= rules.due_from))
    if rules.margin_floor is not None:
        margin = catalogue.margin_rate[product]
        ok &= np.isnan(margin) | (margin >= rules.margin_floor)
    for customer, products in rules.blocked.items():
        if products:
            ok &= ~((found.customer == customer) & np.isin(product, list(products)))
    return ok


def pick(
    found: Candidates, probability: np.ndarray, knowledge: Knowledge, rules: Rules, k: int
) -> np.ndarray:
    """Rows chosen, by customer and then best first, at most ``k`` per customer."""
    rows = np.flatnonzero(allowed(found, knowledge, rules))
    rows = rows[np.lexsort((found.product[rows], -probability[rows], found.customer[rows]))]
    customers = found.customer[rows]
    starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]]) if len(rows) else rows
    ends = np.r_[starts[1:], len(rows)] if len(rows) else rows
    category = knowledge.catalogue.category
    family = families(knowledge.catalogue.products)
    chosen: list[int] = []
    for start, end in zip(starts, ends, strict=True):
        per_category: dict[int, int] = {}
        seen_family: set[int] = set()
        taken = 0
        for row in rows[start:end].tolist():
            product = int(found.product[row])
            group = int(category[product])
            if group >= 0 and per_category.get(group, 0) >= rules.per_category:
                continue
            if family[product] in seen_family:
                continue
            chosen.append(row)
            seen_family.add(int(family[product]))
            if group >= 0:
                per_category[group] = per_category.get(group, 0) + 1
            taken += 1
            if taken == k:
                break
    return np.asarray(chosen, dtype=np.int64)


def families(products: np.ndarray) -> np.ndarray:
    """A code per product; variants (same SKU but for trailing letters) share one."""
    stems = []
    for product in products.tolist():
        text = str(product)
        stem = TRAILING_LETTERS.sub("", text)
        stems.append(stem if len(stem) >= 3 and stem != text else text)
    _, code = np.unique(np.asarray(stems, dtype=object).astype(str), return_inverse=True)
    return code.astype(np.int64)
