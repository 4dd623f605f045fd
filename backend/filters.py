"""The run filter language, parsed into a parameterised SQL condition.

Grammar (the one MLflow users know)::

    filter     := clause ("and" clause)*
    clause     := identifier op value
    identifier := ("metrics" | "params" | "tags" | "attributes") "." key     (bare key = attribute)
    key        := name | `quoted` | "quoted"
    op         := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value      := number | 'string' | "string" | "(" value ("," value)* ")"
    clause     := identifier IS [NOT] NULL     (the key or attribute is absent / present)

Keys and values always become bound parameters; only fixed SQL fragments are pasted.
A `FilterError` carries the character position of the problem.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import Invalid

Entity = Literal["metrics", "params", "tags", "attributes"]

ATTRIBUTES: dict[str, str] = {
    "status": "r.status",
    "run_name": "r.name",
    "name": "r.name",
    "run_id": "r.id",
    "id": "r.id",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
    "experiment_id": "r.experiment_id",
    "parent_id": "r.parent_id",
    "duration": "(r.end_time - r.start_time)",
}
NOT_NULL_ATTRIBUTES = {"status", "run_name", "name", "run_id", "id", "start_time", "experiment_id"}
ENTITY_ALIASES: dict[str, Entity] = {
    "metric": "metrics", "metrics": "metrics",
    "param": "params", "params": "params", "parameter": "params", "parameters": "params",
    "tag": "tags", "tags": "tags",
    "attribute": "attributes", "attributes": "attributes", "attr": "attributes", "run": "attributes",
}
COMPARISONS = ("!=", "<=", ">=", "=", "<", ">")
MAX_CLAUSES = 100
"""Clauses one filter may hold: each is a subquery, and SQLite's expression depth is finite."""
MAX_LIST_ITEMS = 200
"""Values one IN / NOT IN list may hold (every value is a bound parameter)."""
MAX_ORDER_KEYS = 10
"""Sort keys one search may give. SQLite 3.40 crashes (SIGSEGV) on a join ordered by 64 or more
terms; each key is at most 3 terms, so the query stays far below that."""


