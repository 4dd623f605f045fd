"""Request rows: MLflow's scoring JSON or a CSV file, read into a table, then conformed to a version's
input signature (`{"inputs": [{"name", "dtype"}]}`) as a pandas DataFrame of the dtypes it was trained on.

Formats (MLflow's meaning kept):
- `{"dataframe_split": {"columns": [...], "data": [[...], ...]}}` (an `index` is ignored);
- `{"dataframe_records": [{column: value}, ...]}`;
- `{"instances": [...]}` and `{"inputs": [...]}`: rows as objects, or as lists in the signature's column
  order; `{"inputs": {column: [values]}}` is columnar;
- CSV (`text/csv`): a header row, then one row per prediction.

A missing column, a value of the wrong type or one that does not parse is `Invalid` (422) naming the row
and the column (`field` is where it sits in the request, e.g. `dataframe_split.data[3][1]`); rows are
counted from 0 as in the request. Columns the model does not read are ignored and listed in `ignored`.
More rows than the cap is `TooLarge` (413) naming it.
"""
from __future__ import annotations

import io
import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..errors import Invalid, TooLarge
from ..pipelines.signature import dtype_kind

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MISSING = object()
"""A column a row does not give (a record without the key)."""


@dataclass
class Table:
    """Rows as read from a request, column-major: `columns[name][row]` (MISSING where a row lacks it)."""

    columns: dict[str, list[Any]]
    rows: int
    place: Callable[[int, str], str]
    """The `field` naming row i's value of a column in the request (`dataframe_records[3].age`)."""
    missing_field: Callable[[str], str] = field(default=lambda column: column)
    """The `field` named when a column is absent from every row."""
    from_text: bool = False
    """Values are text (CSV): numbers, booleans and dates are parsed from it."""


@dataclass
class Rows:
    """Rows conformed to a signature, and the columns the request sent that the model does not read."""

    frame: pd.DataFrame
    ignored: list[str]
    columns: dict[str, Any]
    """The frame's columns as built (numpy arrays, or pandas arrays for text and times): cheap to read back."""


# --- reading ---------------------------------------------------------------------------------------


def read_json(body: bytes, max_rows: int, order: list[str]) -> Table:
    """MLflow's scoring JSON; `order` (the signature's columns) names the values of rows sent as lists."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"body is not valid JSON: {error}", "body") from None
    return read_payload(payload, max_rows, order)


def read_payload(payload: Any, max_rows: int, order: list[str]) -> Table:
    if not isinstance(payload, dict):
        raise Invalid(f"body must be a JSON object with one of {', '.join(FORMATS)}", "body")
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        named = "none" if not given else " and ".join(given)
        raise Invalid(f"body must hold exactly one of {', '.join(FORMATS)} (it holds {named})", "body")
    key = given[0]
    value = payload[key]
    if key == "dataframe_split":
        return _split(value, max_rows)
    if key == "inputs" and isinstance(value, dict):
        return _columnar(value, max_rows)
    if not isinstance(value, list):
        raise Invalid(f"{key} must be a list of rows", key)
    _check_count(len(value), max_rows, key)
    if key == "dataframe_records" or (value and isinstance(value[0], dict)):
        return _records(value, key)
    return _lists(value, key, order)


def read_csv(body: bytes, max_rows: int) -> Table:
    """A CSV file with a header row; every value is text (missing: empty or pandas' NA words)."""
    if not body.strip():
        raise Invalid("body is empty: send a header row, then one row per prediction", "body")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.BytesIO(body), dtype=str, encoding="utf-8-sig", encoding_errors="strict",
                                index_col=False, nrows=max_rows + 1)
    except UnicodeDecodeError:
        raise Invalid("body is not a CSV file (not UTF-8 text)", "body") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, ValueError) as error:
        raise Invalid(f"body is not a readable CSV file: {str(error).strip().splitlines()[0]}", "body") from None
    _check_count(len(frame), max_rows, "body", more=len(frame) > max_rows)
    columns = {str(c): [None if v is np.nan or (isinstance(v, float) and math.isnan(v)) else v
                        for v in frame[c].tolist()] for c in frame.columns}
    return Table(columns, len(frame), lambda row, column: column, from_text=True)


