"""The filter and order of MLflow's `logged-models/search`, applied to an experiment's models.

The 3.x client searches logged models to resolve `runs:/<run>/<name>` (``name = '<name>'``, then it
picks the one whose source run matches); people filter on the attributes (`name`, `model_id`,
`model_type`, `status`, `source_run_id`, `creation_timestamp`, `last_updated_timestamp`), `params.<k>`
and `tags.<k>` with `=`, `!=`, `LIKE`, `ILIKE`, `IN`, `NOT IN`, and `<`..`>=` on the timestamps,
clauses joined by AND. An experiment holds few logged models, so they are matched here rather than
in SQL. Metrics of logged models are not kept: a `metrics.` filter or order is refused.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import Invalid
from ..filters import FilterError, Token, tokenize
from ..store.logged_models import LoggedModelRow

TEXT_ATTRIBUTES = {"name": "name", "model_id": "id", "model_type": "model_type", "status": "status",
                   "source_run_id": "source_run_id"}
TIME_ATTRIBUTES = {"creation_timestamp": "created_at", "creation_time": "created_at",
                   "last_updated_timestamp": "updated_at"}
STATUS_PREFIX = "LOGGED_MODEL_"
ATTRIBUTE_ENTITIES = ("", "attributes", "attribute")
ORDERINGS = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class Clause:
    read: Callable[[LoggedModelRow], Any]
    op: str
    value: Any


def _value_of(entity: str, key: str, position: int) -> Callable[[LoggedModelRow], Any]:
    """How to read the field `entity.key` from a model (None when it is not set)."""
    if entity in ("params", "param"):
        return lambda model: model["params"].get(key)
    if entity in ("tags", "tag"):
        return lambda model: model["tags"].get(key)
    if entity in ("metrics", "metric"):
        raise FilterError(f"metrics.{key}: metrics of logged models are not kept by this server", position)
    column = TEXT_ATTRIBUTES.get(key) or TIME_ATTRIBUTES.get(key)
    if entity not in ATTRIBUTE_ENTITIES or column is None:
        known = ", ".join([*TEXT_ATTRIBUTES, *TIME_ATTRIBUTES])
        raise FilterError(f"unknown field {'.'.join(filter(None, (entity, key)))!r}; use {known}, params.<key> "
                          "or tags.<key>", position)
    if column == "status":
        return lambda model: STATUS_PREFIX + model["status"]
    return lambda model: model[column]  # type: ignore[literal-required]


def _literal(token: Token) -> str | float:
    if token.kind == "number":
        return float(token.text)
    if token.kind == "string":
        return token.text[1:-1].replace("''", "'")
    raise FilterError(f"expected a quoted string or a number but found {token.text!r}", token.position)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def take(self) -> Token:
        self.index += 1
        return self.tokens[self.index - 1]

    def word(self, *words: str) -> str | None:
        token = self.tokens[self.index]
        if token.kind == "ident" and token.text.upper() in words:
            self.index += 1
            return token.text.upper()
        return None

    def value(self, entity: str, key: str) -> str | float:
        """The next literal; a status may be given with or without MLflow's `LOGGED_MODEL_` prefix."""
        value = _literal(self.take())
        if entity in ATTRIBUTE_ENTITIES and key == "status" and isinstance(value, str):
            return value if value.startswith(STATUS_PREFIX) else STATUS_PREFIX + value
        return value

    def clause(self) -> Clause:
        first = self.take()
        if first.kind not in ("ident", "backtick"):
            raise FilterError(f"expected a field name but found {first.text!r}", first.position)
        entity, key = "", first.text.strip("`")
        if self.tokens[self.index].kind == "dot":
            self.take()
            entity, key = key.lower(), self.take().text.strip("`\"'")
        read = _value_of(entity, key, first.position)
        token = self.tokens[self.index]
        op = self.take().text if token.kind == "op" else (self.word("LIKE", "ILIKE", "IN") or
                                                           (self.word("NOT") and self.word("IN") and "NOT IN"))
        if not op:
            raise FilterError(f"expected a comparison but found {token.text!r}", token.position)
        if op in ("IN", "NOT IN"):
            if self.take().kind != "lparen":
                raise FilterError(f"expected '(' after {op}", token.position)
            values = [self.value(entity, key)]
            while self.tokens[self.index].kind == "comma":
                self.take()
                values.append(self.value(entity, key))
            if self.take().kind != "rparen":
                raise FilterError("expected ')' to close the list", token.position)
            return Clause(read, op, frozenset(values))
        value = self.value(entity, key)
        if entity in ATTRIBUTE_ENTITIES and key in TIME_ATTRIBUTES:
            if not isinstance(value, float) or op not in ORDERINGS:
                raise FilterError(f"{key} compares with numbers only (=, !=, <, <=, >, >=)", token.position)
        elif not isinstance(value, str) or op not in ("=", "!=", "LIKE", "ILIKE"):
            raise FilterError(f"{key} compares with a quoted string (=, !=, LIKE, ILIKE, IN, NOT IN)",
                              token.position)
        if op in ("LIKE", "ILIKE"):
            pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(value))
            return Clause(read, op, re.compile(pattern, re.DOTALL | (re.IGNORECASE if op == "ILIKE" else 0)))
        return Clause(read, op, value)

    def parse(self) -> list[Clause]:
        clauses = [self.clause()]
        while self.tokens[self.index].kind != "end":
            if not self.word("AND"):
                token = self.tokens[self.index]
                raise FilterError(f"expected AND but found {token.text!r}", token.position)
            clauses.append(self.clause())
        return clauses


def _holds(clause: Clause, model: LoggedModelRow) -> bool:
    found = clause.read(model)
    if found is None:
        return False
    value, op = clause.value, clause.op
    if op in ("IN", "NOT IN"):
        return (found in value) == (op == "IN")
    if op in ("LIKE", "ILIKE"):
        return value.fullmatch(found) is not None
    compare = {"=": found == value, "!=": found != value}
    if op in compare:
        return compare[op]
    return {"<": found < value, "<=": found <= value, ">": found > value, ">=": found >= value}[op]


def matching(models: list[LoggedModelRow], text: str | None) -> list[LoggedModelRow]:
    """The models the filter keeps (all for an empty filter); `Invalid` naming `filter` otherwise."""
    if not text or not text.strip():
        return models
    try:
        clauses = _Parser(text).parse()
    except FilterError as error:
        raise Invalid(f"filter {text!r}: {error.message}", "filter") from None
    return [model for model in models if all(_holds(clause, model) for clause in clauses)]


def ordered(models: list[LoggedModelRow], order_by: list[tuple[str, bool]]) -> list[LoggedModelRow]:
    """Sorted by each (field, ascending) in turn, after the default (newest first, then by id); models
    without the field come last."""
    result = list(models)
    for field, ascending in reversed(order_by):
        entity, _, key = field.rpartition(".")
        try:
            read = _value_of(entity.lower(), key, 0)
        except FilterError as error:
            raise Invalid(f"order_by {field!r}: {error.message.removesuffix(' at position 0')}", "order_by") from None
        present = [model for model in result if read(model) is not None]
        missing = [model for model in result if read(model) is None]
        result = sorted(present, key=read, reverse=not ascending) + missing
    return result
