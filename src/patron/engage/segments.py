"""The segment language: a small, safe filter over customer attributes and scores.

    abc = "A" and p_alive < 0.5 and language in ("de", "at") and consent.email
    not (phase = "dissolution" or country is null)

Parsed by Lark (LALR) into a tree of frozen dataclasses, checked against a catalogue of the
fields a segment may name (each with a type), and then either evaluated on a plain row
(``matches``) or compiled to a database expression (``segment_sql``) — never to SQL text.
Errors name the column in the expression and what was wrong there.

Logic is SQL's three-valued one: a comparison with a missing value is unknown, ``not`` of
unknown stays unknown, and a customer is in the segment only when the whole expression is
true; so ``matches`` and the database always agree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any, TypeAlias

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from patron.errors import PatronError

MAX_LENGTH = 2_000
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})

GRAMMAR = r"""
?start: disj
?disj: conj
     | disj _OR conj              -> or_
?conj: neg
     | conj _AND neg              -> and_
?neg: _NOT neg                    -> not_
    | atom
?atom: field OP value             -> compare
     | field _IN "(" values ")"   -> in_
     | field _NOT _IN "(" values ")" -> not_in
     | field _IS _NULL            -> is_null
     | field _IS _NOT _NULL       -> is_not_null
     | field                      -> truthy
     | "(" disj ")"
values: value ("," value)*
?value: STRING                    -> string
      | NUMBER                    -> number
      | _TRUE                     -> true
      | _FALSE                    -> false