def _check_count(count: int, max_rows: int, where: str, more: bool = False) -> None:
    if count > max_rows:
        sent = f"more than {max_rows}" if more else str(count)
        raise TooLarge(f"{where}: {sent} rows sent; a request may carry at most {max_rows} rows "
                       "(MLOPS_MAX_PREDICT_ROWS)", where)


def _split(value: Any, max_rows: int) -> Table:
    key = "dataframe_split"
    if not isinstance(value, dict):
        raise Invalid(f"{key} must be an object with columns and data", key)
    names, data = value.get("columns"), value.get("data")
    if not isinstance(data, list):
        raise Invalid(f"{key}.data must be a list of rows", f"{key}.data")
    _check_count(len(data), max_rows, f"{key}.data")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Invalid(f"{key}.columns must be a list of column names", f"{key}.columns")
    if len(set(names)) != len(names):
        twice = sorted(n for n, count in Counter(names).items() if count > 1)
        raise Invalid(f"{key}.columns names {', '.join(map(repr, twice))} more than once", f"{key}.columns")
    width = len(names)
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise Invalid(f"row {index}: {key}.data[{index}] must be a list of {width} values (one per column)",
                          f"{key}.data[{index}]")
    columns = {name: [row[i] for row in data] for i, name in enumerate(names)}
    position = {name: i for i, name in enumerate(names)}
    return Table(columns, len(data), lambda row, column: f"{key}.data[{row}][{position[column]}]",
                 lambda column: f"{key}.columns")


def _records(value: list[Any], key: str) -> Table:
    names: dict[str, None] = {}
    for index, row in enumerate(value):
        if not isinstance(row, dict):
            raise Invalid(f"row {index}: {key}[{index}] must be an object of column: value", f"{key}[{index}]")
        names.update(dict.fromkeys(row))
    columns = {name: [row.get(name, MISSING) for row in value] for name in names}
    return Table(columns, len(value), lambda row, column: f"{key}[{row}].{column}")


def _lists(value: list[Any], key: str, order: list[str]) -> Table:
    width = len(order)
    for index, row in enumerate(value):
        if not isinstance(row, list) or len(row) != width:
            raise Invalid(f"row {index}: {key}[{index}] must be a list of {width} values, in the model's column "
                          f"order ({', '.join(order)}), or an object of column: value", f"{key}[{index}]")
    columns = {name: [row[i] for row in value] for i, name in enumerate(order)}
    return Table(columns, len(value), lambda row, column: f"{key}[{row}][{order.index(column)}]")


def _columnar(value: dict[str, Any], max_rows: int) -> Table:
    key = "inputs"
    lengths = set()
    for name, values in value.items():
        if not isinstance(values, list):
            raise Invalid(f"{key}.{name} must be a list of values (one per row)", f"{key}.{name}")
        lengths.add(len(values))
    rows = lengths.pop() if len(lengths) == 1 else 0
    if lengths:
        raise Invalid(f"{key}: every column must hold as many values as the others", key)
    _check_count(rows, max_rows, key)
    return Table(dict(value), rows, lambda row, column: f"{key}.{column}[{row}]")


# --- conforming to the signature -----------------------------------------------------------------


def conform(table: Table, inputs: dict[str, str]) -> Rows:
    """The table's columns the model reads (`inputs`: column -> training dtype), in the signature's order and
    cast to those dtypes; the others are ignored (named in `Rows.ignored`)."""
    ignored = [name for name in table.columns if name not in inputs]
    missing = [name for name in inputs if name not in table.columns]
    if missing:
        first, others = missing[0], missing[1:]
        where = f"row 0, column {first!r}" if table.rows else f"column {first!r}"
        also = f"; also missing: {', '.join(map(repr, others))}" if others else ""
        raise Invalid(f"{where}: missing (the model reads it; every row must give it){also}",
                      table.missing_field(first))
    data = {name: _column(table, name, table.columns[name], dtype) for name, dtype in inputs.items()}
    return Rows(_frame(data, table.rows), ignored, data)


def _frame(data: dict[str, Any], rows: int) -> pd.DataFrame:
    """One 2-D block when every column is a float (the common case, and the fastest for scikit-learn to read);
    a column per array otherwise."""
    arrays = list(data.values())
    if arrays and all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in arrays):
        return pd.DataFrame(np.column_stack(arrays), columns=list(data), index=pd.RangeIndex(rows))
    return pd.DataFrame(data, index=pd.RangeIndex(rows))


