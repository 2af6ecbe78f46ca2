"""``patron loyalty …``: set up from a file, read points, book by hand, verify, time travel."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import factories as make
from patron.cli import app
from patron.db import make_engine, session_factory, utcnow
from patron.errors import PatronError
from patron.loyalty import service
from patron.loyalty.schemas import PurchaseIn, PurchaseLineIn

PROGRAMME = Path(__file__).resolve().parents[2] / "src" / "patron" / "demo" / "programme.yaml"
runner = CliRunner(env={"COLUMNS": "200"})


def _ok(*arguments: str) -> str:
    result = runner.invoke(app, ["loyalty", *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(*arguments: str) -> Any:
    return json.loads(_ok(*arguments, "--json"))


def _refused(*arguments: str) -> PatronError:
    result = runner.invoke(app, ["loyalty", *arguments])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, PatronError), result.exception
    return result.exception


@pytest.fixture
def store(cli_env: str) -> str:
    """Two customers, K-1 and K-2, and no programme yet."""
    engine = make_engine(cli_env)
    with session_factory(engine).begin() as session:
        make.customer(session, external_id="K-1", name="Anna Berg")
        make.customer(session, external_id="K-2", name="Bjørn Dahl")
    engine.dispose()
    return cli_env


@pytest.fixture
def club(store: str) -> str:
    """The demo programme set up through the CLI."""
    _ok("setup", str(PROGRAMME), "--actor", "tester")
    return store


def _buy(url: str, customer: str, order: str, amount: str) -> None:
    """A purchase, as the shop books it through the API (the CLI does not book purchases)."""
    engine = make_engine(url)
    lines = [PurchaseLineIn(amount=Decimal(amount), category="Pasta & Rice")]
    purchase = PurchaseIn(customer=customer, order=order, currency="EUR", lines=lines)
    with session_factory(engine)() as session:
        service.record_purchase(
            session, programme_code="club", key=order, purchase=purchase, actor=None, now=utcnow()
        )
    engine.dispose()


def test_setup_creates_the_programme_then_changes_nothing(store: str) -> None:
    created = _ok("setup", str(PROGRAMME), "--actor", "tester")
    assert "Programme club: created" in created
    assert "reward voucher-5 added" in created
    again = _json("setup", str(PROGRAMME))
    assert again == {"programme": "club", "id": again["id"], "changes": []}
    listed = _json("show")
    assert listed["count"] == 1
    assert listed["data"][0]["code"] == "club"
    assert listed["data"][0]["tiers"] == ["bronze", "silver", "gold", "vip"]
    audit = _json("audit")
    assert {"programme.created", "reward.created"} <= {r["action"] for r in audit["data"]}
    assert {r["actor"] for r in audit["data"]} == {"cli:tester"}


def test_setup_reads_json_too(store: str, tmp_path: Path) -> None:
    import yaml

    document = yaml.safe_load(PROGRAMME.read_text(encoding="utf-8"))
    document["programme"]["name"] = "Club (from JSON)"
    path = tmp_path / "club.json"
    path.write_text(json.dumps(document, default=str), encoding="utf-8")
    _ok("setup", str(path))
    assert _json("show")["data"][0]["name"] == "Club (from JSON)"


def test_a_bad_file_is_refused_naming_the_fields_and_nothing_is_stored(
    store: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    original = PROGRAMME.read_text(encoding="utf-8")
    bad.write_text(
        original.replace("currency: EUR", "currency: euro").replace(
            "threshold: 500,", "threshold: -5,"
        ),
        encoding="utf-8",
    )
    error = _refused("setup", str(bad))
    assert error.code == "loyalty.invalid_programme"
    assert "bad.yaml" in error.message
    assert "currency" in error.message
    assert "tiers.levels.1.threshold" in error.message
    broken = tmp_path / "broken.yaml"
    broken.write_text("programme: [code: club\n", encoding="utf-8")
    assert _refused("setup", str(broken)).code == "loyalty.invalid_programme"
    assert _json("show") == {"data": [], "count": 0}
    assert _json("audit")["count"] == 0
    assert "no programme yet" in _ok("show")


def test_show_says_a_programmes_rules_in_plain_words(club: str) -> None:
    shown = _ok("show", "club")
    for expected in (
        "Patron Club",
        "1 point per EUR",
        "category Coffee: 2× points",
        "pending for 14 days",
        "expire 24 months after",
        "100 points for a member's first purchase",
        "Silver: 500 points earned in the last 12 months",  # patron.loyalty.tiers.rules
        "keeps the tier for 90 more days",
        "Advent double points",
        "espresso-cups",
    ):
        assert expected in shown, expected
    document = _json("show", "club")
    assert document["programme"]["code"] == "club"
    assert document["rules"]["Tiers"][1].startswith("Silver")
    assert document["rewards"][0]["code"] == "gift-wrap"  # cheapest first
    assert _refused("show", "nope").code == "loyalty.unknown_programme"


def test_adjust_books_points_by_hand_and_balance_shows_them(club: str) -> None:
    granted = _ok("adjust", "K-1", "250", "--reason", "goodwill")
    assert "Booked +250 points for K-1" in granted
    assert "idempotency key: cli-" in granted
    taken = _json("adjust", "K-1", "-100", "--reason", "correction", "--key", "fix-1")
    assert taken["key"] == "fix-1"
    assert taken["booking"]["points"] == -100
    again = _json("adjust", "K-1", "-100", "--reason", "correction", "--key", "fix-1")
    assert again["replayed"] is True  # the same key books once
    balance = _json("balance", "K-1")
    assert (balance["balance"], balance["available"], balance["debt"]) == (150, 150, 0)
    assert balance["value"] == "1.50"
    assert "150 points" in _ok("balance", "K-1")
    audit = _json("audit", "--programme", "club", "--limit", "2")["data"]
    assert [r["action"] for r in audit] == ["points.adjusted", "points.adjusted"]
    assert audit[0]["actor"].startswith("cli:")


def test_adjust_refuses_what_the_ledger_or_the_request_does_not_allow(club: str) -> None:
    _ok("adjust", "K-1", "50", "--reason", "goodwill")
    assert _refused("adjust", "K-1", "-80", "--reason", "too much").code == "points.insufficient"
    assert _refused("adjust", "K-1", "5", "--reason", "x").code == "cli.invalid"
    assert _refused("adjust", "K-404", "5", "--reason", "nobody").code == "customers.not_found"
    owed = _json("adjust", "K-1", "-80", "--reason", "returned", "--allow-negative")
    assert owed["booking"]["balance"]["debt"] == 30


def test_statement_and_progress(club: str) -> None:
    _buy(club, "K-1", "O-1", "40.00")
    _ok("adjust", "K-1", "20", "--reason", "goodwill")
    statement = _json("statement", "K-1")
    assert statement["count"] == 3  # 40 purchase points, 100 first-purchase bonus, 20 by hand
    assert [e["running_balance"] for e in statement["data"]] == [160, 140, 40]
    shown = _ok("statement", "K-1")
    assert "O-1" in shown
    assert "goodwill" in shown
    progress = _json("progress", "K-1")
    assert progress["tier"]["code"] == "bronze"
    assert Decimal(progress["missing"]) == 500 - 140  # adjustments do not count toward tiers
    assert "Silver" in _ok("progress", "K-1")
    assert _refused("balance", "K-2").code == "loyalty.not_a_member"


def test_verify_passes_a_sound_ledger(club: str) -> None:
    _ok("adjust", "K-1", "250", "--reason", "goodwill")
    _buy(club, "K-2", "O-1", "12.00")
    assert _ok("verify").strip() == "ledger sound: 2 members, 3 entries checked"
    assert _json("verify") == {"sound": True, "members": 2, "entries": 3, "problems": []}


def test_verify_fails_naming_a_corrupted_balance(club: str) -> None:
    _ok("adjust", "K-1", "250", "--reason", "goodwill")
    engine = make_engine(club)
    with engine.begin() as connection:
        connection.execute(text("UPDATE loyalty_accounts SET balance = balance + 5"))
    engine.dispose()
    result = runner.invoke(app, ["loyalty", "verify"])
    assert result.exit_code == 1
    assert "customer K-1: cached balance 255 ≠ sum of entries 250" in result.stderr
    dirty = runner.invoke(app, ["loyalty", "verify", "--json"])
    assert dirty.exit_code == 1
    document = json.loads(dirty.stdout)
    assert document["sound"] is False
    assert document["problems"][0]["customer"] == "K-1"


def test_expire_travels_in_time_once(club: str) -> None:
    _buy(club, "K-1", "O-1", "40.00")  # 40 + 100 points, pending for 14 days, expiring in 2 years
    first = _json("expire", "--as-of", "2099-01-01")
    assert first["as_of"] == "2099-01-01T00:00:00+00:00"
    assert first["lots_vested"] == 2
    assert (first["members"], first["points_expired"]) == (1, 140)
    second = _json("expire", "--as-of", "2099-01-01")
    assert {k: v for k, v in second.items() if k != "as_of"} == dict.fromkeys(
        ("lots_vested", "members", "points_expired", "tiers_changed", "grace_started"), 0
    )
    expired = [e for e in _json("statement", "K-1")["data"] if e["kind"] == "expire"]
    assert sum(e["amount"] for e in expired) == -140
    assert "points expired" in _ok("expire", "--as-of", "2099-01-01T10:00:00+01:00")
    assert _refused("expire", "--as-of", "soon").code == "cli.invalid_date"
    assert _json("verify")["sound"] is True


def test_liability_members_and_vouchers(club: str) -> None:
    _buy(club, "K-1", "O-1", "40.00")
    _ok("adjust", "K-2", "300", "--reason", "welcome")
    (row,) = _json("liability")["data"]
    assert (row["programme"], row["members"], row["points"], row["pending"]) == (
        "club",
        2,
        440,
        140,
    )
    assert row["value"] == "4.40"
    assert "4.40 EUR" in _ok("liability")
    members = _json("members")
    assert [m["external_id"] for m in members["data"]] == ["K-2", "K-1"]  # by balance
    assert _json("members", "--search", "anna")["count"] == 1
    assert _json("members", "--tier", "gold")["count"] == 0
    issued = _json("vouchers", "issue", "--value", "5", "--count", "2", "--customer", "K-1")
    assert issued["count"] == 2
    assert {Decimal(v["value"]) for v in issued["data"]} == {Decimal(5)}
    assert "vouchers" in _ok("vouchers", "issue", "--value", "2.50")
    assert _refused("vouchers", "issue", "--value", "0").code == "cli.invalid"


def test_the_only_programme_is_the_default_else_one_is_named(club: str, tmp_path: Path) -> None:
    assert _refused("members", "--programme", "other").code == "loyalty.unknown_programme"
    other = tmp_path / "other.yaml"
    other.write_text(
        PROGRAMME.read_text(encoding="utf-8").replace("code: club", "code: other"),
        encoding="utf-8",
    )
    _ok("setup", str(other))
    assert _refused("members").code == "loyalty.programme_needed"
    assert _json("members", "--programme", "other")["count"] == 0
    assert len(_json("liability")["data"]) == 2


def test_commands_without_a_programme_say_how_to_set_one_up(store: str) -> None:
    error = _refused("balance", "K-1")
    assert error.code == "loyalty.no_programme"
    assert "patron loyalty setup" in error.message
    assert _json("liability") == {"data": [], "count": 0}
    assert _json("verify")["sound"] is True
