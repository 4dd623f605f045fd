"""MLflow's search language for the registry: `search_registered_models` and `search_model_versions`.

A filter is conditions joined by AND: `name = 'x'`, `name LIKE 'fraud%'`, `run_id IN ('a', 'b')`,
`version_number > 2`, ``tags.`team` = 'risk'`` (also `tag.` and `tags."key"`). As in MLflow's own
store: LIKE is case-sensitive and ILIKE is not (`%` and `_` wildcards); a tag condition matches only
items that have the tag, except MLflow's prompt tag (`mlflow.prompt.is_prompt`), which the 3.x client
appends as ``tag.`mlflow.prompt.is_prompt` != 'true'``: an item without it is not a prompt. Prompts
are left out unless the filter asks for them. The registry is small (models and versions, not metric
points), so a search filters the rows in memory after one query, then orders and pages them.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import Invalid

PROMPT_TAG = "mlflow.prompt.is_prompt"
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NUMBER_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})


@dataclass(frozen=True)
class Condition:
    kind: str
    """`attribute` or `tag`."""
    key: str
    op: str
    value: Any
    """A string, an int (numeric attributes) or a tuple of strings (IN, NOT IN)."""


@dataclass(frozen=True)
class Grammar:
    """What one search accepts: string attributes (and which of them take IN), numeric attributes, and
    the order_by keys with the item field each sorts on."""

    strings: frozenset[str]
    lists: frozenset[str]
    numbers: frozenset[str]
    order_keys: dict[str, str]
    tiebreak: tuple[tuple[str, bool], ...]
    """Sort keys appended when the order_by does not name them (MLflow's natural order)."""
    tag_nulls: bool = False
    """Whether `tags.k IS NULL` / `IS NOT NULL` are accepted (MLflow's experiment search)."""


MODELS = Grammar(strings=frozenset({"name"}), lists=frozenset({"name"}), numbers=frozenset(),
                 order_keys={"name": "name", "timestamp": "creation_timestamp",
                             "creation_timestamp": "creation_timestamp",
                             "last_updated_timestamp": "last_updated_timestamp"},
                 tiebreak=(("name", True),))
VERSIONS = Grammar(strings=frozenset({"name", "run_id", "source_path"}), lists=frozenset({"name", "run_id"}),
                   numbers=frozenset({"version_number"}),
                   order_keys={"name": "name", "version_number": "version_number",
                               "creation_timestamp": "creation_timestamp",
                               "last_updated_timestamp": "last_updated_timestamp"},
                   tiebreak=(("name", True), ("version_number", False)))

_KEY = re.compile(r"\s*(?:(?P<prefix>[A-Za-z_]+)\.(?:`(?P<bq>[^`]+)`|\"(?P<dq>[^\"]+)\"|(?P<plain>[\w.\-]+))"
                  r"|`(?P<bare_bq>[^`]+)`|(?P<word>[A-Za-z_]\w*))")
_OP = re.compile(r"\s*(!=|<>|>=|<=|=|<|>|NOT\s+IN\b|IN\b|ILIKE\b|LIKE\b|IS\s+NOT\s+NULL\b|IS\s+NULL\b)",
                 re.IGNORECASE)
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
_STRING = re.compile(r"\s*(?:'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\")")
_NUMBER = re.compile(r"\s*(-?\d+)\b")
_AND = re.compile(r"\s*AND\b", re.IGNORECASE)
_OPEN, _COMMA, _CLOSE = re.compile(r"\s*\("), re.compile(r"\s*,"), re.compile(r"\s*\)")


def _bad(text: str, why: str) -> Invalid:
    return Invalid(f"Invalid filter '{text}': {why}", "filter")


def parse_filter(text: str | None, grammar: Grammar) -> list[Condition]:
    """The conditions of `text` (none for an empty filter); `Invalid` naming `filter` otherwise."""
    if text is None or not text.strip():
        return []
    found: list[Condition] = []
    pos = 0
    while True:
        condition, pos = _condition(text, pos, grammar)
        found.append(condition)
        if not text[pos:].strip():
            return found
        joined = _AND.match(text, pos)
        if joined is None:
            raise _bad(text, f"expected AND at {text[pos:].strip()!r} (only AND joins conditions)")
        pos = joined.end()


def _condition(text: str, pos: int, grammar: Grammar) -> tuple[Condition, int]:
    key = _KEY.match(text, pos)
    if key is None:
        raise _bad(text, f"expected an attribute or tags.<key> at {text[pos:].strip()!r}")
    kind, name = _key_of(text, key, grammar)
    op_match = _OP.match(text, key.end())
    if op_match is None:
        raise _bad(text, f"expected a comparison after {name!r}")
    op = re.sub(r"\s+", " ", op_match.group(1).upper()).replace("<>", "!=")
    pos = op_match.end()
    if op in NULL_OPS:
        if kind != "tag" or not grammar.tag_nulls:
            raise _bad(text, f"{op} is not supported on {name!r}")
        return Condition(kind, name, op, None), pos
    if kind == "attribute" and name in grammar.numbers:
        if op not in NUMBER_OPS:
            raise _bad(text, f"{name} takes {', '.join(sorted(NUMBER_OPS))}, not {op}")
        number, quoted = _NUMBER.match(text, pos), _STRING.match(text, pos)
        raw = number.group(1) if number else _unquote(quoted) if quoted else ""
        if not re.fullmatch(r"-?\d+", raw.strip()):
            raise _bad(text, f"{name} is compared with a whole number")
        return Condition(kind, name, op, int(raw)), (number or quoted).end()  # type: ignore[union-attr]
    if op in LIST_OPS:
        if kind != "attribute" or name not in grammar.lists:
            raise _bad(text, f"{op} applies to {', '.join(sorted(grammar.lists))} only")
        values, pos = _list(text, pos)
        return Condition(kind, name, op, values), pos
    if op not in STRING_OPS:
        raise _bad(text, f"{'tags' if kind == 'tag' else name} take(s) =, !=, LIKE, ILIKE, not {op}")
    value = _STRING.match(text, pos)
    if value is None:
        raise _bad(text, f"{name!r} is compared with a quoted string")
    return Condition(kind, name, op, _unquote(value)), value.end()


def _key_of(text: str, key: re.Match[str], grammar: Grammar) -> tuple[str, str]:
    prefix = (key.group("prefix") or "").lower()
    named = key.group("bq") or key.group("dq") or key.group("plain")
    if prefix in ("tag", "tags"):
        return "tag", named or ""
    if prefix in ("attribute", "attributes"):
        name = named or ""
    elif prefix:
        raise _bad(text, f"unknown entity {key.group('prefix')!r} (use tags.<key> or an attribute)")
    else:
        name = key.group("bare_bq") or key.group("word") or ""
    if name not in grammar.strings | grammar.numbers:
        allowed = ", ".join(sorted(grammar.strings | grammar.numbers))
        raise _bad(text, f"invalid attribute {name!r} (valid: {allowed}, tags.<key>)")
    return "attribute", name


def _unquote(match: re.Match[str]) -> str:
    single, double = match.group(1), match.group(2)
    return single.replace("''", "'") if single is not None else double.replace('""', '"')


def _list(text: str, pos: int) -> tuple[tuple[str, ...], int]:
    opened = _OPEN.match(text, pos)
    if opened is None:
        raise _bad(text, "IN takes a parenthesized list of quoted strings")
    values: list[str] = []
    pos = opened.end()
    while True:
        value = _STRING.match(text, pos)
        if value is None:
            raise _bad(text, "IN takes a parenthesized list of quoted strings")
        values.append(_unquote(value))
        pos = value.end()
        comma = _COMMA.match(text, pos)
        if comma is None:
            break
        pos = comma.end()
    closed = _CLOSE.match(text, pos)
    if closed is None:
        raise _bad(text, "the IN list is not closed")
    return tuple(values), closed.end()


# --- matching ----------------------------------------------------------------------------------


def _like(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    parts = ("." if char == "_" else ".*" if char == "%" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL | (0 if case_sensitive else re.IGNORECASE))


def _compare(found: Any, op: str, value: Any) -> bool:
    if op == "LIKE" or op == "ILIKE":
        return _like(value, op == "LIKE").fullmatch(found) is not None
    if op == "IN" or op == "NOT IN":
        return (found in value) == (op == "IN")
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b), "<": lambda a, b: bool(a < b),
        "<=": lambda a, b: bool(a <= b), ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b)}
    return comparisons[op](found, value)


