"""A pipeline's `[promote]` table: the gates a version must pass to take an alias.

    [promote]                      # every alias
    min_roc_auc = 0.75             # min_<metric> / max_<metric>: scores computed at promotion time
    min_improvement = 0.0          # beat the alias's current holder on the primary metric by this much
    max_latency_ms = 50            # p95 single-row prediction time
    max_size_mb = 100
    signature = true               # inputs compatible with the current holder's

    [promote.production]           # only for `production`: laid over the table above
    approval = true
    approvals = 2
    approval_expires = "7d"
    protected = true

The table is kept with each registered version (inside its pipeline file), so a version is judged by
the policy it was trained under.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from mlops_tui.contract.fields import dotted_path
from mlops_tui.contract.registry import ALIAS_RULE, AliasPolicy

from . import scoring

SETTINGS = {"signature", "min_improvement", "max_latency_ms", "max_size_mb", "latency_rows", "approval",
            "approvals", "approval_expires", "protected"}
METRICS = set(scoring.CLASSIFICATION) | set(scoring.REGRESSION)
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_LATENCY_ROWS = 1000
"""Most single-row predictions the latency gate times (each promotion pays for them)."""


def duration_ms(text: str) -> int:
    """`"7d"`, `"12h"`, `"30m"` → milliseconds; ValueError for anything else."""
    found = DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration such as 7d, 12h or 30m")
    return int(float(found.group(1)) * SECONDS[found.group(2)] * 1000)


def parse(table: dict[str, Any] | None) -> tuple[AliasPolicy, dict[str, AliasPolicy]]:
    """The default policy and one per alias table; ValueError naming the key for a bad entry."""
    table = dict(table or {})
    alias_tables = {key: value for key, value in table.items() if isinstance(value, dict)}
    default_raw = {key: value for key, value in table.items() if key not in alias_tables}
    default = _policy(default_raw, "promote", AliasPolicy())
    per_alias: dict[str, AliasPolicy] = {}
    for alias, raw in alias_tables.items():
        if not re.match(ALIAS_RULE, alias):
            raise ValueError(f"promote.{alias}: not an alias name (a letter, then letters, digits, '_', '-')")
        per_alias[alias] = _policy(raw, f"promote.{alias}", default)
    return default, per_alias


def for_alias(table: dict[str, Any] | None, alias: str) -> AliasPolicy:
    default, per_alias = parse(table)
    return per_alias.get(alias, default)


def _policy(raw: dict[str, Any], where: str, base: AliasPolicy) -> AliasPolicy:
    settings: dict[str, Any] = {}
    thresholds = dict(base.thresholds)
    for key, value in raw.items():
        bound, _, metric = key.partition("_")
        if key in SETTINGS:
            settings[key] = value
        elif bound in ("min", "max") and metric in METRICS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where}.{key}: must be a number")
            thresholds[key] = float(value)
        else:
            raise ValueError(f"{where}.{key}: unknown setting (min_<metric>, max_<metric> with a metric of "
                             f"{', '.join(sorted(METRICS))}; or one of {', '.join(sorted(SETTINGS))})")
    try:
        policy = AliasPolicy.model_validate({**base.model_dump(), **settings, "thresholds": thresholds})
    except ValidationError as error:
        problem = error.errors()[0]
        raise ValueError(f"{where}.{dotted_path(problem['loc'])}: {problem['msg']}") from None
    try:
        duration_ms(policy.approval_expires)
    except ValueError as error:
        raise ValueError(f"{where}.approval_expires: {error}") from None
    if policy.approvals < 1 or policy.latency_rows < 1:
        raise ValueError(f"{where}: approvals and latency_rows must be at least 1")
    if policy.latency_rows > MAX_LATENCY_ROWS:
        raise ValueError(f"{where}.latency_rows: at most {MAX_LATENCY_ROWS:,} single-row predictions are timed")
    return policy
