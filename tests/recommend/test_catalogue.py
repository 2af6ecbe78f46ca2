"""The recommender's view of the catalogue: codes of attributes, margins, a plain catalogue."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from patron.recommend.catalogue import codes, plain


def test_codes_number_the_sorted_names_and_unknowns_are_minus_one() -> None:
    code, names = codes(["Tea", None, "Coffee", "Tea", ""])
    assert names == ("Coffee", "Tea")
    assert code.tolist() == [1, -1, 0, 1, -1]


def test_a_plain_catalogue_knows_only_ids() -> None:
    shelf = plain(["B", "A"], prices=np.array([2.0, 4.0]))
    assert shelf.products.tolist() == ["B", "A"]  # the given order: the baskets' codes
    assert shelf.names.tolist() == ["B", "A"]
    assert shelf.active.all()
    assert not shelf.partner.any()
    assert not shelf.replenishable.any()
    assert shelf.category.tolist() == shelf.brand.tolist() == shelf.creator.tolist() == [-1, -1]
    assert shelf.price.tolist() == [2.0, 4.0]
    assert len(shelf) == 2


def test_margin_rate_is_nan_where_price_or_cost_is_unknown() -> None:
    shelf = plain(["A", "B", "C", "D"], prices=np.array([10.0, 10.0, np.nan, 0.0]))
    shelf = replace(shelf, cost=np.array([6.0, np.nan, 1.0, 0.0]))
    margin = shelf.margin_rate
    assert margin[0] == pytest.approx(0.4)  # (10 - 6) / 10
    assert np.isnan(margin[1:]).all()  # no cost; no price; a price of 0
