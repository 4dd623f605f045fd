"""MLflow's experiment search language (`SearchExperimentsUtils`), evaluated over the experiments.

A team has tens to hundreds of experiments, so the filter is applied in Python to the rows the store
lists (no SQL is built from it). What MLflow accepts::

    filter := clause ("AND" clause)*
    clause := [attribute[s].]name|experiment_id   (= | != | LIKE | ILIKE) 'text'
            | [attribute[s].]experiment_id         IN | NOT IN ('1', '2')
            | [attribute[s].]creation_time|last_update_time  (= | != | < | <= | > | >=) number
            | tag[s].key                           (= | != | LIKE | ILIKE) 'text' | IS [NOT] NULL
    order_by := [attribute[s].]name|experiment_id|creation_time|last_update_time [ASC | DESC]

LIKE is case-sensitive (as MLflow makes it on SQLite), ILIKE is not; `tags.k != 'v'` matches the
experiments that have the tag with another value. The default order is `creation_time DESC,
experiment_id ASC`; every order ends with `experiment_id` so pages never shuffle.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import Invalid
from ..filters import Token, tokenize
from ..store.rows import ExperimentRow

TEXT_ATTRIBUTES = ("name", "experiment_id")
TIME_ATTRIBUTES = ("creation_time", "last_update_time")
TEXT_OPS = ("=", "!=", "LIKE", "ILIKE")
NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
ATTRIBUTE_PREFIXES = ("attribute", "attributes")
TAG_PREFIXES = ("tag", "tags")
DEFAULT_ORDER = ["creation_time DESC", "experiment_id ASC"]


@dataclass(frozen=True)
class Clause:
    tag: bool
    key: str
    op: str
    value: str | float | tuple[str, ...] | None


def _error(message: str) -> Invalid:
    return Invalid(f"Invalid filter: {message}", "filter")


def _text(token: Token) -> str:
    body = token.text[1:-1]
    return body.replace("''", "'") if token.text[0] == "'" else body


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def next(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def peek_word(self) -> str:
        token = self.tokens[self.index]
        return token.text.upper() if token.kind == "ident" else ""

    def clauses(self) -> list[Clause]:
        found = [self.clause()]
        while self.tokens[self.index].kind != "end":
            if self.peek_word() != "AND":
                raise _error(f"expected AND at position {self.tokens[self.index].position}")
            self.next()
            found.append(self.clause())
        return found

    def identifier(self) -> tuple[bool, str]:
        """(is a tag, key): `name`, `attribute.name`, `tags.key`, `tags.\\`a key\\``, `tags.mlflow.note.content`."""
        first = self.next()
        if first.kind != "ident":
            raise _error(f"expected an attribute or tags.<key> at position {first.position}")
        if self.tokens[self.index].kind != "dot":
            return False, self._attribute(first.text)
        self.next()
        prefix = first.text.lower()
        if prefix not in ATTRIBUTE_PREFIXES + TAG_PREFIXES:
            raise _error(f"invalid entity type {first.text!r}; valid: attribute, attributes, tag, tags")
        key_token = self.next()
        if key_token.kind in ("backtick", "string"):
            key = key_token.text[1:-1]
        elif key_token.kind == "ident":
            key = key_token.text
            while self.tokens[self.index].kind == "dot" and self.tokens[self.index + 1].kind == "ident":
                self.next()
                key += "." + self.next().text
        else:
            raise _error(f"expected a key after {first.text!r}.")
        return (True, key) if prefix in TAG_PREFIXES else (False, self._attribute(key))

    @staticmethod
    def _attribute(key: str) -> str:
        if key not in TEXT_ATTRIBUTES + TIME_ATTRIBUTES:
            raise _error(f"invalid attribute key {key!r}; valid keys: {', '.join(TEXT_ATTRIBUTES + TIME_ATTRIBUTES)}")
        return key

    def operator(self) -> str:
        token = self.next()
        if token.kind == "op":
            return token.text
        word = token.text.upper() if token.kind == "ident" else ""
        if word == "IS":
            negated = self.peek_word() == "NOT"
            if negated:
                self.next()
            if self.peek_word() != "NULL":
                raise _error("expected NULL or NOT NULL after IS")
            self.next()
            return "IS NOT NULL" if negated else "IS NULL"
        if word == "NOT" and self.peek_word() == "IN":
            self.next()
            return "NOT IN"
        if word in ("LIKE", "ILIKE", "IN"):
            return word
        raise _error(f"expected a comparison operator at position {token.position}")

    def clause(self) -> Clause:
        tag, key = self.identifier()
        op = self.operator()
        if op in ("IS NULL", "IS NOT NULL"):
            if not tag:
                raise _error(f"{op} applies to tags only")
            return Clause(tag, key, op, None)
        if op in ("IN", "NOT IN"):
            if tag or key != "experiment_id":
                raise _error(f"{op} applies to experiment_id only")
            return Clause(tag, key, op, self.text_list())
        value = self.next()
        if not tag and key in TIME_ATTRIBUTES:
            if op not in NUMBER_OPS or value.kind != "number":
                raise _error(f"{key} compares to a number with {', '.join(NUMBER_OPS)}")
            return Clause(tag, key, op, float(value.text))
        if op not in TEXT_OPS or value.kind != "string":
            raise _error(f"{key} compares to a quoted string with {', '.join(TEXT_OPS)}")
        return Clause(tag, key, op, _text(value))

    def text_list(self) -> tuple[str, ...]:
        if self.next().kind != "lparen":
            raise _error("IN takes a list: ('1', '2')")
        values: list[str] = []
        while True:
            token = self.next()
            if token.kind != "string":
                raise _error("IN takes quoted strings")
            values.append(_text(token))
            closing = self.next()
            if closing.kind == "rparen":
                return tuple(values)
            if closing.kind != "comma":
                raise _error("expected ',' or ')' in the IN list")


def parse_filter(text: str | None) -> list[Clause]:
    return _Parser(text).clauses() if text and text.strip() else []


def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b), "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b), ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
    "LIKE": lambda a, b: _like(b, False).fullmatch(a) is not None,
    "ILIKE": lambda a, b: _like(b, True).fullmatch(a) is not None,
    "IN": lambda a, b: a in b, "NOT IN": lambda a, b: a not in b,
}


def attribute(experiment: ExperimentRow, key: str) -> Any:
    """An experiment's searchable attribute (this store keeps no update time: it is the creation time)."""
    if key in TIME_ATTRIBUTES:
        return experiment["created_at"]
    return experiment["id"] if key == "experiment_id" else experiment["name"]


