"""The recommender on the UCI Online Retail data (a UK gift wholesaler, 2010-2011): against
the popularity baselines, leaving each customer's last basket out.

Chen, D. (2015). Online Retail. UCI Machine Learning Repository. doi:10.24432/C5BW33.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from patron.analytics.files import read_transactions
from patron.recommend.baskets import Baskets, from_lines
from patron.recommend.catalogue import plain
from patron.recommend.evaluation import Evaluation, evaluate

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

# Postage, fees, manual corrections, samples and gift vouchers: lines, not products anyone buys
SERVICE_SKUS = frozenset(
    {"POST", "DOT", "M", "m", "C2", "D", "S", "B", "CRUK", "PADS", "BANK CHARGES", "AMAZONFEE"}
)
SERVICE_PREFIXES = ("gift_", "DCGS")


@pytest.fixture(scope="module")
def retail(shared_data: Path) -> Baskets:
    path = shared_data / "online_retail" / "online_retail_2010_2011.parquet"
    lines = read_transactions(path, skip_invalid=True).lines
    products = [p for p in pc.unique(lines["product"]).to_pylist() if p is not None]
    exclude = SERVICE_SKUS | {p for p in products if p.startswith(SERVICE_PREFIXES)}
    return from_lines(lines, exclude=exclude)


@pytest.fixture(scope="module")
def evaluation(retail: Baskets) -> Evaluation:
    return evaluate(retail, plain(retail.products), k=10)


def test_the_data_is_the_one_we_mean(retail: Baskets) -> None:
    assert 4_000 < retail.n_customers < 4_500  # 4,372 customers with an id, less service-only
    assert 3_000 < retail.n_products < 4_000
    products = set(retail.products.tolist())
    assert not products & SERVICE_SKUS
    assert not any(str(p).startswith(SERVICE_PREFIXES) for p in products)


def test_cross_selling_beats_popularity_by_half(evaluation: Evaluation) -> None:
    # measured at about 2.5 times the better baseline
    assert evaluation.ratio("new") >= 1.5


def test_the_whole_list_beats_the_better_baseline(evaluation: Evaluation) -> None:
    patron = evaluation.scores[("patron", "overall")].ndcg
    best = max(evaluation.scores[(m, "overall")].ndcg for m in ("popularity", "own + popularity"))
    assert patron > best