def matches(item: dict[str, Any], conditions: list[Condition]) -> bool:
    """`item` has its attributes under their search names and its tags under `tags`."""
    for condition in conditions:
        if condition.kind == "tag":
            found = item["tags"].get(condition.key)
            if condition.op in NULL_OPS:
                if (found is None) != (condition.op == "IS NULL"):
                    return False
                continue
            if found is None:
                if condition.key != PROMPT_TAG:
                    return False
                if not ((condition.op == "!=" and condition.value == "true")
                        or (condition.op == "=" and condition.value == "false")):
                    return False
                continue
        else:
            found = item[condition.key]
        if not _compare(found, condition.op, condition.value):
            return False
    return True


def wants_prompts(conditions: list[Condition]) -> bool:
    """Whether the filter asks for prompts (else prompts are left out, as MLflow does)."""
    return any(c.kind == "tag" and c.key == PROMPT_TAG and (
        (c.op == "=" and str(c.value).lower() == "true") or (c.op == "!=" and str(c.value).lower() == "false"))
        for c in conditions)


def is_prompt(item: dict[str, Any]) -> bool:
    return str(item["tags"].get(PROMPT_TAG, "")).lower() == "true"


# --- ordering and paging -----------------------------------------------------------------------


def parse_order_by(order_by: Sequence[str], grammar: Grammar) -> list[tuple[str, bool]]:
    """`[(item field, ascending)]`, MLflow's tie-breakers appended; `Invalid` naming `order_by`."""
    keys: list[tuple[str, bool]] = []
    for clause in order_by:
        words = clause.replace("`", "").split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise Invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.", "order_by")
        field = grammar.order_keys.get(words[0].removeprefix("attributes.").removeprefix("attribute."))
        if field is None:
            raise Invalid(f"Invalid order by key '{words[0]}' specified. Valid keys are "
                          f"{sorted(grammar.order_keys)}", "order_by")
        if any(field == known for known, _ in keys):
            raise Invalid(f"`order_by` contains duplicate fields: {list(order_by)}", "order_by")
        keys.append((field, len(words) == 1 or words[1].lower() == "asc"))
    named = {field for field, _ in keys}
    return keys + [(field, ascending) for field, ascending in grammar.tiebreak if field not in named]


T = TypeVar("T", bound=dict[str, Any])


def ordered(items: list[T], keys: list[tuple[str, bool]]) -> list[T]:
    """Sorted by each key in turn (stable sorts from the last key to the first)."""
    for field, ascending in reversed(keys):
        items = sorted(items, key=lambda item: item[field], reverse=not ascending)
    return items


def page(items: list[T], max_results: int, limit: int, page_token: str | None) -> tuple[list[T], str | None]:
    """One page and the token of the next (None at the end). Tokens are MLflow's: base64 `{"offset": n}`."""
    if max_results < 1 or max_results > limit:
        raise Invalid(f"Invalid value for request parameter max_results. It must be at most {limit}, "
                      f"but got value {max_results}", "max_results")
    offset = _offset(page_token)
    chunk = items[offset:offset + max_results]
    following = offset + max_results
    token = base64.b64encode(json.dumps({"offset": following}).encode()).decode() if following < len(items) else None
    return chunk, token


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    try:
        parsed = json.loads(base64.b64decode(page_token, validate=True))
        offset = parsed["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise Invalid(f"Invalid page_token {page_token!r}: not a token a search answered", "page_token") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise Invalid(f"Invalid page_token {page_token!r}: not a token a search answered", "page_token")
    return offset