class FilterError(Invalid):
    """A filter that does not parse; `position` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int, field: str = "filter") -> None:
        super().__init__(f"{message} at position {position}", field)
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "string", "number", "op", "lparen", "rparen", "comma", "end"
    text: str
    position: int


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<backtick>`[^`]*`)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][\w\-:/]*)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise FilterError(f"unexpected character {text[position]!r}", position)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    if token.text[0] == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


@dataclass(frozen=True)
class Condition:
    entity: Entity
    key: str
    op: str
    value: str | float | tuple[str | float, ...]
    position: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect_word(self, word: str) -> bool:
        token = self.current
        if token.kind == "ident" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def parse(self) -> list[Condition]:
        if self.current.kind == "end":
            return []
        conditions = [self.clause()]
        while self.current.kind != "end":
            if not self.expect_word("and"):
                token = self.current
                hint = " ('or' is not supported)" if token.text.lower() == "or" else ""
                raise FilterError(f"expected 'and' but found {token.text!r}{hint}", token.position)
            if len(conditions) == MAX_CLAUSES:
                raise FilterError(f"a filter may hold at most {MAX_CLAUSES} clauses", self.current.position)
            conditions.append(self.clause())
        return conditions

    def identifier(self) -> tuple[Entity, str, int]:
        token = self.advance()
        if token.kind not in ("ident", "backtick", "string"):
            raise FilterError(f"expected a name like metrics.acc but found {token.text!r}", token.position)
        first = token.text if token.kind == "ident" else _unquote(token)
        if self.current.kind != "dot":
            if first in ATTRIBUTES:
                return "attributes", first, token.position
            raise FilterError(
                f"{first!r} needs a prefix: metrics., params., tags. or attributes.", token.position
            )
        self.advance()
        entity = ENTITY_ALIASES.get(first.lower())
        if entity is None:
            raise FilterError(
                f"unknown entity {first!r}; use metrics, params, tags or attributes", token.position
            )
        key_token = self.advance()
        if key_token.kind == "ident":
            key = key_token.text
            while self.current.kind == "dot" and self.tokens[self.index + 1].kind == "ident":
                self.advance()
                key += "." + self.advance().text
        elif key_token.kind in ("backtick", "string"):
            key = _unquote(key_token)
        else:
            raise FilterError(f"expected a key after '{first}.'", key_token.position)
        if entity == "attributes" and key not in ATTRIBUTES:
            known = ", ".join(sorted(ATTRIBUTES))
            raise FilterError(f"unknown attribute {key!r}; known: {known}", key_token.position)
        return entity, key, token.position

    def operator(self) -> str:
        token = self.current
        if token.kind == "op":
            self.advance()
            return token.text
        if token.kind == "ident":
            word = token.text.upper()
            if word == "IS":
                self.advance()
                negated = self.expect_word("not")
                if self.expect_word("null"):
                    return "IS NOT NULL" if negated else "IS NULL"
                raise FilterError("expected NULL or NOT NULL after IS", self.current.position)
            if word in ("LIKE", "ILIKE", "IN"):
                self.advance()
                return word
            if word == "NOT":
                self.advance()
                if self.expect_word("in"):
                    return "NOT IN"
                raise FilterError("expected IN after NOT", self.current.position)
        raise FilterError(f"expected a comparison operator but found {token.text!r}", token.position)

    def scalar(self) -> str | float:
        token = self.advance()
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return _unquote(token)
        raise FilterError(f"expected a number or a quoted string but found {token.text!r}", token.position)

    def clause(self) -> Condition:
        entity, key, position = self.identifier()
        op = self.operator()
        value: str | float | tuple[str | float, ...]
        if op in ("IS NULL", "IS NOT NULL"):
            return Condition(entity, key, op, (), position)
        if op in ("IN", "NOT IN"):
            token = self.advance()
            if token.kind != "lparen":
                raise FilterError(f"expected '(' after {op}", token.position)
            items = [self.scalar()]
            while self.current.kind == "comma":
                if len(items) == MAX_LIST_ITEMS:
                    raise FilterError(f"an {op} list may hold at most {MAX_LIST_ITEMS} values", token.position)
                self.advance()
                items.append(self.scalar())
            closing = self.advance()
            if closing.kind != "rparen":
                raise FilterError("expected ')' to close the list", closing.position)
            value = tuple(items)
        else:
            value = self.scalar()
        if entity == "metrics" and (op in ("LIKE", "ILIKE") or isinstance(value, str)):
            raise FilterError(f"metrics.{key} compares with numbers only", position)
        if op in ("LIKE", "ILIKE") and not isinstance(value, str):
            raise FilterError(f"{op} needs a quoted pattern", position)
        return Condition(entity, key, op, value, position)


def parse_filter(text: str | None) -> list[Condition]:
    """Parse a filter into conditions joined by AND; raise `FilterError` on bad input."""
    if not text or not text.strip():
        return []
    return _Parser(text).parse()


def _comparison(column: str, condition: Condition, args: list[object]) -> str:
    op, value = condition.op, condition.value
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        args.extend(value)
        return f"{column} {op} ({', '.join('?' * len(value))})"
    if op == "ILIKE":
        args.append(value)
        return f"lower({column}) LIKE lower(?)"
    assert op in COMPARISONS
    if isinstance(value, float) and condition.entity in ("params", "tags"):
        args.append(value)
        return f"CAST({column} AS REAL) {op} ? AND {column} GLOB '*[0-9]*'"
    args.append(value)
    return f"{column} {op} ?"


def _like_case_sensitive(pattern: str) -> str:
    """SQLite's LIKE ignores case; MLflow's LIKE does not. Translate to GLOB for the check."""
    out = []
    for char in pattern:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def condition_sql(condition: Condition, args: list[object]) -> str:
    """SQL for one condition on runs aliased `r`; appends bound values to `args`."""
    if condition.op in ("IS NULL", "IS NOT NULL"):
        return _presence_sql(condition, args)
    if condition.entity == "attributes":
        column = ATTRIBUTES[condition.key]
        if condition.op == "LIKE":
            assert isinstance(condition.value, str)
            args.extend([condition.value, _like_case_sensitive(condition.value)])
            return f"({column} LIKE ? AND {column} GLOB ?)"
        return "(" + _comparison(column, condition, args) + ")"
    table = {"metrics": "series", "params": "params", "tags": "tags"}[condition.entity]
    args.append(condition.key)
    if condition.entity != "metrics" and condition.op in ("=", "IN") and not isinstance(condition.value, float):
        # Equality on text: a list subquery over the (key, value) index, which the planner
        # evaluates once instead of probing every run.
        return f"r.id IN (SELECT x.run_id FROM {table} x WHERE x.key = ? AND {_comparison('x.value', condition, args)})"
    if condition.op == "LIKE":
        assert isinstance(condition.value, str)
        args.extend([condition.value, _like_case_sensitive(condition.value)])
        test = "(x.value LIKE ? AND x.value GLOB ?)"
    else:
        test = _comparison("x.value", condition, args)
    return f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = ? AND {test})"


def _presence_sql(condition: Condition, args: list[object]) -> str:
    """`parent_id IS NULL` (a top-level run), `metrics.acc IS NOT NULL` (the run logged acc)."""
    if condition.entity == "attributes":
        return f"({ATTRIBUTES[condition.key]} {condition.op})"
    table = {"metrics": "series", "params": "params", "tags": "tags"}[condition.entity]
    args.append(condition.key)
    exists = f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = ?)"
    return exists if condition.op == "IS NOT NULL" else f"NOT {exists}"


def filter_sql(text: str | None) -> tuple[str, list[object]]:
    """The whole filter as one SQL condition (`1` when empty) and its bound values."""
    args: list[object] = []
    parts = [condition_sql(c, args) for c in parse_filter(text)]
    return (" AND ".join(parts) if parts else "1"), args


@dataclass(frozen=True)
class OrderKey:
    entity: Entity
    key: str
    descending: bool


def parse_order_by(items: list[str] | None) -> list[OrderKey]:
    """Parse `["metrics.acc DESC", "start_time"]`; raise `FilterError` naming the item."""
    if items is not None and len(items) > MAX_ORDER_KEYS:
        raise Invalid(f"order_by may hold at most {MAX_ORDER_KEYS} keys, not {len(items)}", "order_by")
    keys: list[OrderKey] = []
    for index, item in enumerate(items or []):
        field = f"order_by[{index}]"
        text = item.strip()
        descending = False
        lowered = text.lower()
        if lowered.endswith(" desc"):
            descending, text = True, text[:-5].rstrip()
        elif lowered.endswith(" asc"):
            text = text[:-4].rstrip()
        try:
            parser = _Parser(text)
            entity, key, _ = parser.identifier()
        except FilterError as error:
            raise FilterError(f"bad order_by {item!r}: {error.message}", error.position, field) from None
        if parser.current.kind != "end":
            raise FilterError(f"bad order_by {item!r}: unexpected {parser.current.text!r}",
                              parser.current.position, field)
        keys.append(OrderKey(entity, key, descending))
    return keys
