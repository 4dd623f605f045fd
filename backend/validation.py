"""Checks shared by the routes: names, keys and values the store accepts."""
from __future__ import annotations

import re
from typing import Any

from .errors import Invalid

MAX_NAME = 250
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
KEY_PATTERN = r"^[\w\-. /:]+$"
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


def not_unicode_message(field: str) -> str:
    return f"{field} is not valid Unicode text (it holds a lone surrogate)"


def check_unicode(value: Any, field: str) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as JSON's "\\ud800") anywhere in
    `value`: strings, dict keys and values, list items. SQLite and the JSON encoder cannot store it."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Invalid(not_unicode_message(field), field) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_unicode(key, field)
            check_unicode(item, f"{field}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_unicode(item, f"{field}[{index}]")
