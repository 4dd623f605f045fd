"""The run filter language, parsed into a parameterised SQL condition.

MLflow's language (`mlflow.utils.search_utils`), answered as MLflow's SQL store answers it::

    filter     := clause ("and" clause)*
    clause     := identifier op value  |  identifier IS [NOT] NULL
    identifier := entity "." key  |  attribute                      (a bare name is an attribute)
    entity     := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run | dataset(s)
    key        := name | `quoted` | "quoted"
    op         := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value      := number | 'string' | "string" | "(" value ("," value)* ")"

Attributes: `status`, `run_name` (aliases `run name`, `Run name`, `Run Name`), `run_id`, `start_time`
(`created`, `Created`), `end_time`, `user_id`, `artifact_uri`; datasets: `name`, `digest`, `context`
(a run matches when one of its inputs does). Metrics and times compare with numbers; text with `=`,
`!=`, `LIKE` (case-sensitive), `ILIKE`, `IN`, `NOT IN`; `IS [NOT] NULL` tests a tag or param's presence.
Extensions (MLflow refuses them): `IN` / `NOT IN` on every field; a param or tag against a number
compares as a number (`params.lr < 0.01`); `IS [NOT] NULL` on metrics and on `end_time`, `user_id`,
`parent_id`, `duration`; the attributes `experiment_id`, `parent_id`, `duration` (end - start, ms),
`name` and `id`.

Keys and values always become bound parameters; only fixed SQL fragments are pasted.
A `FilterError` carries the character position of the problem.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import Invalid

Entity = Literal["metrics", "params", "tags", "attributes", "datasets"]


@dataclass(frozen=True)
class Attribute:
    """A run attribute a filter or an ordering may name: the SQL that computes it on runs `r`, whether it
    compares with numbers (else quoted text), and whether it can be absent (`IS NULL`)."""

    sql: str
    numeric: bool = False
    nullable: bool = False


ATTRIBUTES: dict[str, Attribute] = {
    "status": Attribute("r.status"),
    "run_name": Attribute("r.name"),
    "run_id": Attribute("r.id"),
    "start_time": Attribute("r.start_time", numeric=True),
    "end_time": Attribute("r.end_time", numeric=True, nullable=True),
    "user_id": Attribute("r.user_id", nullable=True),
    # The run's artifact URI as the MLflow API shows it (`backend.mlflow_api.shapes.run_artifact_uri`).
    "artifact_uri": Attribute("('mlflow-artifacts:/' || r.experiment_id || '/' || r.id)"),
    # extensions: MLflow knows none of these
    "experiment_id": Attribute("r.experiment_id", numeric=True),
    "parent_id": Attribute("r.parent_id", nullable=True),
    "duration": Attribute("(r.end_time - r.start_time)", numeric=True, nullable=True),
}
ATTRIBUTE_ALIASES: dict[str, str] = {
    "created": "start_time", "Created": "start_time",  # MLflow's own aliases
    "run name": "run_name", "Run name": "run_name", "Run Name": "run_name",
    "name": "run_name", "id": "run_id",  # extensions
}
DATASET_COLUMNS: dict[str, str] = {"name": "x.name", "digest": "x.digest", "context": "x.context"}
"""What `dataset.<key>` compares, on the run's inputs `x` (`run_inputs`): a run matches when one of its
inputs does. `context` is the input's `mlflow.data.context` tag."""
ENTITY_ALIASES: dict[str, Entity] = {
    "metric": "metrics", "metrics": "metrics",
    "param": "params", "params": "params", "parameter": "params", "parameters": "params",
    "tag": "tags", "tags": "tags",
    "attribute": "attributes", "attributes": "attributes", "attr": "attributes", "run": "attributes",
    "dataset": "datasets", "datasets": "datasets",
}
TEXT_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
"""What compares quoted text (MLflow's set, plus IN / NOT IN on every field)."""
ORDERINGS = ("<", "<=", ">", ">=")
COMPARISONS = ("!=", "<=", ">=", "=", "<", ">")
MAX_CLAUSES = 100
"""Clauses one filter may hold: each is a subquery, and SQLite's expression depth is finite."""
MAX_LIST_ITEMS = 200
"""Values one IN / NOT IN list may hold (every value is a bound parameter)."""
MAX_ORDER_KEYS = 10
"""Sort keys one search may give. SQLite 3.40 crashes (SIGSEGV) on a join ordered by 64 or more
terms; each key is at most 2 terms, so the query stays far below that."""


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
    """For attributes, the attribute's own name (`created` and `Run name` are `start_time` and `run_name`)."""
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
            return "attributes", _attribute(first, token.position, bare=True), token.position
        self.advance()
        entity = ENTITY_ALIASES.get(first.lower())
        if entity is None:
            raise FilterError(
                f"unknown entity {first!r}; use metrics, params, tags, attributes or datasets", token.position
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
        if entity == "attributes":
            key = _attribute(key, key_token.position)
        elif entity == "datasets" and key not in DATASET_COLUMNS:
            raise FilterError(f"unknown dataset key {key!r}; known: context, digest, name", key_token.position)
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
            value = ()
        elif op in ("IN", "NOT IN"):
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
        condition = Condition(entity, key, op, value, position)
        _check(condition)
        return condition


def _attribute(name: str, position: int, bare: bool = False) -> str:
    """The attribute's own name for `name` or one of its aliases; FilterError when there is none."""
    name = ATTRIBUTE_ALIASES.get(name, name)
    if name in ATTRIBUTES:
        return name
    if bare:
        raise FilterError(
            f"{name!r} needs a prefix: metrics., params., tags., datasets. or attributes.", position)
    known = ", ".join(sorted([*ATTRIBUTES, *ATTRIBUTE_ALIASES]))
    raise FilterError(f"unknown attribute {name!r}; known: {known}", position)


def _field_name(condition: Condition) -> str:
    return f"{condition.entity}.{condition.key}"


def _check(condition: Condition) -> None:
    """Refuse what MLflow refuses (text ordered with < or >, numbers against text, text against numbers),
    keeping the documented extensions: IN / NOT IN everywhere, numbers against params and tags (compared
    as numbers), IS [NOT] NULL on metrics and on attributes that can be absent."""
    entity, op, value = condition.entity, condition.op, condition.value
    field, position = _field_name(condition), condition.position
    values = value if isinstance(value, tuple) else (value,)
    numbers = all(isinstance(v, float) for v in values)
    if not numbers and any(isinstance(v, float) for v in values):
        raise FilterError(f"an {op} list holds all numbers or all quoted strings", position)
    attribute = ATTRIBUTES.get(condition.key) if entity == "attributes" else None
    if op in ("IS NULL", "IS NOT NULL"):
        if entity == "datasets" or (attribute is not None and not attribute.nullable):
            raise FilterError(f"{op} does not apply to {field}, which is never absent", position)
        return
    numeric = entity == "metrics" or (attribute is not None and attribute.numeric)
    text_only = entity == "datasets" or (attribute is not None and not attribute.numeric)
    if op in ("LIKE", "ILIKE") and (numeric or numbers):
        raise FilterError(f"{op} needs a quoted pattern and a text field, not {field}", position)
    if numeric and not numbers:
        raise FilterError(f"{field} compares with numbers only", position)
    if text_only and numbers:
        raise FilterError(f"{field} compares with quoted text only", position)
    if op in ORDERINGS and not numbers:
        raise FilterError(f"{op} compares numbers; text compares with {', '.join(TEXT_OPS)}", position)


def parse_filter(text: str | None) -> list[Condition]:
    """Parse a filter into conditions joined by AND; raise `FilterError` on bad input."""
    if not text or not text.strip():
        return []
    return _Parser(text).parse()


NUMERIC_TEXT = "{column} GLOB '*[0-9]*'"
"""A param or tag compared with a number must hold one (`CAST('abc' AS REAL)` is 0)."""


def _comparison(column: str, condition: Condition, args: list[object]) -> str:
    op, value = condition.op, condition.value
    as_number = condition.entity in ("params", "tags") and (
        isinstance(value, float) or (isinstance(value, tuple) and isinstance(value[0], float)))
    subject = f"CAST({column} AS REAL)" if as_number else column
    guard = " AND " + NUMERIC_TEXT.format(column=column) if as_number else ""
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        args.extend(value)
        return f"{subject} {op} ({', '.join('?' * len(value))}){guard}"
    if op == "ILIKE":
        args.append(value)
        return f"lower({column}) LIKE lower(?)"
    if op == "LIKE":
        assert isinstance(value, str)
        args.extend([value, _like_case_sensitive(value)])
        return f"({column} LIKE ? AND {column} GLOB ?)"
    assert op in COMPARISONS
    args.append(value)
    if condition.entity == "metrics" and op == "!=":  # NaN (stored NULL) differs from every number
        return f"({column} != ? OR {column} IS NULL)"
    return f"{subject} {op} ?{guard}"


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


KEYED_TABLES = {"metrics": "series", "params": "params", "tags": "tags"}


def condition_sql(condition: Condition, args: list[object]) -> str:
    """SQL for one condition on runs aliased `r`; appends bound values to `args`."""
    if condition.op in ("IS NULL", "IS NOT NULL"):
        return _presence_sql(condition, args)
    if condition.entity == "attributes":
        return "(" + _comparison(ATTRIBUTES[condition.key].sql, condition, args) + ")"
    if condition.entity == "datasets":
        test = _comparison(DATASET_COLUMNS[condition.key], condition, args)
        return f"EXISTS (SELECT 1 FROM run_inputs x WHERE x.run_id = r.id AND {test})"
    table = KEYED_TABLES[condition.entity]
    args.append(condition.key)
    if condition.entity != "metrics" and condition.op in ("=", "IN") and not isinstance(condition.value, float) \
            and not (isinstance(condition.value, tuple) and isinstance(condition.value[0], float)):
        # Equality on text: a list subquery over the (key, value) index, which the planner
        # evaluates once instead of probing every run.
        return f"r.id IN (SELECT x.run_id FROM {table} x WHERE x.key = ? AND {_comparison('x.value', condition, args)})"
    test = _comparison("x.value", condition, args)
    return f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = ? AND {test})"


def _presence_sql(condition: Condition, args: list[object]) -> str:
    """`parent_id IS NULL` (a top-level run), `tags.version IS NOT NULL` (the run has the tag)."""
    if condition.entity == "attributes":
        return f"({ATTRIBUTES[condition.key].sql} {condition.op})"
    table = KEYED_TABLES[condition.entity]
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
    """Parse `["metrics.acc DESC", "start_time"]`; raise `FilterError` naming the item. A key given twice
    is refused, as MLflow refuses it (`created` and `start_time` are the same key)."""
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
            if entity == "datasets":
                raise FilterError("runs are not ordered by their datasets", 0)
        except FilterError as error:
            raise FilterError(f"bad order_by {item!r}: {error.message}", error.position, field) from None
        if parser.current.kind != "end":
            raise FilterError(f"bad order_by {item!r}: unexpected {parser.current.text!r}",
                              parser.current.position, field)
        if any((k.entity, k.key) == (entity, key) for k in keys):
            raise FilterError(f"bad order_by {item!r}: {entity}.{key} is already a sort key", 0, field)
        keys.append(OrderKey(entity, key, descending))
    return keys
