"""Read uploaded tables safely: CSV or Parquet through pandas only, never pickle.

- The format comes from the file name's extension (`.csv`, `.parquet`); anything else is refused.
- CSV is read as UTF-8 text (a BOM is dropped) with compression off, so a body is never inflated;
  binary content is refused before pandas sees it. ISO-8601 date/time columns become datetimes.
- Parquet is read with pyarrow through pandas after a look at its footer: a file that would
  expand past `MAX_PARQUET_BYTES` in memory is refused.
- Every failure is an `Invalid` naming the field at fault ("file", "filename" or "body").
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
import warnings
from collections.abc import AsyncIterator
from pathlib import Path, PurePath

import pandas as pd

from mlops_tui.contract.atomic import TEMP_PREFIX

from ..errors import Invalid, TooLarge

FORMATS = {".csv": "csv", ".parquet": "parquet"}
EXTENSIONS = {fmt: ext.lstrip(".") for ext, fmt in FORMATS.items()}
MAX_FILENAME = 250
MAX_PARQUET_BYTES = 1024 * 1024 * 1024
"""Largest uncompressed size a Parquet file may declare (its columns, summed over row groups)."""
UPLOAD_PREFIX = TEMP_PREFIX
"""Temp files of uploads in flight (listings leave them out)."""

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def format_of(filename: str, field: str = "filename") -> str:
    """"csv" or "parquet" from the extension of `filename`; `Invalid` naming `field` otherwise."""
    name = clean_filename(filename, field)
    fmt = FORMATS.get(PurePath(name).suffix.lower())
    if fmt is None:
        raise Invalid(f"{field} {name!r} must end in .csv or .parquet", field)
    return fmt


def clean_filename(filename: str, field: str = "filename") -> str:
    """The last component of a client-given file name, for display only (never used as a path)."""
    if "\x00" in filename:
        raise Invalid(f"{field} must not contain NUL", field)
    name = PurePath(filename.replace("\\", "/")).name.strip()
    if not name or name in (".", ".."):
        raise Invalid(f"{field} must name a file", field)
    if len(name) > MAX_FILENAME:
        raise Invalid(f"{field} is longer than {MAX_FILENAME} characters", field)
    return name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


async def receive_upload(root: Path, stream: AsyncIterator[bytes], max_bytes: int) -> tuple[Path, int]:
    """Write a request body to a temporary file inside `root`, fsynced; (path, size). An oversized, cut or
    failed upload (a full disk) leaves nothing behind. The caller owns the file afterwards: move it into
    place with `mlops_tui.contract.atomic.commit`, or delete it."""
    root.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=root, prefix=UPLOAD_PREFIX)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in stream:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"file is larger than {max_bytes} bytes", "body")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return Path(temp_name), size


def read_frame(path: Path, fmt: str, field: str = "file", max_columns: int | None = None) -> pd.DataFrame:
    """The table in `path`; `Invalid` naming `field` when it is not a readable CSV/Parquet table, or
    when it has more than `max_columns` columns (counted before the table is parsed)."""
    if fmt == "csv":
        _check_width(_csv_width(path), max_columns, field)
        frame = _read_csv(path, field)
    elif fmt == "parquet":
        frame = _read_parquet(path, field, max_columns)
    else:
        raise Invalid(f"unknown format {fmt!r}", "format")
    if frame.shape[1] == 0:
        raise Invalid(f"{field} has no columns", field)
    if frame.shape[0] == 0:
        raise Invalid(f"{field} has a header but no rows", field)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise Invalid(f"{field} has duplicate column names", field)
    frame.columns = names
    return frame


def _check_width(columns: int | None, max_columns: int | None, field: str) -> None:
    if columns is not None and max_columns is not None and columns > max_columns:
        raise Invalid(f"{field} has {columns} columns, more than the {max_columns} this server accepts "
                      "(MLOPS_MAX_COLUMNS)", field)


def _csv_width(path: Path) -> int | None:
    """Columns in the CSV's header row; None when it can't be read (`_read_csv` then says why)."""
    try:
        with open(path, encoding="utf-8-sig", errors="strict", newline="") as handle:
            return len(next(csv.reader(handle), []))
    except (UnicodeDecodeError, csv.Error):
        return None


def _read_csv(path: Path, field: str) -> pd.DataFrame:
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    if not head.strip():
        raise Invalid(f"{field} is empty", field)
    if b"\x00" in head:
        raise Invalid(f"{field} is not a CSV file (binary content)", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DtypeWarning on mixed columns: the frame is still right
            warnings.simplefilter("error", pd.errors.ParserWarning)  # rows longer than the header lose data
            frame = pd.read_csv(path, encoding="utf-8-sig", encoding_errors="strict", compression=None,
                                low_memory=False, index_col=False)
    except UnicodeDecodeError:
        raise Invalid(f"{field} is not a CSV file (not UTF-8 text)", field) from None
    except pd.errors.EmptyDataError:
        raise Invalid(f"{field} is empty", field) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError, OverflowError) as error:
        raise Invalid(f"{field} is not a readable CSV file: {_first_line(error)}", field) from None
    return _parse_iso_dates(frame)


def _read_parquet(path: Path, field: str, max_columns: int | None = None) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise Invalid("this server cannot read Parquet (pyarrow is not installed)", "filename") from None
    try:
        metadata = pq.read_metadata(path)
        declared = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    except Exception as error:  # pyarrow raises ArrowInvalid/OSError for anything not Parquet
        raise Invalid(f"{field} is not a readable Parquet file: {_first_line(error)}", field) from None
    _check_width(metadata.num_columns, max_columns, field)
    if declared > MAX_PARQUET_BYTES:
        raise Invalid(f"{field} expands to {declared} bytes, more than {MAX_PARQUET_BYTES}", field)
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except Exception as error:
        raise Invalid(f"{field} is not a readable Parquet file: {_first_line(error)}", field) from None


def _parse_iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns whose every value is an ISO-8601 date or timestamp become datetime columns."""
    for column in frame.columns:
        series = frame[column]
        if not (pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)):
            continue
        values = series.dropna()
        if values.empty or not all(isinstance(v, str) and _ISO_DATE.match(v) for v in values.head(50)):
            continue
        if not values.map(lambda v: isinstance(v, str) and bool(_ISO_DATE.match(v))).all():
            continue
        try:
            parsed = pd.to_datetime(series, format="ISO8601", errors="coerce")
        except (ValueError, TypeError, OverflowError):
            continue
        if pd.api.types.is_datetime64_any_dtype(parsed) and int(parsed.isna().sum()) == int(series.isna().sum()):
            frame[column] = parsed
    return frame


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
