"""The segment language: parsing, errors that point at the spot, three-valued logic, and the
database agreeing with the Python evaluation on any expression (Hypothesis)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    select,
)

from patron.engage.segment_sql import where
from patron.engage.segments import (
    And,
    Compare,
    Field,
    In,
    IsNull,
    Not,
    Or,
    SegmentError,
    Truthy,
    Type,
    matches,
    parse,
)

CATALOGUE = {
    field.name: field
    for field in (
        Field("abc", Type.text),
        Field("language", Type.text),
        Field("p_alive", Type.number),
        Field("orders", Type.number),
        Field("consent.email", Type.boolean),
        Field("first_order", Type.date),
    )
}


def test_the_issues_example_reads_as_meant() -> None:
    segment = parse('abc = "A" and p_alive < 0.5 and language = "de" and consent.email', CATALOGUE)
    assert segment.expr == And(
        (
            Compare("abc", "=", "A"),
            Compare("p_alive", "<", 0.5),
            Compare("language", "=", "de"),
            Truthy("consent.email"),
        )
    )
    assert segment.fields == {"abc", "p_alive", "language", "consent.email"}


def test_precedence_not_over_and_over_or_and_parentheses() -> None:
    expr = parse('not abc = "A" or orders > 2 and language is null', CATALOGUE).expr
    assert expr == Or(
        (
            Not(Compare("abc", "=", "A")),
            And((Compare("orders", ">", 2.0), IsNull("language"))),
        )
    )
    grouped = parse('not (abc = "A" or orders > 2)', CATALOGUE).expr
    assert grouped == Not(Or((Compare("abc", "=", "A"), Compare("orders", ">", 2.0))))


def test_lists_nulls_dates_keywords_in_any_case() -> None:
    expr = parse(
        'Language IN (\'de\', "nb") AND first_order >= "2024-02-29" '
        "and language is not null and abc not in ('C')",
        CATALOGUE,
    ).expr
    assert expr == And(
        (
            In("language", ("de", "nb")),
            Compare("first_order", ">=", date(2024, 2, 29)),
            IsNull("language", negated=True),
            In("abc", ("C",), negated=True),
        )
    )
    assert parse('abc = "say \\"hi\\""', CATALOGUE).expr == Compare("abc", "=", 'say "hi"')


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("", 1, "empty"),
        ('abd = "A"', 1, "unknown field 'abd'; did you mean abc"),
        ('abc = "A" and p_alve < 1', 15, "unknown field 'p_alve'; did you mean p_alive"),
        ('p_alive = "high"', 11, "p_alive is a number"),
        ("abc = 3", 7, "abc is a text"),
        ("consent.email < true", 15, "compare it with = or !="),
        ("orders", 1, "compare it with a value"),
        ('first_order > "2024-13-01"', 15, 'write it as "YYYY-MM-DD"'),
        ('abc = "A" $ 1', 11, "unexpected character '$'"),
        ('abc = "A" p_alive', 11, "unexpected 'p_alive'"),
        ('(abc = "A"', 11, "ends too early"),
        ('abc = "A" and and', 15, "not the word 'and'"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(SegmentError) as error:
        parse(text, CATALOGUE)
    assert error.value.column == column
    assert words in error.value.message
    assert error.value.code == "segment.invalid"
    assert error.value.details["pointer"] == " " * (column - 1) + "^"


def test_missing_values_are_unknown_as_in_sql() -> None:
    missing = {"abc": None, "consent.email": None, "orders": 3.0}
    # a comparison with a missing value is neither true nor false: not even its negation holds
    assert not matches(parse('abc = "A"', CATALOGUE), missing)
    assert not matches(parse('not abc = "A"', CATALOGUE), missing)
    assert not matches(parse("consent.email", CATALOGUE), missing)
    # unknown or true is true; unknown and false is false, so its negation is true
    assert matches(parse('abc = "A" or orders = 3', CATALOGUE), missing)
    assert matches(parse('not (abc = "A" and orders = 4)', CATALOGUE), missing)
    assert matches(parse("abc is null", CATALOGUE), missing)


# -- the database agrees with matches() on any expression ------------------------------------

COLUMNS = {"abc": "abc", "language": "language", "p_alive": "p_alive", "orders": "orders"}
COLUMNS |= {"consent.email": "consent_email", "first_order": "first_order"}
VALUES: dict[str, list[Any]] = {
    "abc": ["A", "B", "C", None],
    "language": ["de", "en", "nb", None],
    "p_alive": [0.0, 0.25, 0.5, 0.9, None],
    "orders": [0.0, 1.0, 2.0, 7.0, None],
    "consent.email": [True, False, None],
    "first_order": [date(2023, 1, 5), date(2024, 6, 1), date(2025, 12, 31), None],
}
LITERALS = {
    "abc": ['"A"', '"B"', '"Z"'],
    "language": ['"de"', "'nb'", '"fr"'],
    "p_alive": ["0", "0.25", "0.5", "1"],
    "orders": ["0", "1", "2", "10"],
    "consent.email": ["true", "false"],
    "first_order": ['"2024-06-01"', '"2023-01-01"', '"2026-01-01"'],
}


def _rows(n: int = 80) -> list[dict[str, Any]]:
    rng = random.Random(20261202)
    return [
        {"id": i} | {name: rng.choice(options) for name, options in VALUES.items()}
        for i in range(n)
    ]


@st.composite
def comparison(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(LITERALS)))
    literal = st.sampled_from(LITERALS[name])
    boolean = name == "consent.email"
    kind = draw(
        st.sampled_from(["compare", "in", "null", "bare"] if boolean else ["compare", "in", "null"])
    )
    if kind == "null":
        return f"{name} is {draw(st.sampled_from(['', 'not ']))}null"
    if kind == "bare":
        return name
    if kind == "in":
        values = draw(st.lists(literal, min_size=1, max_size=3))
        return f"{name} {draw(st.sampled_from(['in', 'not in']))} ({', '.join(values)})"
    ops = ["=", "!="] if boolean else ["=", "!=", "<", "<=", ">", ">="]
    return f"{name} {draw(st.sampled_from(ops))} {draw(literal)}"


expressions = st.recursive(
    comparison(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " or "]), inner).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        ),
        inner.map(lambda text: f"not ({text})"),
    ),
    max_leaves=6,
)


@pytest.fixture
def people(engine: Engine) -> tuple[Table, list[dict[str, Any]]]:
    metadata = MetaData()
    table = Table(
        "segment_people_test",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("abc", String(1)),
        Column("language", String(2)),
        Column("p_alive", Float),
        Column("orders", Float),
        Column("consent_email", Boolean),
        Column("first_order", Date),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    rows = _rows()
    with engine.begin() as connection:
        connection.execute(
            table.insert(), [{COLUMNS.get(k, k): v for k, v in row.items()} for row in rows]
        )
    yield table, rows
    metadata.drop_all(engine)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=expressions)
def test_the_database_and_python_agree(
    engine: Engine, people: tuple[Table, list[dict[str, Any]]], text: str
) -> None:
    table, rows = people
    segment = parse(text, CATALOGUE)
    columns = {field: table.c[column] for field, column in COLUMNS.items()}
    with engine.connect() as connection:
        found = set(connection.scalars(select(table.c.id).where(where(segment, columns))))
    expected = {row["id"] for row in rows if matches(segment, row)}
    assert found == expected, text