def _column(table: Table, name: str, values: list[Any], dtype: str) -> Any:
    kind = dtype_kind(dtype)
    if kind == "number":
        return _numbers(table, name, values, dtype)
    if kind == "bool":
        return _bools(table, name, values)
    if kind == "datetime":
        return _datetimes(table, name, values, dtype)
    if kind == "text":
        return _texts(table, name, values, dtype)
    return _as_given(table, name, values)


def _refuse(table: Table, name: str, row: int, value: Any, what: str) -> Invalid:
    if value is MISSING:
        shown = "missing"
    elif isinstance(value, (dict, list)):
        shown = f"{'an object' if isinstance(value, dict) else 'a list'} is not {what}"
    else:
        text = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40] + "…")
        shown = f"{text} is not {what}"
    return Invalid(f"row {row}, column {name!r}: {shown}", table.place(row, name))


def _numbers(table: Table, name: str, values: list[Any], dtype: str) -> np.ndarray:
    exact = all(type(v) is float or type(v) is int for v in values)  # the hot path: JSON numbers
    floats = np.array(values, dtype="float64") if exact else _parse_numbers(table, name, values)
    if dtype.lower().startswith(("int", "uint")) and not np.isnan(floats).any() and bool(
            np.all(floats == np.floor(floats))) and bool(np.all(np.abs(floats) < 2**53)):
        return floats.astype(dtype.lower())
    return floats


def _parse_numbers(table: Table, name: str, values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype="float64")
    for row, value in enumerate(values):
        if value is None:
            out[row] = np.nan
        elif type(value) in (int, float):
            out[row] = value
        elif isinstance(value, str) and value.strip():
            try:
                out[row] = float(value)
            except ValueError:
                raise _refuse(table, name, row, value, "a number") from None
            if not math.isfinite(out[row]):
                raise _refuse(table, name, row, value, "a finite number")
        else:  # a bool, a list, an object, an empty text, a row without the column
            raise _refuse(table, name, row, value, "a number")
    return out


TEXT_DTYPES = ("str", "string")
"""Text dtypes the column is cast back to (pandas' string dtypes); any other text stays `object`."""
TRUE_WORDS = {"true": True, "1": True, "false": False, "0": False}


def _bools(table: Table, name: str, values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=bool)
    for row, value in enumerate(values):
        if isinstance(value, bool):
            out[row] = value
        elif isinstance(value, str) and value.strip().lower() in TRUE_WORDS:
            out[row] = TRUE_WORDS[value.strip().lower()]
        else:
            raise _refuse(table, name, row, value, "true or false")
    return out


def _datetimes(table: Table, name: str, values: list[Any], dtype: str) -> pd.Series:
    """ISO 8601 text, parsed as the training data's dates were (`datasets.io`)."""
    for row, value in enumerate(values):
        if value is not None and not isinstance(value, str):
            raise _refuse(table, name, row, value, "a date or time (ISO 8601 text)")
    parsed = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", errors="coerce",
                            utc="UTC" in dtype)
    for unparsed in np.flatnonzero(parsed.isna().to_numpy()):
        if values[unparsed] is not None:
            raise _refuse(table, name, int(unparsed), values[unparsed], "a date or time (ISO 8601 text)")
    try:
        return parsed.astype(dtype)
    except (TypeError, ValueError):
        return parsed


def _as_given(table: Table, name: str, values: list[Any]) -> pd.Series:
    """A column of no known dtype (a version registered without a signature): pandas infers its type."""
    for row, value in enumerate(values):
        if value is MISSING or isinstance(value, (dict, list)):
            raise _refuse(table, name, row, value, "a single value")
    return pd.Series(values, dtype=None if values else object)


def _texts(table: Table, name: str, values: list[Any], dtype: str) -> Any:
    out = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        if value is None or isinstance(value, str):
            out[row] = np.nan if value is None else value
        elif isinstance(value, (int, float)) and not table.from_text:
            out[row] = str(value)
        else:
            raise _refuse(table, name, row, value, "text")
    return pd.array(out, dtype=dtype) if dtype.lower() in TEXT_DTYPES else out