field: NAME ("." NAME)*
OP: "<=" | ">=" | "!=" | "=" | "<" | ">"
_OR: "or"i
_AND: "and"i
_NOT: "not"i
_IN: "in"i
_IS: "is"i
_NULL: "null"i
_TRUE: "true"i
_FALSE: "false"i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:[^"\\]|\\.)*"/ | /'(?:[^'\\]|\\.)*'/
NUMBER: /-?(?:\d+\.?\d*|\.\d+)/
%ignore /\s+/
"""


class SegmentError(PatronError):
    code = "segment.invalid"
    status = 422

    def __init__(self, message: str, *, column: int, text: str) -> None:
        pointer = " " * (column - 1) + "^"
        super().__init__(
            f"column {column}: {message}",
            details={"column": column, "expression": text, "pointer": pointer},
        )
        self.column = column


class Type(StrEnum):
    text = "text"
    number = "number"
    boolean = "boolean"
    date = "date"


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    description: str = ""


# -- the tree --------------------------------------------------------------------------------

Value: TypeAlias = str | float | bool | date


@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # = != < <= > >=
    value: Value


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    field: str
    negated: bool = False


@dataclass(frozen=True)
class Truthy:
    field: str


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr: TypeAlias = Compare | In | IsNull | Truthy | And | Or | Not


@dataclass(frozen=True)
class Segment:
    """A parsed and checked expression, with the fields it reads."""

    text: str
    expr: Expr
    fields: frozenset[str]


# -- parsing and checking --------------------------------------------------------------------


def parse(text: str, catalogue: Mapping[str, Field]) -> Segment:
    """The segment of ``text``, checked against ``catalogue`` (field name → Field)."""
    if not text.strip():
        raise SegmentError("the expression is empty", column=1, text=text)
    if len(text) > MAX_LENGTH:
        raise SegmentError(f"longer than {MAX_LENGTH} characters", column=MAX_LENGTH, text=text)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, text) from None
    try:
        expr = _Build(text, catalogue).transform(tree)
    except VisitError as error:  # Lark wraps what the transformer raises
        if isinstance(error.orig_exc, SegmentError):
            raise error.orig_exc from None
        raise
    return Segment(text, expr, frozenset(_fields(expr)))


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _syntax_error(error: UnexpectedInput, text: str) -> SegmentError:
    column = max(int(getattr(error, "column", 1) or 1), 1)
    if isinstance(error, UnexpectedEOF):
        return SegmentError("the expression ends too early", column=len(text) + 1, text=text)
    if isinstance(error, UnexpectedCharacters):
        at = int(error.pos_in_stream or 0)
        char = text[at] if at < len(text) else ""
        return SegmentError(f"unexpected character {char!r}", column=column, text=text)
    if isinstance(error, UnexpectedToken):
        found = error.token
        if found.type == "$END":
            return SegmentError("the expression ends too early", column=len(text) + 1, text=text)
        expected = _words(error.expected)
        hint = f"; expected {expected}" if expected else ""
        return SegmentError(f"unexpected {str(found)!r}{hint}", column=column, text=text)
    return SegmentError("cannot read the expression", column=column, text=text)


WORDS = {
    "OP": "a comparison (=, !=, <, <=, >, >=)",
    "_AND": "and",
    "_OR": "or",
    "_NOT": "not",
    "_IN": "in",
    "_IS": "is",
    "NAME": "a field",
    "STRING": "a quoted text",
    "NUMBER": "a number",
    "_TRUE": "true",
    "_FALSE": "false",
    "_NULL": "null",
    "LPAR": '"("',
    "RPAR": '")"',
    "COMMA": '","',
}


def _words(expected: set[str]) -> str:
    names = sorted({WORDS.get(name, name.lower()) for name in expected})
    return ", ".join(names[:6])


def _column(node: Tree | Token) -> int:
    if isinstance(node, Token):
        return int(node.column or 1)
    return int(getattr(node.meta, "column", 1) or 1)


@v_args(tree=True)
class _Build(Transformer[Token, Expr]):
    """Lark tree → checked dataclasses."""

    def __init__(self, text: str, catalogue: Mapping[str, Field]) -> None:
        super().__init__()
        self.text = text
        self.catalogue = catalogue

    def _field(self, node: Tree) -> Field:
        name = ".".join(str(token) for token in node.children)
        known = self.catalogue.get(name) or self.catalogue.get(name.lower())
        if known is None and name.lower() in KEYWORDS:
            raise SegmentError(
                f"a field was expected here, not the word {name!r}",
                column=_column(node),
                text=self.text,
            )
        if known is None:
            close = difflib.get_close_matches(name, list(self.catalogue), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SegmentError(
                f"unknown field {name!r}{hint}", column=_column(node), text=self.text
            )
        return known

    def _value(self, field: Field, node: Tree) -> Value:
        kind, token = node.data, node.children[0] if node.children else None
        column = _column(node)
        if kind == "string":
            raw = _unquote(str(token))
            if field.type is Type.text:
                return raw
            if field.type is Type.date:
                try:
                    return date.fromisoformat(raw)
                except ValueError:
                    raise SegmentError(
                        f'{field.name} is a date: write it as "YYYY-MM-DD", not {raw!r}',
                        column=column,
                        text=self.text,
                    ) from None
        elif kind == "number" and field.type is Type.number:
            return float(str(token))
        elif kind in ("true", "false") and field.type is Type.boolean:
            return kind == "true"
        raise SegmentError(
            f"{field.name} is {_article(field.type)}; {_shown(kind)} does not compare with it",
            column=column,
            text=self.text,
        )

    def compare(self, tree: Tree) -> Expr:
        node, op, value = tree.children
        field = self._field(node)
        if field.type is Type.boolean and str(op) not in ("=", "!="):
            raise SegmentError(
                f"{field.name} is yes or no: compare it with = or !=",
                column=_column(op),
                text=self.text,
            )
        return Compare(field.name, str(op), self._value(field, value))

    def in_(self, tree: Tree, negated: bool = False) -> Expr:
        node, values = tree.children
        field = self._field(node)
        return In(field.name, tuple(self._value(field, v) for v in values.children), negated)

    def not_in(self, tree: Tree) -> Expr:
        return self.in_(tree, negated=True)

    def is_null(self, tree: Tree) -> Expr:
        return IsNull(self._field(tree.children[0]).name)

    def is_not_null(self, tree: Tree) -> Expr:
        return IsNull(self._field(tree.children[0]).name, negated=True)

    def truthy(self, tree: Tree) -> Expr:
        field = self._field(tree.children[0])
        if field.type is not Type.boolean:
            raise SegmentError(
                f"{field.name} is {_article(field.type)}: compare it with a value "
                f"(e.g. {field.name} = …)",
                column=_column(tree),
                text=self.text,
            )
        return Truthy(field.name)

    def and_(self, tree: Tree) -> Expr:
        return And(_flatten(And, tree.children))

    def or_(self, tree: Tree) -> Expr:
        return Or(_flatten(Or, tree.children))

    def not_(self, tree: Tree) -> Expr:
        inner = tree.children[0]
        assert not isinstance(inner, Tree)  # transformed bottom-up: an Expr by now
        return Not(inner)


def _flatten(kind: type[And] | type[Or], items: Sequence[Any]) -> tuple[Expr, ...]:
    out: list[Expr] = []
    for item in items:
        out.extend(item.items if isinstance(item, kind) else (item,))
    return tuple(out)


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _article(kind: Type) -> str:
    return {
        Type.text: "a text",
        Type.number: "a number",
        Type.boolean: "yes or no",
        Type.date: "a date",
    }[kind]


def _shown(kind: str) -> str:
    return {"string": "a quoted text", "number": "a number"}.get(kind, kind)


def _fields(expr: Expr) -> list[str]:
    if isinstance(expr, And | Or):
        return [name for item in expr.items for name in _fields(item)]
    if isinstance(expr, Not):
        return _fields(expr.item)
    return [expr.field]


# -- evaluating on a row ---------------------------------------------------------------------


def matches(segment: Segment | Expr, row: Mapping[str, Any]) -> bool:
    """Whether ``row`` (field name → value, None when missing) is in the segment."""
    expr = segment.expr if isinstance(segment, Segment) else segment
    return _truth(expr, row) is True


def _truth(expr: Expr, row: Mapping[str, Any]) -> bool | None:
    """SQL's three-valued logic: True, False or None (unknown)."""
    if isinstance(expr, And):
        values = [_truth(item, row) for item in expr.items]
        if False in values:
            return False
        return None if None in values else True
    if isinstance(expr, Or):
        values = [_truth(item, row) for item in expr.items]
        if True in values:
            return True
        return None if None in values else False
    if isinstance(expr, Not):
        inner = _truth(expr.item, row)
        return None if inner is None else not inner
    value = row.get(expr.field)
    if isinstance(expr, IsNull):
        return (value is not None) if expr.negated else (value is None)
    if value is None:
        return None
    if isinstance(expr, Truthy):
        return bool(value)
    if isinstance(expr, In):
        found = value in expr.values
        return not found if expr.negated else found
    return _compare(value, expr.op, expr.value)


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def of_ids(ids: Sequence[int]) -> str:
    """The segment of exactly these customers: ``id in (1, 2, 3)``."""
    return f"id in ({', '.join(str(i) for i in ids)})"


def id_batches(ids: Sequence[int]) -> list[list[int]]:
    """The ids in groups whose ``of_ids`` segment fits ``MAX_LENGTH``: one-off campaigns to a
    list of customers (event invitations, subscription offers) are sent as several segments."""
    batches: list[list[int]] = []
    current: list[int] = []
    for customer_id in ids:
        if current and len(of_ids([*current, customer_id])) > MAX_LENGTH:
            batches.append(current)
            current = []
        current.append(customer_id)
    if current:
        batches.append(current)
    return batches
