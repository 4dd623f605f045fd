"""The runs view's remembered `C` choices: param and metric columns per experiment.

Kept on this machine, per user, in `$XDG_STATE_HOME/mlops-tui/columns.json` (default
`~/.local/state/mlops-tui/columns.json`; `MLOPS_TUI_STATE` names another file):

```json
{"churn": {"params": ["estimator"], "metrics": ["cv_roc_auc_mean", "test_roc_auc"]}}
```

A missing or unreadable file means "nothing remembered"; writing replaces the file atomically.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ALL_EXPERIMENTS = "*"
"""The key of the runs view across every experiment."""


def state_path() -> Path:
    explicit = os.environ.get("MLOPS_TUI_STATE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mlops-tui" / "columns.json"


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _names(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def load_columns(experiment: str | None, path: Path | None = None) -> tuple[list[str], list[str]] | None:
    """(params, metrics) remembered for the experiment, or None."""
    entry = _read(path or state_path()).get(experiment or ALL_EXPERIMENTS)
    if not isinstance(entry, dict):
        return None
    params, metrics = _names(entry.get("params")), _names(entry.get("metrics"))
    if params is None or metrics is None:
        return None
    return params, metrics


def save_columns(experiment: str | None, params: list[str], metrics: list[str], path: Path | None = None) -> Path:
    """Remember the columns for the experiment; raises OSError when the file cannot be written."""
    target = path or state_path()
    data = _read(target)
    data[experiment or ALL_EXPERIMENTS] = {"params": params, "metrics": metrics}
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    os.replace(scratch, target)
    return target
