"""The one rule that turns a name from a request, a database row or a remote listing into a file path.

Both sides use it: the backend for every artifact and model path (`backend.artifacts.resolve_inside`
maps `UnsafePath` to a 422 naming the field), the CLI and the replica for files they write locally
(`mlops runs download`, the model cache). Standard library only.

A relative path is refused when it holds NUL, a control character or a backslash, is absolute, climbs
with `..`, would do any of those once percent-decoded (`%2e%2e%2f`, `%252e%252e%252f`), is longer than
`MAX_PATH_CHARS` or has a component longer than `MAX_NAME_BYTES`; and, once every link on the way is
followed, when it lands outside its root (a link planted in the folder pointing at `/etc` or at the
database is refused like `..`).
"""
from __future__ import annotations

import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

MAX_PATH_CHARS = 1024
"""Longest relative path accepted (characters)."""
MAX_NAME_BYTES = 255
"""Longest path component (UTF-8 bytes): what Linux and macOS file systems allow."""
DECODINGS = 3
"""Percent-decoding rounds a path is checked under (a double-encoded `..` is caught at the second)."""


class UnsafePath(ValueError):
    """A path that would leave its root or cannot name a file there; the message says which rule."""


def relative_parts(relative: str, where: str = "its folder") -> tuple[str, ...]:
    """The components of `relative` after the lexical checks ("" and "." give `()`: the root itself).
    Nothing on disk is looked at."""
    if "\x00" in relative:
        raise UnsafePath(f"{relative!r} must not contain NUL")
    if "\\" in relative:
        raise UnsafePath(f"{relative!r} must not contain a backslash (use '/')")
    if any(unicodedata.category(char) == "Cc" for char in relative):
        raise UnsafePath(f"{relative!r} must not contain control characters")
    if len(relative) > MAX_PATH_CHARS:
        raise UnsafePath(f"path is longer than {MAX_PATH_CHARS} characters")
    forms = [relative]
    for _ in range(DECODINGS):
        once = unquote(forms[-1])
        if once == forms[-1]:
            break
        forms.append(once)
    if any(_climbs(form) for form in forms) or any("\x00" in form or "\\" in form for form in forms[1:]):
        raise UnsafePath(f"{relative!r} must be relative and stay inside {where}")
    parts = PurePosixPath(relative).parts
    for part in parts:
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise UnsafePath(f"{relative!r} has a name longer than {MAX_NAME_BYTES} bytes")
    return parts


def _climbs(text: str) -> bool:
    pure = PurePosixPath(text)
    return pure.is_absolute() or ".." in pure.parts


def is_inside(root: Path, target: Path) -> bool:
    """`target` is `root` or below it (both already resolved)."""
    return target == root or root in target.parents


def resolve_inside(root: Path, relative: str, where: str = "its folder", follow_last: bool = True) -> Path:
    """`root / relative` with every link followed, refused (`UnsafePath`) when it breaks a rule of
    `relative_parts` or lands outside `root`. With `follow_last=False` the last component is kept as it
    is (only the folders on the way are followed): what a delete removes is the link, never its target."""
    parts = relative_parts(relative, where)
    base = root.resolve()
    if not follow_last and parts:
        parent = base.joinpath(*parts[:-1]).resolve()
        if not is_inside(base, parent):
            raise UnsafePath(f"{relative!r} leaves {where}")
        return parent / parts[-1]
    target = base.joinpath(*parts).resolve()
    if not is_inside(base, target):
        raise UnsafePath(f"{relative!r} leaves {where}")
    return target
