"""The `[validation]` rules: inferred from a table, written as TOML, and checked before training.

`infer(frame)` proposes rules from what the data shows (to be edited by the user), `to_toml` writes
them as a `[validation]` section that `tomllib` reads back into the same dict, and
`check(frame, rules)` lists every broken rule as a sentence (an empty list means the data is fine).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..pipelines.config import ColumnRule, ValidationConfig
from .stats import dtype_name, finite_values, frequencies, plain

MAX_ALLOWED = 20
"""Text columns with at most this many distinct values get an `allowed` list."""
MIN_ROWS_SHARE = 0.5
"""`min_rows` is inferred as this share of the rows seen."""
SHOWN_VALUES = 5


# --- inference ---------------------------------------------------------------------------------


def share_limit(observed: float) -> float:
    """An observed share rounded up a bit, to two decimals: 0 stays 0, 0.04 -> 0.06, 0.5 -> 0.63."""
    if observed <= 0:
        return 0.0
    return min(1.0, math.ceil(max(observed * 1.25, observed + 0.01) * 100 - 1e-9) / 100)


def duplicate_share(frame: pd.DataFrame) -> float:
    if frame.empty:
        return 0.0
    try:
        duplicated = frame.duplicated()
    except TypeError:  # unhashable cells: compare their text
        duplicated = frame.astype(str).duplicated()
    return float(duplicated.sum()) / len(frame)


def infer(frame: pd.DataFrame) -> dict[str, Any]:
    """A `[validation]` section (a dict `ValidationConfig` accepts) describing `frame` as it is."""
    rows = len(frame)
    section: dict[str, Any] = {
        "required_columns": [str(c) for c in frame.columns],
        "min_rows": max(1, int(rows * MIN_ROWS_SHARE)) if rows else 0,
        "max_duplicate_share": share_limit(duplicate_share(frame)),
    }
    columns: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        series = frame[column]
        kind = dtype_name(series)
        rule: dict[str, Any] = {"dtype": kind}
        if kind in ("int", "float"):
            values = (series if kind == "int" else finite_values(series)).dropna()
            if len(values):
                low, high = plain(values.min()), plain(values.max())
                rule["min"], rule["max"] = (low, high) if kind == "int" else (float(low), float(high))
        elif kind in ("string", "category"):
            counted = frequencies(series)
            if 0 < len(counted) <= MAX_ALLOWED:
                rule["allowed"] = sorted(counted)
        rule["max_null_share"] = share_limit(float(series.isna().mean()) if rows else 0.0)
        columns[str(column)] = rule
    section["columns"] = columns
    return section


# --- TOML --------------------------------------------------------------------------------------


def to_toml(section: dict[str, Any], table: str = "validation") -> str:
    """`section` as a TOML `[validation]` table (nested dicts become sub-tables; None is left out)."""
    lines: list[str] = []
    _write_table(lines, [table], section)
    return "\n".join(lines).strip("\n") + "\n"


def _write_table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    scalars = {k: v for k, v in table.items() if v is not None and not isinstance(v, dict)}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    if scalars or not tables:
        if lines:
            lines.append("")
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
        for key, value in scalars.items():
            lines.append(_assignment(_key(str(key)), value))
    for key, value in tables.items():
        _write_table(lines, [*path, str(key)], value)


def _assignment(key: str, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        items = [_value(item) for item in value if item is not None]
        inline = f"{key} = [{', '.join(items)}]"
        if len(inline) <= 88:
            return inline
        return f"{key} = [\n" + "".join(f"    {item},\n" for item in items) + "]"
    return f"{key} = {_value(value)}"


def _value(value: Any) -> str:
    value = plain(value) if not isinstance(value, str) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _string(text: str) -> str:
    escaped = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for char in text:
        if char in escaped:
            out.append(escaped[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return _string(key)


# --- checking ----------------------------------------------------------------------------------


def check(frame: pd.DataFrame, rules: ValidationConfig) -> list[str]:
    """Every broken rule, one sentence each; an empty list when the data passes."""
    problems: list[str] = []
    rows = len(frame)
    present = {str(c) for c in frame.columns}
    for column in rules.required_columns:
        if column not in present:
            problems.append(f"missing required column {column!r}")
    if rules.min_rows is not None and rows < rules.min_rows:
        problems.append(f"{rows} rows, fewer than min_rows {rules.min_rows}")
    if rules.max_duplicate_share is not None and rows:
        share = duplicate_share(frame)
        if share > rules.max_duplicate_share:
            count = int(round(share * rows))
            problems.append(f"{count} duplicated rows ({share:.1%}), over max_duplicate_share "
                            f"{rules.max_duplicate_share:g}")
    for column in frame.columns:
        rule = rules.columns.get(str(column))
        limit = rule.max_null_share if rule is not None and rule.max_null_share is not None else rules.max_null_share
        if limit is not None and rows:
            share = float(frame[column].isna().mean())
            if share > limit:
                problems.append(f"column {str(column)!r}: {share:.1%} nulls, over max_null_share {limit:g}")
        if rule is not None:
            problems += _check_column(str(column), frame[column], rule)
    return problems


def _check_column(name: str, series: pd.Series, rule: ColumnRule) -> list[str]:
    actual = dtype_name(series)
    if rule.dtype is not None and not _dtype_matches(series, actual, rule.dtype):
        return [f"column {name!r}: dtype is {actual}, expected {rule.dtype}"]
    problems: list[str] = []
    if rule.min is not None or rule.max is not None:
        if actual not in ("int", "float"):
            problems.append(f"column {name!r}: min/max need a numeric column, but it is {actual}")
        else:
            values = finite_values(series).dropna()
            if rule.min is not None and (values < rule.min).any():
                below = values[values < rule.min]
                problems.append(f"column {name!r}: {below.size} values below min {rule.min:g} "
                                f"(lowest {below.min():g})")
            if rule.max is not None and (values > rule.max).any():
                above = values[values > rule.max]
                problems.append(f"column {name!r}: {above.size} values above max {rule.max:g} "
                                f"(highest {above.max():g})")
    if rule.allowed is not None:
        unknown = _unknown_values(series, rule.allowed)
        if unknown:
            shown = ", ".join(f"{value!r} ({count})" for value, count in list(unknown.items())[:SHOWN_VALUES])
            more = f" and {len(unknown) - SHOWN_VALUES} more" if len(unknown) > SHOWN_VALUES else ""
            total = sum(unknown.values())
            problems.append(f"column {name!r}: {total} values not in allowed: {shown}{more}")
    return problems


def _dtype_matches(series: pd.Series, actual: str, expected: str) -> bool:
    if expected in ("float", "number"):
        return actual in ("int", "float")
    if expected == "int":
        if actual == "int":
            return True
        if actual == "float":  # integers with gaps: pandas reads them as floats
            values = finite_values(series).dropna().to_numpy()
            return bool(np.all(np.mod(values, 1) == 0))
        return False
    if expected == "string":
        return actual in ("string", "category")
    if expected == "category":
        return actual in ("string", "category", "bool", "int")
    if expected == "bool":
        return actual == "bool"
    if expected == "datetime":
        if actual == "datetime":
            return True
        if actual == "string":
            values = series.dropna()
            try:
                parsed = pd.to_datetime(values, errors="coerce", format="mixed")
            except (ValueError, TypeError, OverflowError):
                return False
            return bool(parsed.notna().all())
        return False
    return actual == expected


def _unknown_values(series: pd.Series, allowed: list[Any]) -> dict[str, int]:
    """Counts of the values outside `allowed` (nulls are the business of max_null_share)."""
    numbers = [a for a in allowed if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if dtype_name(series) in ("int", "float") and len(numbers) == len(allowed):
        values = finite_values(series).dropna()
        outside = values[~values.isin([float(n) for n in numbers])]
        return {_number_text(float(k)): int(v) for k, v in outside.value_counts().items()}
    accepted = {str(a) for a in allowed}
    return {value: count for value, count in frequencies(series).items() if value not in accepted}


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
