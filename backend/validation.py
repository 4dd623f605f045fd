"""Checks shared by the routes: names, keys and values the store accepts."""
from __future__ import annotations

import re

from mlops_tui.contract import KEY_PATTERN, MAX_KEY, MAX_NAME

from .errors import Invalid

_KEY_RE = re.compile(KEY_PATTERN)


def check_name(value: str, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise Invalid(f"{field} must not be empty", field)
    if len(stripped) > MAX_NAME:
        raise Invalid(f"{field} is longer than {MAX_NAME} characters", field)
    return stripped


def check_key(value: str, field: str) -> str:
    if not value:
        raise Invalid(f"{field} must not be empty", field)
    if len(value) > MAX_KEY:
        raise Invalid(f"{field} is longer than {MAX_KEY} characters", field)
    if not _KEY_RE.match(value):
        raise Invalid(
            f"{field} {value!r} may hold only letters, digits, '_', '-', '.', ' ', ':' and '/'", field
        )
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise Invalid(f"{field} {value!r}: '/' must separate names, never '.', '..' or nothing "
                      "(the key must read back unchanged in a URL path)", field)
    return value


def check_text(value: str, limit: int, field: str) -> str:
    if len(value) > limit:
        raise Invalid(f"{field} is longer than {limit} characters", field)
    return value