def matches(experiment: ExperimentRow, clauses: list[Clause]) -> bool:
    for clause in clauses:
        if clause.tag:
            value = experiment["tags"].get(clause.key)
            if clause.op in ("IS NULL", "IS NOT NULL"):
                if (value is None) != (clause.op == "IS NULL"):
                    return False
                continue
            if value is None:
                return False
        else:
            value = attribute(experiment, clause.key)
        if not COMPARE[clause.op](value, clause.value):
            return False
    return True


def parse_order_by(order_by: list[str] | None) -> list[tuple[str, bool]]:
    """(attribute, ascending) pairs, ending with experiment_id."""
    keys: list[tuple[str, bool]] = []
    for item in order_by or DEFAULT_ORDER:
        words = item.strip().split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise Invalid(f"Invalid order_by clause {item!r}: expected '<attribute> [ASC|DESC]'", "order_by")
        name = words[0].strip("`")
        prefix, _, rest = name.partition(".")
        if rest and prefix in ATTRIBUTE_PREFIXES:
            name = rest.strip("`")
        if name not in TEXT_ATTRIBUTES + TIME_ATTRIBUTES:
            raise Invalid(f"Invalid order_by attribute {name!r}; valid: "
                          f"{', '.join(TEXT_ATTRIBUTES + TIME_ATTRIBUTES)}", "order_by")
        keys.append((name, len(words) == 1 or words[1].upper() == "ASC"))
    if not any(name == "experiment_id" for name, _ in keys):
        keys.append(("experiment_id", False))
    return keys


def _sort_value(experiment: ExperimentRow, key: str) -> Any:
    value = attribute(experiment, key)
    return int(value) if key == "experiment_id" else value


def search(experiments: list[ExperimentRow], filter_text: str | None,
           order_by: list[str] | None) -> list[ExperimentRow]:
    """The experiments that match the filter, in MLflow's order."""
    clauses = parse_filter(filter_text)
    order = parse_order_by(order_by)
    found = [e for e in experiments if matches(e, clauses)]
    for key, ascending in reversed(order):  # stable sorts, least significant key first
        found.sort(key=lambda e: _sort_value(e, key), reverse=not ascending)
    return found
