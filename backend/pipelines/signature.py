"""Input signatures (`{"inputs": [{"name", "dtype"}]}`, what `model_io.signature` writes): may a model
replace another behind the same callers?

Callers of an alias send the columns its current holder takes. A candidate is compatible when every
column it takes is among those, with a dtype of the same kind (numbers with numbers, text with text,
bools with bools, datetimes with datetimes; `int64` and `float64` are both numbers). Columns the
holder takes that the candidate does not need are fine: callers keep sending them and the candidate
ignores them. Every input in a signature is required (the model reads it), so a column the candidate
takes that callers do not send is missing, and fails.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = (("int", "number"), ("uint", "number"), ("float", "number"), ("bool", "bool"), ("datetime", "datetime"),
         ("object", "text"), ("string", "text"), ("str", "text"), ("category", "text"))
"""dtype prefix (lower case, as pandas names them: `int64`, `Float64`, `boolean`, `datetime64[ns, UTC]`)
-> kind."""


def dtype_kind(dtype: str) -> str:
    """`int64` → number, `object` → text, ...; an unknown dtype is its own kind (matches only itself)."""
    lowered = dtype.lower()
    for prefix, kind in KINDS:
        if lowered.startswith(prefix):
            return kind
    return lowered


def inputs_of(signature: dict[str, Any] | None) -> dict[str, str] | None:
    """Column -> dtype, in order; None when the signature lists no inputs (unknown)."""
    entries = (signature or {}).get("inputs")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
        return None
    return {str(entry["name"]): str(entry.get("dtype", "")) for entry in entries}


@dataclass(frozen=True)
class Compatibility:
    """How a candidate's inputs meet the columns the current holder's callers send."""

    missing: list[str] = field(default_factory=list)
    """Columns the candidate takes that callers do not send."""
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    """(column, candidate dtype, holder dtype) of a different kind."""
    unused: list[str] = field(default_factory=list)
    """Columns callers send that the candidate does not take (fine)."""

    @property
    def compatible(self) -> bool:
        return not self.missing and not self.mismatched


def compare(candidate: dict[str, str], holder: dict[str, str]) -> Compatibility:
    """The candidate's inputs against the holder's (both column -> dtype)."""
    missing = [name for name in candidate if name not in holder]
    mismatched = [(name, dtype, holder[name]) for name, dtype in candidate.items()
                  if name in holder and dtype_kind(dtype) != dtype_kind(holder[name])]
    unused = [name for name in holder if name not in candidate]
    return Compatibility(missing, mismatched, unused)
