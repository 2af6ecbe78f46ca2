"""``patron recommend …``, the worker's daily refit and the demo's first fit, on both backends.

The shop: half of forty customers buy pasta in their first order and sauce in their last, the
other half pay postage on every order; T-1 has just bought pasta, and nothing else yet.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import factories as make
from patron.cli import app, demo, main
from patron.db import make_engine, session_factory, utcnow
from patron.errors import PatronError
from patron.recommend import service
from patron.recommend.models import RecommendationFit

runner = CliRunner(env={"COLUMNS": "200"})
PARTS = ("overall", "bought before", "new")
METHODS = ("patron", "popularity", "own + popularity")


def _ok(*arguments: str) -> str:
    result = runner.invoke(app, ["recommend", *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(*arguments: str) -> Any:
    return json.loads(_ok(*arguments, "--json"))


def _refused(*arguments: str) -> PatronError:
    result = runner.invoke(app, ["recommend", *arguments])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, PatronError), result.exception
    return result.exception


@pytest.fixture
def shop(cli_env: str) -> str:
    engine = make_engine(cli_env)
    now = utcnow()
    with session_factory(engine).begin() as session:
        pasta = make.product(session, sku="PASTA", name="Spaghetti", category="Pasta")
        sauce = make.product(session, sku="SAUCE", name="Tomato sauce", category="Sauces")
        postage = make.product(session, sku="POST", name="Postage", price=Decimal("4.90"))
        others = [
            make.product(session, sku=f"P{i}", name=f"Thing {i}", category=f"Shelf {i % 3}")
            for i in range(8)
        ]
        for c in range(40):
            customer = make.customer(session, external_id=f"K-{c:02d}")
            for o in range(3):
                bought = [others[(c * 7 + o * 3) % 8]]
                if c % 2 == 0 and o == 0:
                    bought.append(pasta)
                if c % 2 == 0 and o == 2:
                    bought.append(sauce)
                if c % 2 == 1:
                    bought.append(postage)
                placed = now - timedelta(days=90 - 30 * o + c % 5)
                make.order(
                    session, customer, placed_at=placed, lines=[make.line(p) for p in bought]
                )
        newcomer = make.customer(session, external_id="T-1")
        make.order(session, newcomer, placed_at=now - timedelta(days=3), lines=[make.line(pasta)])
    engine.dispose()
    return cli_env


def _fits(url: str) -> list[tuple[int, datetime]]:
    """The stored fits, by id and time (SQLite may give a new fit its predecessor's id)."""
    engine = make_engine(url)
    with Session(engine) as session:
        found = session.execute(
            select(RecommendationFit.id, RecommendationFit.fitted_at).order_by(RecommendationFit.id)
        ).all()
    engine.dispose()
    return [(fit_id, fitted_at) for fit_id, fitted_at in found]


def test_fit_prints_the_summary_and_the_weights_and_stores_the_fit(shop: str) -> None:
    shown = _ok("fit")
    assert "Fitted on 121 orders of 41 customers" in shown
    assert "Rules: excluded nothing" in shown
    assert "Learnt weights" in shown
    assert "after last basket" in shown
    [(fit_id, _)] = _fits(shop)
    assert f"(fit {fit_id})" in shown

    document = _json("fit")
    assert (document["customers"], document["baskets"]) == (41, 121)
    assert document["products"] == 11  # every product was bought
    assert document["neighbours"] > 0
    assert document["seconds"] > 0
    assert set(document["weights"]) >= {"association", "after_last_basket", "due"}
    assert [fit_id for fit_id, _ in _fits(shop)] == [document["fit_id"]]  # one fit: the new


def test_rules_persist_and_the_options_given_replace_them(shop: str) -> None:
    first = _json("fit", "--exclude", "POST", "--per-category", "2")["settings"]
    assert first == {
        "exclude": ["POST"],
        "margin_floor": None,
        "per_category": 2,
        "replenish_rate": 0.1,
        "due_from": 0.0,
    }
    skus = Path("skus.txt")
    skus.write_text("# service lines\nPOST\nP7  # discontinued\n\n", encoding="utf-8")
    second = _json("fit", "--margin-floor", "0.2", "--exclude-file", str(skus))["settings"]
    assert second == first | {"margin_floor": 0.2, "exclude": ["POST", "P7"]}
    third = _json("fit")["settings"]
    assert third == second  # a fit without options keeps the rules in force
    assert "excluded POST, P7; margin floor 20 %; at most 2 per category" in _ok("fit")
    assert _json("fit", "--reset", "--due-from", "0.5")["settings"] == {
        "exclude": [],
        "margin_floor": None,
        "per_category": 3,
        "replenish_rate": 0.1,
        "due_from": 0.5,
    }
    refused = _refused("fit", "--margin-floor", "1.5")
    assert refused.code == "cli.invalid"
    assert refused.details["problems"][0]["field"] == "margin_floor"


def test_show_offers_the_sauce_to_the_pasta_buyer_with_its_reason(shop: str) -> None:
    _ok("fit", "--exclude", "POST")
    cross = _json("show", "T-1", "--kind", "cross", "--k", "5")
    assert cross["kind"] == "cross"
    assert cross["count"] == len(cross["data"]) <= 5
    by_sku = {offer["sku"]: offer for offer in cross["data"]}
    assert "POST" not in by_sku
    assert by_sku["SAUCE"]["reason"]["code"] == "bought_together"
    assert by_sku["SAUCE"]["reason"]["figures"]["name"] == "Spaghetti"

    table = _ok("show", "T-1")
    assert "Recommendations for T-1" in table
    for title in ("Cross-selling", "Upselling", "Partner products"):
        assert title in table
    assert "SAUCE" in table
    assert "Tomato sauce" in table
    assert "Bought together with Spaghetti by" in table
    every = _json("show", "T-1")
    assert [kinds["kind"] for kinds in every["data"]] == ["cross", "up", "partner"]
    assert every["count"] == 3


def test_show_before_any_fit_or_for_nobody_is_refused(shop: str) -> None:
    assert _refused("show", "T-1").code == "recommend.not_fitted"
    _ok("fit")
    assert _refused("show", "nobody").code == "customers.not_found"


@pytest.mark.parametrize("json_output", [False, True])
def test_show_before_any_fit_is_a_red_message_or_a_json_error(
    shop: str,
    json_output: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As the console script runs it (``patron.cli.main``): exit 1, the code, no traceback."""
    arguments = ["patron", "recommend", "show", "T-1", *(["--json"] if json_output else [])]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 1
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    if json_output:
        error = json.loads(printed.out)["error"]
        assert error["code"] == "recommend.not_fitted"
        assert "patron recommend fit" in error["message"]
    else:
        assert "error (recommend.not_fitted) No recommendations yet" in printed.err


TINY = """order_id,customer_id,placed_at,sku,quantity,unit_price
a1,a,2024-01-01,X,1,1.00
a1,a,2024-01-01,Y,1,1.00
a2,a,2024-01-10,X,1,1.00
a3,a,2024-01-20,X,1,1.00
b1,b,2024-01-02,X,1,1.00
b2,b,2024-01-11,Y,1,1.00
b3,b,2024-01-21,Z,1,1.00
c1,c,2024-01-03,Y,1,1.00
c2,c,2024-01-12,X,1,1.00
c2,c,2024-01-12,Y,1,1.00
c3,c,2024-01-22,Y,1,1.00
c3,c,2024-01-22,W,1,1.00
d1,d,2024-01-04,W,1,1.00
d2,d,2024-01-13,X,1,1.00
d3,d,2024-01-23,X,1,1.00
"""


def test_evaluate_a_file_scores_popularity_as_by_hand(tmp_path: Path) -> None:
    """Held out: a {X}, b {Z}, c {Y, W}, d {X}. Before that, X has 4 buyers, Y 3, W 1, Z 0,
    so popularity offers everyone [X, Y] at k = 2: hits a 1 (rank 1), b 0, c 1 (rank 2), d 1."""
    path = tmp_path / "orders.csv"
    path.write_text(TINY, encoding="utf-8")
    document = _json("evaluate", str(path), "--k", "2", "--timezone", "UTC")
    assert (document["k"], document["customers"], document["products"]) == (2, 4, 4)
    assert document["baskets"] == 8
    assert document["source"] == str(path)
    scores = {(s["method"], s["part"]): s for s in document["scores"]}
    assert set(scores) == {(method, part) for method in METHODS for part in PARTS}
    popular = scores[("popularity", "overall")]
    rank_2 = 1 / math.log2(3)  # the discount of a hit at rank 2
    assert popular["customers"] == 4
    assert popular["precision"] == pytest.approx((1 / 2 + 0 + 1 / 2 + 1 / 2) / 4)
    assert popular["recall"] == pytest.approx((1 + 0 + 1 / 2 + 1) / 4)
    assert popular["hit_rate"] == pytest.approx(3 / 4)
    assert popular["ndcg"] == pytest.approx((1 + 0 + rank_2 / (1 + rank_2) + 1) / 4)
    assert popular["coverage"] == pytest.approx(2 / 4)  # X and Y of X, Y, Z, W
    assert scores[("patron", "new")]["customers"] == 2  # b's Z and c's W are new to them
    best = max(scores[(m, "overall")]["ndcg"] for m in METHODS[1:])
    assert document["ndcg_ratio"]["overall"] == pytest.approx(
        scores[("patron", "overall")]["ndcg"] / best
    )

    table = _ok("evaluate", str(path), "--k", "2", "--timezone", "UTC")
    assert "Last order held out of 4 customers in orders.csv" in table
    for label in (*PARTS, *METHODS, "precision", "recall", "hit rate", "NDCG", "coverage"):
        assert label in table
    assert "Patron's NDCG ÷ the better baseline's: overall" in table


def test_evaluate_a_file_leaves_out_what_is_excluded(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(TINY, encoding="utf-8")
    document = _json("evaluate", str(path), "--k", "2", "--timezone", "UTC", "--exclude", "W")
    assert document["excluded"] == ["W"]
    assert document["products"] == 3
    assert [s["customers"] for s in document["scores"] if s["part"] == "new"] == [1, 1, 1]


def test_evaluate_the_store_with_the_rules_in_force(shop: str) -> None:
    defaults = _json("evaluate")
    assert defaults["source"] == "store"
    assert defaults["customers"] == 40  # T-1 has no order before their last
    assert defaults["products"] == 11
    assert defaults["excluded"] == []
    assert _fits(shop) == []  # evaluating stores nothing

    _ok("fit", "--exclude", "POST")
    assert _json("evaluate")["excluded"] == ["POST"]
    assert _json("evaluate", "--exclude", "P1")["excluded"] == ["P1"]
    table = _ok("evaluate", "--k", "3")
    assert "in the store" in table
    assert "Scores at k = 3" in table
    for label in (*PARTS, *METHODS):
        assert label in table


def test_block_unblock_and_blocks(shop: str) -> None:
    _ok("fit")
    assert "SAUCE" in [o["sku"] for o in _json("show", "T-1", "--kind", "cross")["data"]]
    blocked = _json("block", "T-1", "SAUCE", "--reason", "allergic", "--actor", "anna")
    assert (blocked["sku"], blocked["name"], blocked["reason"]) == (
        "SAUCE",
        "Tomato sauce",
        "allergic",
    )
    assert blocked["created_by"] == "cli:anna"
    assert "SAUCE" not in [o["sku"] for o in _json("show", "T-1", "--kind", "cross")["data"]]
    listed = _json("blocks", "T-1")
    assert listed["count"] == 1
    assert listed["data"][0]["reason"] == "allergic"
    table = _ok("blocks", "T-1")
    assert "Blocked for T-1" in table
    assert "allergic" in table
    assert _refused("block", "T-1", "SAUCE").code == "recommend.already_blocked"
    assert _refused("block", "T-1", "NO-SUCH").code == "products.not_found"

    assert "SAUCE may be recommended to T-1 again" in _ok("unblock", "T-1", "SAUCE")
    assert "SAUCE" in [o["sku"] for o in _json("show", "T-1", "--kind", "cross")["data"]]
    assert _json("blocks", "T-1") == {"data": [], "count": 0}
    assert "nothing blocked" in _ok("blocks", "T-1")
    assert _refused("unblock", "T-1", "SAUCE").code == "recommend.not_blocked"
    assert "is no longer recommended to T-1" in _ok("block", "T-1", "P1")


def test_the_worker_fits_once_then_again_a_day_later(shop: str) -> None:
    first = runner.invoke(app, ["worker", "--once"])
    assert first.exit_code == 0, first.output
    assert "recommend: 1 refitted, 41 customers" in first.output
    [fitted] = _fits(shop)
    again = runner.invoke(app, ["worker", "--once"])
    assert "Nothing was due." in again.output
    assert _fits(shop) == [fitted]

    engine = make_engine(shop)
    with session_factory(engine).begin() as session:
        a_day_ago = utcnow() - timedelta(hours=24, minutes=1)
        session.execute(update(RecommendationFit).values(as_of=a_day_ago))
    engine.dispose()
    later = runner.invoke(app, ["worker", "--once"])
    assert "recommend: 1 refitted" in later.output
    [(_, refitted_at)] = _fits(shop)
    assert refitted_at > fitted[1]


def test_the_worker_waits_for_a_repeat_buyer(cli_env: str) -> None:
    engine = make_engine(cli_env)
    with session_factory(engine).begin() as session:
        first_timer = make.customer(session)
        make.order(session, first_timer, lines=[make.line(make.product(session))])
    engine.dispose()
    ran = runner.invoke(app, ["worker", "--once"])
    assert "Nothing was due." in ran.output
    assert _fits(cli_env) == []


def test_demo_generate_leaves_the_fit_to_the_first_start(cli_env: str) -> None:
    made = runner.invoke(app, ["demo", "generate", "--customers", "200", "--seed", "3", "--json"])
    assert made.exit_code == 0, made.output
    assert _fits(cli_env) == []
    engine = make_engine(cli_env)
    demo._fit_once(engine)  # what `patron demo` does after scoring
    [fitted] = _fits(cli_env)
    demo._fit_once(engine)
    assert _fits(cli_env) == [fitted]
    with Session(engine) as session:
        assert service.fit_public(session).summary["customers"] > 100
    engine.dispose()
